//! Reading a run directory's logs into per-step values.
//!
//! `metrics.jsonl` (required) holds one JSON object per logged optimiser step: an integer
//! `"step"` and numeric metrics named as verl/TRL name them. The reader is written for logs as
//! they are found after real runs:
//! - keys may be missing from a line (metrics logged every N steps): no point at that step;
//! - a step may repeat (a resumed run re-logs steps after its checkpoint, or an evaluation
//!   appends its own line for a step): values merge per key and the later line wins;
//! - `null` is how the trainer writes a NaN or infinity: no point (and it erases an earlier
//!   value of that key at that step, since the later line wins);
//! - other non-numeric values (strings, booleans, arrays, objects) are ignored with one warning
//!   per key;
//! - the last line may be cut short by a crash: skipped with a warning. Any other unreadable
//!   line is an error naming the file and line, since silently dropping data mid-file would
//!   draw a wrong curve.
//!
//! `eval.jsonl` (optional) holds evaluation results, one object per line such as
//! `{"step": 200, "set": "base", "task": "ATE", "accuracy": 0.61}`. Its string fields, in key
//! order, name the result and its numbers become metrics under `eval/`:
//! `eval/base/ATE/accuracy` here, `eval/accuracy` for a line with no string field.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde_json::{Map, Value};

/// The training log every run directory must hold.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// Optional evaluation results beside it.
pub const EVAL_FILE: &str = "eval.jsonl";

/// Values of one step, by metric name.
pub type Row = BTreeMap<String, f64>;

/// One run's logged values, by step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    /// The legend label (see [`run_labels`]).
    pub label: String,
    /// Values by step, in step order.
    pub rows: BTreeMap<u64, Row>,
}

/// What the x axis shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XAxis {
    /// The optimiser step of each line.
    Step,
    /// Another numeric metric of the same line (e.g. a cumulative token count).
    Key(String),
}

impl XAxis {
    /// `step` is the step; any other name is a metric key.
    pub fn parse(name: &str) -> Self {
        if name == "step" {
            Self::Step
        } else {
            Self::Key(name.to_string())
        }
    }

    /// The axis label.
    pub fn label(&self) -> &str {
        match self {
            Self::Step => "step",
            Self::Key(k) => k,
        }
    }

    /// The x value of a row, if it has one.
    pub fn value(&self, step: u64, row: &Row) -> Option<f64> {
        match self {
            Self::Step => Some(step as f64),
            Self::Key(k) => row.get(k).copied(),
        }
    }
}

impl Run {
    /// Every metric name logged at least once.
    pub fn keys(&self) -> BTreeSet<&str> {
        self.rows
            .values()
            .flat_map(|r| r.keys().map(String::as_str))
            .collect()
    }

    /// `(x, value)` of `key` at every row that has both, sorted by x (stable, so equal x keep
    /// step order).
    pub fn series(&self, x: &XAxis, key: &str) -> Vec<(f64, f64)> {
        let mut points: Vec<(f64, f64)> = self
            .rows
            .iter()
            .filter_map(|(&step, row)| Some((x.value(step, row)?, *row.get(key)?)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    }

    /// `(x, a, b)` at every row that has x, `a` and `b` (a mean and its standard deviation).
    pub fn paired_series(&self, x: &XAxis, a: &str, b: &str) -> Vec<(f64, f64, f64)> {
        let mut points: Vec<(f64, f64, f64)> = self
            .rows
            .iter()
            .filter_map(|(&step, row)| Some((x.value(step, row)?, *row.get(a)?, *row.get(b)?)))
            .collect();
        points.sort_by(|p, q| p.0.total_cmp(&q.0));
        points
    }
}

/// Reads `dir/metrics.jsonl` and, when present, `dir/eval.jsonl`. Returns the run (labelled
/// `label`) and the warnings to show.
pub fn read_run(dir: &Path, label: String) -> anyhow::Result<(Run, Vec<String>)> {
    let path = dir.join(METRICS_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (a run directory holds one)", path.display()))?;
    let mut log = Log::new(&path);
    log.parse(&text, Record::Metrics)?;
    if log.rows.is_empty() {
        bail!("{}: no complete metrics line (empty file)", path.display());
    }
    let eval = dir.join(EVAL_FILE);
    if eval.is_file() {
        let text = std::fs::read_to_string(&eval)
            .with_context(|| format!("reading {}", eval.display()))?;
        log.path = eval;
        log.parse(&text, Record::Eval)?;
    }
    let run = Run {
        label,
        rows: log.rows,
    };
    Ok((run, log.warnings))
}

/// How a line's fields become metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// `metrics.jsonl`: every numeric field is a metric of its own name.
    Metrics,
    /// `eval.jsonl`: numeric fields become `eval/<string fields...>/<name>`.
    Eval,
}

/// A parser accumulating lines of one or more files into rows.
#[derive(Debug)]
pub struct Log {
    path: PathBuf,
    /// Values by step.
    pub rows: BTreeMap<u64, Row>,
    /// What was skipped, one sentence each.
    pub warnings: Vec<String>,
}

impl Log {
    /// An empty log whose messages name `path`.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            rows: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    /// Folds the lines of `text` (the contents of the current file) in.
    pub fn parse(&mut self, text: &str, record: Record) -> anyhow::Result<()> {
        let last = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, _)| i)
            .last();
        // Non-numeric values per key: (count, first line).
        let mut ignored: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = || format!("{}:{}", self.path.display(), i + 1);
            let object = match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(o)) => o,
                Ok(_) => bail!("{}: expected a JSON object", at()),
                Err(_) if Some(i) == last => {
                    self.warnings.push(format!(
                        "{}: skipped an incomplete last line (run cut short?)",
                        at()
                    ));
                    continue;
                }
                Err(e) => bail!("{}: not valid JSON: {e}", at()),
            };
            let step = step_of(&object).map_err(|reason| anyhow!("{}: {reason}", at()))?;
            let row = self.rows.entry(step).or_default();
            let prefix = match record {
                Record::Metrics => String::new(),
                Record::Eval => eval_prefix(&object),
            };
            for (key, value) in &object {
                if key == "step" {
                    continue;
                }
                let name = format!("{prefix}{key}");
                match value {
                    Value::Number(n) => {
                        // serde_json numbers are finite, so as_f64 always succeeds.
                        if let Some(v) = n.as_f64() {
                            row.insert(name, v);
                        }
                    }
                    Value::Null => {
                        row.remove(&name);
                    }
                    // An eval line's labels are strings by design.
                    Value::String(_) if record == Record::Eval => {}
                    _ => ignored.entry(name).or_insert((0, i + 1)).0 += 1,
                }
            }
            if row.is_empty() {
                self.rows.remove(&step);
            }
        }
        for (key, (count, line)) in ignored {
            self.warnings.push(format!(
                "{}: ignored {count} non-numeric value(s) of `{key}` (first on line {line})",
                self.path.display()
            ));
        }
        Ok(())
    }
}

