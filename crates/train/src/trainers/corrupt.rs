//! Corrupted worked solutions: the rejected completion of a CauGym item when the policy has no
//! wrong sample of its own. The item's prompt is parsed and solved by the data crate, then one
//! step of the derivation is made wrong and the data crate writes the worked solution of the
//! wrong derivation, so every later step (arithmetic, verdict, final JSON) follows from the
//! mistake, as a model's own error would:
//!
//! - wrong formula ([`Corruption::SignFlip`]): the treatment and control terms of the
//!   estimand's formula swapped, negating the effect;
//! - wrong arithmetic ([`Corruption::Arithmetic`]): one stated probability misread (moved by
//!   0.1 to 0.3) and carried through the computation;
//! - wrong conclusion ([`Corruption::Conclusion`]): for items with no derivation (zero by the
//!   graph, or `LACK_CONDITION`), the reasoning kept and the other kind of final answer given.
//!
//! A corruption is kept only when its final `PROB` is at least [`MIN_GAP`] from the true one.

use caugym_data::estimate::{Derivation, Estimate, Expr};
use caugym_data::solve::Reading;
use caugym_data::{Answer, Convention, Problem, solution_text, solve_parsed};

/// The smallest distance between a corrupted and the true `PROB`: 20x the benchmark's tolerance
/// (5e-4), so the corrupted answer is wrong under any tolerance a run would use.
pub const MIN_GAP: f64 = 0.01;

/// Misreadings tried for [`Corruption::Arithmetic`], in order.
const SHIFTS: [f64; 6] = [0.1, -0.1, 0.2, -0.2, 0.3, -0.3];

/// How a worked solution was made wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Corruption {
    /// The formula's treatment and control terms swapped (the effect's sign flipped).
    SignFlip,
    /// Stated probability `input` of the derivation read as `to` instead of `from`.
    Arithmetic {
        /// Index into the derivation's inputs.
        input: usize,
        /// The stated value.
        from: f64,
        /// The value used.
        to: f64,
    },
    /// The final answer replaced by the other kind (a number for `LACK_CONDITION` and back).
    Conclusion,
}

impl Corruption {
    /// A short name (`sign_flip`, `arithmetic`, `conclusion`) for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Corruption::SignFlip => "sign_flip",
            Corruption::Arithmetic { .. } => "arithmetic",
            Corruption::Conclusion => "conclusion",
        }
    }
}

/// An item's true worked solution and a corrupted one.
#[derive(Clone, Debug, PartialEq)]
pub struct Corrupted {
    /// The worked solution of the item as the data crate writes it (ends in the true answer).
    pub gold_solution: String,
    /// The true answer.
    pub gold: Answer,
    /// What was changed.
    pub kind: Corruption,
    /// The corrupted worked solution (ends in `Answer: ` and the wrong JSON answer).
    pub solution: String,
    /// The wrong answer it ends in.
    pub answer: Answer,
}

/// Corrupts the worked solution of the CauGym problem `prompt`, read by the data crate's
/// template parser. `variant` picks which kind is tried first for identified estimands (even:
/// wrong formula, odd: wrong arithmetic), so a dataset gets both; the other is the fallback,
/// and a wrong conclusion the last resort.
///
/// A prompt does not always name both values of a variable (the parser then writes `?`), so
/// when the item's own worked `solution` has the same steps, its `Variables:` block replaces the
/// parsed one in both texts: chosen and rejected must differ in nothing but the mistake, or a
/// preference model learns the artefact. (Untagged prompts can also get other letters than the
/// generator gave; then the steps differ and the caller should use [`Corrupted::gold_solution`]
/// as the chosen.)
///
/// Fails (with the reason) when the prompt is not a CauGym problem the template parser reads.
pub fn corrupt(prompt: &str, variant: usize, solution: Option<&str>) -> Result<Corrupted, String> {
    let solved = solve_parsed(prompt).map_err(|e| format!("not a CauGym problem: {e}"))?;
    let Reading::Parsed { problem, .. } = solved.reading else {
        return Err("not a CauGym problem the template parser reads".to_string());
    };
    let c = corrupt_problem(&problem, variant, problem.convention())?;
    let Some(own) = solution else {
        return Ok(c);
    };
    if steps(&c.gold_solution) != steps(own) {
        return Ok(c);
    }
    Ok(Corrupted {
        gold_solution: with_header(&c.gold_solution, own),
        solution: with_header(&c.solution, own),
        ..c
    })
}

/// [`corrupt`] on a structured problem (a generated item's own, so letters and words are the
/// generator's), with the Yes/No `convention` of its answers (the generator's is
/// [`Convention::CauGym`] in either layout; a parsed benchmark item's is its layout's).
pub fn corrupt_problem(
    problem: &Problem,
    variant: usize,
    convention: Convention,
) -> Result<Corrupted, String> {
    let estimate =
        caugym_data::estimate(problem).map_err(|e| format!("cannot solve the problem: {e}"))?;
    let gold = estimate.answer(problem.query.task, convention);
    let problem = problem.clone();
    let gold_solution = solution_text(&problem, &estimate, &gold);
    let made = match &estimate {
        Estimate::Identified(d) => {
            let flip = || sign_flip(&problem, d, &gold, convention);
            let arith = || arithmetic(&problem, d, &gold, variant, convention);
            let first = if variant.is_multiple_of(2) {
                flip().or_else(arith)
            } else {
                arith().or_else(flip)
            };
            first.unwrap_or_else(|| conclusion(&problem, &estimate, &gold, convention))
        }
        _ => conclusion(&problem, &estimate, &gold, convention),
    };
    let (kind, solution, answer) = made;
    Ok(Corrupted {
        gold_solution,
        gold,
        kind,
        solution,
        answer,
    })
}

