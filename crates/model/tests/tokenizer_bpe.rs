//! The tiny byte-level BPE: trained on generated CauGym-style text, saved as an HF tokenizer dir,
//! loaded back through `Tokenizer::from_dir` like a real checkpoint.

use caugym_model::bpe_train::{self, BpeConfig, SpecialIds, TrainedBpe};
use caugym_model::chat::Message;
use caugym_model::tokenizer::{
    IncrementalDecoder, PadSource, StopStrings, StreamStep, TextStream, Tokenizer, TokenizerError,
};

/// Deterministic CauGym-like problems (a linear congruential generator picks names and numbers;
/// like CauGym, some variables have 4-letter nonsense names).
fn corpus(n: usize) -> Vec<String> {
    const NAMES: [&str; 16] = [
        "smoking",
        "tar deposit",
        "lung cancer",
        "education level",
        "salary",
        "skill",
        "gene",
        "rainfall",
        "traffic jam",
        "ignition source in the forest",
        "student's gpa",
        "vaccination",
        "hospital capacity",
        "air pollution",
        "exercise routine",
        "coffee intake",
    ];
    let mut state: u64 = 0x2545_f491;
    let mut next = move |m: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % m
    };
    (0..n)
        .map(|_| {
            let nonsense: String = (0..4).map(|_| char::from(b'a' + next(26) as u8)).collect();
            let x = NAMES[next(16) as usize];
            let y = if next(3) == 0 { nonsense.as_str() } else { NAMES[next(16) as usize] };
            let p = |v: u64| format!("0.{v:04}");
            format!(
                "Input Info: Imagine a self-contained, hypothetical world with only the following conditions: \
                 {x} has a direct effect on {y}.\nFor those with {x} being low, the probability of {y} being high is {}.\n\
                 For those with {x} being high, the probability of {y} being high is {}.\n\
                 Question: If {x} is changed to be high, will {y} be more likely to be high?\n\
                 {{\"ANSWER\": \"Yes\", \"PROB\": \"{}\"}}",
                p(next(10_000)),
                p(next(10_000)),
                p(next(10_000)),
            )
        })
        .collect()
}

fn config(vocab_size: usize) -> BpeConfig {
    BpeConfig {
        vocab_size,
        ..BpeConfig::default()
    }
}

fn train(vocab_size: usize) -> TrainedBpe {
    bpe_train::train_bpe(corpus(300), &config(vocab_size)).expect("training succeeds")
}

fn saved(trained: &TrainedBpe) -> (tempfile::TempDir, Tokenizer) {
    let dir = tempfile::tempdir().unwrap();
    trained.save(dir.path()).unwrap();
    let tok = Tokenizer::from_dir(dir.path()).unwrap();
    (dir, tok)
}

/// GPT-2's byte-to-character map, written out independently of the tokenizers crate:
/// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in byte order.
fn byte_char(b: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        char::from(b)
    } else {
        let rank = (0..b).filter(|&x| !printable(x)).count() as u32;
        char::from_u32(256 + rank).unwrap()
    }
}

#[test]
fn training_is_deterministic_and_order_independent() {
    let docs = corpus(300);
    let a = bpe_train::train_bpe(&docs, &config(512)).unwrap();
    let b = bpe_train::train_bpe(&docs, &config(512)).unwrap();
    let reversed: Vec<String> = docs.iter().rev().cloned().collect();
    let c = bpe_train::train_bpe(&reversed, &config(512)).unwrap();
    let json = a.tokenizer_json().unwrap();
    assert_eq!(json, b.tokenizer_json().unwrap());
    assert_eq!(json, c.tokenizer_json().unwrap());
    // The saved directories are byte-identical too.
    let (da, _) = saved(&a);
    let (db, _) = saved(&b);
    for name in [
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.json",
        "merges.txt",
    ] {
        let read = |d: &tempfile::TempDir| std::fs::read(d.path().join(name)).unwrap();
        assert_eq!(read(&da), read(&db), "{name}");
    }
}

#[test]
fn vocabulary_size_and_added_token_ids() {
    let trained = train(512);
    assert_eq!(trained.vocab_size(), 512);
    // 507 learned tokens (256 bytes + 251 merges), then the five added tokens in order.
    let expected = SpecialIds {
        endoftext: 507,
        im_start: 508,
        im_end: 509,
        think_start: 510,
        think_end: 511,
    };
    assert_eq!(trained.special_ids(), expected);
    let (_dir, tok) = saved(&trained);
    assert_eq!(tok.vocab_size(), 512);
    assert_eq!(tok.token_to_id("<|endoftext|>"), Some(507));
    assert_eq!(tok.token_to_id("</think>"), Some(511));
}

