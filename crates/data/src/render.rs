//! [`Problem`] → prompt text, in the CaLM or CauGym layout, canonical or rephrased wording.
//!
//! Lists of `<name> being <value>` items are joined the way the benchmark's generators joined
//! them: with `", "`, then the *last* `", "` of the joined string becomes `" and "`. For names
//! without commas that is the ordinary English join; for a name with a comma it reproduces the
//! benchmark's mangled text byte for byte. The text is written into one buffer: the generator
//! renders every item it makes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::answer::push_fmt4;
use crate::error::Result;
use crate::problem::{Bound, Layout, Lit, Problem, Statement, Wording};
use crate::template::Template;
use crate::wording::{
    BANK, INPUT_INFO, INSTRUCTION_LABELS, PREAMBLES, PROVIDE_PROB, PROVIDE_YES_NO, QUESTION_LABELS,
    STEP_BY_STEP,
};

/// Picks the wording of each sentence: always the first entry, or a seeded draw.
struct Chooser {
    rng: Option<ChaCha8Rng>,
}

impl Chooser {
    fn new(wording: Wording) -> Self {
        Chooser {
            rng: match wording {
                Wording::Canonical => None,
                Wording::Rephrased { seed } => Some(ChaCha8Rng::seed_from_u64(seed)),
            },
        }
    }

    fn pick_of<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = match &mut self.rng {
            Some(r) if items.len() > 1 => r.random_range(0..items.len()),
            _ => 0,
        };
        &items[i]
    }
}

/// A wording drawn from a list of fixed strings.
fn pick_str(choose: &mut Chooser, items: &[&'static str]) -> &'static str {
    choose.pick_of::<&'static str>(items)
}

/// Replaces the last `", "` of `out[start..]` by `" and "`: after joining with `", "`, the
/// benchmark's join.
fn and_last(out: &mut String, start: usize) {
    if let Some(at) = out[start..].rfind(", ") {
        out.replace_range(start + at..start + at + 2, " and ");
    }
}

/// `<name> being <value>[ (A=0)]` items of `lits`, joined.
pub fn lit_list(problem: &Problem, lits: &[Lit], tags: bool) -> Result<String> {
    let mut out = String::new();
    push_lit_list(&mut out, problem, lits, tags)?;
    Ok(out)
}

fn push_lit_list(out: &mut String, problem: &Problem, lits: &[Lit], tags: bool) -> Result<()> {
    let start = out.len();
    for (i, &l) in lits.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&problem.node(l.node)?.name);
        out.push_str(" being ");
        out.push_str(problem.word(l)?);
        if tags {
            out.push_str(" (");
            problem.push_lit_symbol(out, l);
            out.push(')');
        }
    }
    and_last(out, start);
    Ok(())
}

/// Appends a filled template, capitalising a sentence-initial slot.
fn push_filled(out: &mut String, t: &Template, value: &dyn Fn(&mut String, &str)) {
    let start = out.len();
    t.fill_into(out, value);
    if t.starts_with_slot()
        && let Some(c) = out[start..].chars().next()
        && c.is_lowercase()
    {
        let upper: String = c.to_uppercase().collect();
        out.replace_range(start..start + c.len_utf8(), &upper);
    }
}

fn push_statement(
    out: &mut String,
    problem: &Problem,
    s: &Statement,
    choose: &mut Chooser,
) -> Result<()> {
    let tags = problem.format.tags;
    let event = lit_list(problem, &s.event, tags)?;
    let given = lit_list(problem, &s.given, tags)?;
    let bank = if s.given.is_empty() {
        &BANK.marginals
    } else {
        &BANK.conditionals
    };
    push_filled(out, choose.pick_of(bank), &|out, slot| match slot {
        "given" => out.push_str(&given),
        "event" => out.push_str(&event),
        _ => push_fmt4(out, s.prob),
    });
    Ok(())
}

/// Prints a problem.
pub fn render(problem: &Problem) -> Result<String> {
    problem.validate()?;
    let f = &problem.format;
    let mut choose = Chooser::new(f.wording);
    let mut out = String::with_capacity(512 + 160 * problem.statements.len());
    out.push_str(INPUT_INFO);
    out.push(' ');
    out.push_str(pick_str(&mut choose, PREAMBLES));
    for &(a, b) in &problem.edges {
        if f.layout == Layout::Calm {
            out.push(' ');
        }
        let (cause, effect) = (&problem.node(a)?.name, &problem.node(b)?.name);
        push_filled(&mut out, choose.pick_of(&BANK.edges), &|out, slot| {
            out.push_str(if slot == "cause" { cause } else { effect })
        });
    }
    out.push('\n');
    for (i, s) in problem.statements.iter().enumerate() {
        if f.truncated_data && i > 0 {
            out.push_str(". ");
        }
        push_statement(&mut out, problem, s, &mut choose)?;
        if !f.truncated_data {
            out.push_str(". ");
        }
    }
    push_question(&mut out, problem, &mut choose)?;
    let provide = if problem.query.task.has_yes_no() {
        PROVIDE_YES_NO
    } else {
        PROVIDE_PROB
    };
    out.push('\n');
    out.push_str(pick_str(&mut choose, provide));
    if f.step_by_step {
        out.push('\n');
        out.push_str(STEP_BY_STEP);
    }
    Ok(out)
}

/// The instruction line (if printed) and the question line.
fn push_question(out: &mut String, problem: &Problem, choose: &mut Chooser) -> Result<()> {
    let q = &problem.query;
    let x = Lit::new(q.treatment, q.x);
    let y = Lit::new(q.outcome, q.y);
    let xn = &problem.node(q.treatment)?.name;
    let yn = &problem.node(q.outcome)?.name;
    if problem.format.instruction {
        out.push('\n');
        out.push_str(pick_str(choose, INSTRUCTION_LABELS));
        out.push(' ');
        choose
            .pick_of(&BANK.instructions)
            .fill_into(out, &|out, slot| match slot {
                "long" => out.push_str(q.task.long_name()),
                "abbr" => out.push_str(q.task.abbr()),
                "X" => out.push_str(xn),
                _ => out.push_str(yn),
            });
    }
    let words = [
        problem.word(x)?,
        problem.word(y)?,
        problem.word(x.flip()).unwrap_or(""),
        problem.word(y.flip()).unwrap_or(""),
    ];
    let m = lit_list(problem, &q.conditioned, false)?;
    out.push('\n');
    out.push_str(pick_str(choose, QUESTION_LABELS));
    out.push(' ');
    choose
        .pick_of(BANK.questions_of(q.task))
        .fill_into(out, &|out, slot| {
            out.push_str(match slot {
                "X" => xn,
                "Y" => yn,
                "x" => words[0],
                "y" => words[1],
                "xc" => words[2],
                "yc" => words[3],
                "M" => &m,
                _ => q.bound.unwrap_or(Bound::Lower).word(),
            })
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_reproduces_the_benchmark_quirk() {
        let s = |v: &[&str]| {
            let mut out = String::from("> ");
            out.push_str(&v.join(", "));
            and_last(&mut out, 2);
            out
        };
        assert_eq!(s(&["a", "b", "c"]), "> a, b and c");
        assert_eq!(s(&["a"]), "> a");
        assert_eq!(
            s(&["w (e.g. x, y) being low"]),
            "> w (e.g. x and y) being low"
        );
        assert_eq!(
            s(&["w (e.g. x, y) being low", "b"]),
            "> w (e.g. x, y) being low and b"
        );
    }
}
