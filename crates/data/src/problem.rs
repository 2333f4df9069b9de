//! The structured form of one benchmark problem, shared by the parser, the solver, the renderer
//! and the generator.
//!
//! A [`Problem`] holds what the text says — the graph, the stated probabilities, the question —
//! and how it was (or is to be) printed ([`Format`]). The parser builds one from text, the
//! generator builds one from an SCM, the renderer prints one, and the solver computes its answer,
//! so "generated items solve back to their gold" tests the parser against the renderer.

use caugym_scm::Task;
use serde::{Deserialize, Serialize};

use crate::answer::Convention;
use crate::error::{Error, Result};

/// Index of a node in [`Problem::nodes`].
pub type NodeId = usize;

/// One binary variable of the world.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The name as printed inside a sentence (first letter as written there, e.g. `traffic
    /// congestion`); sentence-initial occurrences are capitalised by the renderer.
    pub name: String,
    /// The value words for 0 and 1 (`low`/`high`, or a scenario pair). `None` when the text never
    /// names that value (possible for parsed problems only).
    pub values: [Option<String>; 2],
    /// The symbolic letter (`A`, `B`, …): letters follow a topological order.
    pub letter: char,
}

impl Node {
    /// The word for `value`, if known.
    pub fn word(&self, value: u8) -> Option<&str> {
        self.values.get(usize::from(value))?.as_deref()
    }
}

/// A variable fixed to a value: `node = value`, with `value` 0 or 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Lit {
    /// The variable.
    pub node: NodeId,
    /// Its value, 0 or 1.
    pub value: u8,
}

impl Lit {
    /// `node = value`.
    pub fn new(node: NodeId, value: u8) -> Lit {
        Lit { node, value }
    }

    /// The same variable at the other value.
    pub fn flip(self) -> Lit {
        Lit {
            node: self.node,
            value: 1 - self.value,
        }
    }
}

/// What shape of probability a [`Statement`] states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatementKind {
    /// `For those with <given>, the probability of <event> is p.`
    Conditional,
    /// `The probability of <event> is p.` with one variable.
    Marginal,
    /// `The probability of <a> and <b> is p.` (PN/PS).
    Joint,
}

/// One stated probability: P(event | given) = prob, printed with 4 decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// The variables whose probability is stated (one, or two for a joint).
    pub event: Vec<Lit>,
    /// The conditions, in printed order (empty for marginals and joints).
    pub given: Vec<Lit>,
    /// The printed value (a multiple of 0.0001).
    pub prob: f64,
}

impl Statement {
    /// The statement's shape.
    pub fn kind(&self) -> StatementKind {
        if !self.given.is_empty() {
            StatementKind::Conditional
        } else if self.event.len() > 1 {
            StatementKind::Joint
        } else {
            StatementKind::Marginal
        }
    }
}

/// Which Tian–Pearl bound a PN/PS question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bound {
    /// `max{0, …}`.
    Lower,
    /// `min{1, …}`.
    Upper,
}

impl Bound {
    /// `lower` / `upper`, as the question prints it.
    pub fn word(self) -> &'static str {
        match self {
            Bound::Lower => "lower",
            Bound::Upper => "upper",
        }
    }
}

/// The question: which estimand, of which treatment on which outcome, at which values.
///
/// `x` and `y` are the values the question names, with these meanings (x' = 1 - x):
/// ATE `If X is changed to be x, will Y be more likely to be y?`; CDE `if the X had been x`;
/// ETT the factual `For those with X being x`; NDE `when X is changed to be x`; NIE `under X
/// changing to be x`; PN/PS the observed `Given that X was x and Y was y` (the counterfactual is
/// then y' under x').
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// The estimand.
    pub task: Task,
    /// X.
    pub treatment: NodeId,
    /// Y.
    pub outcome: NodeId,
    /// The treatment value the question names.
    pub x: u8,
    /// The outcome value the question names.
    pub y: u8,
    /// PN/PS only: which bound.
    pub bound: Option<Bound>,
    /// CDE only: the mediators held fixed, in the question's order.
    pub conditioned: Vec<Lit>,
}

/// Spacing conventions of the two benchmark families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// CaLM (`base`): `relationships: ` with a space, edge sentences separated by `. `.
    Calm,
    /// CauGym-generated sets: no space after the colon, edge sentences run together (`.X`).
    CauGym,
}

/// Which words the renderer uses for each sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Wording {
    /// The benchmark's own templates.
    Canonical,
    /// An alternative wording drawn per sentence from the rephrasing bank, seeded by `seed`.
    Rephrased {
        /// Seed of the per-sentence choices.
        seed: u64,
    },
}

/// How a problem is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Format {
    /// Spacing family.
    pub layout: Layout,
    /// Whether probability sentences carry symbolic tags such as `(A=0)`.
    pub tags: bool,
    /// Whether the `Instruction:` line (naming the estimand) is printed.
    pub instruction: bool,
    /// The insufficient set's data line: statements joined by `. ` with no final period and no
    /// trailing space.
    pub truncated_data: bool,
    /// Whether `Let's think step by step.` is appended.
    pub step_by_step: bool,
    /// Sentence wording.
    pub wording: Wording,
}

impl Format {
    /// The `base` (CaLM) format: CaLM spacing, no tags, Instruction line, canonical wording.
    pub fn calm() -> Format {
        Format {
            layout: Layout::Calm,
            tags: false,
            instruction: true,
            truncated_data: false,
            step_by_step: false,
            wording: Wording::Canonical,
        }
    }

