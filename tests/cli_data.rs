//! End-to-end tests of `caugym solve` and `caugym gen`.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_caugym");

fn shared(set: &str) -> String {
    format!(
        "{}/../shared/data/caugym-eval/{set}.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run caugym");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn solve_json(path: &str) -> serde_json::Value {
    let (ok, stdout, stderr) = run(&["solve", path, "--json"]);
    assert!(ok, "{stderr}");
    serde_json::from_str(&stdout).expect("one JSON object")
}

#[test]
fn solve_reports_all_of_base() {
    let r = solve_json(&shared("base"));
    assert_eq!(r["overall"]["correct"], 700);
    assert_eq!(r["overall"]["total"], 700);
    assert_eq!(r["overall"]["accuracy"], 1.0);
    for task in ["ATE", "CDE", "ETT", "NDE", "NIE", "PN", "PS"] {
        assert_eq!(r["per_task"][task]["correct"], 100, "{task}");
    }
    assert_eq!(r["misses"].as_array().map(Vec::len), Some(0));
}

#[test]
fn solve_table_lists_misses() {
    let (ok, stdout, _) = run(&["solve", &shared("redundant")]);
    assert!(ok);
    assert!(stdout.contains("688/700"), "{stdout}");
    // One of the documented PN gold defects is listed with its gold and computed answers.
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("44844"))
        .expect("miss 44844 listed");
    assert!(
        line.contains("PN") && line.contains("0.2075") && line.contains("0.2080"),
        "{line}"
    );
}

#[test]
fn malformed_files_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(
        &path,
        "{\"problem\": \"p\", \"answer\": \"LACK_CONDITION\"}\n{\"problem\": \"p\"}\n",
    )
    .unwrap();
    let (ok, _, stderr) = run(&["solve", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("bad.jsonl") && stderr.contains("line 2") && stderr.contains("`answer`"),
        "{stderr}"
    );
    let missing = Path::new("/nonexistent/x.json");
    let (ok, _, stderr) = run(&["solve", missing.to_str().unwrap()]);
    assert!(!ok && stderr.contains("/nonexistent/x.json"), "{stderr}");
}
