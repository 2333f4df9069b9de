//! Scoring a whole benchmark set with the published rule, per task and overall.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use caugym_scm::Task;
use serde::{Serialize, Serializer};

use crate::error::{Error, Result};
use crate::official::official_correct;
use crate::target::Target;

/// One benchmark item as the scorer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreItem {
    /// Unique id; keys the responses.
    pub id: String,
    /// The item's task; items without one count only towards the overall tally.
    pub task: Option<Task>,
    /// The gold string (`{"ANSWER": …, "PROB": …}` or `LACK_CONDITION`).
    pub gold: String,
}

/// Correct samples out of samples. Serialised with its accuracy:
/// `{"correct": 3, "total": 4, "accuracy": 0.75}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Samples judged correct.
    pub correct: usize,
    /// Samples judged.
    pub total: usize,
}

impl Tally {
    /// `correct / total`, 0 when nothing was judged.
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }

    fn add(&mut self, other: Tally) {
        self.correct += other.correct;
        self.total += other.total;
    }
}

impl Serialize for Tally {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json {
            correct: usize,
            total: usize,
            accuracy: f64,
        }
        Json {
            correct: self.correct,
            total: self.total,
            accuracy: self.accuracy(),
        }
        .serialize(serializer)
    }
}

/// The score of one benchmark set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// All samples.
    pub overall: Tally,
    /// Samples per task, in the benchmark's task order (serialised with keys `"ATE"`, …).
    pub per_task: BTreeMap<Task, Tally>,
    /// Ids of items that had no responses (counted as wrong, see [`score_benchmark`]).
    pub missing_responses: Vec<String>,
}

/// Scores every item's responses with the benchmark's rule ([`crate::official`]); a response is a
/// sample, and accuracy is correct samples over samples, per task and overall.
///
/// An item with no responses (absent from `responses`, or an empty list) is listed in
/// `missing_responses` and counts as `n` wrong samples, where `n` is the largest number of
/// responses any item has (at least 1): with n samples per item, a lost item weighs what the
/// others do. Responses for ids that are not items are ignored. A duplicate id or an unreadable
/// gold is an error.
///
/// ```
/// use std::collections::HashMap;
/// use caugym_reward::{ScoreItem, score_benchmark};
/// use caugym_scm::Task;
///
/// let items = vec![
///     ScoreItem { id: "a".into(), task: Some(Task::Ate), gold: r#"{"ANSWER": "Yes", "PROB": "0.25"}"#.into() },
///     ScoreItem { id: "b".into(), task: Some(Task::Pn), gold: "LACK_CONDITION".into() },
/// ];
/// let responses = HashMap::from([(
///     "a".to_string(),
///     vec!["{\"PROB\": 0.2501}".to_string(), "{\"PROB\": 0.3}".to_string()],
/// )]);
/// let report = score_benchmark(&items, &responses).unwrap();
/// assert_eq!((report.overall.correct, report.overall.total), (1, 4));
/// assert_eq!(report.missing_responses, ["b"]);
/// ```
pub fn score_benchmark(
    items: &[ScoreItem],
    responses: &HashMap<String, Vec<String>>,
) -> Result<Report> {
    let mut seen = HashSet::new();
    let mut targets = Vec::with_capacity(items.len());
    for item in items {
        if !seen.insert(item.id.as_str()) {
            return Err(Error::DuplicateId {
                id: item.id.clone(),
            });
        }
        targets.push(Target::parse(&item.gold, item.task)?);
    }
    let samples_per_item = items
        .iter()
        .filter_map(|i| responses.get(&i.id).map(Vec::len))
        .max()
        .unwrap_or(0)
        .max(1);

    let mut report = Report::default();
    for (item, target) in items.iter().zip(&targets) {
        let tally = match responses.get(&item.id).filter(|r| !r.is_empty()) {
            Some(rs) => Tally {
                correct: rs.iter().filter(|r| official_correct(r, target)).count(),
                total: rs.len(),
            },
            None => {
                report.missing_responses.push(item.id.clone());
                Tally {
                    correct: 0,
                    total: samples_per_item,
                }
            }
        };
        report.overall.add(tally);
        if let Some(task) = item.task {
            report.per_task.entry(task).or_default().add(tally);
        }
    }
    Ok(report)
}

impl Report {
    /// The sum of several reports (e.g. all sets together); missing ids are concatenated.
    pub fn merged<'a>(reports: impl IntoIterator<Item = &'a Report>) -> Report {
        let mut out = Report::default();
        for r in reports {
            out.overall.add(r.overall);
            for (task, tally) in &r.per_task {
                out.per_task.entry(*task).or_default().add(*tally);
            }
            out.missing_responses
                .extend(r.missing_responses.iter().cloned());
        }
        out
    }

    /// A Markdown table: one row per task with correct, total and accuracy, then the overall row,
    /// then the number of items without responses when there are any.
    ///
    /// ```
    /// use caugym_reward::{Report, Tally};
    /// use caugym_scm::Task;
    ///
    /// let mut r = Report::default();
    /// r.per_task.insert(Task::Ate, Tally { correct: 1, total: 2 });
    /// r.overall = Tally { correct: 1, total: 2 };
    /// assert_eq!(
    ///     r.to_markdown(),
    ///     "| task | correct | total | accuracy |\n|---|---:|---:|---:|\n\
    ///      | ATE | 1 | 2 | 0.500 |\n| **overall** | 1 | 2 | 0.500 |\n"
    /// );
    /// ```
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("| task | correct | total | accuracy |\n|---|---:|---:|---:|\n");
        let mut row = |name: &str, t: &Tally| {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {:.3} |",
                t.correct,
                t.total,
                t.accuracy()
            );
        };
        for (task, tally) in &self.per_task {
            row(task.abbr(), tally);
        }
        row("**overall**", &self.overall);
        if !self.missing_responses.is_empty() {
            let _ = writeln!(
                s,
                "\n{} item(s) without responses counted as wrong.",
                self.missing_responses.len()
            );
        }
        s
    }
}

/// A task × set Markdown table like the paper's: one row per named report (a set), one column per
/// task (accuracy, 3 decimals; `-` where the set has no item of that task) and the set's overall
/// accuracy; a final `all` row merges the sets when there are several.
///
/// ```
/// use caugym_reward::{Report, Tally, task_set_table};
/// use caugym_scm::Task;
///
/// let mut base = Report::default();
/// base.per_task.insert(Task::Ate, Tally { correct: 3, total: 4 });
/// base.overall = Tally { correct: 3, total: 4 };
/// let table = task_set_table(&[("base", &base)]);
/// assert!(table.contains("| base | 0.750 | - | - | - | - | - | - | 0.750 |"));
/// ```
pub fn task_set_table(reports: &[(&str, &Report)]) -> String {
    let mut s = String::from("| set |");
    for task in Task::ALL {
        let _ = write!(s, " {task} |");
    }
    s.push_str(" overall |\n|---|");
    s.push_str(&"---:|".repeat(Task::ALL.len() + 1));
    s.push('\n');
    let mut row = |name: &str, r: &Report| {
        let _ = write!(s, "| {name} |");
        for task in Task::ALL {
            match r.per_task.get(&task) {
                Some(t) => {
                    let _ = write!(s, " {:.3} |", t.accuracy());
                }
                None => s.push_str(" - |"),
            }
        }
        let _ = writeln!(s, " {:.3} |", r.overall.accuracy());
    };
    for (name, report) in reports {
        row(name, report);
    }
    if reports.len() > 1 {
        row("**all**", &Report::merged(reports.iter().map(|(_, r)| *r)));
    }
    s
}
