//! A built-in, generated corpus of causal-reasoning sentences for training the tiny tokenizer
//! of `caugym init-model`. Written here from templates (no benchmark problem is embedded); a
//! richer corpus, e.g. the data crate's generator output, can replace it through
//! `caugym init-model --corpus FILE`.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const VARS: [&str; 16] = [
    "rain",
    "sprinkler",
    "wet grass",
    "smoking",
    "tar",
    "cancer",
    "exercise",
    "weight",
    "diet",
    "stress",
    "sleep",
    "income",
    "education",
    "age",
    "treatment",
    "recovery",
];

const TEMPLATES: [&str; 14] = [
    "Does {a} cause {b}?",
    "If we intervene on {a}, does {b} change?",
    "{a} causes {b}, and {b} causes {c}. Is {a} a cause of {c}?",
    "{a} and {b} share a common cause, {c}. Are {a} and {b} independent given {c}?",
    "What is P({b} = 1 | do({a} = 1))?",
    "Given P({a}) = 0.{n} and P({b} | {a}) = 0.{m}, compute P({a}, {b}).",
    "Is {c} a confounder of the effect of {a} on {b}?",
    "Is {c} a collider on the path from {a} to {b}?",
    "Had {a} not happened, would {b} still have happened?",
    "The back-door criterion: adjust for {c} to estimate the effect of {a} on {b}.",
    "Answer: yes. {a} -> {b} -> {c}.",
    "Answer: no. {a} <- {c} -> {b}, so the association is not causal.",
    "The average treatment effect of {a} on {b} is 0.{n}.",
    "Let's think step by step. First, list the parents of {b}: {a} and {c}.",
];

/// `n` sentences drawn from the templates with variables and numbers chosen by `seed`.
pub fn causal_corpus(seed: u64, n: usize) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let t = TEMPLATES.choose(&mut rng).copied().unwrap_or(TEMPLATES[0]);
            let pick: Vec<&str> = VARS.choose_multiple(&mut rng, 3).copied().collect();
            t.replace("{a}", pick[0])
                .replace("{b}", pick[1])
                .replace("{c}", pick[2])
                .replace("{n}", &rng.random_range(1..99).to_string())
                .replace("{m}", &rng.random_range(1..99).to_string())
        })
        .collect()
}
