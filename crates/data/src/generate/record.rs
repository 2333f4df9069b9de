//! The generator's output records: JSONL (with the full model) and the benchmark's layout.

use caugym_scm::Task;
use serde::Serialize;

use super::{Class, Variant};
use crate::dataset::{BenchmarkRecord, Reason};
use crate::problem::{Bound, Lit, Problem};

/// A variable of the generated model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRecord {
    /// Its name.
    pub name: String,
    /// Its letter.
    pub letter: char,
    /// Value words for 0 and 1.
    pub values: [String; 2],
}

/// The full model: enough to recompute every number of the item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScmRecord {
    /// Variables, by index (= letter order, topological).
    pub nodes: Vec<NodeRecord>,
    /// Edges `[from, to]`.
    pub edges: Vec<(usize, usize)>,
    /// `cpts[i][k]` = P(V_i = 1 | parents of i at the bits of k, lowest-index parent = bit 0).
    pub cpts: Vec<Vec<f64>>,
}

/// One generated item: the JSONL record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneratedItem {
    /// `<variant>-<seed>-<index>`.
    pub id: String,
    /// The estimand.
    pub task: Task,
    /// The variant.
    pub variant: Variant,
    /// The structural class.
    pub class: Class,
    /// The prompt.
    pub problem: String,
    /// The gold answer string.
    pub answer: String,
    /// The readable worked solution, ending in the JSON answer.
    pub solution: String,
    /// The worked solution in the benchmark's `Reason` shape.
    #[serde(rename = "Reason")]
    pub reason: Reason,
    /// The model.
    pub scm: ScmRecord,
    /// X (node index).
    pub treatment: usize,
    /// Y (node index).
    pub outcome: usize,
    /// The question's treatment value (PN/PS: the observed one).
    pub x: u8,
    /// The question's outcome value (PN/PS: the observed one).
    pub y: u8,
    /// PN/PS bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<Bound>,
    /// CDE: mediators and the values they are held at.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditioned: Vec<Lit>,
    /// The adjustment set of the intended identification (empty for trivial items).
    pub adjustment: Vec<usize>,
    /// The structured problem (not serialised).
    #[serde(skip)]
    pub structured: Problem,
}

impl ScmRecord {
    /// The model of `problem` (names and words from its nodes) with the CPTs `cpts`.
    pub fn new(problem: &Problem, cpts: &[Vec<f64>]) -> ScmRecord {
        ScmRecord {
            nodes: problem
                .nodes
                .iter()
                .map(|nd| NodeRecord {
                    name: nd.name.clone(),
                    letter: nd.letter,
                    values: nd.values.clone().map(Option::unwrap_or_default),
                })
                .collect(),
            edges: problem.edges.clone(),
            cpts: cpts.to_vec(),
        }
    }
}

impl GeneratedItem {
    /// The item in the benchmark's JSON-array layout.
    pub fn benchmark_record(&self) -> BenchmarkRecord {
        BenchmarkRecord {
            problem: self.problem.clone(),
            answer: self.answer.clone(),
            task: self.task,
            reason: self.reason.clone(),
            id: self.id.clone(),
        }
    }
}
