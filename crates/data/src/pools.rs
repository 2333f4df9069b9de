//! Word pools of the generator: variable names and value words.
//!
//! Real-world names are everyday phrases written for this project (health, school, work, weather,
//! economy, traffic, farming, …); nonsense names are random 4-letter lower-case words, as in the
//! benchmark. Value words are `low`/`high` for most variables and a scenario pair for some; the
//! parser also uses the pairs as a hint for which word means 0 in untagged text.

use std::collections::HashSet;
use std::sync::LazyLock;

use rand::Rng;
use rand::seq::IndexedRandom;

use crate::wording;

/// Words of the templates and value pools: a nonsense name must not be one of them, or a sentence
/// such as `if the been had been low` would read two ways.
static RESERVED_WORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let mut texts: Vec<&str> = Vec::new();
    texts.extend(wording::PREAMBLES);
    texts.extend(wording::EDGES);
    texts.extend(wording::CONDITIONALS);
    texts.extend(wording::MARGINALS);
    texts.extend(wording::INSTRUCTIONS);
    for t in caugym_scm::Task::ALL {
        texts.extend(wording::questions(t));
        texts.push(t.long_name());
    }
    texts.extend(SCENARIO_PAIRS.iter().flat_map(|(a, b)| [*a, *b]));
    texts.extend(["low", "high", "lower", "upper", "being"]);
    texts
        .iter()
        .flat_map(|t| t.split(|c: char| !c.is_ascii_alphabetic()))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
});

/// Real-world variable names (lower case, no commas, no digits).
pub const REAL_NAMES: &[&str] = &[
    "air pollution",
    "air quality",
    "annual rainfall",
    "blood pressure",
    "body weight",
    "caffeine intake",
    "class size",
    "cloud cover",
    "commute time",
    "company profit",
    "competition level",
    "crop yield",
    "customer satisfaction",
    "daily exercise",
    "dietary habits",
    "employee morale",
    "energy consumption",
    "exam score",
    "family income",
    "fertilizer use",
    "fuel price",
    "heart rate",
    "homework load",
    "hospital capacity",
    "house price",
    "humidity level",
    "immune response",
    "inflation rate",
    "interest rate",
    "job satisfaction",
    "lake water level",
    "library usage",
    "marketing budget",
    "medication dose",
    "noise level",
    "online reviews",
    "parental support",
    "pest population",
    "product quality",
    "public transport use",
    "reading habits",
    "river flow",
    "road safety",
    "sales volume",
    "screen time",
    "sleep quality",
    "smoking habit",
    "social media use",
    "soil moisture",
    "staff turnover",
    "stock price",
    "stress level",
    "student motivation",
    "sunlight exposure",
    "teacher experience",
    "team productivity",
    "temperature",
    "test anxiety",
    "tourist arrivals",
    "traffic congestion",
    "training hours",
    "unemployment rate",
    "vaccination rate",
    "water consumption",
    "wind speed",
    "work hours",
    "workplace safety",
    "yearly bonus",
    "attendance rate",
    "bus frequency",
    "cholesterol level",
    "electricity demand",
    "factory output",
    "graduation rate",
    "hospital admissions",
    "insurance claims",
    "market demand",
    "network latency",
    "patient recovery",
    "plant growth",
    "rental demand",
    "snow depth",
    "server load",
    "shipping delay",
    "team morale",
    "water quality",
    "wildfire risk",
    "study time",
    "course grade",
    "physical fitness",
    "mental health",
    "salary level",
    "savings rate",
    "sugar intake",
    "visitor count",
];

/// Scenario value pairs `(word for 0, word for 1)`, used for some variables instead of
/// `low`/`high`.
pub const SCENARIO_PAIRS: &[(&str, &str)] = &[
    ("poor", "excellent"),
    ("bad", "good"),
    ("cold", "hot"),
    ("limited", "abundant"),
    ("scarce", "plentiful"),
    ("weak", "strong"),
    ("negative", "positive"),
    ("light", "heavy"),
    ("unemployed", "employed"),
    ("unfavorable", "favorable"),
    ("unhealthy", "healthy"),
    ("rare", "frequent"),
    ("absent", "present"),
    ("small", "large"),
    ("slow", "fast"),
    ("short", "long"),
    ("unstable", "stable"),
    ("rejected", "accepted"),
    ("unreliable", "reliable"),
    ("closed", "open"),
    ("dry", "wet"),
    ("calm", "stormy"),
    ("rigid", "flexible"),
    ("inactive", "active"),
    ("unsatisfied", "satisfied"),
    ("night", "morning"),
];

