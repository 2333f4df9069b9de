//! The run configuration: one TOML file per run, tagged by `method`, with one table per concern
//! (TRL's one-config-per-method over a thin shared base; verl's two-stage validation).
//!
//! ```toml
//! method = "grpo"          # sft | grpo | ppo
//! seed = 0
//! [model]   path = "..."   # + dtype, device, train_mode, init_adapter, kernels,
//!                          #   activation_checkpointing
//! [lora]    r = 16         # PEFT names: r, lora_alpha, lora_dropout, target_modules, ...
//! [data]    ...            # path = "x.jsonl" or a [data.generate] table
//! [rollout] ...            # num_generations, max_new_tokens, temperature, top_p, stop, ...
//! [reward]  ...            # caugym_reward::RewardConfig
//! [grpo]    ...            # the method's own table ([sft] for SFT)
//! [optim]   ...            # AdamW, schedule, clipping, batch layout, max_steps
//! [logging] ...            # logging/save/sample steps, progress bar
//! [output]  output_dir = "runs/x"
//! ```
//!
//! Every table denies unknown keys; [`load`] reports a bad key by its full dotted name with the
//! file and line (or the `--set` override) it came from, and what is allowed. Each field has one
//! `///` doc (meaning, default, range, source) and one named default function.

mod check;
mod data;
mod grpo;
mod logging;
mod lora;
mod model;
mod optim;
mod overrides;
mod ppo;
mod sft;

use std::path::Path;

use caugym_reward::RewardConfig;
use caugym_rollout::GenerationConfig;
use serde::{Deserialize, Serialize};

pub use data::{DataConfig, GenerateConfig, PromptFormat};
pub use grpo::GrpoConfig;
pub use logging::{LoggingConfig, OutputConfig};
pub use lora::LoraSection;
pub use model::{KernelsPath, ModelConfig, TrainModeName, WeightDType};
pub use optim::OptimConfig;
pub use overrides::Override;
pub use ppo::PpoConfig;
pub use sft::{SftConfig, SftTarget};

use crate::{Error, Result};
use check::fail;

/// The post-training methods (DPO and KTO join here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodKind {
    /// Supervised fine-tuning (`[sft]`).
    Sft,
    /// Group Relative Policy Optimisation (`[grpo]`).
    Grpo,
    /// Proximal Policy Optimisation with a critic (`[ppo]`).
    Ppo,
}

impl MethodKind {
    /// The config name, which is also the name of the method's table.
    pub fn name(self) -> &'static str {
        match self {
            MethodKind::Sft => "sft",
            MethodKind::Grpo => "grpo",
            MethodKind::Ppo => "ppo",
        }
    }
}

/// A method's own table, for dispatch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MethodConfig<'a> {
    /// `[sft]`.
    Sft(&'a SftConfig),
    /// `[grpo]`.
    Grpo(&'a GrpoConfig),
    /// `[ppo]`.
    Ppo(&'a PpoConfig),
}

/// A whole run configuration. Build it with [`load`] or [`parse`]; both validate it and fill
/// the method's table with defaults when it is absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The post-training method: `sft`, `grpo` or `ppo`. Required. Only that method's table may appear.
    pub method: MethodKind,
    /// Seed of every random draw of the run (data order, sampling, LoRA init and dropout): the
    /// same config and seed give the same metrics, bit for bit, also across `--resume`.
    /// Default 0.
    #[serde(default)]
    pub seed: u64,
    /// `[model]`.
    pub model: ModelConfig,
    /// `[lora]`, used when `model.train_mode = "lora"` and no `model.init_adapter` is given.
    #[serde(default)]
    pub lora: LoraSection,
    /// `[data]`.
    pub data: DataConfig,
    /// `[rollout]`: the rollout crate's sampling settings (`num_generations` is GRPO's G; SFT
    /// uses the rest for its example completions).
    #[serde(default)]
    pub rollout: GenerationConfig,
    /// `[reward]`: the reward crate's weights and switches.
    #[serde(default)]
    pub reward: RewardConfig,
    /// `[optim]`.
    #[serde(default)]
    pub optim: OptimConfig,
    /// `[logging]`.
    #[serde(default)]
    pub logging: LoggingConfig,
    /// `[output]`.
    pub output: OutputConfig,
    /// `[sft]`, for `method = "sft"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sft: Option<SftConfig>,
    /// `[grpo]`, for `method = "grpo"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpo: Option<GrpoConfig>,
    /// `[ppo]`, for `method = "ppo"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppo: Option<PpoConfig>,
}

/// Reads, overrides, deserialises and validates a config file.
pub fn load(path: &Path, overrides: &[String]) -> Result<TrainConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(&text, &path.display().to_string(), overrides)
}

