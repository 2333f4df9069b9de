//! `caugym`: generate causal data, solve and score the CauGym benchmark, train and evaluate models.
//!
//! Each subcommand lives in its own module under `cmd/` as an argument struct plus a `run` function;
//! this file only dispatches.

mod cmd;

use clap::{Parser, Subcommand};

/// Post-training framework that turns a Qwen2-family LLM into a reliable causal reasoner.
#[derive(Debug, Parser)]
#[command(name = "caugym", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate CauGym items with exact ground truth and worked solutions.
    Gen(cmd::r#gen::Args),
    /// Solve a dataset from its text and report agreement with its gold answers.
    Solve(cmd::solve::Args),
    /// Score model responses by the benchmark's own rule, per task and overall.
    Score(cmd::score::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Gen(args) => cmd::r#gen::run(args),
        Command::Solve(args) => cmd::solve::run(args),
        Command::Score(args) => cmd::score::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
