//! The order-based reader: a fallback for free wordings that no template reads (the benchmark's
//! LLM-paraphrased `rephrased` and `omitted` sets).
//!
//! The benchmark states its probabilities in a fixed order per task and structure, starting with
//! the question's value x (causal-tasks.md, "Statements come in a fixed order"), and paraphrases
//! keep the numbers and, almost always, their order. So the reader takes the 4-decimal numbers
//! before the closing `... JSON format ...` sentence, recognises the estimand (the `(ABBR)` or
//! long name when present, else the question's wording), and applies the formula of the shape the
//! count implies:
//!
//! | numbers | shape | value |
//! |---|---|---|
//! | 0 | trivial (no causal path / edge) | 0 |
//! | 2 | P(y\|x), P(y\|x') | n0 - n1 (ATE, CDE, ETT, NDE) |
//! | 6 | ATE/CDE with Z: P(y\|x,z0), P(y\|x',z0), P(z0), … z1 … (or both P(z) last) | (n0-n1)n2 + (n3-n4)n5 |
//! | 5 | ETT with Z: P(y\|x), P(y\|x',z0), P(z0\|x), P(y\|x',z1), P(z1\|x) | n0 - (n1n2 + n3n4) |
//! | 5 | NDE with one of Z or M: P(y\|x,·0), P(y\|x',·0), P(·0\|…), P(y\|x,·1), P(y\|x',·1) | (n0-n1)n2 + (n3-n4)(1-n2) |
//! | 11 | NDE with M and Z: P(z0), then the 5-number block for z0 and for z1 | Σ_z P(z)·block |
//! | 4 | NIE: P(y\|x',m0), P(m0\|x), P(m0\|x'), P(y\|x',m1) | (n0-n3)(n1-n2) |
//! | 9 | NIE with Z: P(z0), then the 4-number block for z0 and for z1 | Σ_z P(z)·block |
//! | 3 / 6 | PN/PS: P(y*\|do(x')) terms, P(y) or P(x',y'), P(x,y) | Tian–Pearl bound |
//!
//! Where the count leaves a choice (5: ETT or NDE; 6: effect or PN/PS) the wording decides; a
//! PN/PS question must say which bound. Marginals of Z are checked to sum to 1, which catches
//! most reorderings. Nothing here checks the names: results are reported apart from the
//! template parser's.

use std::sync::LazyLock;

use caugym_scm::Task;
use regex::Regex;

use crate::answer::round4;
use crate::error::{Error, Result};
use crate::problem::Bound;

/// What the order-based reader found.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderReading {
    /// The estimand as recognised from the text (`None` when only the count identifies the shape).
    pub task: Option<Task>,
    /// How the task was recognised.
    pub recognised_by: Recognition,
    /// The PN/PS bound.
    pub bound: Option<Bound>,
    /// The printed numbers, in order.
    pub numbers: Vec<f64>,
    /// The estimand's value (CaLM arithmetic: P(y|do(x')) rounded before the PN/PS division).
    pub value: f64,
}

/// How the estimand was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recognition {
    /// `(ATE)`-style abbreviation in the text.
    Abbreviation,
    /// The long name (`average treatment effect`) in the text.
    LongName,
    /// The question's wording.
    Wording,
}