#[test]
fn saved_dir_loads_with_qwen_style_special_tokens() {
    let (_dir, tok) = saved(&train(512));
    // tokenizer_config.json: eos <|im_end|>, pad <|endoftext|>, bos null.
    assert_eq!(tok.eos_token_ids(), [509]);
    assert_eq!(tok.pad_token_id(), 507);
    assert_eq!(tok.pad_source(), PadSource::Configured);
    assert_eq!(tok.bos_token_id(), None);
    assert_eq!(
        tok.special_tokens().eos_token.as_deref(),
        Some("<|im_end|>")
    );
    let names: Vec<&str> = tok.chat_template_names().collect();
    assert_eq!(names, ["default"]);
}

#[test]
fn round_trips_text_never_seen_in_training() {
    let (_dir, tok) = saved(&train(512));
    for text in [
        "Hello, World! 123",
        "日本語のテキスト — naïve café Ελληνικά",
        "🎉👩‍👩‍👧 \u{1F600}",
        "tabs\tand\r\nnewlines\n\n  spaces  ",
        "\u{0}\u{7}control\u{1f}",
        "",
    ] {
        let ids = tok.encode(text, false).unwrap();
        assert_eq!(tok.decode(&ids, false).unwrap(), text, "{text:?}");
        // The ByteLevel post-processor adds nothing.
        assert_eq!(tok.encode(text, true).unwrap(), ids);
    }
    // NFC normalisation, as in Qwen: "e" + combining acute decodes as the composed "é".
    let ids = tok.encode("cafe\u{301}", false).unwrap();
    assert_eq!(tok.decode(&ids, false).unwrap(), "caf\u{e9}");
}

#[test]
fn unseen_characters_fall_back_to_byte_tokens() {
    let (_dir, tok) = saved(&train(512));
    // "🎉" is F0 9F 8E 89 in UTF-8; no emoji is in the corpus, so no merge applies.
    let ids = tok.encode("🎉", false).unwrap();
    let bytes: Vec<u32> = "🎉"
        .bytes()
        .map(|b| tok.token_to_id(&byte_char(b).to_string()).unwrap())
        .collect();
    assert_eq!(ids, bytes);
    assert_eq!(
        "🎉".bytes().map(byte_char).collect::<String>(),
        "\u{f0}\u{141}\u{130}\u{12b}"
    );
}

#[test]
fn learned_merges_compress_corpus_text() {
    let (_dir, tok) = saved(&train(1024));
    let text = &corpus(1)[0];
    let ids = tok.encode(text, false).unwrap();
    assert!(
        ids.len() * 3 < text.len(),
        "{} tokens for {} bytes",
        ids.len(),
        text.len()
    );
}

#[test]
fn special_and_think_tokens_are_single_ids() {
    let trained = train(512);
    let s = trained.special_ids();
    let (_dir, tok) = saved(&trained);
    let ids = tok
        .encode(
            "<|im_start|>assistant\n<think>\nhmm\n</think>\n\nYes<|im_end|><|endoftext|>",
            false,
        )
        .unwrap();
    assert_eq!(ids[0], s.im_start);
    assert!(ids.contains(&s.think_start) && ids.contains(&s.think_end));
    assert_eq!(ids[ids.len() - 2..], [s.im_end, s.endoftext]);
    // <|...|> are special (skipped on request); <think> is an ordinary added token, as in Qwen.
    assert_eq!(
        tok.decode(&ids, true).unwrap(),
        "assistant\n<think>\nhmm\n</think>\n\nYes"
    );
}

#[test]
fn chat_template_renders_chatml() {
    let (_dir, tok) = saved(&train(512));
    let template = tok.chat_template().unwrap();
    let messages = [Message::system("Be exact."), Message::user("P(y|do(x))?")];
    assert_eq!(
        template.render(&messages, true, None).unwrap(),
        "<|im_start|>system\nBe exact.<|im_end|>\n<|im_start|>user\nP(y|do(x))?<|im_end|>\n<|im_start|>assistant\n"
    );
    let messages = [Message::user("Hi"), Message::assistant("Hello.")];
    assert_eq!(
        template.render(&messages, false, None).unwrap(),
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n\
         <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n"
    );
    let err = template
        .render(&[Message::new("tool", "42")], false, None)
        .unwrap_err();
    assert!(err.to_string().contains("not tool"), "{err}");
    // encode_chat: the system header comes first as <|im_start|>.
    let ids = tok.encode_chat(&[Message::user("Hi")], true).unwrap();
    assert_eq!(ids[0], tok.token_to_id("<|im_start|>").unwrap());
    assert_eq!(
        tok.decode(&ids, false).unwrap(),
        template.render(&[Message::user("Hi")], true, None).unwrap()
    );
}

