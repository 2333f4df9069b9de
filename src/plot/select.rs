//! What to draw: metric groups and key patterns turned into figures of panels.
//!
//! A figure is one PNG; a panel is one metric with its own y axis, every run overlaid in it.
//! Metrics of a group get separate panels because their scales differ (a policy loss near 0
//! beside a value loss of 10 would flatten one of them).

use std::collections::BTreeSet;

/// A named set of metrics drawn into one figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// Outcome rewards (with a ±std band) and DPO/KTO implicit rewards.
    Reward,
    /// Every `loss/*` and the critic's value loss.
    Loss,
    /// KL to the reference policy, PPO's old-policy KL and the KL coefficient.
    Kl,
    /// Completion lengths and truncation.
    Length,
    /// Fractions of correct answers: rollout, preference and evaluation accuracies.
    Accuracy,
    /// The optimiser: learning rate and gradient norm.
    Optim,
}

impl Group {
    /// Every group, in the default drawing order.
    pub const ALL: [Group; 6] = [
        Group::Reward,
        Group::Loss,
        Group::Kl,
        Group::Length,
        Group::Accuracy,
        Group::Optim,
    ];

    /// The name used by `--metrics` and as the file name.
    pub fn name(self) -> &'static str {
        match self {
            Group::Reward => "reward",
            Group::Loss => "loss",
            Group::Kl => "kl",
            Group::Length => "length",
            Group::Accuracy => "accuracy",
            Group::Optim => "optim",
        }
    }

    /// The figure title.
    fn title(self) -> &'static str {
        match self {
            Group::Reward => "Reward",
            Group::Loss => "Loss",
            Group::Kl => "KL divergence",
            Group::Length => "Completion length",
            Group::Accuracy => "Accuracy",
            Group::Optim => "Optimiser",
        }
    }

    /// Key patterns (see [`glob_match`]) in panel order; names follow
    /// `caugym_train::metrics`.
    fn patterns(self) -> &'static [&'static str] {
        match self {
            Group::Reward => &[
                "rollout/reward_mean",
                "rollout/zero_std_frac",
                "rewards/chosen",
                "rewards/rejected",
                "rewards/margins",
                "rewards/desirable",
                "rewards/undesirable",
            ],
            Group::Loss => &["loss/total", "loss/**", "critic/value_loss"],
            Group::Kl => &[
                "actor/kl",
                "actor/ppo_kl",
                "rollout/kl",
                "kto/kl",
                "rollout/kl_coef",
            ],
            Group::Length => &[
                "response_length/mean",
                "response_length/max",
                "response_length/truncated_frac",
                "rollout/truncated_frac",
            ],
            Group::Accuracy => &[
                "reward/accuracy",
                "reward/correct_frac",
                "rewards/accuracies",
                "eval/accuracy",
                "eval/*/accuracy",
            ],
            Group::Optim => &["optim/lr", "optim/grad_norm"],
        }
    }

    fn parse(name: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.name() == name)
    }
}

/// One PNG: a title and its panels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figure {
    /// File name without `.png`.
    pub stem: String,
    /// Drawn above the panels.
    pub title: String,
    /// One per metric, in drawing order.
    pub panels: Vec<Panel>,
}

/// One metric in its own axes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Panel {
    /// The metric.
    pub key: String,
    /// Its standard deviation, drawn as a ±1 std band, when some run logs it.
    pub band: Option<String>,
}

/// `*` matches any characters except `/` (one path segment or part of one); `**` matches any
/// characters including `/`. Everything else matches itself.
pub fn glob_match(pattern: &str, key: &str) -> bool {
    match pattern.strip_prefix("**") {
        Some(rest) => (0..=key.len())
            .filter(|&i| key.is_char_boundary(i))
            .any(|i| glob_match(rest, &key[i..])),
        None => match pattern.strip_prefix('*') {
            Some(rest) => {
                let segment = key.find('/').unwrap_or(key.len());
                (0..=segment)
                    .filter(|&i| key.is_char_boundary(i))
                    .any(|i| glob_match(rest, &key[i..]))
            }
            None => match (pattern.chars().next(), key.chars().next()) {
                (None, None) => true,
                (Some(p), Some(k)) if p == k => {
                    glob_match(&pattern[p.len_utf8()..], &key[k.len_utf8()..])
                }
                _ => false,
            },
        },
    }
}

/// The std companion of a mean metric: `x_mean` -> `x_std`, `x/mean` -> `x/std`.
fn std_key(key: &str) -> Option<String> {
    let stem = key
        .strip_suffix("_mean")
        .map(|s| format!("{s}_std"))
        .or_else(|| key.strip_suffix("/mean").map(|s| format!("{s}/std")))?;
    Some(stem)
}

/// A file-name-safe stem for a key pattern: `rollout/reward_mean` -> `rollout_reward_mean`,
/// `eval/base/**` -> `eval_base`.
fn stem_of(pattern: &str) -> String {
    let mapped: String = pattern
        .chars()
        .filter(|&c| c != '*')
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('_');
    if trimmed.is_empty() {
        "metrics".to_string()
    } else {
        trimmed.to_string()
    }
}

