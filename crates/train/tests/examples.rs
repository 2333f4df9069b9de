//! Training examples: JSONL records with line-numbered errors, generated items, the held-out
//! split and the SFT target.

use caugym_scm::Task;
use caugym_train::Error;
use caugym_train::config::{DataConfig, GenerateConfig, SftTarget};
use caugym_train::trainers::examples::{Example, generate, load, read_file, write_jsonl};

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn jsonl_records_in_both_spellings() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(
        tmp.path(),
        "a.jsonl",
        r#"{"prompt": "Q1", "completion": "A1"}

{"problem": "Q2", "answer": "{\"PROB\": \"0.5\"}", "Type": "PN", "idx": 7, "solution": "S2"}
"#,
    );
    let ex = read_file(&p).unwrap();
    assert_eq!(ex.len(), 2);
    assert_eq!((ex[0].id.as_str(), ex[0].prompt.as_str()), ("line-1", "Q1"));
    assert_eq!(ex[0].sft_target(SftTarget::Solution).as_deref(), Some("A1"));
    assert_eq!(ex[1].id, "7");
    assert_eq!(ex[1].task, Some(Task::Pn));
    assert_eq!(ex[1].sft_target(SftTarget::Solution).as_deref(), Some("S2"));
    assert_eq!(
        ex[1].sft_target(SftTarget::Answer).as_deref(),
        Some(r#"Answer: {"PROB": "0.5"}"#)
    );
}

#[test]
fn bad_records_name_the_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "{\"prompt\": \"a\"}\n{\"completion\": \"x\"}\n",
            "line 2",
            "`prompt`",
        ),
        (
            "{\"prompt\": \"a\"}\n{\"prompt\": 3}\n",
            "line 2",
            "`prompt` must be a string",
        ),
        (
            "{\"prompt\": \"a\", \"task\": \"XYZ\"}\n",
            "line 1",
            "unknown task",
        ),
        ("{\"prompt\": \"a\"}\nnot json\n", "line 2", "expected"),
        ("[1, 2]\n", "", ""),
        ("\n\n", "no records", ""),
    ];
    for (i, (text, want1, want2)) in cases.iter().enumerate() {
        let p = write(tmp.path(), &format!("bad{i}.jsonl"), text);
        let err = read_file(&p).unwrap_err();
        assert!(matches!(err, Error::Parse { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("bad{i}.jsonl")), "{msg}");
        assert!(msg.contains(want1) && msg.contains(want2), "{msg}");
    }
    let err = read_file(&tmp.path().join("missing.jsonl")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("missing.jsonl"));
}

#[test]
fn generated_items_are_seeded_and_split() {
    let g = GenerateConfig {
        tasks: vec![Task::Ate, Task::Pn],
        count: 12,
        nodes: [2, 4],
        seed: 4,
        ..GenerateConfig::default()
    };
    let a = generate(&g).unwrap();
    assert_eq!(a, generate(&g).unwrap());
    assert_eq!(a.len(), 12);
    assert_eq!(a[0].task, Some(Task::Ate));
    assert_eq!(a[1].task, Some(Task::Pn));
    assert!(a.iter().all(|e| e.answer.is_some() && e.solution.is_some()));
    // The worked solution ends in the answer line that SftTarget::Answer trains alone.
    for e in &a {
        let answer = e.sft_target(SftTarget::Answer).unwrap();
        assert!(
            e.solution.as_ref().unwrap().trim_end().ends_with(&answer),
            "{e:?}"
        );
    }

    let mut cfg = DataConfig::generated(g);
    cfg.held_out = 5;
    let split = load(&cfg).unwrap();
    assert_eq!((split.train.len(), split.held_out.len()), (7, 5));
    assert_eq!(split.held_out, a[7..]);

    // Held-out items written and read back.
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("held.jsonl");
    write_jsonl(&p, &split.held_out).unwrap();
    let back: Vec<Example> = read_file(&p).unwrap();
    assert_eq!(back, split.held_out);
}