#[test]
fn incremental_decoder_handles_byte_split_characters() {
    let (_dir, tok) = saved(&train(512));
    let text = "naïve 🎉 日本語 done";
    let ids = tok.encode(text, false).unwrap();
    let lone: Vec<String> = ids
        .iter()
        .map(|&id| tok.decode(&[id], false).unwrap())
        .collect();
    assert!(lone.iter().any(|s| s.contains('\u{FFFD}')), "{lone:?}");
    let mut decoder = IncrementalDecoder::new(false);
    let mut pieces: Vec<String> = ids
        .iter()
        .map(|&id| decoder.push(&tok, id).unwrap())
        .collect();
    pieces.push(decoder.finish(&tok).unwrap());
    assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')), "{pieces:?}");
    assert_eq!(pieces.concat(), text);
    // "🎉" arrives as four byte tokens: three give nothing, the fourth the whole character.
    assert!(pieces.iter().any(|p| p.contains('🎉')));
    assert!(pieces.iter().filter(|p| p.is_empty()).count() >= 3);
}

#[test]
fn incremental_decoder_flushes_invalid_bytes() {
    let (_dir, tok) = saved(&train(512));
    // A lone lead byte F0 followed by ASCII: never a valid character, so it is emitted as U+FFFD.
    let lead = tok.token_to_id(&byte_char(0xF0).to_string()).unwrap();
    let a = tok.encode("a", false).unwrap();
    let mut decoder = IncrementalDecoder::new(false);
    assert_eq!(decoder.push(&tok, lead).unwrap(), "");
    assert_eq!(decoder.push(&tok, a[0]).unwrap(), "\u{FFFD}a");
    // A dangling lead byte at the end comes out on finish.
    assert_eq!(decoder.push(&tok, lead).unwrap(), "");
    assert_eq!(decoder.finish(&tok).unwrap(), "\u{FFFD}");
}

#[test]
fn text_stream_holds_back_possible_stop_prefixes() {
    let (_dir, tok) = saved(&train(512));
    let stops = StopStrings::new(["\nQuestion:", "。结束"]);
    // A prefix of a stop string that does not complete is released at the end.
    let text = "so the answer is yes\nQuest";
    let mut stream = TextStream::new(false, stops.clone());
    let mut shown = String::new();
    for id in tok.encode(text, false).unwrap() {
        match stream.push(&tok, id).unwrap() {
            StreamStep::Text(t) => shown.push_str(&t),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        shown, "so the answer is yes",
        "the tail \"\\nQuest\" is held back"
    );
    assert_eq!(
        stream.finish(&tok).unwrap(),
        StreamStep::Text("\nQuest".into())
    );
    // A multi-byte stop string split over byte tokens.
    let mut stream = TextStream::new(false, stops);
    let mut shown = String::new();
    let mut result = None;
    for id in tok.encode("答案是0.3039。结束 ignored", false).unwrap() {
        match stream.push(&tok, id).unwrap() {
            StreamStep::Text(t) => shown.push_str(&t),
            StreamStep::Stopped { text, stop } => {
                shown.push_str(&text);
                result = Some(stop);
                break;
            }
        }
    }
    assert_eq!((shown.as_str(), result), ("答案是0.3039", Some(1)));
    assert!(
        matches!(stream.push(&tok, 0).unwrap(), StreamStep::Stopped { ref text, stop: 1 } if text.is_empty())
    );
}

#[test]
fn stop_strings_find_the_earliest_match() {
    let stops = StopStrings::new(["bc", "ab", ""]);
    assert_eq!(stops.as_slice().len(), 2, "empty stop strings are dropped");
    assert_eq!(stops.find("xxabc"), Some((2, 1)));
    assert_eq!(stops.find("xxbc"), Some((2, 0)));
    assert_eq!(stops.find("xyz"), None);
    assert_eq!(stops.held_back("xxa"), 1);
    assert_eq!(stops.held_back("xx"), 0);
    // Only whole characters of a stop string count: "é" (2 bytes) cannot be half-matched.
    assert_eq!(StopStrings::new(["éa"]).held_back("xé"), 2);
}

#[test]
fn impossible_training_requests_are_errors() {
    let err = bpe_train::train_bpe(corpus(3), &config(260)).unwrap_err();
    assert!(
        matches!(err, TokenizerError::Training(ref m) if m.contains("261")),
        "{err}"
    );
    let empty: Vec<String> = Vec::new();
    let err = bpe_train::train_bpe(&empty, &config(512)).unwrap_err();
    assert!(
        matches!(err, TokenizerError::Training(ref m) if m.contains("empty")),
        "{err}"
    );
}
