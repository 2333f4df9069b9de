//! `caugym solve FILE`: solve every item of a dataset from its text and report the agreement with
//! the gold, per task, listing the misses.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use caugym_data::{SolveReport, read_items, solve_items};

/// Solve a benchmark or generated dataset and compare with its gold answers.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Dataset: the benchmark's JSON-array layout or JSONL (fields `problem` and `answer`).
    pub file: PathBuf,
    /// Print one JSON object (overall and per-task accuracy and counts, misses) instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let items = read_items(&args.file)?;
    let report = solve_items(&items);
    let text = if args.json {
        serde_json::to_string(&report).context("serialising the report")? + "\n"
    } else {
        table(&args.file.display().to_string(), &report)
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing the report to stdout")
}

fn table(name: &str, r: &SolveReport) -> String {
    let mut out = format!("{name}: agreement with the gold (|dPROB| < 5e-4)\n");
    for (task, c) in &r.per_task {
        out.push_str(&format!(
            "  {task:<4} {:>5}/{:<5} {:>6.1}%\n",
            c.correct,
            c.total,
            100.0 * c.accuracy
        ));
    }
    out.push_str(&format!(
        "  all  {:>5}/{:<5} {:>6.1}%  (unreadable: {})\n",
        r.overall.correct,
        r.overall.total,
        100.0 * r.overall.accuracy,
        r.unreadable
    ));
    if !r.misses.is_empty() {
        out.push_str("misses (id, task, gold, computed):\n");
        for m in &r.misses {
            out.push_str(&format!(
                "  {}\t{}\t{}\t{}\n",
                m.id, m.task, m.gold, m.computed
            ));
        }
    }
    out
}
