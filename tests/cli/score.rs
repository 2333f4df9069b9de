//! End-to-end tests of `caugym score`.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_caugym");

fn shared(set: &str) -> String {
    format!(
        "{}/../shared/data/caugym-eval/{set}.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn golds(set: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(shared(set)).unwrap();
    let items: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    items
        .iter()
        .map(|it| {
            (
                it["Type"].as_str().unwrap().to_string(),
                it["answer"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn score(dataset: &str, responses: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(["score", "--dataset", dataset, "--responses"])
        .arg(responses)
        .arg("--json")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Responses for base.json (ids are 0-based positions): item i answers its gold when `right(i)`,
/// else its gold PROB plus 0.01 (outside the 5e-4 tolerance).
fn responses(golds: &[(String, String)], right: impl Fn(usize) -> bool) -> String {
    let mut out = String::new();
    for (i, (_, gold)) in golds.iter().enumerate() {
        let g: serde_json::Value = serde_json::from_str(gold).unwrap();
        let p: f64 = g["PROB"].as_str().unwrap().parse().unwrap();
        let prob = if right(i) { p } else { p + 0.01 };
        let text = format!("Reasoning...\n{{\"ANSWER\": \"Yes\", \"PROB\": \"{prob:.4}\"}}");
        out.push_str(&serde_json::json!({"id": i.to_string(), "responses": [text]}).to_string());
        out.push('\n');
    }
    out
}

#[test]
fn scores_base_by_the_published_rule() {
    let golds = golds("base");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    // Every third item right: the expected counts come from the golds, not from the scorer.
    let right = |i: usize| i.is_multiple_of(3);
    std::fs::write(&path, responses(&golds, right)).unwrap();
    let (ok, stdout, stderr) = score(&shared("base"), &path);
    assert!(ok, "{stderr}");
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let expected = (0..golds.len()).filter(|&i| right(i)).count();
    assert_eq!(r["overall"]["correct"], expected);
    assert_eq!(r["overall"]["total"], 700);
    for task in ["ATE", "CDE", "ETT", "NDE", "NIE", "PN", "PS"] {
        let want = (0..golds.len())
            .filter(|&i| right(i) && golds[i].0 == task)
            .count();
        assert_eq!(r["per_task"][task]["correct"], want, "{task}");
    }
    // All right: 100%.
    std::fs::write(&path, responses(&golds, |_| true)).unwrap();
    let (_, stdout, _) = score(&shared("base"), &path);
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(r["overall"]["accuracy"], 1.0);
}

#[test]
fn bad_responses_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    std::fs::write(
        &path,
        "{\"id\": \"0\", \"responses\": [\"x\"]}\n{\"id\": \"1\"}\n",
    )
    .unwrap();
    let (ok, _, stderr) = score(&shared("base"), &path);
    assert!(!ok);
    assert!(
        stderr.contains("r.jsonl") && stderr.contains("line 2"),
        "{stderr}"
    );
}
