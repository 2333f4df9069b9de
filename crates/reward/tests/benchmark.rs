//! The benchmark scorer on crafted responses, and its report.

use std::collections::HashMap;

use caugym_reward::{
    CausalReward, Error, Report, RewardConfig, RewardFn, ScoreItem, Tally, Target,
    official_correct, official_matches, score_benchmark, task_set_table,
};
use caugym_scm::Task;

fn gold(p: &str) -> Target {
    Target::parse(
        &format!(r#"{{"ANSWER": "Yes", "PROB": "{p}"}}"#),
        Some(Task::Ate),
    )
    .unwrap()
}

#[test]
fn any_matching_object_counts_but_the_reward_reads_only_the_final_one() {
    // Right value first, wrong final answer.
    let response = "<think>{\"PROB\": 0.3847}</think>{\"ANSWER\": \"Yes\", \"PROB\": 0.5}";
    let g = gold("0.3847");
    assert!(official_correct(response, &g));
    let out = CausalReward::new(RewardConfig::default())
        .unwrap()
        .score(response, &g);
    assert!(!out.is_correct());
    assert_eq!(out.parsed, Some(0.5));
}

#[test]
fn whitespace_inside_numbers_is_removed_first() {
    let g = gold("0.3847");
    assert!(official_correct("{ \"PROB\" : \"0. 38 47\" }", &g));
    assert!(official_correct("{\"PROB\":\n0.38\n47}", &g));
    assert!(official_correct("{\"PR OB\": 0.3847}", &g));
}

#[test]
fn prob_object_followed_by_text() {
    let g = gold("0.3847");
    assert!(official_correct(
        "{\"PROB\": \"0.3847\"} is my answer, confidence {high}",
        &g
    ));
    assert!(official_correct("{\"PROB\":0.3847}}}}", &g));
}

#[test]
fn string_and_number_values_with_exponents() {
    assert!(official_correct("{\"PROB\": 3.847e-1}", &gold("0.3847")));
    assert!(official_correct(
        "{\"ANSWER\":\"No\",\"PROB\":\"-0.0\"}",
        &gold("0")
    ));
    assert!(official_correct("{\"PROB\": 0}", &gold("-0.0")));
    assert!(official_correct("{\"PROB\": \"1\"}", &gold("1.0000")));
    // Non-finite and non-numeric values never match.
    assert!(!official_correct("{\"PROB\": \"nan\"}", &gold("0")));
    assert!(!official_correct("{\"PROB\": \"inf\"}", &gold("0")));
    assert!(!official_correct("{\"PROB\": true}", &gold("1")));
}

#[test]
fn objects_the_rule_does_not_see() {
    let g = gold("0.3847");
    // Lower-case first key, an extra first key, single quotes, missing closing brace.
    for r in [
        "{\"prob\": 0.3847}",
        "{\"NOTE\": 1, \"PROB\": 0.3847}",
        "{'PROB': 0.3847}",
        "{\"PROB\": 0.3847",
        "PROB = 0.3847",
    ] {
        assert!(!official_correct(r, &g), "{r}");
    }
    // A nested object cuts the match at the inner `}`.
    assert!(!official_correct(
        "{\"PROB\": 0.3847, \"x\": {\"y\": 1}}",
        &g
    ));
}

#[test]
fn answer_first_objects_read_their_prob_and_ignore_the_verdict() {
    let g = gold("-0.25");
    let m = official_matches("{\"ANSWER\": \"Yes\", \"PROB\": \"-0.25\"} {\"ANSWER\": \"No\"}");
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].prob, Some(-0.25));
    assert_eq!(m[1].prob, None);
    assert!(official_correct(
        "{\"ANSWER\": \"No\", \"PROB\": \"-0.25\"}",
        &g
    ));
}

#[test]
fn lack_condition_anywhere() {
    let t = Target::LackCondition;
    assert!(official_correct(
        "<think>maybe LACK_CONDITION</think>{\"PROB\": 0.3}",
        &t
    ));
    assert!(official_correct("LACK _CONDITION", &t));
    assert!(!official_correct("lack_condition", &t));
    assert!(!official_correct("{\"PROB\": 0.3}", &t));
}

fn item(id: &str, task: Option<Task>, gold: &str) -> ScoreItem {
    ScoreItem {
        id: id.into(),
        task,
        gold: gold.into(),
    }
}

fn responses(pairs: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(id, rs)| (id.to_string(), rs.iter().map(|r| r.to_string()).collect()))
        .collect()
}

