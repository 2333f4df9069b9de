//! The `Instruction:` and `Question:` lines.

use caugym_scm::Task;

use super::lits::{RawLit, parse_lits};
use crate::names::NameTable;
use crate::problem::{Bound, NodeId};
use crate::template::{Captures, slot, slots};
use crate::wording::BANK;

/// What the instruction line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInstruction {
    /// The estimand.
    pub task: Task,
    /// The treatment.
    pub treatment: NodeId,
    /// The outcome.
    pub outcome: NodeId,
    /// Whether the benchmark's own template was used.
    pub canonical: bool,
}

/// Reads an instruction sentence (label removed).
pub fn parse_instruction(text: &str, names: &NameTable) -> Option<RawInstruction> {
    let text = text.trim();
    BANK.instructions.iter().enumerate().find_map(|(i, t)| {
        let caps = t.captures(text, &mut |c| {
            let task = slot(c, "abbr").and_then(|a| a.parse::<Task>().ok());
            task.is_some_and(|task| {
                slot(c, "long").is_some_and(|l| l.eq_ignore_ascii_case(task.long_name()))
            }) && resolve_one(c, "X", names).is_some()
                && resolve_one(c, "Y", names).is_some()
        })?;
        Some(RawInstruction {
            task: slot(&caps, "abbr")?.parse().ok()?,
            treatment: resolve_one(&caps, "X", names)?,
            outcome: resolve_one(&caps, "Y", names)?,
            canonical: i == 0,
        })
    })
}

/// What the question says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawQuestion {
    /// The estimand the wording belongs to.
    pub task: Task,
    /// The treatment.
    pub treatment: NodeId,
    /// The outcome.
    pub outcome: NodeId,
    /// The treatment value word (`{x}`).
    pub x: String,
    /// The outcome value word (`{y}`).
    pub y: String,
    /// The complement words `{xc}`, `{yc}`, where the template names them.
    pub xc: Option<String>,
    /// See `xc`.
    pub yc: Option<String>,
    /// PN/PS bound.
    pub bound: Option<Bound>,
    /// CDE's conditioned mediators.
    pub conditioned: Vec<RawLit>,
    /// Whether the benchmark's own template was used.
    pub canonical: bool,
}

/// Every capture of `name` resolves, and all to the same node.
fn resolve_one(c: &Captures, name: &str, names: &NameTable) -> Option<NodeId> {
    let ids: Option<Vec<NodeId>> = slots(c, name)
        .into_iter()
        .map(|s| names.resolve(s))
        .collect();
    let ids = ids?;
    let first = *ids.first()?;
    ids.iter().all(|&i| i == first).then_some(first)
}

fn bound_of(c: &Captures) -> Result<Option<Bound>, ()> {
    match slot(c, "bound") {
        None => Ok(None),
        Some("lower") => Ok(Some(Bound::Lower)),
        Some("upper") => Ok(Some(Bound::Upper)),
        Some(_) => Err(()),
    }
}

fn conditioned(c: &Captures, names: &NameTable) -> Option<Vec<RawLit>> {
    match slot(c, "M") {
        None => Some(Vec::new()),
        Some(m) => {
            let lits = parse_lits(m, names)?;
            lits.iter()
                .all(|l| names.resolve(&l.name).is_some())
                .then_some(lits)
        }
    }
}

/// Reads a question sentence (label removed). `hint` (from the instruction line) is tried first;
/// without it the estimand is recognised from the wording.
pub fn parse_question(text: &str, names: &NameTable, hint: Option<Task>) -> Option<RawQuestion> {
    let text = text.trim();
    let order: Vec<Task> = hint
        .into_iter()
        .chain(Task::ALL.into_iter().filter(|t| Some(*t) != hint))
        .collect();
    for task in order {
        for (i, t) in BANK.questions_of(task).iter().enumerate() {
            let accept = &mut |c: &Captures| {
                let (Some(xn), Some(yn)) = (resolve_one(c, "X", names), resolve_one(c, "Y", names))
                else {
                    return false;
                };
                xn != yn
                    && bound_of(c).is_ok()
                    && conditioned(c, names).is_some()
                    && ["x", "y", "xc", "yc"]
                        .iter()
                        .all(|s| slots(c, s).iter().all(|v| !v.trim().is_empty()))
            };
            let Some(caps) = t.captures(text, accept) else {
                continue;
            };
            let word = |s: &str| slot(&caps, s).map(|v| v.trim().to_string());
            return Some(RawQuestion {
                task,
                treatment: resolve_one(&caps, "X", names)?,
                outcome: resolve_one(&caps, "Y", names)?,
                x: word("x")?,
                y: word("y")?,
                xc: word("xc"),
                yc: word("yc"),
                bound: bound_of(&caps).ok()?,
                conditioned: conditioned(&caps, names)?,
                canonical: i == 0,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> NameTable {
        let mut t = NameTable::new();
        for n in [
            "student's performance on exams",
            "final grade",
            "the number of cars on the road",
            "the availability of public transportation",
            "rainfull",
        ] {
            t.add(n, false);
        }
        t
    }

    #[test]
    fn instruction_with_on_inside_a_name() {
        let t = table();
        let i = parse_instruction(
            "Consider the average treatment effect (ATE) of student's performance on exams on final grade.",
            &t,
        )
        .unwrap();
        assert_eq!((i.task, i.treatment, i.outcome), (Task::Ate, 0, 1));
        assert!(parse_instruction("Consider the odds (ATE) of a on b.", &t).is_none());
    }

    #[test]
    fn questions_are_recognised_without_a_hint() {
        let t = table();
        let q = parse_question(
            "Suppose the mediator keeps constant when the availability of public transportation is changed to be abundant, would the the number of cars on the road have been more likely to be many?",
            &t,
            None,
        )
        .unwrap();
        assert_eq!(q.task, Task::Nde);
        assert_eq!((q.treatment, q.outcome), (3, 2));
        assert_eq!((q.x.as_str(), q.y.as_str()), ("abundant", "many"));
        let pn = parse_question(
            "Given that final grade was high and rainfull was high, what is the upper bound of the probability of the rainfull would have been low if the final grade had been low?",
            &t,
            None,
        )
        .unwrap();
        assert_eq!((pn.task, pn.bound), (Task::Pn, Some(Bound::Upper)));
        assert_eq!(pn.yc.as_deref(), Some("low"));
        let cde = parse_question(
            "Conditioned on rainfull being high and final grade being low, if the the number of cars on the road had been low, would the the availability of public transportation have been more likely to be high?",
            &t,
            Some(Task::Cde),
        )
        .unwrap();
        assert_eq!(cde.conditioned.len(), 2);
        assert!(parse_question("What is the weather?", &t, None).is_none());
    }
}
