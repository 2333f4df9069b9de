//! Arithmetic over stated probabilities, kept symbolic so one value can be evaluated, printed
//! (symbolically and numerically, for the worked solution) and bounded over the rounding box.

use crate::answer::round4;
use crate::error::{Error, Result};

/// A formula over the terms of a [`super::Derivation`] (leaves index `Derivation::terms`).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A probability term.
    Term(usize),
    /// `a + b + …`.
    Sum(Vec<Expr>),
    /// `a - b`.
    Diff(Box<Expr>, Box<Expr>),
    /// `a * b * …`.
    Prod(Vec<Expr>),
    /// `a / b`.
    Ratio(Box<Expr>, Box<Expr>),
    /// `max{0, a}` (PN/PS lower bounds).
    Max0(Box<Expr>),
    /// `min{1, a}` (PN/PS upper bounds).
    Min1(Box<Expr>),
    /// `a` rounded to 4 decimals: CaLM rounds P(y|do(x)) before the PN/PS division.
    Round4(Box<Expr>),
}

impl Expr {
    /// `a - b`.
    pub fn diff(a: Expr, b: Expr) -> Expr {
        Expr::Diff(Box::new(a), Box::new(b))
    }

    /// Evaluates with term values `terms`; `round` applies the [`Expr::Round4`] steps (the
    /// printed-number arithmetic) or skips them (the exact function, for rounding-box bounds).
    pub fn eval(&self, terms: &[f64], round: bool) -> f64 {
        match self {
            Expr::Term(i) => terms.get(*i).copied().unwrap_or(f64::NAN),
            Expr::Sum(v) => v.iter().map(|e| e.eval(terms, round)).sum(),
            Expr::Diff(a, b) => a.eval(terms, round) - b.eval(terms, round),
            Expr::Prod(v) => v.iter().map(|e| e.eval(terms, round)).product(),
            Expr::Ratio(a, b) => a.eval(terms, round) / b.eval(terms, round),
            Expr::Max0(a) => a.eval(terms, round).max(0.0),
            Expr::Min1(a) => a.eval(terms, round).min(1.0),
            Expr::Round4(a) => {
                let v = a.eval(terms, round);
                if round { round4(v) } else { v }
            }
        }
    }

