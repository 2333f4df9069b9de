//! Solving whole datasets: read, estimate, compare with the gold, tally per task.
//!
//! Each problem is read by the template parser; text it cannot read (free paraphrases) falls back
//! to the order-based reader ([`crate::order`]). The report counts the two apart.

use std::collections::BTreeMap;

use caugym_scm::Task;
use serde::Serialize;

use crate::answer::{Answer, Convention};
use crate::dataset::DatasetItem;
use crate::error::{Error, Result};
use crate::estimate::{Estimate, estimate};
use crate::order::{OrderReading, read_by_order};
use crate::parse::parse_detailed;
use crate::problem::Problem;

/// How a problem was read.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// By the template parser: the full structure.
    Parsed {
        /// The parsed problem.
        problem: Box<Problem>,
        /// The estimate.
        estimate: Estimate,
        /// Probability sentences that had to be skipped.
        skipped: Vec<String>,
    },
    /// By the order of its numbers (free wording).
    ByOrder(OrderReading),
}

/// One problem solved from its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Solved {
    /// The estimand as read (`None` when the order-based reader could not name it).
    pub task: Option<Task>,
    /// The final answer.
    pub answer: Answer,
    /// How it was read.
    pub reading: Reading,
}

/// Reads and solves one problem text with the template parser only.
pub fn solve_parsed(text: &str) -> Result<Solved> {
    let parsed = parse_detailed(text)?;
    let estimate = estimate(&parsed.problem)?;
    let task = parsed.problem.query.task;
    let answer = estimate.answer(task, parsed.problem.convention());
    Ok(Solved {
        task: Some(task),
        answer,
        reading: Reading::Parsed {
            problem: Box::new(parsed.problem),
            estimate,
            skipped: parsed.skipped,
        },
    })
}

/// Reads and solves one problem text: the template parser, else the order-based reader. The
/// error names what the parser could not read when both fail.
pub fn solve_text(text: &str) -> Result<Solved> {
    let parse_error = match solve_parsed(text) {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    match read_by_order(text) {
        Ok(r) => {
            let answer = match r.task {
                Some(t) => Answer::from_value(t, r.value, Convention::Calm),
                None => Answer::Prob {
                    prob: crate::answer::round4(r.value),
                    yes: None,
                },
            };
            Ok(Solved {
                task: r.task,
                answer,
                reading: Reading::ByOrder(r),
            })
        }
        Err(order_error) => Err(Error::parse(
            "problem",
            format!("{parse_error}; order-based reading: {order_error}"),
            "",
        )),
    }
}

/// Correct / total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Items whose computed answer agrees with the gold.
    pub correct: usize,
    /// Items.
    pub total: usize,
    /// `correct / total` (0 for no items).
    pub accuracy: f64,
}

impl Counts {
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.correct += usize::from(ok);
        self.accuracy = self.correct as f64 / self.total as f64;
    }
}

/// An item whose computed answer disagrees with the gold (or could not be computed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    /// The item's id.
    pub id: String,
    /// Its task (`?` when unknown).
    pub task: String,
    /// The gold answer string.
    pub gold: String,
    /// The computed answer, or the error that prevented it.
    pub computed: String,
}

/// Agreement of a dataset with its gold.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SolveReport {
    /// All items.
    pub overall: Counts,
    /// Per task abbreviation (the file's `Type` when present, else as read; `?` if unknown).
    pub per_task: BTreeMap<String, Counts>,
    /// Items read by the template parser, and how many of them agree.
    pub parsed: Counts,
    /// Items read only by the order-based reader, and how many of them agree.
    pub by_order: Counts,
    /// Items that could not be read at all (counted as misses).
    pub unreadable: usize,
    /// Disagreements and failures, in file order.
    pub misses: Vec<Miss>,
}

/// Solves every item and compares with its gold under the strict rule (|Δ PROB| < 5e-4, or both
/// `LACK_CONDITION`). An unreadable gold or problem counts as a miss, never a panic.
pub fn solve_items(items: &[DatasetItem]) -> SolveReport {
    let mut report = SolveReport::default();
    for item in items {
        let solved = solve_text(&item.problem);
        let task = item
            .task
            .or_else(|| solved.as_ref().ok().and_then(|s| s.task));
        let task_name = task.map_or("?".to_string(), |t| t.abbr().to_string());
        let gold = Answer::parse(&item.answer);
        let (ok, computed) = match (&solved, &gold) {
            (Ok(s), Ok(g)) => (s.answer.agrees_with(g), s.answer.to_gold_string()),
            (Err(e), _) => (false, format!("error: {e}")),
            (Ok(s), Err(e)) => (false, format!("{} (gold unreadable: {e})", s.answer)),
        };
        match &solved {
            Ok(Solved {
                reading: Reading::Parsed { .. },
                ..
            }) => report.parsed.add(ok),
            Ok(_) => report.by_order.add(ok),
            Err(_) => report.unreadable += 1,
        }
        report.overall.add(ok);
        report
            .per_task
            .entry(task_name.clone())
            .or_default()
            .add(ok);
        if !ok {
            report.misses.push(Miss {
                id: item.id.clone(),
                task: task_name,
                gold: item.answer.clone(),
                computed,
            });
        }
    }
    report
}
