//! The progress bar: steps done, ETA and the live reward (or loss) on stderr.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::metrics::{self, Metrics};

/// A progress bar over the run's steps; hidden when disabled or when stderr is not a terminal
/// (indicatif's stderr target draws only on a terminal).
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for steps `start + 1 ..= total`.
    pub fn new(enabled: bool, start: u64, total: u64, method: &str) -> Self {
        let bar = if enabled {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        let style = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(method.to_string());
        bar.set_position(start);
        bar.reset_eta();
        Self { bar }
    }

    /// Advances one step and shows its headline metrics.
    pub fn step(&self, m: &Metrics) {
        self.bar.set_message(headline(m));
        self.bar.inc(1);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    /// Clears the bar also when the run stops with an error.
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}

/// `reward 0.531 loss 0.120 lr 1.0e-5`: the reward when there is one, else the total or
/// first loss.
pub fn headline(m: &Metrics) -> String {
    let mut parts = Vec::new();
    if let Some(r) = m.value(metrics::ROLLOUT_REWARD_MEAN) {
        parts.push(format!("reward {r:.3}"));
    }
    let loss = m.value(metrics::LOSS_TOTAL).or_else(|| {
        m.iter()
            .find(|(n, _)| n.starts_with("loss/"))
            .map(|(_, v)| v)
    });
    if let Some(l) = loss {
        parts.push(format!("loss {l:.4}"));
    }
    if let Some(lr) = m.value(metrics::OPTIM_LR) {
        parts.push(format!("lr {lr:.1e}"));
    }
    parts.join(" ")
}
