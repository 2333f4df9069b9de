//! [`Problem`] → prompt text, in the CaLM or CauGym layout, canonical or rephrased wording.
//!
//! Lists of `<name> being <value>` items are joined the way the benchmark's generators joined
//! them: with `", "`, then the *last* `", "` of the joined string becomes `" and "`. For names
//! without commas that is the ordinary English join; for a name with a comma it reproduces the
//! benchmark's mangled text byte for byte.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Result;
use crate::names::capitalize;
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

    fn pick(&mut self, n: usize) -> usize {
        match &mut self.rng {
            Some(r) if n > 1 => r.random_range(0..n),
            _ => 0,
        }
    }

    fn pick_of<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = self.pick(items.len());
        &items[i]
    }
}

/// Joins items with `", "` and turns the last `", "` into `" and "` (the benchmark's join).
pub fn join_list(items: &[String]) -> String {
    let joined = items.join(", ");
    match joined.rfind(", ") {
        Some(at) => format!("{} and {}", &joined[..at], &joined[at + 2..]),
        None => joined,
    }
}

/// `<name> being <value>[ (A=0)]` items of `lits`, joined.
pub fn lit_list(problem: &Problem, lits: &[Lit], tags: bool) -> Result<String> {
    let items = lits
        .iter()
        .map(|&l| {
            let node = problem.node(l.node)?;
            let word = problem.word(l)?;
            Ok(if tags {
                format!("{} being {word} ({}={})", node.name, node.letter, l.value)
            } else {
                format!("{} being {word}", node.name)
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(join_list(&items))
}

fn fill(t: &Template, value: &dyn Fn(&str) -> String) -> String {
    let text = t.fill(value);
    if t.starts_with_slot() {
        capitalize(&text)
    } else {
        text
    }
}

fn statement(problem: &Problem, s: &Statement, choose: &mut Chooser) -> Result<String> {
    let tags = problem.format.tags;
    let event = lit_list(problem, &s.event, tags)?;
    let p = format!("{:.4}", s.prob);
    if s.given.is_empty() {
        let t = choose.pick_of(&BANK.marginals);
        Ok(fill(t, &|slot| match slot {
            "event" => event.clone(),
            _ => p.clone(),
        }))
    } else {
        let given = lit_list(problem, &s.given, tags)?;
        let t = choose.pick_of(&BANK.conditionals);
        Ok(fill(t, &|slot| match slot {
            "given" => given.clone(),
            "event" => event.clone(),
            _ => p.clone(),
        }))
    }
}

/// Prints a problem.
pub fn render(problem: &Problem) -> Result<String> {
    problem.validate()?;
    let f = &problem.format;
    let mut choose = Chooser::new(f.wording);
    let mut header = format!("{INPUT_INFO} {}", choose.pick_of(PREAMBLES));
    let mut edges = Vec::with_capacity(problem.edges.len());
    for &(a, b) in &problem.edges {
        let (cause, effect) = (&problem.node(a)?.name, &problem.node(b)?.name);
        let t = choose.pick_of(&BANK.edges);
        edges.push(fill(t, &|slot| {
            if slot == "cause" {
                cause.clone()
            } else {
                effect.clone()
            }
        }));
    }
    match f.layout {
        Layout::Calm => {
            header.push(' ');
            header.push_str(&edges.join(" "));
        }
        Layout::CauGym => header.push_str(&edges.concat()),
    }
    let sentences = problem
        .statements
        .iter()
        .map(|s| statement(problem, s, &mut choose))
        .collect::<Result<Vec<_>>>()?;
    let data = if f.truncated_data {
        sentences.join(". ")
    } else {
        sentences.iter().map(|s| format!("{s}. ")).collect()
    };
    let mut lines = vec![header, data];
    let q = &problem.query;
    let x = Lit::new(q.treatment, q.x);
    let y = Lit::new(q.outcome, q.y);
    let xn = &problem.node(q.treatment)?.name;
    let yn = &problem.node(q.outcome)?.name;
    if f.instruction {
        let label = choose.pick_of(INSTRUCTION_LABELS);
        let t = choose.pick_of(&BANK.instructions);
        let text = t.fill(&|slot| match slot {
            "long" => q.task.long_name().to_string(),
            "abbr" => q.task.abbr().to_string(),
            "X" => xn.clone(),
            _ => yn.clone(),
        });
        lines.push(format!("{label} {text}"));
    }
    let words = [
        problem.word(x)?.to_string(),
        problem.word(y)?.to_string(),
        problem.word(x.flip()).unwrap_or("").to_string(),
        problem.word(y.flip()).unwrap_or("").to_string(),
    ];
    let m = lit_list(problem, &q.conditioned, false)?;
    let label = choose.pick_of(QUESTION_LABELS);
    let t = choose.pick_of(BANK.questions_of(q.task));
    let question = t.fill(&|slot| match slot {
        "X" => xn.clone(),
        "Y" => yn.clone(),
        "x" => words[0].clone(),
        "y" => words[1].clone(),
        "xc" => words[2].clone(),
        "yc" => words[3].clone(),
        "M" => m.clone(),
        _ => q.bound.unwrap_or(Bound::Lower).word().to_string(),
    });
    lines.push(format!("{label} {question}"));
    let provide = if q.task.has_yes_no() {
        PROVIDE_YES_NO
    } else {
        PROVIDE_PROB
    };
    lines.push(choose.pick_of(provide).to_string());
    if f.step_by_step {
        lines.push(STEP_BY_STEP.to_string());
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_reproduces_the_benchmark_quirk() {
        let s = |v: &[&str]| join_list(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&["a", "b", "c"]), "a, b and c");
        assert_eq!(s(&["a"]), "a");
        assert_eq!(
            s(&["w (e.g. x, y) being low"]),
            "w (e.g. x and y) being low"
        );
        assert_eq!(
            s(&["w (e.g. x, y) being low", "b"]),
            "w (e.g. x, y) being low and b"
        );
    }
}