/// The usual pair.
pub const LOW_HIGH: (&str, &str) = ("low", "high");

/// The bit a value word most likely stands for in untagged text (`low` → 0, `excellent` → 1),
/// if it belongs to a known pair.
pub fn usual_bit(word: &str) -> Option<u8> {
    let w = word.trim();
    std::iter::once(&LOW_HIGH)
        .chain(SCENARIO_PAIRS)
        .find_map(|&(zero, one)| {
            if w.eq_ignore_ascii_case(zero) {
                Some(0)
            } else if w.eq_ignore_ascii_case(one) {
                Some(1)
            } else {
                None
            }
        })
}

/// Which names an item draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NamePool {
    /// Everyday phrases ([`REAL_NAMES`]).
    Real,
    /// Random 4-letter lower-case words.
    Nonsense,
    /// Per item, real or nonsense with equal probability.
    Mixed,
}

/// `n` distinct names from `pool` (for `Mixed`, one coin flip per item decides).
pub fn sample_names<R: Rng + ?Sized>(rng: &mut R, pool: NamePool, n: usize) -> Vec<String> {
    let real = match pool {
        NamePool::Real => true,
        NamePool::Nonsense => false,
        NamePool::Mixed => rng.random_bool(0.5),
    };
    if real && n <= REAL_NAMES.len() {
        REAL_NAMES
            .choose_multiple(rng, n)
            .map(|s| s.to_string())
            .collect()
    } else {
        let mut out: Vec<String> = Vec::with_capacity(n);
        while out.len() < n {
            let w: String = (0..4)
                .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
                .collect();
            if !out.contains(&w) && !RESERVED_WORDS.contains(w.as_str()) {
                out.push(w);
            }
        }
        out
    }
}

/// Value words for one variable: `low`/`high` with probability 0.8, otherwise a scenario pair;
/// with probability `invert` the pair is swapped (0 = `high`), as a few benchmark items do.
pub fn sample_values<R: Rng + ?Sized>(rng: &mut R, invert: f64) -> [String; 2] {
    let (a, b) = if rng.random_bool(0.8) {
        LOW_HIGH
    } else {
        *SCENARIO_PAIRS.choose(rng).unwrap_or(&LOW_HIGH)
    };
    if rng.random_bool(invert) {
        [b.to_string(), a.to_string()]
    } else {
        [a.to_string(), b.to_string()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pools_are_clean() {
        for (i, n) in REAL_NAMES.iter().enumerate() {
            assert!(!n.contains(',') && !n.contains(" and ") && !n.contains(" being "));
            assert_eq!(n.to_lowercase(), *n);
            assert!(!REAL_NAMES[i + 1..].contains(n), "duplicate {n}");
        }
        for (a, b) in SCENARIO_PAIRS {
            assert_ne!(a, b);
            assert_eq!(usual_bit(a), Some(0));
            assert_eq!(usual_bit(b), Some(1));
        }
        assert_eq!(usual_bit("High"), Some(1));
        assert_eq!(usual_bit("purple"), None);
    }

    #[test]
    fn nonsense_names_are_distinct_four_letter_words() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let names = sample_names(&mut rng, NamePool::Nonsense, 10);
        assert_eq!(names.len(), 10);
        for (i, n) in names.iter().enumerate() {
            assert!(n.len() == 4 && n.chars().all(|c| c.is_ascii_lowercase()));
            assert!(!names[i + 1..].contains(n));
        }
        let real = sample_names(&mut rng, NamePool::Real, 10);
        assert!(real.iter().all(|n| REAL_NAMES.contains(&n.as_str())));
    }
}
