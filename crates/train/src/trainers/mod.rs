//! The trainers: each turns the run config into a [`crate::runner::Method`] and calls the shared
//! runner. Math lives in the loss library; batching in [`collate`]; data in [`examples`].

pub mod collate;
pub mod critic;
pub mod examples;
pub mod grpo;
pub mod order;
pub mod policy;
pub mod ppo;
pub mod prompts;
pub mod rollouts;
pub mod sft;

use crate::Result;
use crate::config::{MethodConfig, TrainConfig};
use crate::runner::{RunOptions, RunSettings, RunSummary, SingleProcess, run};

/// `held_out.jsonl` in the output directory: the examples kept out of training.
pub const HELD_OUT_FILE: &str = "held_out.jsonl";

/// Trains the run `cfg` describes: loads the data (writing the held-out part to
/// `<output_dir>/held_out.jsonl`), the policy and the method, then runs the shared loop.
pub fn train(cfg: &TrainConfig, options: RunOptions) -> Result<RunSummary> {
    let split = examples::load(&cfg.data)?;
    let out = &cfg.output.output_dir;
    std::fs::create_dir_all(out).map_err(|e| crate::Error::io(out, e))?;
    if !split.held_out.is_empty() {
        examples::write_jsonl(&out.join(HELD_OUT_FILE), &split.held_out)?;
    }
    let policy = policy::Policy::load(cfg)?;
    let settings = RunSettings::from_config(cfg)?;
    match cfg.method_config() {
        MethodConfig::Sft(s) => {
            let pool = if split.held_out.is_empty() {
                &split.train
            } else {
                &split.held_out
            };
            let mut method = sft::Sft::new(cfg, s, policy, &split.train, pool)?;
            run(&mut method, &settings, &mut SingleProcess, options)
        }
        MethodConfig::Grpo(g) => {
            let mut method = grpo::Grpo::new(cfg, g, policy, &split.train)?;
            run(&mut method, &settings, &mut SingleProcess, options)
        }
        MethodConfig::Ppo(p) => {
            let mut method = ppo::Ppo::new(cfg, p, policy, &split.train)?;
            run(&mut method, &settings, &mut SingleProcess, options)
        }
    }
}
