//! Text → [`Problem`]: the benchmark's format in both spacing styles, with or without `(A=0)`
//! tags, any value words, with or without the `Instruction:` line, and every wording of the
//! rephrasing bank.
//!
//! The prompt is read line by line: the `Input Info:` header (preamble up to the first colon,
//! then the edge sentences), the data line(s), the instruction, the question and the closing
//! line. Probability sentences that no template reads (the benchmark has two truncated ones) are
//! skipped and reported; anything else unreadable is an error naming the part.

mod lits;
mod question;
mod sentences;
mod values;

use caugym_scm::Task;

pub use lits::{RawLit, has_tags, parse_lits};

use crate::error::{Error, Result};
use crate::names::NameTable;
use crate::problem::{Format, Layout, Lit, NodeId, Problem, Query, Statement, Wording};
use crate::wording::{INPUT_INFO, INSTRUCTION_LABELS, PREAMBLES, QUESTION_LABELS, STEP_BY_STEP};
use question::{RawInstruction, RawQuestion, parse_instruction, parse_question};
use sentences::{RawStatement, parse_edges, parse_statement, split_statements};
use values::Values;

/// A parsed problem and the probability sentences that had to be skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The problem.
    pub problem: Problem,
    /// Sentences of the data line that no template reads (e.g. truncated ones).
    pub skipped: Vec<String>,
}

/// Parses a problem; see [`parse_detailed`].
pub fn parse_problem(text: &str) -> Result<Problem> {
    Ok(parse_detailed(text)?.problem)
}

/// The lines of a prompt, classified.
struct Sections<'a> {
    preamble: &'a str,
    edges: &'a str,
    data: String,
    instruction: Option<(&'a str, bool)>,
    question: Option<(&'a str, bool)>,
    step_by_step: bool,
}

fn strip_label<'a>(line: &'a str, labels: &[&str]) -> Option<(&'a str, bool)> {
    labels
        .iter()
        .enumerate()
        .find_map(|(i, l)| line.strip_prefix(l).map(|rest| (rest.trim_start(), i == 0)))
}

fn sections(text: &str) -> Result<Sections<'_>> {
    let mut lines = text.lines();
    let header = lines
        .by_ref()
        .find(|l| l.trim_start().starts_with(INPUT_INFO))
        .ok_or_else(|| Error::parse("header", "no `Input Info:` line", text))?;
    let after = header.trim_start()[INPUT_INFO.len()..]
        .strip_prefix(' ')
        .unwrap_or(&header.trim_start()[INPUT_INFO.len()..]);
    let colon = after
        .find(':')
        .ok_or_else(|| Error::parse("header", "no colon before the edge sentences", header))?;
    let mut s = Sections {
        preamble: &after[..=colon],
        edges: &after[colon + 1..],
        data: String::new(),
        instruction: None,
        question: None,
        step_by_step: false,
    };
    let mut in_data = true;
    for line in lines {
        let l = line.trim();
        if let Some(i) = strip_label(l, INSTRUCTION_LABELS) {
            s.instruction = Some(i);
            in_data = false;
        } else if let Some(q) = strip_label(l, QUESTION_LABELS) {
            s.question = Some(q);
            in_data = false;
        } else if l.contains("JSON format") {
            in_data = false;
        } else if l == STEP_BY_STEP {
            s.step_by_step = true;
        } else if in_data {
            // Keep the raw line: whether it ends with a period matters for the format.
            if !s.data.is_empty() && !line.is_empty() {
                s.data.push(' ');
            }
            s.data.push_str(line);
        }
    }
    Ok(s)
}

/// The graph and statements read from the header and data lines.
struct Body {
    names: NameTable,
    edges: Vec<(NodeId, NodeId)>,
    statements: Vec<RawStatement>,
    skipped: Vec<String>,
    /// Every sentence used the benchmark's own wording.
    canonical: bool,
}

/// Edge sentences, then probability sentences (unreadable ones are skipped); names first seen
/// in a statement become nodes.
fn body(sec: &Sections, text: &str) -> Result<Body> {
    let mut names = NameTable::new();
    let mut edges = Vec::new();
    let mut canonical = sec.preamble == PREAMBLES[0];
    let raw_edges =
        parse_edges(sec.edges, text).map_err(|r| Error::parse("edge sentences", r, sec.edges))?;
    for e in raw_edges {
        let a = names.add(&e.cause, e.cause_initial);
        let b = names.add(&e.effect, e.effect_initial);
        canonical &= e.template == 0;
        if !edges.contains(&(a, b)) {
            edges.push((a, b));
        }
    }
    let (sentences, rest) = split_statements(&sec.data);
    let mut skipped: Vec<String> = rest.map(str::to_string).into_iter().collect();
    let mut statements = Vec::new();
    for s in sentences {
        match parse_statement(s, &names) {
            Some(r) => {
                canonical &= r.canonical;
                statements.push(r);
            }
            None => skipped.push(s.to_string()),
        }
    }
    for lit in statements
        .iter()
        .flat_map(|r| r.event.iter().chain(&r.given))
    {
        if names.resolve(&lit.name).is_none() {
            names.add(&lit.name, false);
        }
    }
    Ok(Body {
        names,
        edges,
        statements,
        skipped,
        canonical,
    })
}