/// The figures for `requests` (group names or key patterns, as given to `--metrics`) given the
/// keys some run logs, and a note for each request that matched nothing. Panels keep pattern
/// order, then key order; a key matched twice in a figure is drawn once.
pub fn plan(requests: &[String], available: &BTreeSet<String>) -> (Vec<Figure>, Vec<String>) {
    let mut figures: Vec<Figure> = Vec::new();
    let mut notes = Vec::new();
    for request in requests {
        let (stem, title, patterns): (String, String, Vec<&str>) = match Group::parse(request) {
            Some(g) => (g.name().into(), g.title().into(), g.patterns().to_vec()),
            None => (stem_of(request), request.clone(), vec![request.as_str()]),
        };
        if figures.iter().any(|f| f.stem == stem) {
            continue;
        }
        let mut keys: Vec<&String> = Vec::new();
        for p in patterns {
            for k in available.iter().filter(|k| glob_match(p, k)) {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        if keys.is_empty() {
            notes.push(match Group::parse(request) {
                Some(g) => format!(
                    "skipping `{request}`: no run logs any of {}",
                    g.patterns().join(", ")
                ),
                None => format!(
                    "skipping `{request}`: no run logs a matching metric (groups are {})",
                    Group::ALL.map(Group::name).join(", ")
                ),
            });
            continue;
        }
        let panels = keys
            .into_iter()
            .map(|k| Panel {
                key: k.clone(),
                band: std_key(k).filter(|s| available.contains(s)),
            })
            .collect();
        figures.push(Figure {
            stem,
            title,
            panels,
        });
    }
    (figures, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ks: &[&str]) -> BTreeSet<String> {
        ks.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn globs_match_within_or_across_segments() {
        assert!(glob_match("eval/*/accuracy", "eval/base/accuracy"));
        assert!(!glob_match("eval/*/accuracy", "eval/base/ATE/accuracy"));
        assert!(!glob_match("eval/*/accuracy", "eval/accuracy"));
        assert!(glob_match("eval/**/accuracy", "eval/base/ATE/accuracy"));
        assert!(glob_match("loss/**", "loss/policy"));
        assert!(!glob_match("loss/**", "critic/value_loss"));
        assert!(glob_match("reward/*_frac", "reward/correct_frac"));
        assert!(glob_match("actor/kl", "actor/kl"));
        assert!(!glob_match("actor/kl", "actor/kl_coef"));
        assert!(glob_match("*", "step_s") && !glob_match("*", "perf/step_s"));
    }

    #[test]
    fn groups_become_figures_of_the_logged_keys_only() {
        let available = keys(&[
            "loss/policy",
            "loss/total",
            "loss/kl",
            "rollout/reward_mean",
            "rollout/reward_std",
            "critic/value_loss",
            "eval/base/accuracy",
            "eval/base/ATE/accuracy",
            "rewards/accuracies",
        ]);
        let req: Vec<String> = ["reward", "loss", "kl", "accuracy", "length"]
            .map(String::from)
            .to_vec();
        let (figures, notes) = plan(&req, &available);
        let summary: Vec<(&str, Vec<&str>)> = figures
            .iter()
            .map(|f| {
                (
                    f.stem.as_str(),
                    f.panels.iter().map(|p| p.key.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("reward", vec!["rollout/reward_mean"]),
                // loss/total first, then the rest of loss/** in key order, then the critic.
                (
                    "loss",
                    vec!["loss/total", "loss/kl", "loss/policy", "critic/value_loss"]
                ),
                ("accuracy", vec!["rewards/accuracies", "eval/base/accuracy"]),
            ]
        );
        assert_eq!(
            figures[0].panels[0].band.as_deref(),
            Some("rollout/reward_std")
        );
        assert_eq!(figures[1].panels[0].band, None);
        assert_eq!(notes.len(), 2);
        assert!(notes[0].starts_with("skipping `kl`: no run logs any of actor/kl,"));
        assert!(notes[1].starts_with("skipping `length`:"));
    }

    #[test]
    fn keys_and_patterns_get_their_own_figures() {
        let available = keys(&[
            "eval/base/ATE/accuracy",
            "eval/base/PN/accuracy",
            "optim/lr",
        ]);
        let req: Vec<String> = ["optim/lr", "eval/base/**", "optim/lr", "rewardz"]
            .map(String::from)
            .to_vec();
        let (figures, notes) = plan(&req, &available);
        assert_eq!(figures.len(), 2);
        assert_eq!(
            (figures[0].stem.as_str(), figures[0].title.as_str()),
            ("optim_lr", "optim/lr")
        );
        assert_eq!(figures[1].stem, "eval_base");
        assert_eq!(figures[1].panels.len(), 2);
        assert_eq!(
            notes,
            [
                "skipping `rewardz`: no run logs a matching metric (groups are reward, loss, kl, length, accuracy, optim)"
            ]
        );
    }
}