/// The lines from the first `Step` line on.
pub fn steps(text: &str) -> Vec<&str> {
    text.lines()
        .skip_while(|l| !l.starts_with("Step "))
        .collect()
}

/// The lines before the first `Step` line.
fn header_len(text: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with("Step "))
        .unwrap_or(0)
}

/// `text` with its `Variables:` header taken from `own` when both list the same number of
/// variables (the same ones: the derivation's variables do not change).
fn with_header(text: &str, own: &str) -> String {
    let (n, m) = (header_len(text), header_len(own));
    if n == 0 || n != m || !own.starts_with("Variables:") {
        return text.to_string();
    }
    own.lines()
        .take(m)
        .chain(text.lines().skip(n))
        .collect::<Vec<_>>()
        .join("\n")
}

type Made = (Corruption, String, Answer);

/// Whether `wrong` is far enough from `gold` to be wrong under any tolerance.
fn far_enough(wrong: &Answer, gold: &Answer) -> bool {
    match (wrong.prob(), gold.prob()) {
        (Some(a), Some(b)) => a.is_finite() && (a - b).abs() >= MIN_GAP - 1e-9,
        (None, None) => false,
        _ => true,
    }
}

/// The worked solution of `d` (recomputed on its own inputs and formula).
fn write(
    problem: &Problem,
    mut d: Derivation,
    gold: &Answer,
    kind: Corruption,
    convention: Convention,
) -> Option<Made> {
    let round = problem.convention() == Convention::Calm;
    d.value = d.expr.eval(&d.printed_term_values(), round);
    if !d.value.is_finite() {
        return None;
    }
    let answer = Answer::from_value(problem.query.task, d.value, convention);
    if !far_enough(&answer, gold) {
        return None;
    }
    let text = solution_text(problem, &Estimate::Identified(d), &answer);
    Some((kind, text, answer))
}

fn sign_flip(
    problem: &Problem,
    d: &Derivation,
    gold: &Answer,
    convention: Convention,
) -> Option<Made> {
    let expr = negate(&d.expr)?;
    let flipped = Derivation { expr, ..d.clone() };
    write(problem, flipped, gold, Corruption::SignFlip, convention)
}

/// `-e` written without a negation node: a difference swapped, each summand negated, one factor
/// of a product negated, a ratio's numerator negated. `None` for bounds and roundings (PN/PS),
/// which do not commute with negation. Exact: `b - a` is `-(a - b)` in floating point too.
pub fn negate(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Diff(a, b) => Some(Expr::Diff(b.clone(), a.clone())),
        Expr::Sum(v) => v
            .iter()
            .map(negate)
            .collect::<Option<Vec<_>>>()
            .map(Expr::Sum),
        Expr::Prod(v) => v.iter().enumerate().find_map(|(i, f)| {
            let n = negate(f)?;
            let mut w = v.clone();
            w[i] = n;
            Some(Expr::Prod(w))
        }),
        Expr::Ratio(a, b) => negate(a).map(|n| Expr::Ratio(Box::new(n), b.clone())),
        Expr::Term(_) | Expr::Max0(_) | Expr::Min1(_) | Expr::Round4(_) => None,
    }
}

fn arithmetic(
    problem: &Problem,
    d: &Derivation,
    gold: &Answer,
    variant: usize,
    convention: Convention,
) -> Option<Made> {
    let n = d.inputs.len();
    (0..n).map(|k| (k + variant / 2) % n).find_map(|i| {
        let from = d.inputs[i].value;
        SHIFTS.iter().find_map(|shift| {
            let to = caugym_data::answer::round4(from + shift);
            if !(to > 0.0 && to < 1.0) {
                return None;
            }
            let mut misread = d.clone();
            misread.inputs[i].value = to;
            write(
                problem,
                misread,
                gold,
                Corruption::Arithmetic { input: i, from, to },
                convention,
            )
        })
    })
}

/// The reasoning of `estimate` ending in the other kind of answer: `LACK_CONDITION` for a
/// number, a zero effect (`No`) for `LACK_CONDITION`.
fn conclusion(
    problem: &Problem,
    estimate: &Estimate,
    gold: &Answer,
    convention: Convention,
) -> Made {
    let task = problem.query.task;
    let answer = match gold {
        Answer::Prob { .. } => Answer::LackCondition,
        Answer::LackCondition => Answer::from_value(task, 0.0, convention),
    };
    let text = solution_text(problem, estimate, &answer);
    (Corruption::Conclusion, text, answer)
}