/// Parses a problem and reports skipped sentences.
pub fn parse_detailed(text: &str) -> Result<Parsed> {
    let sec = sections(text)?;
    let layout = if sec.edges.starts_with(' ') {
        Layout::Calm
    } else {
        Layout::CauGym
    };
    let mut b = body(&sec, text)?;
    let instruction = match sec.instruction {
        Some((line, label0)) => {
            let i = parse_instruction(line, &b.names)
                .ok_or_else(|| Error::parse("instruction", "no instruction wording fits", line))?;
            b.canonical &= label0 && i.canonical;
            Some(i)
        }
        None => None,
    };
    let (qline, label0) = sec
        .question
        .ok_or_else(|| Error::parse("question", "no `Question:` line", text))?;
    let question = parse_question(qline, &b.names, instruction.as_ref().map(|i| i.task))
        .ok_or_else(|| Error::parse("question", "no question wording fits", qline))?;
    b.canonical &= label0 && question.canonical;
    let tags = if b.statements.is_empty() {
        layout == Layout::CauGym
    } else {
        b.statements
            .iter()
            .all(|r| r.event.iter().all(|l| l.tag.is_some()))
    };
    let format = Format {
        layout,
        tags,
        instruction: instruction.is_some(),
        truncated_data: !sec.data.trim().is_empty() && !sec.data.trim_end().ends_with('.'),
        step_by_step: sec.step_by_step,
        wording: if b.canonical {
            Wording::Canonical
        } else {
            Wording::Rephrased { seed: 0 }
        },
    };
    let skipped = std::mem::take(&mut b.skipped);
    let problem = assemble(b, instruction.as_ref(), &question, format)?;
    Ok(Parsed { problem, skipped })
}

/// Resolves names and value words of one literal list.
fn lits(names: &NameTable, values: &mut Values, raw: &[RawLit]) -> Result<Vec<Lit>> {
    raw.iter()
        .map(|l| {
            let node = names
                .resolve(&l.name)
                .ok_or_else(|| Error::parse("data line", "unknown variable", &l.name))?;
            Ok(Lit::new(
                node,
                values.bit(node, &l.word, l.tag, names.name(node))?,
            ))
        })
        .collect()
}

/// The query from the question (and instruction), its words resolved against `values`.
fn query(
    names: &NameTable,
    values: &mut Values,
    instruction: Option<&RawInstruction>,
    q: &RawQuestion,
) -> Result<Query> {
    if let Some(i) = instruction
        && (i.treatment, i.outcome) != (q.treatment, q.outcome)
    {
        return Err(Error::parse(
            "question",
            format!(
                "the instruction is about `{}` on `{}` but the question about `{}` on `{}`",
                names.name(i.treatment),
                names.name(i.outcome),
                names.name(q.treatment),
                names.name(q.outcome)
            ),
            "",
        ));
    }
    let task = instruction.map_or(q.task, |i| i.task);
    let (xn, yn) = (q.treatment, q.outcome);
    let x = values.bit(xn, &q.x, None, names.name(xn))?;
    let y = values.bit(yn, &q.y, None, names.name(yn))?;
    if let Some(xc) = &q.xc {
        values.complement(xn, xc, x, names.name(xn))?;
    }
    if let Some(yc) = &q.yc {
        values.complement(yn, yc, y, names.name(yn))?;
    }
    Ok(Query {
        task,
        treatment: xn,
        outcome: yn,
        x,
        y,
        bound: matches!(task, Task::Pn | Task::Ps)
            .then_some(q.bound)
            .flatten(),
        conditioned: lits(names, values, &q.conditioned)?,
    })
}

/// Resolves names, value words and tags into a [`Problem`].
fn assemble(
    b: Body,
    instruction: Option<&RawInstruction>,
    q: &RawQuestion,
    format: Format,
) -> Result<Problem> {
    let mut values = Values::new(b.names.len());
    let mut statements = Vec::with_capacity(b.statements.len());
    for r in &b.statements {
        statements.push(Statement {
            event: lits(&b.names, &mut values, &r.event)?,
            given: lits(&b.names, &mut values, &r.given)?,
            prob: r.prob,
        });
    }
    let query = query(&b.names, &mut values, instruction, q)?;
    let letters = values.letters(&b.edges)?;
    let nodes = b
        .names
        .names()
        .zip(values.into_words())
        .zip(letters)
        .map(|((name, values), letter)| crate::problem::Node {
            name: name.to_string(),
            values,
            letter,
        })
        .collect();
    let problem = Problem {
        nodes,
        edges: b.edges,
        statements,
        query,
        format,
    };
    problem.validate()?;
    Ok(problem)
}
