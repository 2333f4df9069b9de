//! `caugym gen`: generate CauGym items (problem, gold answer, worked solution, full SCM).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use caugym_data::dataset::{write_json_array_to, write_jsonl_to};
use caugym_data::pools::NamePool;
use caugym_data::{GenConfig, Generator, Layout, Variant};
use caugym_scm::Task;

/// Output layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// One JSON object per line, with the solution and the full SCM.
    Jsonl,
    /// The benchmark's JSON array of {problem, answer, Type, Reason, id}.
    Json,
}

/// Text style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Style {
    /// CaLM (`base`): spaced edge sentences, no symbolic tags.
    Calm,
    /// CauGym sets: run-together edge sentences, `(A=0)` tags.
    Tagged,
}

/// Variable names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Names {
    /// Everyday phrases.
    Real,
    /// Random 4-letter words.
    Nonsense,
    /// Per item, either.
    Mixed,
}

/// Generate CauGym items with exact ground truth and worked solutions.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tasks, comma-separated (ATE,CDE,ETT,NDE,NIE,PN,PS) or `all`; items cycle through them.
    #[arg(long, default_value = "all")]
    pub tasks: String,
    /// Number of items.
    #[arg(long, default_value_t = 70)]
    pub count: usize,
    /// Nodes per graph: `N` or `MIN-MAX`, within 2-10.
    #[arg(long, default_value = "2-10")]
    pub nodes: String,
    /// base, deconfounding, redundant, insufficient, omitted or rephrased.
    #[arg(long, default_value = "base", value_parser = parse_variant)]
    pub variant: Variant,
    /// Seed: the same seed and flags give the same items.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output layout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Jsonl)]
    pub format: OutputFormat,
    /// Text style.
    #[arg(long, value_enum, default_value_t = Style::Tagged)]
    pub style: Style,
    /// Variable names.
    #[arg(long, value_enum, default_value_t = Names::Mixed)]
    pub names: Names,
    /// Append `Let's think step by step.` to every problem.
    #[arg(long)]
    pub step_by_step: bool,
    /// Leave out the `Instruction:` line (the omitted variant always does).
    #[arg(long)]
    pub no_instruction: bool,
    /// Output file; standard output when absent.
    #[arg(long)]
    pub output: Option<PathBuf>,
}

fn parse_variant(s: &str) -> Result<Variant, String> {
    s.parse::<Variant>().map_err(|e| e.to_string())
}

fn parse_tasks(s: &str) -> anyhow::Result<Vec<Task>> {
    if s.trim().eq_ignore_ascii_case("all") {
        return Ok(Task::ALL.to_vec());
    }
    s.split(',')
        .map(|t| t.parse::<Task>().with_context(|| format!("--tasks {s}")))
        .collect()
}

fn parse_nodes(s: &str) -> anyhow::Result<(usize, usize)> {
    let (lo, hi) = s.split_once('-').unwrap_or((s, s));
    let lo: usize = lo.trim().parse().with_context(|| format!("--nodes {s}"))?;
    let hi: usize = hi.trim().parse().with_context(|| format!("--nodes {s}"))?;
    if !(2 <= lo && lo <= hi && hi <= 10) {
        bail!("--nodes {s}: need 2 <= MIN <= MAX <= 10");
    }
    Ok((lo, hi))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = GenConfig {
        tasks: parse_tasks(&args.tasks)?,
        count: args.count,
        nodes: parse_nodes(&args.nodes)?,
        variant: args.variant,
        seed: args.seed,
        layout: match args.style {
            Style::Calm => Layout::Calm,
            Style::Tagged => Layout::CauGym,
        },
        names: match args.names {
            Names::Real => NamePool::Real,
            Names::Nonsense => NamePool::Nonsense,
            Names::Mixed => NamePool::Mixed,
        },
        instruction: !args.no_instruction,
        step_by_step: args.step_by_step,
    };
    let mut generator = Generator::new(config)?;
    let items = (0..args.count)
        .map(|i| generator.item(i))
        .collect::<Result<Vec<_>, _>>()?;
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let target = args
        .output
        .as_ref()
        .map_or("standard output".to_string(), |p| p.display().to_string());
    match args.format {
        OutputFormat::Jsonl => write_jsonl_to(out, &items),
        OutputFormat::Json => {
            let records: Vec<_> = items.iter().map(|i| i.benchmark_record()).collect();
            write_json_array_to(out, &records)
        }
    }
    .with_context(|| format!("writing {target}"))
}
