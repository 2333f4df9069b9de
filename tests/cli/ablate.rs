//! End to end: `caugym ablate` trains each config, keeps going past a broken one, and reports
//! every row; the accuracies it reports are what `caugym score` gives on the responses it saved.

use crate::tiny_run::{caugym_ok, sft_config, tiny_model};

#[test]
fn a_broken_config_is_a_failed_row_and_accuracies_match_score() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(&tmp.path().join("model"));
    let good = tmp.path().join("good.toml");
    std::fs::write(&good, sft_config(&model, &tmp.path().join("runs/good"), 1)).unwrap();
    // Broken at training time: its data file does not exist.
    let broken = tmp.path().join("broken.toml");
    let text = sft_config(&model, &tmp.path().join("runs/broken"), 1).replace(
        "[data.generate]\ntasks = [\"ATE\", \"PN\"]\ncount = 8\nnodes = [2, 3]",
        "[data]\npath = \"no/such/data.jsonl\"",
    );
    std::fs::write(&broken, text).unwrap();
    // An evaluation set of 3 generated items.
    let set = tmp.path().join("items.json");
    caugym_ok(&[
        "gen",
        "--count",
        "3",
        "--nodes",
        "2-3",
        "--seed",
        "9",
        "--format",
        "json",
        "--output",
        set.to_str().unwrap(),
    ]);
    let out = tmp.path().join("ablation");
    let stdout = caugym_ok(&[
        "ablate",
        good.to_str().unwrap(),
        broken.to_str().unwrap(),
        "--base",
        "--sets",
        set.to_str().unwrap(),
        "--n",
        "2",
        "--max-new-tokens",
        "12",
        "--temperature",
        "1.0",
        "--out",
        out.to_str().unwrap(),
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ablation.json")).unwrap()).unwrap();
    let runs = json["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["base", "good", "broken"]);
    assert_eq!(runs[2]["status"], "failed");
    assert_eq!(runs[2]["stage"], "train");
    assert!(
        runs[2]["error"]
            .as_str()
            .unwrap()
            .contains("no/such/data.jsonl"),
        "{}",
        runs[2]
    );
    for row in &runs[..2] {
        assert_eq!(row["status"], "ok", "{row}");
        // The same numbers from the benchmark scorer over the saved responses.
        let responses = out
            .join(row["name"].as_str().unwrap())
            .join("items.responses.jsonl");
        let scored: serde_json::Value = serde_json::from_str(&caugym_ok(&[
            "score",
            "--dataset",
            set.to_str().unwrap(),
            "--responses",
            responses.to_str().unwrap(),
            "--json",
        ]))
        .unwrap();
        let report = &row["reports"]["items"];
        assert_eq!(report["overall"], scored["overall"], "{row}");
        assert_eq!(report["per_task"], scored["per_task"]);
        // 3 items x 2 samples.
        assert_eq!(report["overall"]["total"], 6);
        assert_eq!(row["accuracy"]["items"], scored["overall"]["accuracy"]);
    }
    // The Markdown table: one row per config and the base, the broken one marked failed.
    let md = std::fs::read_to_string(out.join("ablation.md")).unwrap();
    assert_eq!(stdout, md);
    let line = |name: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no row {name}: {md}"))
            .to_string()
    };
    assert!(line("broken").contains("failed (train):"), "{md}");
    let acc = runs[1]["accuracy"]["items"].as_f64().unwrap();
    assert!(
        line("good").starts_with(&format!("| good | sft | {acc:.3} |")),
        "{md}"
    );
    // The trained run's curves.
    assert!(out.join("plots/loss.png").is_file());
}