static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[01]\.\d{4}\b").expect("constant regex"));
static ABBR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\((ATE|CDE|ETT|NDE|NIE|PN|PS)\)").expect("constant regex"));
static BOUND_WORDS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("{LOWER_WORDS}|{UPPER_WORDS}")).expect("constant regex"));
/// Words naming the lower bound. `minimal`/`maximal` only before possible/value/probability:
/// a paraphrase may say "minimal rainfall" about a value, not the bound.
const LOWER_WORDS: &str = r"(?i)\blower (bound|limit)|\bminimum\b|\bminimal (possible|value|probability)|\blowest possible|\bleast possible|\bsmallest possible";
const UPPER_WORDS: &str = r"(?i)\bupper (bound|limit)|\bmaximum\b|\bmaximal (possible|value|probability)|\bhighest possible|\bgreatest possible|\blargest possible";
static LOWER: LazyLock<Regex> = LazyLock::new(|| Regex::new(LOWER_WORDS).expect("constant regex"));
static UPPER: LazyLock<Regex> = LazyLock::new(|| Regex::new(UPPER_WORDS).expect("constant regex"));
static NIE_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)whatever value|would have (attained|taken|had|reached)|would (naturally )?(take|attain|assume|reach)|(value|level|state) it would|indirect")
        .expect("constant regex")
});
static NDE_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)mediat|(remain|remains|stay|stays|kept|keeping|held|holding)\b[^.,;?]{0,40}\b(unchanged|constant|original|as it was|the same)|direct effect")
        .expect("constant regex")
});
static CDE_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)conditioned on|controlling for|\bholding\b|held (fixed|constant|at)|fixed at|kept (fixed|constant|at)|keeping [^.,;?]{0,60} (fixed|constant|at)|maintained at|is at a|remains? at")
        .expect("constant regex")
});
static ETT_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)for those|among those|those who|those whose|for individuals|among individuals|individuals (with|who|currently)|for people|among people|treated|for units|among units|focusing on|subset|subgroup|\bgroup\b|currently")
        .expect("constant regex")
});

/// The long names of the estimands, as the benchmark writes them.
fn long_name_task(text: &str) -> Option<Task> {
    let lower = text.to_lowercase();
    Task::ALL
        .into_iter()
        .find(|t| lower.contains(t.long_name()))
}

/// The problem without its closing sentence (the one asking for JSON, which carries `0.1234`).
fn body(text: &str) -> &str {
    let Some(json) = text.find("JSON") else {
        return text;
    };
    let start = [
        text[..json].rfind('\n'),
        text[..json].rfind(". "),
        text[..json].rfind("? "),
    ]
    .into_iter()
    .flatten()
    .max()
    .map_or(0, |i| i + 1);
    &text[..start]
}

/// The question part: after a `Question:`/`Query:` label, else after the last number.
fn question_part(body: &str) -> &str {
    for label in ["Question:", "Query:"] {
        if let Some(i) = body.rfind(label) {
            return &body[i + label.len()..];
        }
    }
    NUMBER
        .find_iter(body)
        .last()
        .map_or(body, |m| &body[m.end()..])
}

/// Recognises the estimand from a question's wording alone (PN and PS are told apart only by the
/// words `necess…`/`suffic…`; their formulas agree as functions of the question's values).
pub fn task_from_wording(question: &str) -> Task {
    let l = question.to_lowercase();
    if BOUND_WORDS.is_match(question) {
        if l.contains("suffic") {
            Task::Ps
        } else {
            Task::Pn
        }
    } else if (NIE_WORDS.is_match(question) && l.contains("mediat")) || l.contains("indirect") {
        Task::Nie
    } else if NDE_WORDS.is_match(question) {
        Task::Nde
    } else if CDE_WORDS.is_match(question) {
        Task::Cde
    } else if ETT_WORDS.is_match(question) {
        Task::Ett
    } else {
        Task::Ate
    }
}

