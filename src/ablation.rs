//! The ablation report: one row per run (and optionally the untrained base), its accuracy on
//! every evaluation set, and per-run task x set tables, as Markdown and JSON.
//!
//! Pure functions over finished results; `cmd/ablate.rs` trains and evaluates. A run that
//! failed keeps its row, with the stage and the error, so one broken config never hides the
//! others' results nor silently drops out of the comparison.

use std::fmt::Write;

use caugym_reward::{Report, task_set_table};
use serde_json::{Value, json};

/// One row of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The row's name (the config's file stem, or `base`).
    pub name: String,
    /// The method (`sft`, `grpo`, ...), when the config could be read.
    pub method: Option<String>,
    /// The run directory, when the config could be read.
    pub run_dir: Option<String>,
    /// Seconds spent training (absent for the base row and runs that never started).
    pub train_s: Option<f64>,
    /// Seconds spent evaluating.
    pub eval_s: Option<f64>,
    /// What happened.
    pub outcome: Outcome,
}

/// A row's result.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Evaluated: one report per set, in the ablation's set order.
    Done(Vec<(String, Report)>),
    /// Failed at `stage` (`config`, `train` or `eval`) with `reason`.
    Failed {
        /// Where it stopped.
        stage: &'static str,
        /// The error, with its causes.
        reason: String,
    },
}

impl Row {
    /// The overall accuracy on `set`, when evaluated.
    pub fn accuracy(&self, set: &str) -> Option<f64> {
        match &self.outcome {
            Outcome::Done(reports) => reports
                .iter()
                .find(|(s, _)| s == set)
                .map(|(_, r)| r.overall.accuracy()),
            Outcome::Failed { .. } => None,
        }
    }

    /// The unweighted mean of the sets' overall accuracies (each set counts once, as in the
    /// study's average column).
    pub fn mean(&self, sets: &[String]) -> Option<f64> {
        let accs: Option<Vec<f64>> = sets.iter().map(|s| self.accuracy(s)).collect();
        let accs = accs?;
        (!accs.is_empty()).then(|| accs.iter().sum::<f64>() / accs.len() as f64)
    }
}

/// One line of Markdown-safe text: `|` escaped, line breaks folded into spaces.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn secs(s: Option<f64>) -> String {
    s.map_or_else(|| "-".to_string(), |s| format!("{s:.0}"))
}

/// The run x set table of overall accuracies, with the mean over sets and the training time.
pub fn overall_table(rows: &[Row], sets: &[String]) -> String {
    let mut s = String::from("| run | method |");
    for set in sets {
        let _ = write!(s, " {set} |");
    }
    s.push_str(" mean | train s | eval s |\n|---|---|");
    s.push_str(&"---:|".repeat(sets.len() + 3));
    s.push('\n');
    for row in rows {
        let method = row.method.as_deref().unwrap_or("-");
        let _ = write!(s, "| {} | {method} |", cell(&row.name));
        match &row.outcome {
            Outcome::Done(_) => {
                for set in sets {
                    match row.accuracy(set) {
                        Some(a) => {
                            let _ = write!(s, " {a:.3} |");
                        }
                        None => s.push_str(" - |"),
                    }
                }
                let mean = row
                    .mean(sets)
                    .map_or("-".to_string(), |m| format!("{m:.3}"));
                let _ = write!(s, " {mean} |");
            }
            Outcome::Failed { stage, reason } => {
                let _ = write!(s, " failed ({stage}): {} |", cell(reason));
                s.push_str(&" |".repeat(sets.len()));
            }
        }
        let _ = writeln!(s, " {} | {} |", secs(row.train_s), secs(row.eval_s));
    }
    s
}

/// The whole Markdown report: settings, the overall table, then each evaluated row's task x set
/// table (what `caugym eval` prints for it).
pub fn markdown(rows: &[Row], sets: &[String], settings: &str) -> String {
    let mut s = String::from("# Ablation\n\n");
    let _ = writeln!(s, "{settings}\n");
    s.push_str("## Accuracy by run and set\n\n");
    s.push_str(&overall_table(rows, sets));
    s.push_str("\n## Accuracy by task\n");
    for row in rows {
        if let Outcome::Done(reports) = &row.outcome {
            let refs: Vec<(&str, &Report)> = reports.iter().map(|(n, r)| (n.as_str(), r)).collect();
            let _ = write!(s, "\n### {}\n\n{}", cell(&row.name), task_set_table(&refs));
        }
    }
    s
}

