//! Curve smoothing: an exponential moving average over logged points.
//!
//! The weights follow pandas' `ewm(span=N, adjust=True).mean()`: `alpha = 2 / (N + 1)` and
//! the value at point t is `sum_i (1-alpha)^i x[t-i] / sum_i (1-alpha)^i`. Dividing by the
//! weight sum (TensorBoard's "debiasing") keeps the first points from being pulled towards
//! zero, and the average only looks back, so a smoothed curve never anticipates a change.

/// The smoothed values of `values` for a span of `span` points; a span of 0 or 1 returns
/// the values unchanged.
pub fn ema(values: &[f64], span: usize) -> Vec<f64> {
    if span <= 1 {
        return values.to_vec();
    }
    let decay = 1.0 - 2.0 / (span as f64 + 1.0);
    let (mut num, mut den) = (0.0, 0.0);
    values
        .iter()
        .map(|&x| {
            num = num * decay + x;
            den = den * decay + 1.0;
            num / den
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    #[test]
    fn span_three_halves_the_weight_per_point() {
        // alpha = 2 / 4 = 0.5, weights 1, 0.5, 0.25:
        // y0 = 1; y1 = (2 + 0.5) / 1.5 = 5/3; y2 = (3 + 1 + 0.25) / 1.75 = 17/7.
        let y = ema(&[1.0, 2.0, 3.0], 3);
        assert!(close(&y, &[1.0, 5.0 / 3.0, 17.0 / 7.0]), "{y:?}");
    }

    #[test]
    fn a_step_change_is_approached_from_below_without_overshoot() {
        // span 9: alpha 0.2, decay 0.8. After a jump from 0 to 1 at t=2:
        // y2 = 1 / (1 + 0.8 + 0.64) = 1/2.44; y3 = (1.8) / (2.44 * 0.8 + 1) = 1.8/2.952.
        let y = ema(&[0.0, 0.0, 1.0, 1.0], 9);
        assert!(close(&y, &[0.0, 0.0, 1.0 / 2.44, 1.8 / 2.952]), "{y:?}");
        assert!(y.windows(2).all(|w| w[0] <= w[1]) && y[3] < 1.0);
    }

    #[test]
    fn span_one_and_empty_input_are_identity() {
        assert_eq!(ema(&[3.0, -1.0], 1), [3.0, -1.0]);
        assert_eq!(ema(&[3.0, -1.0], 0), [3.0, -1.0]);
        assert!(ema(&[], 5).is_empty());
        // A constant stays constant whatever the span.
        assert!(close(&ema(&[2.5; 4], 7), &[2.5; 4]));
    }
}
