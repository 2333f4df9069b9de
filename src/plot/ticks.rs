//! Axis ranges and tick marks at "nice" values (1, 2 or 5 times a power of ten), and their
//! labels.
//!
//! The axis is widened to whole ticks around the data, so curves never touch an unlabelled
//! edge; ticks are computed as integer multiples of the step so that 0.1 * 3 prints as 0.3.

/// An axis: its range, tick step and tick values.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// Lower end (the first tick).
    pub lo: f64,
    /// Upper end (the last tick).
    pub hi: f64,
    /// Distance between ticks: `mantissa * 10^exp10`.
    pub step: f64,
    /// The power of ten of the step, which fixes how many decimals a label needs.
    pub exp10: i32,
    /// Tick values from `lo` to `hi`.
    pub ticks: Vec<f64>,
}

/// The smallest axis with at most `max_ticks` ticks (at least 2) whose step is 1, 2 or 5 times
/// a power of ten and whose range covers `[min, max]`. With `integer`, steps are at least 1
/// (optimiser steps). A single value is padded by 10% of itself (or 1 for zero) on each side.
/// Non-finite input gives the axis `[0, 1]`.
pub fn nice_axis(min: f64, max: f64, max_ticks: usize, integer: bool) -> Axis {
    let max_ticks = max_ticks.max(2);
    let (mut min, mut max) = if min.is_finite() && max.is_finite() {
        (min.min(max), min.max(max))
    } else {
        (0.0, 1.0)
    };
    if max - min <= f64::EPSILON * min.abs().max(max.abs()) {
        // Integer axes pad by one step; zero has no scale of its own, so it pads by 1 too.
        let pad = if integer || min == 0.0 {
            1.0
        } else {
            min.abs() * 0.1
        };
        min -= pad;
        max += pad;
    }
    let mut exp10 = ((max - min) / max_ticks as f64).log10().floor() as i32;
    if integer {
        exp10 = exp10.max(0);
    }
    loop {
        for mantissa in [1.0, 2.0, 5.0] {
            let step = mantissa * 10f64.powi(exp10);
            // A small tolerance so that 1.0 / 0.2 = 5.000000000000001 is 5 ticks, not 6.
            let first = (min / step + 1e-9).floor();
            let last = (max / step - 1e-9).ceil();
            let count = (last - first) as usize + 1;
            if count <= max_ticks {
                let ticks = (0..count).map(|k| (first + k as f64) * step).collect();
                return Axis {
                    lo: first * step,
                    hi: last * step,
                    step,
                    exp10,
                    ticks,
                };
            }
        }
        exp10 += 1;
    }
}

impl Axis {
    /// The label of tick `v`: fixed-point with as many decimals as the step needs, or
    /// scientific (`1.5e-6`) for very small steps and large magnitudes.
    pub fn format(&self, v: f64) -> String {
        if v == 0.0 {
            return "0".to_string();
        }
        let magnitude = self.lo.abs().max(self.hi.abs());
        if self.exp10 <= -5 || magnitude >= 1e6 {
            let lead = magnitude.log10().floor() as i32;
            let decimals = (lead - self.exp10).clamp(0, 6) as usize;
            format!("{v:.decimals$e}")
        } else {
            let decimals = (-self.exp10).max(0) as usize;
            format!("{v:.decimals$}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(a: &Axis) -> Vec<String> {
        a.ticks.iter().map(|&t| a.format(t)).collect()
    }

    #[test]
    fn unit_interval_gets_steps_of_0_2() {
        // [0, 1] in at most 6 ticks: 0.1 gives 11, 0.2 gives 6.
        let a = nice_axis(0.0, 1.0, 6, false);
        assert_eq!((a.lo, a.hi, a.step), (0.0, 1.0, 0.2));
        assert_eq!(labels(&a), ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        // [0.13, 0.87] widens to the enclosing ticks 0 and 1.
        assert_eq!(nice_axis(0.13, 0.87, 6, false), a);
    }

    #[test]
    fn ranges_across_zero_and_far_from_it() {
        // [-0.034, 0.021]: step 0.01 needs -0.04..0.03 = 8 ticks; 0.02 needs -0.04..0.04 = 5.
        let a = nice_axis(-0.034, 0.021, 6, false);
        assert_eq!(labels(&a), ["-0.04", "-0.02", "0", "0.02", "0.04"]);
        // [3, 97]: step 10 needs 11 ticks, 20 needs 0..100 = 6.
        let a = nice_axis(3.0, 97.0, 6, false);
        assert_eq!(labels(&a), ["0", "20", "40", "60", "80", "100"]);
        // [1012, 1018] with 4 ticks: step 2 gives 1012..1018 = 4.
        let a = nice_axis(1012.0, 1018.0, 4, false);
        assert_eq!(labels(&a), ["1012", "1014", "1016", "1018"]);
    }

    #[test]
    fn steps_never_go_below_one_on_an_integer_axis() {
        // Steps 1..3 with up to 8 ticks: a real step of 0.5 would fit, an integer axis uses 1.
        let a = nice_axis(1.0, 3.0, 8, true);
        assert_eq!(labels(&a), ["1", "2", "3"]);
        // A single step 5 is padded by one step each side.
        assert_eq!(labels(&nice_axis(5.0, 5.0, 8, true)), ["4", "5", "6"]);
        // 0..1000 with 8 ticks: 100 gives 11, 200 gives 6.
        assert_eq!(nice_axis(0.0, 1000.0, 8, true).step, 200.0);
    }

    #[test]
    fn constant_and_degenerate_inputs() {
        // 0.5 padded by 0.05 each side: [0.45, 0.55]; step 0.02 gives 0.44..0.56 = 7 ticks,
        // 0.05 gives 0.45..0.55 = 3.
        let a = nice_axis(0.5, 0.5, 6, false);
        assert_eq!(labels(&a), ["0.45", "0.50", "0.55"]);
        // Zero is padded by 1: [-1, 1] in steps of 0.5.
        assert_eq!(
            labels(&nice_axis(0.0, 0.0, 6, false)),
            ["-1.0", "-0.5", "0", "0.5", "1.0"]
        );
        assert_eq!(
            nice_axis(f64::NAN, 1.0, 6, false),
            nice_axis(0.0, 1.0, 6, false)
        );
        // Reversed bounds are accepted.
        assert_eq!(nice_axis(1.0, 0.0, 6, false), nice_axis(0.0, 1.0, 6, false));
    }

    #[test]
    fn tiny_and_huge_values_use_scientific_labels() {
        // A learning rate warming up to 2e-6: step 5e-7 (4 ticks for 0..2e-6 at most 5).
        let a = nice_axis(0.0, 2e-6, 5, false);
        assert_eq!(a.step, 5e-7);
        assert_eq!(labels(&a), ["0", "5.0e-7", "1.0e-6", "1.5e-6", "2.0e-6"]);
        // Tokens counts in the millions: step 1e6.
        let a = nice_axis(0.0, 3.2e6, 5, false);
        assert_eq!(labels(&a), ["0", "1e6", "2e6", "3e6", "4e6"]);
    }
}
