//! The wording bank: for every sentence kind, the benchmark's own template (index 0) and
//! alternative wordings with identical content (the `rephrased` variant samples one per
//! sentence). The parser reads every entry, so whatever the renderer writes can be read back.
//!
//! Slots: `{cause}`/`{effect}` (edge), `{given}`/`{event}`/`{p}` (probability sentences; the lists
//! are printed as `<name> being <value>`), `{long}`/`{abbr}`/`{X}`/`{Y}` (instruction), and in
//! questions `{x}`/`{y}` (the values the question names), `{xc}`/`{yc}` (their complements),
//! `{M}` (CDE's conditioned mediators) and `{bound}` (`lower`/`upper`). Probability templates end
//! with `{p}` so that a data line splits after each number; templates never start a sentence with
//! a lower-case word other than a slot.

use std::sync::LazyLock;

use caugym_scm::Task;

use crate::template::Template;

/// The text after `Input Info: ` and before the edge sentences (each ends with `:`, no other
/// colon).
pub const PREAMBLES: &[&str] = &[
    "Imagine a self-contained, hypothetical world with only the following conditions, and without any unmentioned factors or causal relationships:",
    "Consider a closed, hypothetical world in which only the conditions below hold, with no unmentioned factors or causal relationships:",
    "Picture an isolated, imaginary world governed only by the following conditions and by no other factors or causal links:",
    "Suppose a self-contained hypothetical world where nothing but the following conditions holds, without any unstated factors or causal relationships:",
];

/// Edge sentences.
pub const EDGES: &[&str] = &[
    "{cause} has a direct effect on {effect}.",
    "{cause} directly affects {effect}.",
    "{cause} is a direct cause of {effect}.",
    "{effect} is directly affected by {cause}.",
    "{cause} is one of the direct causes of {effect}.",
    "{cause} directly influences {effect}.",
];

/// Conditional probability sentences (without the final period).
pub const CONDITIONALS: &[&str] = &[
    "For those with {given}, the probability of {event} is {p}",
    "Among those with {given}, the probability of {event} is {p}",
    "Given {given}, the chance of {event} is {p}",
    "In the group with {given}, the likelihood of {event} equals {p}",
    "Conditional on {given}, the probability of {event} is {p}",
    "When we look at cases with {given}, the share with {event} is {p}",
];

/// Marginal and joint probability sentences (without the final period).
pub const MARGINALS: &[&str] = &[
    "The probability of {event} is {p}",
    "The chance of {event} is {p}",
    "Overall, the probability of {event} is {p}",
    "The likelihood of {event} equals {p}",
    "In the whole population, the share with {event} is {p}",
];

/// Labels of the instruction line.
pub const INSTRUCTION_LABELS: &[&str] = &["Instruction:", "Task:"];

/// Instruction sentences.
pub const INSTRUCTIONS: &[&str] = &[
    "Consider the {long} ({abbr}) of {X} on {Y}.",
    "Compute the {long} ({abbr}) of {X} on {Y}.",
    "Evaluate the {long} ({abbr}) of {X} with respect to {Y}.",
    "We are interested in the {long} ({abbr}) of {X} on {Y}.",
];

/// Labels of the question line.
pub const QUESTION_LABELS: &[&str] = &["Question:", "Query:"];

const ATE: &[&str] = &[
    "If {X} is changed to be {x}, will {Y} be more likely to be {y}?",
    "If {X} were set to {x} by intervention, would {Y} be more likely to be {y}?",
    "Does intervening to make {X} be {x} increase the chance that {Y} is {y}?",
    "Will forcing {X} to be {x} make {Y} more likely to be {y}?",
];

const CDE: &[&str] = &[
    "Conditioned on {M}, if the {X} had been {x}, would the {Y} have been more likely to be {y}?",
    "Holding {M} fixed, if the {X} had been {x}, would the {Y} have been more likely to be {y}?",
    "With {M} kept fixed by intervention, would setting {X} to {x} have made {Y} more likely to be {y}?",
];

const ETT: &[&str] = &[
    "For those with {X} being {x}, if their {X} had been {xc}, would the {Y} have been more likely to be {y}?",
    "Among the units with {X} being {x}, had their {X} been {xc}, would {Y} have been more likely to be {y}?",
    "Consider those whose {X} is {x}: if their {X} had instead been {xc}, would the {Y} have been more likely to be {y}?",
];

const NDE: &[&str] = &[
    "Suppose the mediator keeps constant when {X} is changed to be {x}, would the {Y} have been more likely to be {y}?",
    "If {X} changed to {x} while the mediator stayed at its original value, would {Y} have been more likely to be {y}?",
    "Holding the mediator at the value it would have had anyway, would changing {X} to {x} make {Y} more likely to be {y}?",
];

const NIE: &[&str] = &[
    "Suppose {X} is held constant and the mediator changes to whatever value it would have attained under {X} changing to be {x}, would {Y} have been more likely to be {y}?",
    "If {X} stayed as it was but the mediator took the value it would have under {X} being {x}, would {Y} have been more likely to be {y}?",
    "Keeping {X} fixed, if the mediator shifted to the value it would take were {X} changed to {x}, would {Y} have been more likely to be {y}?",
];