/// [`load`] on text; `origin` names it in errors (a file name).
pub fn parse(text: &str, origin: &str, overrides: &[String]) -> Result<TrainConfig> {
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::Parse {
        path: origin.into(),
        reason: e.to_string().trim_end().to_string(),
    })?;
    let overrides = overrides
        .iter()
        .map(|s| Override::parse(s).map_err(|e| with_origin(e, &format!("--set {s}: "))))
        .collect::<Result<Vec<_>>>()?;
    for o in &overrides {
        o.apply(&mut table)?;
    }
    let located = |e: Error| locate_error(e, text, origin, &overrides);
    let mut cfg: TrainConfig = serde_path_to_error::deserialize(toml::Value::Table(table))
        .map_err(|e| {
            let message = e.inner().to_string();
            // toml appends "in `table`" on its own line; the key already says where.
            let reason = message
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            located(Error::setting(
                error_key(e.path().to_string(), &reason),
                reason,
            ))
        })?;
    cfg.normalise().map_err(located)?;
    cfg.validate().map_err(located)?;
    Ok(cfg)
}

impl TrainConfig {
    /// The method's table.
    pub fn method_config(&self) -> MethodConfig<'_> {
        // `normalise` fills the table; a hand-built config without it gets the defaults.
        match self.method {
            MethodKind::Sft => {
                MethodConfig::Sft(self.sft.as_ref().unwrap_or_else(|| default_sft()))
            }
            MethodKind::Grpo => {
                MethodConfig::Grpo(self.grpo.as_ref().unwrap_or_else(|| default_grpo()))
            }
            MethodKind::Ppo => {
                MethodConfig::Ppo(self.ppo.as_ref().unwrap_or_else(|| default_ppo()))
            }
        }
    }

    /// The config as TOML (saved in the run directory and in every checkpoint).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::setting("<config>", e.to_string()))
    }

    /// Fills the method's table with defaults; rejects the table of another method.
    fn normalise(&mut self) -> Result<()> {
        let tables = [
            ("sft", self.sft.is_some()),
            ("grpo", self.grpo.is_some()),
            ("ppo", self.ppo.is_some()),
        ];
        let foreign = tables
            .into_iter()
            .find(|&(name, present)| present && name != self.method.name())
            .map(|(name, _)| name);
        if let Some(other) = foreign {
            return fail(
                other,
                format!(
                    "a [{other}] table in a config with method = \"{}\"; remove it or change \
                     `method`",
                    self.method.name()
                ),
            );
        }
        match self.method {
            MethodKind::Sft => {
                self.sft.get_or_insert_with(SftConfig::default);
            }
            MethodKind::Grpo => {
                self.grpo.get_or_insert_with(GrpoConfig::default);
            }
            MethodKind::Ppo => {
                self.ppo.get_or_insert_with(PpoConfig::default);
            }
        }
        Ok(())
    }

    /// Checks every table, then the rules that involve several of them.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.lora.validate()?;
        self.data.validate()?;
        self.rollout.validate().map_err(rollout_error)?;
        self.reward.validate().map_err(reward_error)?;
        self.optim.validate()?;
        self.logging.validate()?;
        self.output.validate()?;
        match self.method_config() {
            MethodConfig::Sft(s) => s.validate(),
            MethodConfig::Grpo(g) => self.validate_grpo(g),
            MethodConfig::Ppo(p) => self.validate_ppo(p),
        }
    }

    fn validate_ppo(&self, p: &PpoConfig) -> Result<()> {
        p.validate()?;
        if self.model.train_mode == TrainModeName::Full {
            return fail(
                "model.train_mode",
                "PPO needs \"lora\": the critic owns a second adapter on the shared frozen \
                 base, and the KL reference is that base with adapters disabled",
            );
        }
        let per_update = self.optim.update_batch_size();
        let completions = p.prompts_per_step * self.rollout.num_generations;
        if !completions.is_multiple_of(per_update) {
            return fail(
                "ppo.prompts_per_step",
                format!(
                    "{} prompts x {} generations = {completions} completions do not split into \
                     mini-batches of optim.micro_batch_size x \
                     optim.gradient_accumulation_steps = {per_update}; make the product divide \
                     the completions",
                    p.prompts_per_step, self.rollout.num_generations,
                ),
            );
        }
        Ok(())
    }

    fn validate_grpo(&self, g: &GrpoConfig) -> Result<()> {
        g.validate()?;
        let group = self.rollout.num_generations;
        if group < 2 {
            return fail(
                "rollout.num_generations",
                format!(
                    "{group} is too small for GRPO: a group needs at least 2 completions to \
                     have a baseline; use 8 (TRL default) or more"
                ),
            );
        }
        let per_update = self.optim.update_batch_size();
        let completions = g.prompts_per_step * group;
        if !completions.is_multiple_of(per_update) {
            return fail(
                "grpo.prompts_per_step",
                format!(
                    "{} prompts x {group} generations = {completions} completions do not split \
                     into optimiser updates of optim.micro_batch_size x \
                     optim.gradient_accumulation_steps = {per_update}; make the product divide \
                     the completions",
                    g.prompts_per_step,
                ),
            );
        }
        if g.beta > 0.0 && self.model.train_mode == TrainModeName::Full {
            return fail(
                "grpo.beta",
                "the KL reference is the base with adapters disabled, which full fine-tuning \
                 changes; set grpo.beta = 0 or model.train_mode = \"lora\"",
            );
        }
        if self.rollout.temperature == 0.0 {
            return fail(
                "rollout.temperature",
                "greedy sampling makes a group's completions identical (zero advantage); use \
                 1.0",
            );
        }
        Ok(())
    }
}