/// PN or PS from a question that does not name the estimand: `necess…`/`suffic…` if present;
/// else the observed values (PN observes X = 1 and Y = 1, PS X = 0 and Y = 0), judged by the first
/// two value words of a known pair; else, for an upper bound without adjustment, the order in
/// which P(x', y') <= P(y'|x') holds.
fn necessity_or_sufficiency(question: &str, numbers: &[f64]) -> Task {
    let l = question.to_lowercase();
    if l.contains("necess") {
        return Task::Pn;
    }
    if l.contains("suffic") {
        return Task::Ps;
    }
    // The observation comes before the question proper ("If X and Y were both low, what …").
    let observed = ["what", "determine", "find", "calculate", "compute", "how"]
        .iter()
        .filter_map(|w| l.find(w))
        .min()
        .map_or(l.as_str(), |at| &l[..at]);
    let bits: Vec<u8> = observed
        .split(|c: char| !c.is_alphabetic())
        .filter_map(crate::pools::usual_bit)
        .collect();
    if !bits.is_empty() && bits.iter().all(|&b| b == 1) {
        return Task::Pn;
    }
    if !bits.is_empty() && bits.iter().all(|&b| b == 0) {
        return Task::Ps;
    }
    match numbers {
        [d, a, c] if bound_of(question) == Some(Bound::Upper) && (a > d) != (c > d) => {
            if a <= d {
                Task::Pn
            } else {
                Task::Ps
            }
        }
        _ => Task::Pn,
    }
}

fn bound_of(question: &str) -> Option<Bound> {
    match (LOWER.is_match(question), UPPER.is_match(question)) {
        (true, false) => Some(Bound::Lower),
        (false, true) => Some(Bound::Upper),
        _ => None,
    }
}

fn sums_to_one(a: f64, b: f64) -> bool {
    (a + b - 1.0).abs() < 0.0015
}

/// Reads a problem by the order of its numbers; see the module doc.
pub fn read_by_order(text: &str) -> Result<OrderReading> {
    let body = body(text);
    let question = question_part(body);
    let numbers: Vec<f64> = NUMBER
        .find_iter(body)
        .filter_map(|m| m.as_str().parse().ok())
        .collect();
    let (mut task, recognised_by) = if let Some(c) = ABBR.captures(body) {
        (c[1].parse::<Task>().ok(), Recognition::Abbreviation)
    } else if let Some(t) = long_name_task(body) {
        (Some(t), Recognition::LongName)
    } else {
        (Some(task_from_wording(question)), Recognition::Wording)
    };
    if recognised_by == Recognition::Wording && matches!(task, Some(Task::Pn | Task::Ps)) {
        task = Some(necessity_or_sufficiency(question, &numbers));
    }
    let fail = |why: &str| Error::parse("problem (order-based reading)", why, question.trim());
    let n = &numbers;
    let is_bound = matches!(task, Some(Task::Pn | Task::Ps));
    let bound = if is_bound || matches!(n.len(), 3) {
        Some(bound_of(question).ok_or_else(|| fail("no lower/upper bound named"))?)
    } else {
        None
    };
    let natural_direct = matches!(task, Some(Task::Nde));
    let value = match (n.len(), bound) {
        (0, None) => 0.0,
        (2, None) => n[0] - n[1],
        (6, None) if sums_to_one(n[2], n[5]) => (n[0] - n[1]) * n[2] + (n[3] - n[4]) * n[5],
        // The same terms with both marginals of Z moved to the end.
        (6, None) if sums_to_one(n[4], n[5]) => (n[0] - n[1]) * n[4] + (n[2] - n[3]) * n[5],
        (5, None) if natural_direct => nde_block(&n[0..5]),
        (5, None) if sums_to_one(n[2], n[4]) => n[0] - (n[1] * n[2] + n[3] * n[4]),
        (11, None) => n[0] * nde_block(&n[1..6]) + (1.0 - n[0]) * nde_block(&n[6..11]),
        (4, None) => (n[0] - n[3]) * (n[1] - n[2]),
        (9, None) => {
            n[0] * (n[1] - n[4]) * (n[2] - n[3]) + (1.0 - n[0]) * (n[5] - n[8]) * (n[6] - n[7])
        }
        (3 | 6, Some(b)) => {
            let do_term = if n.len() == 3 {
                n[0]
            } else if sums_to_one(n[1], n[3]) {
                round4(n[0] * n[1] + n[2] * n[3])
            } else {
                return Err(fail("the adjustment marginals do not sum to 1"));
            };
            let (a, c) = (n[n.len() - 2], n[n.len() - 1]);
            // Upper bounds state P(X=0,Y=0) before P(X=1,Y=1): for PN (observed 1,1) that is
            // P(x',y') then P(x,y); for PS (observed 0,0) the reverse.
            let ps = task == Some(Task::Ps);
            match b {
                Bound::Upper if ps => tian_pearl(b, do_term, c, a),
                _ => tian_pearl(b, do_term, a, c),
            }
        }
        (count, _) => {
            return Err(fail(&format!(
                "{count} numbers do not fit a known statement order for {}",
                task.map_or("this question".to_string(), |t| t.abbr().to_string())
            )));
        }
    };
    Ok(OrderReading {
        task,
        recognised_by,
        bound,
        numbers,
        value,
    })
}

