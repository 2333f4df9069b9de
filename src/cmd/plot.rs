//! `caugym plot`: PNG training curves of one or more runs, overlaid for comparison.

use std::path::PathBuf;

use anyhow::Result;

use crate::plot::runs::XAxis;
use crate::plot::{PlotOptions, plot_runs};

/// Draw training curves from run directories' `metrics.jsonl`.
#[derive(Debug, clap::Args)]
pub struct PlotArgs {
    /// Run directories (each holds `metrics.jsonl`, and optionally `eval.jsonl`).
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// Where the PNG files go (one per figure).
    #[arg(long, default_value = "plots")]
    pub out: PathBuf,
    /// Figures: groups (reward, loss, kl, length, accuracy, optim) or metric key patterns
    /// (`optim/lr`, `eval/**`; `*` stays within one `/` segment). Default: every group.
    #[arg(long, value_delimiter = ',')]
    pub metrics: Vec<String>,
    /// Exponential moving average over this many points (0: none); the raw values stay
    /// visible as a faint line.
    #[arg(long, default_value_t = 0)]
    pub smooth: usize,
    /// The x axis: `step`, or a metric logged on the same lines.
    #[arg(long, default_value = "step")]
    pub x: String,
}

pub fn run(args: PlotArgs) -> Result<()> {
    let mut options = PlotOptions {
        x: XAxis::parse(&args.x),
        smooth: args.smooth,
        ..PlotOptions::default()
    };
    if !args.metrics.is_empty() {
        options.metrics = args.metrics;
    }
    let plotted = plot_runs(&args.runs, &args.out, &options)?;
    for note in &plotted.notes {
        eprintln!("note: {note}");
    }
    for f in &plotted.files {
        println!("{}", f.display());
    }
    Ok(())
}