    /// The term indices the formula uses, in order of first use.
    pub fn leaves(&self) -> Vec<usize> {
        fn walk(e: &Expr, out: &mut Vec<usize>) {
            match e {
                Expr::Term(i) => {
                    if !out.contains(i) {
                        out.push(*i);
                    }
                }
                Expr::Sum(v) | Expr::Prod(v) => v.iter().for_each(|c| walk(c, out)),
                Expr::Diff(a, b) | Expr::Ratio(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Expr::Max0(a) | Expr::Min1(a) | Expr::Round4(a) => walk(a, out),
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }

    /// Prints the formula, writing each leaf with `leaf` (its symbol or its value). Sums and
    /// differences nested in a product or sum are bracketed `[…]`, as the benchmark's `Reason`
    /// does; rounding is invisible.
    pub fn print(&self, leaf: &dyn Fn(&mut String, usize)) -> String {
        let mut out = String::with_capacity(64);
        self.print_into(&mut out, leaf, false);
        out
    }

    fn print_into(&self, out: &mut String, leaf: &dyn Fn(&mut String, usize), nested: bool) {
        let grouped = |e: &Expr| matches!(e, Expr::Sum(_) | Expr::Diff(..));
        match self {
            Expr::Term(i) => leaf(out, *i),
            Expr::Sum(v) => {
                out.push_str(if nested { "[" } else { "" });
                for (k, e) in v.iter().enumerate() {
                    if k > 0 {
                        out.push('+');
                    }
                    e.print_into(out, leaf, grouped(e));
                }
                out.push_str(if nested { "]" } else { "" });
            }
            Expr::Diff(a, b) => {
                out.push_str(if nested { "[" } else { "" });
                a.print_into(out, leaf, false);
                out.push('-');
                b.print_into(out, leaf, grouped(b));
                out.push_str(if nested { "]" } else { "" });
            }
            Expr::Prod(v) => {
                for (k, e) in v.iter().enumerate() {
                    if k > 0 {
                        out.push('*');
                    }
                    e.print_into(out, leaf, grouped(e));
                }
            }
            Expr::Ratio(a, b) => {
                out.push('(');
                a.print_into(out, leaf, false);
                out.push_str(")/");
                b.print_into(out, leaf, true);
            }
            Expr::Max0(a) => {
                out.push_str("max{0, ");
                a.print_into(out, leaf, false);
                out.push('}');
            }
            Expr::Min1(a) => {
                out.push_str("min{1, ");
                a.print_into(out, leaf, false);
                out.push('}');
            }
            Expr::Round4(a) => a.print_into(out, leaf, nested),
        }
    }
}

/// The range `[min, max]` an expression takes when every free input moves independently within
/// `±half_width` of its printed value (the rounding box of 4-decimal numbers: 0.00005).
///
/// Method: corner enumeration. Every formula built by the solver is, in each input separately,
/// monotone on the box — the effects are multilinear, and the PN/PS bound `clamp((a - b) / c)` is
/// linear in `a`, `b` and monotone in `c > 0`, with the clamps monotone — so the extremes over the
/// box are attained at its corners. Rounding steps are skipped (the gold of the CauGym sets was
/// computed from unrounded CPTs). `inputs` are the printed values; `terms_of` maps input values to
/// term values (complements move with their source).
pub fn corner_range(
    expr: &Expr,
    inputs: &[f64],
    half_width: f64,
    terms_of: &dyn Fn(&[f64]) -> Vec<f64>,
) -> Result<(f64, f64)> {
    const MAX_INPUTS: usize = 20;
    if inputs.len() > MAX_INPUTS {
        return Err(Error::Invalid(format!(
            "corner enumeration over {} inputs (at most {MAX_INPUTS})",
            inputs.len()
        )));
    }
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let mut point = inputs.to_vec();
    for mask in 0u32..(1u32 << inputs.len()) {
        for (i, p) in point.iter_mut().enumerate() {
            let sign = if mask >> i & 1 == 1 { 1.0 } else { -1.0 };
            *p = inputs[i] + sign * half_width;
        }
        let v = expr.eval(&terms_of(&point), false);
        lo = lo.min(v);
        hi = hi.max(v);
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(i: usize) -> Expr {
        Expr::Term(i)
    }

    #[test]
    fn evaluates_and_prints_like_the_reason_dicts() {
        // ETT with Z: a - [b*c + d*e]
        let e = Expr::diff(
            t(0),
            Expr::Sum(vec![
                Expr::Prod(vec![t(1), t(2)]),
                Expr::Prod(vec![t(3), t(4)]),
            ]),
        );
        let vals = [0.0455, 0.0820, 0.1417, 0.1357, 0.8583];
        // deconfounding item 10: 0.0455-[0.0820*0.1417+0.1357*0.8583] = -0.0826
        assert!((e.eval(&vals, true) - (-0.082591)).abs() < 1e-5);
        let printed = e.print(&|out, i| crate::answer::push_fmt4(out, vals[i]));
        assert_eq!(printed, "0.0455-[0.0820*0.1417+0.1357*0.8583]");
        // CDE with Z: [a-b]*c + [d-e]*f
        let cde = Expr::Sum(vec![
            Expr::Prod(vec![Expr::diff(t(0), t(1)), t(2)]),
            Expr::Prod(vec![Expr::diff(t(3), t(4)), t(5)]),
        ]);
        assert_eq!(
            cde.print(&|out, i| out.push_str(&format!("x{i}"))),
            "[x0-x1]*x2+[x3-x4]*x5"
        );
    }

    #[test]
    fn rounding_step_applies_only_when_asked() {
        let e = Expr::Round4(Box::new(Expr::Prod(vec![t(0), t(1)])));
        let vals = [0.33333, 0.5];
        assert_eq!(e.eval(&vals, true), 0.1667);
        assert!((e.eval(&vals, false) - 0.166665).abs() < 1e-12);
    }

    #[test]
    fn corner_range_brackets_a_ratio() {
        // (a - b) / c at a = 0.5, b = 0.2, c = 0.3, box ±0.01:
        // max = (0.51 - 0.19) / 0.29, min = (0.49 - 0.21) / 0.31 (hand-derived).
        let e = Expr::Ratio(Box::new(Expr::diff(t(0), t(1))), Box::new(t(2)));
        let (lo, hi) = corner_range(&e, &[0.5, 0.2, 0.3], 0.01, &|v| v.to_vec()).unwrap();
        assert!((hi - 0.32 / 0.29).abs() < 1e-12);
        assert!((lo - 0.28 / 0.31).abs() < 1e-12);
    }
}
