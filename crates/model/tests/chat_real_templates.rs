//! The real chat templates of Qwen2.5-Instruct, DeepSeek-R1-Distill-Qwen and the Qwen tokenizer
//! dir (a Qwen3 template), rendered by `ChatTemplate` and compared byte for byte with Python
//! jinja2 set up as transformers sets it up. Files and expectations come from
//! `scripts/fetch-qwen-tokenizer.sh` (nothing here is committed); the test fails if they are
//! missing or stale.

use std::path::PathBuf;

use caugym_model::chat::{ChatExtras, ChatTemplate, Message};
use caugym_model::tokenizer::{SpecialTokens, Tokenizer};
use serde_json::Value;

/// `$CAUGYM_HF_FIXTURES`, or target/hf-fixtures under the workspace root.
fn fixtures() -> PathBuf {
    let dir = std::env::var_os("CAUGYM_HF_FIXTURES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/hf-fixtures"),
        PathBuf::from,
    );
    assert!(
        dir.join("expected/chat_templates.json").is_file(),
        "HF fixtures missing under {}: run scripts/fetch-qwen-tokenizer.sh first",
        dir.display()
    );
    dir
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn template_file(name: &str, special: SpecialTokens) -> ChatTemplate {
    let path = fixtures().join("templates").join(name);
    ChatTemplate::new(read(path.clone()), path.display().to_string(), special).unwrap()
}

fn qwen_special() -> SpecialTokens {
    SpecialTokens {
        eos_token: Some("<|im_end|>".into()),
        pad_token: Some("<|endoftext|>".into()),
        ..SpecialTokens::default()
    }
}

#[test]
fn qwen25_system_user_generation_prompt_by_hand() {
    let template = template_file("qwen2.5-instruct.jinja", qwen_special());
    let messages = [
        Message::system("You are a careful causal reasoner."),
        Message::user("Is 0.3039 positive?"),
    ];
    let expected = "<|im_start|>system\nYou are a careful causal reasoner.<|im_end|>\n\
                    <|im_start|>user\nIs 0.3039 positive?<|im_end|>\n\
                    <|im_start|>assistant\n";
    assert_eq!(template.render(&messages, true, None).unwrap(), expected);
    // Without a system message Qwen2.5 inserts its default one; without the generation prompt
    // the text ends after the user turn.
    let expected = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n\
                    <|im_start|>user\nHi<|im_end|>\n";
    assert_eq!(
        template
            .render(&[Message::user("Hi")], false, None)
            .unwrap(),
        expected
    );
}

#[test]
fn deepseek_r1_distill_generation_prompt_by_hand() {
    let special = SpecialTokens {
        bos_token: Some("<｜begin▁of▁sentence｜>".into()),
        eos_token: Some("<｜end▁of▁sentence｜>".into()),
        ..SpecialTokens::default()
    };
    let template = template_file("deepseek-r1-distill-qwen.jinja", special);
    let out = template.render(&[Message::user("Hi")], true, None).unwrap();
    assert_eq!(
        out,
        "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\n"
    );
}

#[test]
fn real_templates_match_python_jinja2_byte_for_byte() {
    let dir = fixtures();
    let expected: serde_json::Map<String, Value> =
        serde_json::from_str(&read(dir.join("expected/chat_templates.json"))).unwrap();
    let inputs: Value = serde_json::from_str(&read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chat_template_cases.json"),
    ))
    .unwrap();
    let cases = inputs["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    let qwen_dir = Tokenizer::from_dir(dir.join("qwen")).unwrap();
    let mut names = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let want = expected.get(name).unwrap_or_else(|| {
            panic!("no expectation for {name}: rerun scripts/fetch-qwen-tokenizer.sh")
        });
        assert_eq!(
            &want["case"], case,
            "{name}: expectation is stale, rerun scripts/fetch-qwen-tokenizer.sh"
        );
        let special: SpecialTokens = {
            let s = &case["special_tokens"];
            let get = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_string);
            SpecialTokens {
                bos_token: get("bos_token"),
                eos_token: get("eos_token"),
                pad_token: get("pad_token"),
                ..SpecialTokens::default()
            }
        };
        let file_template;
        let template = match case["template"].as_str().unwrap() {
            "qwen-dir" => qwen_dir.chat_template().unwrap(),
            "qwen2.5-instruct" => {
                file_template = template_file("qwen2.5-instruct.jinja", special);
                &file_template
            }
            "deepseek-r1-distill-qwen" => {
                file_template = template_file("deepseek-r1-distill-qwen.jinja", special);
                &file_template
            }
            other => panic!("unknown template {other}"),
        };
        let extras = ChatExtras {
            tools: case["tools"].as_array().cloned(),
            vars: case["vars"].as_object().cloned().unwrap_or_default(),
        };
        let messages = case["messages"].as_array().unwrap();
        let add_generation_prompt = case["add_generation_prompt"].as_bool().unwrap();
        let got = template
            .render_json(messages, add_generation_prompt, Some(&extras))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want["rendered"].as_str().unwrap(), "case {name}");
        names.push(name);
    }
    // Every template family was exercised.
    for prefix in ["qwen25_", "r1_", "qwen_dir_"] {
        assert!(names.iter().any(|n| n.starts_with(prefix)), "{prefix}");
    }
}

#[test]
fn qwen_dir_template_sees_the_tokenizers_special_tokens() {
    let tokenizer = Tokenizer::from_dir(fixtures().join("qwen")).unwrap();
    let template = tokenizer.chat_template().unwrap();
    assert_eq!(
        template.special_tokens().eos_token.as_deref(),
        Some("<|im_end|>")
    );
    assert_eq!(
        template.special_tokens().pad_token.as_deref(),
        Some("<|endoftext|>")
    );
    assert_eq!(template.special_tokens().bos_token, None);
    // The Qwen3 template closes an empty think block when thinking is disabled.
    let extras = ChatExtras {
        tools: None,
        vars: serde_json::json!({"enable_thinking": false})
            .as_object()
            .cloned()
            .unwrap(),
    };
    let out = template
        .render(&[Message::user("Hi")], true, Some(&extras))
        .unwrap();
    assert_eq!(
        out,
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    );
    // encode_chat = render + encode without added specials: starts with <|im_start|>.
    let ids = tokenizer.encode_chat(&[Message::user("Hi")], true).unwrap();
    assert_eq!(ids[0], 151644);
    assert_eq!(
        ids,
        tokenizer
            .encode(
                &template.render(&[Message::user("Hi")], true, None).unwrap(),
                false
            )
            .unwrap()
    );
}