    /// The CauGym-generated sets' format: no spaces between edge sentences, `(A=0)` tags.
    pub fn caugym() -> Format {
        Format {
            layout: Layout::CauGym,
            tags: true,
            ..Format::calm()
        }
    }
}

/// One problem: graph, stated probabilities, question and print format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// The variables; the index is the [`NodeId`].
    pub nodes: Vec<Node>,
    /// Directed edges (cause, effect) in printed order.
    pub edges: Vec<(NodeId, NodeId)>,
    /// The stated probabilities in printed order.
    pub statements: Vec<Statement>,
    /// The question.
    pub query: Query,
    /// How the problem is printed.
    pub format: Format,
}

impl Problem {
    /// The node of `id`, or an error naming the bad index.
    pub fn node(&self, id: NodeId) -> Result<&Node> {
        self.nodes
            .get(id)
            .ok_or_else(|| Error::Invalid(format!("node index {id} out of range")))
    }

    /// The letter of node `id` (`?` for a bad index, which [`Problem::validate`] rules out).
    pub fn letter(&self, id: NodeId) -> char {
        self.nodes.get(id).map_or('?', |n| n.letter)
    }

    /// `A=0` for a literal.
    pub fn lit_symbol(&self, lit: Lit) -> String {
        let mut s = String::with_capacity(3);
        self.push_lit_symbol(&mut s, lit);
        s
    }

    /// Appends `A=0` for a literal to `out`.
    pub fn push_lit_symbol(&self, out: &mut String, lit: Lit) {
        out.push(self.letter(lit.node));
        out.push('=');
        out.push(if lit.value == 1 { '1' } else { '0' });
    }

    /// The value word of a literal, or an error naming the node.
    pub fn word(&self, lit: Lit) -> Result<&str> {
        let node = self.node(lit.node)?;
        node.word(lit.value).ok_or_else(|| {
            Error::Invalid(format!(
                "no value word for {} = {} (node `{}`)",
                node.letter, lit.value, node.name
            ))
        })
    }

    /// The answer convention of the text: tagged problems come from the CauGym generator
    /// (exact arithmetic, `Yes` iff PROB >= 0.001), untagged ones from CaLM (P(y|do(x)) rounded
    /// before the PN/PS division, `Yes` iff PROB > 0).
    pub fn convention(&self) -> Convention {
        if self.format.tags {
            Convention::CauGym
        } else {
            Convention::Calm
        }
    }

    /// Checks indices, bits, value words of every printed literal, and the query's shape.
    pub fn validate(&self) -> Result<()> {
        let n = self.nodes.len();
        let check = |lit: Lit, what: &str| -> Result<()> {
            if lit.node >= n || lit.value > 1 {
                return Err(Error::Invalid(format!(
                    "{what}: literal {lit:?} out of range ({n} nodes)"
                )));
            }
            Ok(())
        };
        for &(a, b) in &self.edges {
            if a >= n || b >= n || a == b {
                return Err(Error::Invalid(format!("bad edge ({a}, {b})")));
            }
        }
        for (i, s) in self.statements.iter().enumerate() {
            if s.event.is_empty() || !(0.0..=1.0).contains(&s.prob) {
                return Err(Error::Invalid(format!(
                    "statement {i}: empty event or probability {} outside [0, 1]",
                    s.prob
                )));
            }
            for &lit in s.event.iter().chain(&s.given) {
                check(lit, &format!("statement {i}"))?;
                self.word(lit)?;
            }
        }
        let q = &self.query;
        check(Lit::new(q.treatment, q.x), "treatment")?;
        check(Lit::new(q.outcome, q.y), "outcome")?;
        if q.treatment == q.outcome {
            return Err(Error::Invalid("treatment and outcome coincide".into()));
        }
        if matches!(q.task, Task::Pn | Task::Ps) != q.bound.is_some() {
            return Err(Error::Invalid(
                "a bound is given exactly for PN and PS questions".into(),
            ));
        }
        for &lit in &q.conditioned {
            check(lit, "CDE condition")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, letter: char) -> Node {
        Node {
            name: name.into(),
            values: [Some("low".into()), Some("high".into())],
            letter,
        }
    }

    #[test]
    fn validate_rejects_bad_indices_and_bounds() {
        let mut p = Problem {
            nodes: vec![node("a", 'A'), node("b", 'B')],
            edges: vec![(0, 1)],
            statements: vec![Statement {
                event: vec![Lit::new(1, 1)],
                given: vec![Lit::new(0, 0)],
                prob: 0.25,
            }],
            query: Query {
                task: Task::Ate,
                treatment: 0,
                outcome: 1,
                x: 1,
                y: 1,
                bound: None,
                conditioned: vec![],
            },
            format: Format::calm(),
        };
        p.validate().unwrap();
        assert_eq!(p.statements[0].kind(), StatementKind::Conditional);
        p.query.bound = Some(Bound::Lower);
        assert!(p.validate().is_err());
        p.query.bound = None;
        p.edges.push((0, 2));
        assert!(p.validate().is_err());
        p.edges.pop();
        p.nodes[1].values[1] = None;
        assert!(
            p.validate().is_err(),
            "the statement names B=1 but B has no word for 1"
        );
    }
}
