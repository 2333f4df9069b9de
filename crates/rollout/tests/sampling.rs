//! Statistical and exact checks of next-token selection.

use caugym_rollout::sampling::{SamplingParams, Scratch, sample};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_logits(rng: &mut ChaCha8Rng, vocab: usize, spread: f32) -> Vec<f32> {
    (0..vocab)
        .map(|_| rng.random_range(-spread..spread))
        .collect()
}

/// f64 reference: log_softmax(logits / t)[token].
fn reference_logprob(logits: &[f32], t: f64, token: usize) -> f64 {
    let scaled: Vec<f64> = logits.iter().map(|&z| z as f64 / t).collect();
    let max = scaled.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + scaled.iter().map(|z| (z - max).exp()).sum::<f64>().ln();
    scaled[token] - lse
}

/// Token ids sorted by descending logit (ties by id), the reference order for every filter.
fn ranked(logits: &[f32]) -> Vec<usize> {
    let mut ids: Vec<usize> = (0..logits.len()).collect();
    ids.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    ids
}

/// Reference kept set by a full sort in f64, applying top-k, top-p and min-p in that order.
fn reference_kept(logits: &[f32], p: &SamplingParams) -> Vec<usize> {
    let ids = ranked(logits);
    let max = logits[ids[0]] as f64;
    let w: Vec<f64> = logits
        .iter()
        .map(|&z| ((z as f64 - max) / p.temperature).exp())
        .collect();
    let k = if p.top_k == 0 {
        ids.len()
    } else {
        p.top_k.min(ids.len())
    };
    let mut kept: Vec<usize> = ids[..k].to_vec();
    let mass: f64 = kept.iter().map(|&t| w[t]).sum();
    if p.top_p < 1.0 {
        let mut cum = 0.0;
        let mut n = kept.len();
        for (i, &t) in kept.iter().enumerate() {
            cum += w[t];
            if cum >= p.top_p * mass {
                n = i + 1;
                break;
            }
        }
        kept.truncate(n);
    }
    if p.min_p > 0.0 {
        let floor = p.min_p * w[kept[0]];
        kept.retain(|&t| w[t] >= floor);
    }
    kept
}

#[test]
fn logprob_is_log_softmax_of_tempered_logits() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut scratch = Scratch::default();
    for &t in &[0.3, 1.0, 1.7] {
        let logits = random_logits(&mut rng, 1000, 6.0);
        let params = SamplingParams {
            temperature: t,
            ..SamplingParams::default()
        };
        for _ in 0..50 {
            let s = sample(&logits, &params, &mut rng, &mut scratch).unwrap();
            let want = reference_logprob(&logits, t, s.token as usize);
            // f32 accumulation over 1000 terms: relative error ~1e-6.
            assert!(
                (s.logprob as f64 - want).abs() < 1e-4,
                "{} vs {want}",
                s.logprob
            );
        }
    }
}

#[test]
fn near_zero_temperature_equals_greedy() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut scratch = Scratch::default();
    for _ in 0..200 {
        let mut logits = random_logits(&mut rng, 500, 4.0);
        // Near-ties make any temperature sample either token; keep the top-two gap >= 0.05 so
        // T = 1e-3 puts all but e^-50 of the mass on the argmax.
        let order = ranked(&logits);
        logits[order[0]] = logits[order[0]].max(logits[order[1]] + 0.05);
        let greedy = sample(&logits, &SamplingParams::greedy(), &mut rng, &mut scratch).unwrap();
        assert_eq!(greedy.token as usize, ranked(&logits)[0]);
        let cold = SamplingParams {
            temperature: 1e-3,
            ..SamplingParams::default()
        };
        let s = sample(&logits, &cold, &mut rng, &mut scratch).unwrap();
        assert_eq!(s.token, greedy.token);
        assert!(
            (greedy.logprob as f64 - reference_logprob(&logits, 1.0, s.token as usize)).abs()
                < 1e-4
        );
    }
}