fn step_of(object: &Map<String, Value>) -> Result<u64, String> {
    match object.get("step") {
        None => Err("no \"step\" field".to_string()),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| format!("\"step\" must be a non-negative integer, got {v}")),
    }
}

/// `eval/` followed by the line's string values in key order, each ending in `/`.
fn eval_prefix(object: &Map<String, Value>) -> String {
    // Sorted explicitly: the map's own order depends on serde_json's features.
    let labels: BTreeMap<&str, &str> = object
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect();
    let mut prefix = String::from("eval/");
    for label in labels.values() {
        prefix.push_str(label);
        prefix.push('/');
    }
    prefix
}

/// Legend labels for run directories: each directory's name, or the path as given where two
/// runs share a name (`a/run` and `b/run`), so that overlaid curves stay distinguishable.
pub fn run_labels(dirs: &[PathBuf]) -> Vec<String> {
    let names: Vec<String> = dirs.iter().map(|d| dir_name(d)).collect();
    names
        .iter()
        .zip(dirs)
        .map(|(name, dir)| {
            if names.iter().filter(|n| *n == name).count() > 1 {
                dir.display().to_string()
            } else {
                name.clone()
            }
        })
        .collect()
}

/// The last component of `dir`, resolving `.` and `..` through the file system.
fn dir_name(dir: &Path) -> String {
    let named = dir
        .file_name()
        .filter(|_| !dir.ends_with(".."))
        .map(|n| n.to_string_lossy().into_owned());
    named
        .or_else(|| {
            std::fs::canonicalize(dir)
                .ok()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| dir.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Log> {
        let mut log = Log::new(Path::new("runs/a/metrics.jsonl"));
        log.parse(text, Record::Metrics)?;
        Ok(log)
    }

    fn run(log: Log) -> Run {
        Run {
            label: "a".into(),
            rows: log.rows,
        }
    }

    #[test]
    fn missing_keys_resumed_steps_bad_values_and_a_cut_last_line() {
        // Steps 1-3, then a resume from step 2 re-logs 2 and 3 with new values, then step 4,
        // then a line cut by a crash. `actor/kl` is logged every other step; step 3's first
        // loss is a string (ignored) and the resumed step 3 logs a NaN (null) loss.
        let text = concat!(
            "{\"step\":1,\"loss/total\":1.0,\"actor/kl\":0.1}\n",
            "{\"step\":2,\"loss/total\":0.9}\n",
            "\n",
            "{\"step\":3,\"loss/total\":\"oops\",\"actor/kl\":0.3,\"note\":true}\n",
            "{\"step\":2,\"loss/total\":0.8}\n",
            "{\"step\":3,\"loss/total\":null,\"actor/kl\":0.35}\n",
            "{\"step\":4,\"loss/total\":0.5,\"actor/kl\":0.4}\n",
            "{\"step\":5,\"loss/total\":0.",
        );
        let log = parse(text).unwrap();
        assert_eq!(
            log.warnings,
            [
                "runs/a/metrics.jsonl:8: skipped an incomplete last line (run cut short?)",
                "runs/a/metrics.jsonl: ignored 1 non-numeric value(s) of `loss/total` (first on line 4)",
                "runs/a/metrics.jsonl: ignored 1 non-numeric value(s) of `note` (first on line 4)",
            ]
        );
        let run = run(log);
        // Step 2: the resumed 0.8 replaces 0.9; step 3: no loss (string, then null); no step 5.
        assert_eq!(
            run.series(&XAxis::Step, "loss/total"),
            [(1.0, 1.0), (2.0, 0.8), (4.0, 0.5)]
        );
        // Step 3's kl: the later 0.35.
        assert_eq!(
            run.series(&XAxis::Step, "actor/kl"),
            [(1.0, 0.1), (3.0, 0.35), (4.0, 0.4)]
        );
        assert_eq!(
            run.keys().into_iter().collect::<Vec<_>>(),
            ["actor/kl", "loss/total"]
        );
    }

    #[test]
    fn another_metric_as_x_sorts_by_it_and_pairs_need_both_keys() {
        let text = concat!(
            "{\"step\":1,\"tokens\":300,\"m\":1.0,\"s\":0.5}\n",
            "{\"step\":2,\"tokens\":100,\"m\":2.0}\n",
            "{\"step\":3,\"m\":3.0,\"s\":0.1}\n",
            "{\"step\":4,\"tokens\":200,\"m\":4.0,\"s\":0.2}\n",
        );
        let run = run(parse(text).unwrap());
        let x = XAxis::parse("tokens");
        // Step 3 has no x; the rest sorted by tokens: 100 (step 2), 200 (4), 300 (1).
        assert_eq!(
            run.series(&x, "m"),
            [(100.0, 2.0), (200.0, 4.0), (300.0, 1.0)]
        );
        assert_eq!(
            run.paired_series(&XAxis::Step, "m", "s"),
            [(1.0, 1.0, 0.5), (3.0, 3.0, 0.1), (4.0, 4.0, 0.2)]
        );
    }

    #[test]
    fn unreadable_lines_before_the_last_name_file_and_line() {
        let err = |text: &str| parse(text).unwrap_err().to_string();
        let e = err("{\"step\":1,\"a\":1}\n{\"step\":2,\"a\":\n{\"step\":3,\"a\":1}\n");
        assert!(
            e.starts_with("runs/a/metrics.jsonl:2: not valid JSON"),
            "{e}"
        );
        assert_eq!(
            err("{\"a\":1}\n"),
            "runs/a/metrics.jsonl:1: no \"step\" field"
        );
        assert_eq!(
            err("{\"step\":-1,\"a\":1}\n"),
            "runs/a/metrics.jsonl:1: \"step\" must be a non-negative integer, got -1"
        );
        assert_eq!(
            err("[1,2]\n{\"step\":1}\n"),
            "runs/a/metrics.jsonl:1: expected a JSON object"
        );
    }

    #[test]
    fn eval_lines_become_eval_metrics_named_by_their_strings() {
        let mut log = Log::new(Path::new("eval.jsonl"));
        let text = concat!(
            "{\"task\":\"ATE\",\"step\":10,\"set\":\"base\",\"accuracy\":0.5,\"n\":4}\n",
            "{\"step\":10,\"accuracy\":0.25}\n",
        );
        log.parse(text, Record::Eval).unwrap();
        assert!(log.warnings.is_empty(), "{:?}", log.warnings);
        let row: Vec<(&str, f64)> = log.rows[&10]
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            row,
            [
                ("eval/accuracy", 0.25),
                ("eval/base/ATE/accuracy", 0.5),
                ("eval/base/ATE/n", 4.0)
            ]
        );
    }

    #[test]
    fn read_run_requires_a_non_empty_metrics_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_run(dir.path(), "r".into()).unwrap_err();
        let path = dir.path().join(METRICS_FILE);
        assert!(
            format!("{e:#}").contains(&path.display().to_string()),
            "{e:#}"
        );
        std::fs::write(&path, "\n\n").unwrap();
        let e = read_run(dir.path(), "r".into()).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}: no complete metrics line (empty file)", path.display())
        );
        // Metrics plus an eval file merge by step.
        std::fs::write(&path, "{\"step\":5,\"loss/total\":2}\n").unwrap();
        std::fs::write(
            dir.path().join(EVAL_FILE),
            "{\"step\":5,\"accuracy\":0.75}\n",
        )
        .unwrap();
        let (run, warnings) = read_run(dir.path(), "r".into()).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(run.series(&XAxis::Step, "eval/accuracy"), [(5.0, 0.75)]);
        assert_eq!(run.series(&XAxis::Step, "loss/total"), [(5.0, 2.0)]);
    }

    #[test]
    fn labels_are_dir_names_unless_two_runs_share_one() {
        let dirs: Vec<PathBuf> = ["x/grpo", "y/run", "z/run/", "sft"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(run_labels(&dirs), ["grpo", "y/run", "z/run/", "sft"]);
    }
}
