//! `caugym generate` end to end on a tiny random checkpoint.

use std::path::Path;
use std::process::Command;

fn caugym(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_caugym"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn generate_samples_groups_reproducibly_from_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    let model = model.to_str().unwrap();
    let (ok, _, err) = caugym(&[
        "init-model",
        "--size",
        "tiny",
        "--out",
        model,
        "--seed",
        "3",
    ]);
    assert!(ok, "{err}");
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"id\": \"a\", \"prompt\": \"Smoking has a direct effect on\"}\n\n{\"id\": 7, \"problem\": \"For those with\"}\n").unwrap();
    let run = |out: &str, seed: &str| {
        let out = dir.path().join(out);
        let (ok, _, err) = caugym(&[
            "generate",
            "--model",
            model,
            "--input",
            input.to_str().unwrap(),
            "--n",
            "3",
            "--max-new-tokens",
            "6",
            "--temperature",
            "0.8",
            "--seed",
            seed,
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        assert!(err.contains("tokens/s"), "{err}");
        lines(&out)
    };
    let a = run("a.jsonl", "1");
    assert_eq!(a.len(), 6);
    for (i, line) in a.iter().enumerate() {
        assert_eq!(line["index"], i / 3);
        assert_eq!(line["sample"], i % 3);
        let n = line["completion_tokens"].as_u64().unwrap() as usize;
        assert!((1..=6).contains(&n));
        assert_eq!(line["token_ids"].as_array().unwrap().len(), n);
        assert_eq!(line["logprobs"].as_array().unwrap().len(), n);
        // A log-prob of a sampled token is finite and negative.
        assert!(
            line["logprobs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x.as_f64().unwrap() < 0.0)
        );
    }
    assert_eq!(a[0]["id"], "a");
    assert_eq!(a[3]["id"], 7);
    assert_eq!(a, run("b.jsonl", "1"), "same seed, same completions");
    assert_ne!(a, run("c.jsonl", "2"), "another seed, other completions");
}

#[test]
fn generate_errors_name_the_input_line() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m");
    let model = model.to_str().unwrap();
    assert!(
        caugym(&[
            "init-model",
            "--size",
            "tiny",
            "--out",
            model,
            "--seed",
            "3"
        ])
        .0
    );
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"prompt\": \"x\"}\n{\"id\": 1}\n").unwrap();
    let (ok, _, err) = caugym(&[
        "generate",
        "--model",
        model,
        "--input",
        input.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("in.jsonl line 2") && err.contains("prompt"),
        "{err}"
    );
    let (ok, _, err) = caugym(&[
        "generate", "--model", model, "--prompt", "x", "--top-p", "0",
    ]);
    assert!(!ok && err.contains("top_p"), "{err}");
}
