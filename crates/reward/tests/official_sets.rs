//! The scorers against the six official CauGym test sets (read in place, never copied).

use std::collections::HashMap;

use caugym_reward::{
    CausalReward, RewardConfig, RewardFn, ScoreItem, Target, score_benchmark, yes_no_convention,
};
use caugym_scm::Task;
use serde::Deserialize;

const EVAL_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/caugym-eval/"
);
const SETS: [&str; 6] = [
    "base",
    "deconfounding",
    "redundant",
    "insufficient",
    "omitted",
    "rephrased",
];

#[derive(Deserialize)]
struct Item {
    answer: String,
    #[serde(rename = "Type")]
    task: Task,
}

fn load(set: &str) -> Vec<Item> {
    let path = format!("{EVAL_DIR}{set}.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

fn score_items(set: &str, items: &[Item]) -> Vec<ScoreItem> {
    items
        .iter()
        .enumerate()
        .map(|(i, it)| ScoreItem {
            id: format!("{set}-{i}"),
            task: Some(it.task),
            gold: it.answer.clone(),
        })
        .collect()
}

/// The gold's JSON with PROB moved by `delta`, written to 4 decimals as a string.
fn shifted(gold: &str, delta: f64) -> String {
    let mut v: serde_json::Value = serde_json::from_str(gold).unwrap();
    let p: f64 = match &v["PROB"] {
        serde_json::Value::String(s) => s.parse().unwrap(),
        other => other.as_f64().unwrap(),
    };
    v["PROB"] = serde_json::Value::String(format!("{:.4}", p + delta));
    v.to_string()
}

#[test]
fn gold_answers_as_responses_score_100_percent() {
    for set in SETS {
        let items = load(set);
        assert_eq!(items.len(), 700, "{set}");
        let scored = score_items(set, &items);
        let responses: HashMap<String, Vec<String>> = scored
            .iter()
            .map(|s| (s.id.clone(), vec![s.gold.clone(); 2]))
            .collect();
        let report = score_benchmark(&scored, &responses).unwrap();
        assert_eq!(report.overall.total, 1400, "{set}");
        assert_eq!(report.overall.correct, 1400, "{set}");
        assert_eq!(report.per_task.len(), 7, "{set}");
        for (task, tally) in &report.per_task {
            assert_eq!((tally.correct, tally.total), (200, 200), "{set} {task}");
        }
        assert!(report.missing_responses.is_empty());
    }
}

#[test]
fn gold_answers_shifted_by_a_thousandth_score_0_percent() {
    for set in SETS {
        let items = load(set);
        let scored = score_items(set, &items);
        let responses: HashMap<String, Vec<String>> = scored
            .iter()
            .map(|s| {
                let r = if s.gold == "LACK_CONDITION" {
                    // A numeric answer where the data is insufficient.
                    r#"{"ANSWER": "No", "PROB": "0.0000"}"#.to_string()
                } else {
                    shifted(&s.gold, 0.001)
                };
                (s.id.clone(), vec![r])
            })
            .collect();
        let report = score_benchmark(&scored, &responses).unwrap();
        assert_eq!(report.overall.total, 700, "{set}");
        assert_eq!(report.overall.correct, 0, "{set}");
    }
}

#[test]
fn the_training_reward_gives_full_marks_to_every_gold_and_none_to_shifted_ones() {
    let reward = CausalReward::new(RewardConfig {
        check_yes_no: true,
        ..RewardConfig::default()
    })
    .unwrap();
    let (lo, hi) = reward.config().score_range();
    for set in SETS {
        let items = load(set);
        let targets: Vec<Target> = items
            .iter()
            .map(|it| Target::parse(&it.answer, Some(it.task)).unwrap())
            .collect();
        let golds: Vec<String> = items.iter().map(|it| it.answer.clone()).collect();
        for out in reward.score_batch(&golds, &targets).unwrap() {
            assert_eq!(out.score, hi, "{set}: {out:?}");
        }
        let wrong: Vec<String> = items
            .iter()
            .map(|it| {
                if it.answer == "LACK_CONDITION" {
                    "<think>…</think>{\"PROB\": \"0.1\"}".to_string()
                } else {
                    format!(
                        "<think>…</think>\n```json\n{}\n```",
                        shifted(&it.answer, -0.001)
                    )
                }
            })
            .collect();
        for out in reward.score_batch(&wrong, &targets).unwrap() {
            assert!(out.score < hi && out.score >= lo, "{set}: {out:?}");
            assert!(!out.is_correct(), "{set}: {out:?}");
        }
    }
}

#[test]
fn caugym_yes_no_convention_matches_the_generated_sets_gold_verdicts() {
    // Independent check of `yes_no_convention` against the verdicts in the CauGym-generated sets;
    // the CaLM-derived base set follows PROB > 0 and must disagree somewhere (ETT at least), which
    // is why a gold's own ANSWER takes precedence.
    let mut base_disagreements = 0;
    for set in ["deconfounding", "redundant", "base"] {
        for it in load(set) {
            let v: serde_json::Value = serde_json::from_str(&it.answer).unwrap();
            let Some(answer) = v.get("ANSWER").and_then(|a| a.as_str()) else {
                assert!(!it.task.has_yes_no(), "{set}: {} without ANSWER", it.task);
                continue;
            };
            let prob: f64 = v["PROB"].as_str().unwrap().parse().unwrap();
            let rule = yes_no_convention(it.task, prob).unwrap();
            if set == "base" {
                base_disagreements += usize::from(rule != (answer == "Yes"));
            } else {
                assert_eq!(rule, answer == "Yes", "{set} {} {prob}", it.task);
            }
        }
    }
    assert!(base_disagreements > 0);
}
