//! Config-file precedence and error reporting of `Tokenizer::from_dir`, on a tiny trained
//! tokenizer whose config files each test rewrites. Ids of the tiny tokenizer: its five added
//! tokens are the last five ids (`SpecialIds`).

use std::path::Path;
use std::sync::OnceLock;

use caugym_model::bpe_train::{self, BpeConfig, SpecialIds, TrainedBpe};
use caugym_model::chat::Message;
use caugym_model::tokenizer::{PadSource, Tokenizer, TokenizerError};
use serde_json::{Value, json};

fn trained() -> &'static TrainedBpe {
    static TRAINED: OnceLock<TrainedBpe> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let corpus: Vec<String> = (0..50)
            .map(|i| {
                format!(
                    "The probability of outcome {i} being high is 0.{:04}.",
                    i * 37
                )
            })
            .collect();
        let config = BpeConfig {
            vocab_size: 300,
            ..BpeConfig::default()
        };
        bpe_train::train_bpe(&corpus, &config).unwrap()
    })
}

fn ids() -> SpecialIds {
    trained().special_ids()
}

/// A fresh tokenizer dir (tokenizer.json, tokenizer_config.json, special_tokens_map.json, ...).
fn dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    trained().save(dir.path()).unwrap();
    dir
}

fn edit(path: &Path, change: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let mut value: Value = if path.exists() {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    } else {
        json!({})
    };
    change(value.as_object_mut().unwrap());
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

fn write(path: &Path, value: Value) {
    std::fs::write(path, value.to_string()).unwrap();
}

#[test]
fn eos_ids_are_the_union_in_precedence_order() {
    let d = dir();
    let s = ids();
    write(
        &d.path().join("generation_config.json"),
        json!({"eos_token_id": [s.endoftext, s.im_end]}),
    );
    write(
        &d.path().join("config.json"),
        json!({"eos_token_id": s.think_end}),
    );
    let tok = Tokenizer::from_dir(d.path()).unwrap();
    // Named eos (<|im_end|>) first, then generation_config's list without the duplicate, then config.json.
    assert_eq!(tok.eos_token_ids(), [s.im_end, s.endoftext, s.think_end]);
    assert_eq!(tok.eos_token_id(), s.im_end);
}

#[test]
fn eos_from_config_json_when_no_token_file_names_one() {
    let d = dir();
    let s = ids();
    edit(&d.path().join("tokenizer_config.json"), |c| {
        c.remove("eos_token");
    });
    edit(&d.path().join("special_tokens_map.json"), |c| {
        c.remove("eos_token");
    });
    write(
        &d.path().join("config.json"),
        json!({"eos_token_id": s.endoftext}),
    );
    let tok = Tokenizer::from_dir(d.path()).unwrap();
    assert_eq!(tok.eos_token_ids(), [s.endoftext]);
    assert_eq!(tok.special_tokens().eos_token, None);
}

#[test]
fn special_tokens_map_fills_fields_tokenizer_config_omits() {
    let d = dir();
    let s = ids();
    // Object form, as transformers writes AddedToken values.
    edit(&d.path().join("tokenizer_config.json"), |c| {
        c.remove("eos_token");
        c.insert(
            "pad_token".into(),
            json!({"__type": "AddedToken", "content": "<|im_start|>", "lstrip": false}),
        );
    });
    let tok = Tokenizer::from_dir(d.path()).unwrap();
    assert_eq!(
        tok.eos_token_ids(),
        [s.im_end],
        "from special_tokens_map.json"
    );
    assert_eq!(tok.pad_token_id(), s.im_start, "tokenizer_config.json wins");
    assert_eq!(
        tok.special_tokens().pad_token.as_deref(),
        Some("<|im_start|>")
    );
}

#[test]
fn no_eos_anywhere_is_an_error() {
    let d = dir();
    edit(&d.path().join("tokenizer_config.json"), |c| {
        c.insert("eos_token".into(), Value::Null);
    });
    std::fs::remove_file(d.path().join("special_tokens_map.json")).unwrap();
    let err = Tokenizer::from_dir(d.path()).unwrap_err();
    assert!(matches!(err, TokenizerError::NoEosToken { .. }), "{err}");
    assert!(err.to_string().contains("eos_token_id"), "{err}");
}

#[test]
fn pad_falls_back_to_config_ids_then_eos() {
    let d = dir();
    let s = ids();
    let config = d.path().join("tokenizer_config.json");
    edit(&config, |c| {
        c.remove("pad_token");
    });
    edit(&d.path().join("special_tokens_map.json"), |c| {
        c.remove("pad_token");
    });
    let tok = Tokenizer::from_dir(d.path()).unwrap();
    assert_eq!(
        (tok.pad_token_id(), tok.pad_source()),
        (s.im_end, PadSource::EosFallback)
    );
    write(&d.path().join("config.json"), json!({"pad_token_id": 5}));
    let tok = Tokenizer::from_dir(d.path()).unwrap();
    assert_eq!(
        (tok.pad_token_id(), tok.pad_source()),
        (5, PadSource::Configured)
    );
}

#[test]
fn bos_null_in_tokenizer_config_beats_config_json() {
    let d = dir();
    let s = ids();
    write(
        &d.path().join("config.json"),
        json!({"bos_token_id": s.endoftext}),
    );
    assert_eq!(Tokenizer::from_dir(d.path()).unwrap().bos_token_id(), None);
    // Once no token file mentions bos_token, config.json's id is used.
    edit(&d.path().join("tokenizer_config.json"), |c| {
        c.remove("bos_token");
    });
    assert_eq!(
        Tokenizer::from_dir(d.path()).unwrap().bos_token_id(),
        Some(s.endoftext)
    );
}

#[test]
fn unknown_named_token_names_file_and_field() {
    let d = dir();
    edit(&d.path().join("tokenizer_config.json"), |c| {
        c.insert("eos_token".into(), json!("<|nope|>"));
    });
    let err = Tokenizer::from_dir(d.path()).unwrap_err();
    match &err {
        TokenizerError::UnknownToken { file, field, token } => {
            assert!(file.ends_with("tokenizer_config.json"));
            assert_eq!((field.as_str(), token.as_str()), ("eos_token", "<|nope|>"));
        }
        other => panic!("{other}"),
    }
    assert!(
        err.to_string().contains("tokenizer_config.json") && err.to_string().contains("eos_token")
    );
}

#[test]
fn bad_ids_in_generation_config_name_file_and_field() {
    let d = dir();
    let path = d.path().join("generation_config.json");
    write(&path, json!({"eos_token_id": [1, 999_999]}));
    match Tokenizer::from_dir(d.path()).unwrap_err() {
        TokenizerError::UnknownTokenId {
            file,
            field,
            id,
            vocab_size,
        } => {
            assert_eq!(
                (file, field.as_str(), id, vocab_size),
                (
                    path.clone(),
                    "eos_token_id",
                    999_999,
                    trained().vocab_size()
                )
            );
        }
        other => panic!("{other}"),
    }
    write(&path, json!({"eos_token_id": "two"}));
    match Tokenizer::from_dir(d.path()).unwrap_err() {
        TokenizerError::InvalidField { file, field, .. } => {
            assert_eq!((file, field.as_str()), (path, "eos_token_id"));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn added_tokens_decoder_must_agree_with_tokenizer_json() {
    let d = dir();
    let s = ids();
    edit(&d.path().join("tokenizer_config.json"), |c| {
        let decoder = c["added_tokens_decoder"].as_object_mut().unwrap();
        let entry = decoder.remove(&s.im_end.to_string()).unwrap();
        decoder.insert("7".into(), entry);
    });
    match Tokenizer::from_dir(d.path()).unwrap_err() {
        TokenizerError::AddedTokenMismatch {
            id, content, found, ..
        } => {
            assert_eq!(
                (id, content.as_str(), found),
                (7, "<|im_end|>", Some(s.im_end))
            );
        }
        other => panic!("{other}"),
    }
}

#[test]
fn named_chat_templates_and_chat_template_jinja() {
    let d = dir();
    edit(&d.path().join("tokenizer_config.json"), |c| {
        c.insert(
            "chat_template".into(),
            json!([
                {"name": "default", "template": "D{{ messages | length }}"},
                {"name": "tool_use", "template": "T{{ eos_token }}"}
            ]),
        );
    });
    let tok = Tokenizer::from_dir(d.path()).unwrap();
    let hi = [Message::user("hi")];
    assert_eq!(
        tok.chat_template()
            .unwrap()
            .render(&hi, false, None)
            .unwrap(),
        "D1"
    );
    let tool = tok.chat_template_named("tool_use").unwrap();
    assert_eq!(tool.render(&hi, false, None).unwrap(), "T<|im_end|>");
    assert!(matches!(
        tok.chat_template_named("rag").unwrap_err(),
        TokenizerError::MissingField { ref field, .. } if field.contains("rag")
    ));
    // chat_template.jinja takes precedence over the config's default.
    std::fs::write(
        d.path().join("chat_template.jinja"),
        "J{{ add_generation_prompt }}\n",
    )
    .unwrap();
    let tok = Tokenizer::from_dir(d.path()).unwrap();
    assert_eq!(
        tok.chat_template()
            .unwrap()
            .render(&hi, true, None)
            .unwrap(),
        "JTrue"
    );
    assert!(tok.chat_template_named("tool_use").is_ok());
}

#[test]
fn missing_or_broken_templates_fail_on_use_not_on_load() {
    let d = dir();
    let config = d.path().join("tokenizer_config.json");
    edit(&config, |c| {
        c.remove("chat_template");
    });
    let tok = Tokenizer::from_dir(d.path()).unwrap();
    assert_eq!(
        tok.encode("hi", false).unwrap(),
        tok.encode("hi", true).unwrap()
    );
    match tok.chat_template().unwrap_err() {
        TokenizerError::NoChatTemplate { file } => assert_eq!(file, config),
        other => panic!("{other}"),
    }
    edit(&config, |c| {
        c.insert(
            "chat_template".into(),
            json!("{% generation %}x{% endgeneration %}"),
        );
    });
    let tok = Tokenizer::from_dir(d.path()).unwrap();
    let err = tok.chat_template().unwrap_err();
    assert!(matches!(err, TokenizerError::Template { .. }));
    assert!(err.to_string().contains("tokenizer_config.json"), "{err}");
    edit(&config, |c| {
        c.insert("chat_template".into(), json!(7));
    });
    assert!(matches!(
        Tokenizer::from_dir(d.path()).unwrap_err(),
        TokenizerError::InvalidField { ref field, .. } if field == "chat_template"
    ));
}

#[test]
fn unreadable_files_are_reported_with_their_path() {
    let d = dir();
    std::fs::write(d.path().join("generation_config.json"), "{not json").unwrap();
    match Tokenizer::from_dir(d.path()).unwrap_err() {
        TokenizerError::Json { path, .. } => assert!(path.ends_with("generation_config.json")),
        other => panic!("{other}"),
    }
    let empty = tempfile::tempdir().unwrap();
    match Tokenizer::from_dir(empty.path()).unwrap_err() {
        TokenizerError::Io { path, .. } => assert!(path.ends_with("tokenizer.json")),
        other => panic!("{other}"),
    }
}
