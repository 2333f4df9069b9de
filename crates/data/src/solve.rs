//! Solving whole datasets: parse, estimate, compare with the gold, tally per task.

use std::collections::BTreeMap;

use caugym_scm::Task;
use serde::Serialize;

use crate::answer::Answer;
use crate::dataset::DatasetItem;
use crate::error::Result;
use crate::estimate::{Estimate, estimate};
use crate::parse::parse_detailed;
use crate::problem::Problem;

/// One problem solved from its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Solved {
    /// The parsed problem.
    pub problem: Problem,
    /// The estimate.
    pub estimate: Estimate,
    /// The final answer.
    pub answer: Answer,
    /// Probability sentences that had to be skipped.
    pub skipped: Vec<String>,
}

/// Parses and solves one problem text.
pub fn solve_text(text: &str) -> Result<Solved> {
    let parsed = parse_detailed(text)?;
    let estimate = estimate(&parsed.problem)?;
    let answer = estimate.answer(parsed.problem.query.task, parsed.problem.convention());
    Ok(Solved {
        problem: parsed.problem,
        estimate,
        answer,
        skipped: parsed.skipped,
    })
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
    /// Per task abbreviation (items of unknown task under `?`).
    pub per_task: BTreeMap<String, Counts>,
    /// Items that could not be read (a subset of the misses).
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
        let task: Option<Task> = item
            .task
            .or_else(|| solved.as_ref().ok().map(|s| s.problem.query.task));
        let task_name = task.map_or("?".to_string(), |t| t.abbr().to_string());
        let gold = Answer::parse(&item.answer);
        let (ok, computed) = match (&solved, &gold) {
            (Ok(s), Ok(g)) => (s.answer.agrees_with(g), s.answer.to_gold_string()),
            (Err(e), _) => {
                report.unreadable += 1;
                (false, format!("error: {e}"))
            }
            (Ok(s), Err(e)) => (false, format!("{} (gold unreadable: {e})", s.answer)),
        };
        report.overall.add(ok);
        report.per_task.entry(task_name.clone()).or_default().add(ok);
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