fn default_sft() -> &'static SftConfig {
    static D: std::sync::OnceLock<SftConfig> = std::sync::OnceLock::new();
    D.get_or_init(SftConfig::default)
}

fn default_grpo() -> &'static GrpoConfig {
    static D: std::sync::OnceLock<GrpoConfig> = std::sync::OnceLock::new();
    D.get_or_init(GrpoConfig::default)
}

fn default_ppo() -> &'static PpoConfig {
    static D: std::sync::OnceLock<PpoConfig> = std::sync::OnceLock::new();
    D.get_or_init(PpoConfig::default)
}

/// The rollout crate names its keys without the table; add it.
fn rollout_error(e: caugym_rollout::Error) -> Error {
    match e {
        caugym_rollout::Error::Param { field, reason } => {
            Error::setting(format!("rollout.{field}"), reason)
        }
        other => Error::setting("rollout", other.to_string()),
    }
}

/// The reward crate names its keys without the table; add it.
fn reward_error(e: caugym_reward::Error) -> Error {
    match e {
        caugym_reward::Error::Config { key, reason } => {
            Error::setting(format!("reward.{key}"), reason)
        }
        other => Error::setting("reward", other.to_string()),
    }
}

/// The full key of a deserialisation error: a missing field is reported at its parent's path,
/// with the field's name only in the message.
fn error_key(path: String, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (missing, path.as_str()) {
        (Some(f), ".") => f.to_string(),
        (Some(f), _) => format!("{path}.{f}"),
        (None, _) => path,
    }
}

fn with_origin(e: Error, origin: &str) -> Error {
    match e {
        Error::Setting { key, reason, .. } => Error::Setting {
            key,
            reason,
            origin: origin.to_string(),
        },
        other => other,
    }
}

/// Adds where a bad key came from: the override that set it, or the file and line.
fn locate_error(e: Error, text: &str, origin: &str, overrides: &[Override]) -> Error {
    let Error::Setting { key, .. } = &e else {
        return e;
    };
    let related = |a: &str, b: &str| {
        a == b || a.starts_with(&format!("{b}.")) || a.starts_with(&format!("{b}["))
    };
    let from_override = overrides
        .iter()
        .rev()
        .find(|o| related(key, &o.key) || related(&o.key, key));
    let place = match (from_override, find_line(text, key)) {
        (Some(o), _) => format!("--set {}: ", o.key),
        (None, Some(line)) => format!("{origin} line {line}: "),
        (None, None) => format!("{origin}: "),
    };
    with_origin(e, &place)
}

/// The 1-based line where `key` (dotted, e.g. `grpo.beta`) is assigned, else where the deepest
/// table containing it opens.
fn find_line(text: &str, key: &str) -> Option<usize> {
    let key = key.split('[').next().unwrap_or(key);
    let mut table = String::new();
    let mut table_line: Option<(usize, usize)> = None; // (depth, line)
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            table = header.trim_matches(['[', ' ']).to_string();
            let contains = key == table || key.starts_with(&format!("{table}."));
            if contains && table_line.is_none_or(|(d, _)| table.len() > d) {
                table_line = Some((table.len(), i + 1));
            }
            continue;
        }
        let Some((k, _)) = line.split_once('=') else {
            continue;
        };
        if line.starts_with('#') {
            continue;
        }
        let k = k.trim().trim_matches('"');
        let full = if table.is_empty() {
            k.to_string()
        } else {
            format!("{table}.{k}")
        };
        if full == key {
            return Some(i + 1);
        }
    }
    table_line.map(|(_, line)| line)
}
