//! `caugym`: generate causal data, solve and score the CauGym benchmark, train and evaluate models.
//!
//! Each subcommand lives in its own module under `cmd/` as an argument struct plus a `run` function;
//! this file only dispatches.

mod ablation;
mod cmd;
mod plot;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc malloc: the generator, the tokenizer and candle's many short-lived
/// buffers are allocation-heavy (the generator ran 2x faster per core, BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Write a seeded random Qwen2 checkpoint (HF layout) with a trained BPE tokenizer.
    InitModel(cmd::init_model::InitModelArgs),
    /// Per-token log-probs of completions given prompts (check a rollout engine against the trainer).
    Logprobs(cmd::logprobs::LogprobsArgs),
    /// Export a LoRA adapter in the PEFT layout, or merge it into the base and save a full checkpoint.
    Export(cmd::export::ExportArgs),
    /// Sample completions from a model (batched, seeded; the GRPO trainer's engine).
    Generate(cmd::generate::GenerateArgs),
    /// Train a model from a TOML run config (the method is named in the file).
    Train(cmd::train::TrainArgs),
    /// Evaluate a model on CauGym sets by the benchmark's rule (task x set accuracy table).
    Eval(cmd::eval::EvalArgs),
    /// Draw PNG training curves (reward, loss, KL, lengths, accuracy) of runs, overlaid.
    Plot(cmd::plot::PlotArgs),
    /// Train several configs and compare them on the same sets (Markdown + JSON table).
    Ablate(cmd::ablate::AblateArgs),
    /// Device memory a run config needs (weights, optimiser, activations, log-probs, KV cache).
    Memory(cmd::memory::MemoryArgs),
}

fn main() -> std::process::ExitCode {
    // SAFETY: the first statement of main, before any thread exists (see the function's doc):
    // candle's element-wise ops run inline on small machines instead of spin-waiting pools.
    unsafe { caugym_model::threads::init_cpu_runtime() };
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Gen(args) => cmd::r#gen::run(args),
        Command::Solve(args) => cmd::solve::run(args),
        Command::Score(args) => cmd::score::run(args),
        Command::InitModel(args) => cmd::init_model::run(args),
        Command::Logprobs(args) => cmd::logprobs::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Generate(args) => cmd::generate::run(args),
        Command::Train(args) => cmd::train::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Plot(args) => cmd::plot::run(args),
        Command::Ablate(args) => cmd::ablate::run(args),
        Command::Memory(args) => cmd::memory::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