/// The JSON report: `settings`, `sets`, and one object per row with `status` `ok` (overall
/// accuracy per set, the mean, and the full reports) or `failed` (stage and error).
pub fn to_json(rows: &[Row], sets: &[String], settings: Value) -> Value {
    let runs: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut v = json!({
                "name": row.name,
                "method": row.method,
                "run_dir": row.run_dir,
                "train_s": row.train_s,
                "eval_s": row.eval_s,
            });
            let extra = match &row.outcome {
                Outcome::Done(reports) => {
                    let overall: serde_json::Map<String, Value> = reports
                        .iter()
                        .map(|(n, r)| (n.clone(), json!(r.overall.accuracy())))
                        .collect();
                    let full: serde_json::Map<String, Value> = reports
                        .iter()
                        .map(|(n, r)| (n.clone(), serde_json::to_value(r).unwrap_or(Value::Null)))
                        .collect();
                    json!({"status": "ok", "accuracy": overall, "mean": row.mean(sets),
                           "reports": full})
                }
                Outcome::Failed { stage, reason } => {
                    json!({"status": "failed", "stage": stage, "error": reason})
                }
            };
            if let (Value::Object(o), Value::Object(e)) = (&mut v, extra) {
                o.extend(e);
            }
            v
        })
        .collect();
    json!({"settings": settings, "sets": sets, "runs": runs})
}

#[cfg(test)]
mod tests {
    use super::*;
    use caugym_reward::Tally;
    use caugym_scm::Task;

    fn report(task: Task, correct: usize, total: usize) -> Report {
        let mut r = Report::default();
        r.per_task.insert(task, Tally { correct, total });
        r.overall = Tally { correct, total };
        r
    }

    fn rows() -> Vec<Row> {
        vec![
            Row {
                name: "sft".into(),
                method: Some("sft".into()),
                run_dir: Some("runs/sft".into()),
                train_s: Some(12.4),
                eval_s: Some(3.0),
                outcome: Outcome::Done(vec![
                    ("base".into(), report(Task::Ate, 3, 4)),
                    ("omitted".into(), report(Task::Pn, 1, 4)),
                ]),
            },
            Row {
                name: "bad".into(),
                method: None,
                run_dir: None,
                train_s: None,
                eval_s: None,
                outcome: Outcome::Failed {
                    stage: "train",
                    reason: "data.path: no such file\n| x".into(),
                },
            },
        ]
    }

    #[test]
    fn overall_table_has_accuracies_mean_and_failed_rows() {
        let sets = vec!["base".to_string(), "omitted".to_string()];
        let t = overall_table(&rows(), &sets);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "| run | method | base | omitted | mean | train s | eval s |"
        );
        assert_eq!(lines[1], "|---|---|---:|---:|---:|---:|---:|");
        // 3/4 and 1/4; mean (0.75 + 0.25) / 2 = 0.5.
        assert_eq!(lines[2], "| sft | sft | 0.750 | 0.250 | 0.500 | 12 | 3 |");
        // Same column count as the header: the failure fills the first set cell.
        assert_eq!(
            lines[3],
            "| bad | - | failed (train): data.path: no such file \\| x | | | - | - |"
        );
        let cols = |l: &str| l.replace("\\|", "").matches('|').count();
        assert!(lines.iter().all(|l| cols(l) == cols(lines[0])), "{t}");
    }

    #[test]
    fn json_rows_carry_status_accuracy_and_error() {
        let sets = vec!["base".to_string(), "omitted".to_string()];
        let v = to_json(&rows(), &sets, json!({"n": 2}));
        assert_eq!(v["runs"][0]["status"], "ok");
        assert_eq!(v["runs"][0]["accuracy"]["base"], 0.75);
        assert_eq!(v["runs"][0]["mean"], 0.5);
        assert_eq!(
            v["runs"][0]["reports"]["omitted"]["per_task"]["PN"]["correct"],
            1
        );
        assert_eq!(v["runs"][1]["status"], "failed");
        assert_eq!(v["runs"][1]["stage"], "train");
        let md = markdown(&rows(), &sets, "n = 2");
        assert!(md.contains("### sft\n\n| set |"), "{md}");
        assert!(!md.contains("### bad"));
    }
}