const PN: &[&str] = &[
    "Given that {X} was {x} and {Y} was {y}, what is the {bound} bound of the probability of the {Y} would have been {yc} if the {X} had been {xc}?",
    "Knowing that {X} was {x} and {Y} was {y}, what is the {bound} bound of the probability that {Y} would have been {yc} had {X} been {xc}, i.e. that {X} being {x} was necessary?",
    "In a case where {X} was {x} and {Y} was {y}, find the {bound} bound of the probability that {Y} would have been {yc} if {X} had been {xc} (probability of necessity).",
];

const PS: &[&str] = &[
    "Given that {X} was {x} and {Y} was {y}, what is the {bound} bound of the probability that {Y} would have been {yc} if the {X} had been {xc}?",
    "Knowing that {X} was {x} and {Y} was {y}, what is the {bound} bound of the probability that {Y} would have been {yc} had {X} been {xc}, i.e. that {X} being {xc} would have sufficed?",
    "In a case where {X} was {x} and {Y} was {y}, find the {bound} bound of the probability that {Y} would have been {yc} if {X} had been {xc} (probability of sufficiency).",
];

/// Question sentences of `task`.
pub fn questions(task: Task) -> &'static [&'static str] {
    match task {
        Task::Ate => ATE,
        Task::Cde => CDE,
        Task::Ett => ETT,
        Task::Nde => NDE,
        Task::Nie => NIE,
        Task::Pn => PN,
        Task::Ps => PS,
    }
}

/// The closing line for tasks with a Yes/No verdict.
pub const PROVIDE_YES_NO: &[&str] = &[
    "Provide the calculation result to four decimal places and a final \"yes\" or \"no\" answer in JSON format, like {\"ANSWER\": \"Yes\", \"PROB\": \"0.1234\"}:",
    "Give the result to four decimal places and a final \"yes\" or \"no\" answer in JSON format, like {\"ANSWER\": \"Yes\", \"PROB\": \"0.1234\"}:",
    "Report the value to four decimal places together with a final \"yes\" or \"no\" answer in JSON format, like {\"ANSWER\": \"Yes\", \"PROB\": \"0.1234\"}:",
];

/// The closing line for PN/PS.
pub const PROVIDE_PROB: &[&str] = &[
    "Provide the calculation result to four decimal places in JSON format, like {\"PROB\": \"0.1234\"}:",
    "Give the result to four decimal places in JSON format, like {\"PROB\": \"0.1234\"}:",
    "Report the value to four decimal places in JSON format, like {\"PROB\": \"0.1234\"}:",
];

/// The optional suffix of training prompts.
pub const STEP_BY_STEP: &str = "Let's think step by step.";

/// The line prefix of the header.
pub const INPUT_INFO: &str = "Input Info:";

/// Compiled templates of every kind, built once.
pub struct Bank {
    /// [`EDGES`].
    pub edges: Vec<Template>,
    /// [`CONDITIONALS`].
    pub conditionals: Vec<Template>,
    /// [`MARGINALS`].
    pub marginals: Vec<Template>,
    /// [`INSTRUCTIONS`].
    pub instructions: Vec<Template>,
    /// Questions, one list per task in [`Task::ALL`] order.
    pub questions: Vec<(Task, Vec<Template>)>,
}

/// The compiled bank.
pub static BANK: LazyLock<Bank> = LazyLock::new(|| {
    let compile = |v: &[&'static str]| v.iter().map(|s| Template::new(s)).collect();
    Bank {
        edges: compile(EDGES),
        conditionals: compile(CONDITIONALS),
        marginals: compile(MARGINALS),
        instructions: compile(INSTRUCTIONS),
        questions: Task::ALL
            .into_iter()
            .map(|t| (t, compile(questions(t))))
            .collect(),
    }
});

impl Bank {
    /// The question templates of `task`.
    pub fn questions_of(&self, task: Task) -> &[Template] {
        self.questions
            .iter()
            .find(|(t, _)| *t == task)
            .map_or(&[], |(_, v)| v.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bank_is_well_formed() {
        for p in PREAMBLES {
            assert!(p.ends_with(':') && p.matches(':').count() == 1, "{p}");
        }
        for t in CONDITIONALS.iter().chain(MARGINALS) {
            assert!(t.ends_with("{p}"), "{t}");
        }
        for task in Task::ALL {
            let qs = questions(task);
            assert!(qs.len() >= 3, "{task}: at least two alternatives");
            for q in qs {
                for s in ["{X}", "{Y}", "{x}"] {
                    assert!(q.contains(s), "{task}: {q} lacks {s}");
                }
            }
        }
        // Every question template belongs to exactly one task.
        let all: Vec<&str> = Task::ALL
            .iter()
            .flat_map(|t| questions(*t))
            .copied()
            .collect();
        for (i, a) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(a), "duplicate question template {a}");
        }
        assert_eq!(BANK.edges.len(), EDGES.len());
    }
}