#[test]
fn report_counts_samples_per_task_and_overall() {
    let items = vec![
        item("a", Some(Task::Ate), r#"{"ANSWER": "Yes", "PROB": "0.25"}"#),
        item("b", Some(Task::Ate), r#"{"ANSWER": "No", "PROB": "-0.5"}"#),
        item("c", Some(Task::Ps), r#"{"PROB": "0.75"}"#),
        item("d", Some(Task::Nie), "LACK_CONDITION"),
        item("e", None, r#"{"PROB": 0.5}"#),
        item("f", Some(Task::Ps), r#"{"PROB": "0.1"}"#),
    ];
    let r = responses(&[
        (
            "a",
            &[
                "{\"PROB\": 0.25}",
                "{\"PROB\": 0.2}",
                "x",
                "{\"PROB\": \"0.2504\"}",
            ],
        ),
        (
            "b",
            &[
                "{\"PROB\": -0.5}",
                "{\"PROB\": -0.5}",
                "{\"PROB\": -0.5}",
                "{\"PROB\": 0.5}",
            ],
        ),
        ("c", &["{\"PROB\": 0.75}", "", "", ""]),
        (
            "d",
            &["LACK_CONDITION", "LACK_CONDITION", "no", "{\"PROB\": 0}"],
        ),
        (
            "e",
            &[
                "{\"PROB\": 0.5}",
                "{\"PROB\": 0.5}",
                "{\"PROB\": 0.5}",
                "{\"PROB\": 0.5}",
            ],
        ),
        ("zzz", &["{\"PROB\": 0.5}"]),
    ]);
    let report = score_benchmark(&items, &r).unwrap();
    // ATE: a 2/4 + b 3/4; PS: c 1/4 + f missing 0/4; NIE: d 2/4; e has no task.
    assert_eq!(
        report.per_task[&Task::Ate],
        Tally {
            correct: 5,
            total: 8
        }
    );
    assert_eq!(
        report.per_task[&Task::Ps],
        Tally {
            correct: 1,
            total: 8
        }
    );
    assert_eq!(
        report.per_task[&Task::Nie],
        Tally {
            correct: 2,
            total: 4
        }
    );
    assert_eq!(report.per_task.len(), 3);
    assert_eq!(
        report.overall,
        Tally {
            correct: 12,
            total: 24
        }
    );
    assert_eq!(report.overall.accuracy(), 0.5);
    assert_eq!(report.missing_responses, ["f"]);

    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "overall": {"correct": 12, "total": 24, "accuracy": 0.5},
            "per_task": {
                "ATE": {"correct": 5, "total": 8, "accuracy": 0.625},
                "NIE": {"correct": 2, "total": 4, "accuracy": 0.5},
                "PS": {"correct": 1, "total": 8, "accuracy": 0.125},
            },
            "missing_responses": ["f"],
        })
    );

    let md = report.to_markdown();
    let expected = "| task | correct | total | accuracy |\n|---|---:|---:|---:|\n\
                    | ATE | 5 | 8 | 0.625 |\n\
                    | NIE | 2 | 4 | 0.500 |\n\
                    | PS | 1 | 8 | 0.125 |\n\
                    | **overall** | 12 | 24 | 0.500 |\n\
                    \n1 item(s) without responses counted as wrong.\n";
    assert_eq!(md, expected);
}

#[test]
fn an_empty_response_list_is_missing_and_weighs_one_sample_when_nothing_else_exists() {
    let items = vec![item("a", Some(Task::Cde), r#"{"PROB": "0.1"}"#)];
    let report = score_benchmark(&items, &responses(&[("a", &[])])).unwrap();
    assert_eq!(
        report.overall,
        Tally {
            correct: 0,
            total: 1
        }
    );
    assert_eq!(report.missing_responses, ["a"]);
}

#[test]
fn bad_inputs_are_errors() {
    let dup = vec![
        item("a", None, r#"{"PROB": "0.1"}"#),
        item("a", None, r#"{"PROB": "0.2"}"#),
    ];
    assert_eq!(
        score_benchmark(&dup, &HashMap::new()).unwrap_err(),
        Error::DuplicateId { id: "a".into() }
    );
    let bad = vec![item("a", None, "0.1")];
    assert!(matches!(
        score_benchmark(&bad, &HashMap::new()),
        Err(Error::Gold { .. })
    ));
}

#[test]
fn task_by_set_table_with_an_all_row() {
    let mut base = Report::default();
    base.per_task.insert(
        Task::Ate,
        Tally {
            correct: 3,
            total: 4,
        },
    );
    base.per_task.insert(
        Task::Ps,
        Tally {
            correct: 1,
            total: 4,
        },
    );
    base.overall = Tally {
        correct: 4,
        total: 8,
    };
    let mut redundant = Report::default();
    redundant.per_task.insert(
        Task::Ate,
        Tally {
            correct: 1,
            total: 4,
        },
    );
    redundant.overall = Tally {
        correct: 1,
        total: 4,
    };
    let table = task_set_table(&[("base", &base), ("redundant", &redundant)]);
    let expected = "| set | ATE | CDE | ETT | NDE | NIE | PN | PS | overall |\n\
                    |---|---:|---:|---:|---:|---:|---:|---:|---:|\n\
                    | base | 0.750 | - | - | - | - | - | 0.250 | 0.500 |\n\
                    | redundant | 0.250 | - | - | - | - | - | - | 0.250 |\n\
                    | **all** | 0.500 | - | - | - | - | - | 0.250 | 0.417 |\n";
    assert_eq!(table, expected);
}