/// `(a - b)·c + (d - e)·(1 - c)` over `[a, b, c, d, e]`.
fn nde_block(v: &[f64]) -> f64 {
    (v[0] - v[1]) * v[2] + (v[3] - v[4]) * (1.0 - v[2])
}

/// Lower: `max{0, (second - do)/den}`; upper: `min{1, (do - second)/den}`.
fn tian_pearl(bound: Bound, do_term: f64, second: f64, den: f64) -> f64 {
    match bound {
        Bound::Lower => ((second - do_term) / den).max(0.0),
        Bound::Upper => ((do_term - second) / den).min(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_paraphrased_ett_by_order() {
        // Values from a base ETT item: 0.0116 - 0.0599 = -0.0483.
        let text = "In an isolated scenario: Xvis directly influences cbjg and xoge. When xvis is high, the chance of xoge being low is 0.0116; when xvis is low, this probability rises to 0.0599. Focusing on the treated group (those with high xvis), would their xoge be more likely low had their xvis been low? Provide the result to four decimal places in JSON format, such as {\"ANSWER\": \"Yes\", \"PROB\": \"0.1234\"}:";
        let r = read_by_order(text).unwrap();
        assert_eq!(r.numbers, vec![0.0116, 0.0599]);
        assert_eq!(r.task, Some(Task::Ett));
        assert!((r.value - (-0.0483)).abs() < 1e-12);
    }

    #[test]
    fn pn_needs_a_named_bound_and_uses_the_calm_rounding() {
        // Base PN item: upper = min{1, (0.8245*0.5764 + 0.8989*0.4236 rounded = 0.8560 - 0.7098) / 0.0336} = 1.
        let text = "P(r=s|t=c,w=b)=0.8245; P(w=b)=0.5764. P(r=s|t=c,w=g)=0.8989; P(w=g)=0.4236. P(c,s)=0.7098. P(h,l)=0.0336. Determine the maximum possible value for the probability that rainfall would have been small. Provide it in JSON format:";
        let r = read_by_order(text).unwrap();
        assert_eq!((r.task, r.bound), (Some(Task::Pn), Some(Bound::Upper)));
        assert_eq!(r.value, 1.0);
        assert!(read_by_order("a 0.1000 b 0.2000 c 0.3000. What is it? JSON").is_err());
    }

    #[test]
    fn wording_recognition() {
        assert_eq!(
            task_from_wording(
                "If the mediator stays at its original value while X changes, is Y likelier?"
            ),
            Task::Nde
        );
        assert_eq!(
            task_from_wording(
                "If X stays fixed but the mediator takes whatever value it would have under X=1, is Y likelier?"
            ),
            Task::Nie
        );
        assert_eq!(
            task_from_wording(
                "Conditioned on M being low, if X had been high, would Y be likelier?"
            ),
            Task::Cde
        );
        assert_eq!(
            task_from_wording("For those with X high, had X been low, would Y be likelier?"),
            Task::Ett
        );
        assert_eq!(
            task_from_wording("If X is set to high, will Y be likelier to be low?"),
            Task::Ate
        );
        assert_eq!(
            task_from_wording("What is the lower bound of the probability of sufficiency?"),
            Task::Ps
        );
    }
}