/// Draws many samples and checks (a) none falls outside the reference kept set and (b) the
/// empirical frequencies match the renormalised kept distribution (chi-square, fixed seed).
fn check_filter(params: SamplingParams, vocab: usize, spread: f32, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut scratch = Scratch::default();
    let logits = random_logits(&mut rng, vocab, spread);
    let kept = reference_kept(&logits, &params);
    let draws = 8_000;
    let mut counts = vec![0usize; vocab];
    for _ in 0..draws {
        let s = sample(&logits, &params, &mut rng, &mut scratch).unwrap();
        counts[s.token as usize] += 1;
    }
    let outside: usize = (0..vocab)
        .filter(|t| !kept.contains(t))
        .map(|t| counts[t])
        .sum();
    assert_eq!(
        outside,
        0,
        "{params:?}: {outside} draws outside the kept set of {}",
        kept.len()
    );
    let max = logits[kept[0]] as f64;
    let w: Vec<f64> = kept
        .iter()
        .map(|&t| ((logits[t] as f64 - max) / params.temperature).exp())
        .collect();
    let mass: f64 = w.iter().sum();
    let chi2: f64 = kept
        .iter()
        .zip(&w)
        .map(|(&t, &wt)| {
            let expected = draws as f64 * wt / mass;
            (counts[t] as f64 - expected).powi(2) / expected
        })
        .sum();
    // Degrees of freedom = |kept| - 1; mean dof, sd sqrt(2 dof): allow 6 sd.
    let dof = (kept.len() - 1) as f64;
    assert!(
        chi2 < dof + 6.0 * (2.0 * dof).sqrt() + 10.0,
        "{params:?}: chi2 {chi2} with {dof} dof"
    );
}

#[test]
fn top_k_never_samples_outside_the_k_best() {
    check_filter(
        SamplingParams {
            top_k: 5,
            ..SamplingParams::default()
        },
        300,
        3.0,
        3,
    );
    check_filter(
        SamplingParams {
            top_k: 40,
            temperature: 0.7,
            ..SamplingParams::default()
        },
        1000,
        2.0,
        4,
    );
}

#[test]
fn top_p_never_samples_outside_the_nucleus() {
    // Spread 3 over 2000 tokens: a nucleus of several hundred tokens, forcing the pool to grow.
    check_filter(
        SamplingParams {
            top_p: 0.9,
            ..SamplingParams::default()
        },
        2000,
        3.0,
        5,
    );
    check_filter(
        SamplingParams {
            top_p: 0.5,
            temperature: 0.6,
            ..SamplingParams::default()
        },
        2000,
        8.0,
        6,
    );
    check_filter(
        SamplingParams {
            top_p: 0.95,
            top_k: 50,
            ..SamplingParams::default()
        },
        1000,
        2.0,
        7,
    );
}

#[test]
fn min_p_drops_unlikely_tokens() {
    check_filter(
        SamplingParams {
            min_p: 0.1,
            ..SamplingParams::default()
        },
        500,
        4.0,
        8,
    );
    check_filter(
        SamplingParams {
            min_p: 0.05,
            top_p: 0.9,
            ..SamplingParams::default()
        },
        500,
        4.0,
        9,
    );
}

#[test]
fn same_seed_same_tokens() {
    let logits = random_logits(&mut ChaCha8Rng::seed_from_u64(10), 800, 3.0);
    let params = SamplingParams {
        top_p: 0.9,
        temperature: 0.8,
        ..SamplingParams::default()
    };
    let run = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut scratch = Scratch::default();
        (0..100)
            .map(|_| {
                sample(&logits, &params, &mut rng, &mut scratch)
                    .unwrap()
                    .token
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

#[test]
fn bad_rows_and_params_are_errors() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut scratch = Scratch::default();
    let p = SamplingParams::default();
    assert!(sample(&[], &p, &mut rng, &mut scratch).is_err());
    assert!(sample(&[0.0, f32::NAN], &p, &mut rng, &mut scratch).is_err());
    assert!(sample(&[f32::NEG_INFINITY; 3], &p, &mut rng, &mut scratch).is_err());
    // -inf logits are masked tokens, never sampled.
    for _ in 0..100 {
        let s = sample(
            &[f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY],
            &p,
            &mut rng,
            &mut scratch,
        )
        .unwrap();
        assert_eq!(s.token, 1);
    }
    let bad = SamplingParams {
        top_p: 0.0,
        ..SamplingParams::default()
    };
    assert!(bad.validate().unwrap_err().to_string().contains("top_p"));
    let bad = SamplingParams {
        temperature: -1.0,
        ..SamplingParams::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("temperature")
    );
}
