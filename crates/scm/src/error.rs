//! The crate's one error type.

use crate::{Event, Task};

/// Everything that can go wrong building or querying a structural causal model.
///
/// Variants carry the offending values so a caller (the task generator) can report or skip an item
/// without parsing a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A graph must have between 1 and [`MAX_NODES`](crate::MAX_NODES) nodes.
    #[error("a graph needs 1 to {max} nodes, got {n}")]
    NodeCount { n: usize, max: usize },
    /// A node index is not below the number of nodes it is used with.
    #[error("node {node} is out of range for {n} nodes")]
    NodeOutOfRange { node: usize, n: usize },
    /// An edge from a node to itself.
    #[error("self loop on node {node}")]
    SelfLoop { node: usize },
    /// An edge from a later to an earlier letter breaks the topological letter order.
    #[error("edge {from}->{to} goes against the topological letter order")]
    BackEdge { from: usize, to: usize },
    /// The same edge listed twice.
    #[error("edge {from}->{to} is listed twice")]
    DuplicateEdge { from: usize, to: usize },
    /// A parameter that must be a probability is not in [0, 1].
    #[error("{what} = {value} is not a probability in [0, 1]")]
    InvalidProbability { what: &'static str, value: f64 },
    /// A sampling range that is reversed or leaves [0, 1].
    #[error("sampling range [{lo}, {hi}] is reversed or leaves [0, 1]")]
    InvalidRange { lo: f64, hi: f64 },
    /// The number of CPTs differs from the number of nodes.
    #[error("expected {expected} CPTs (one per node), got {got}")]
    CptCount { expected: usize, got: usize },
    /// A CPT does not have one entry per parent configuration.
    #[error("CPT of node {node} needs {expected} entries (2^parents), got {got}")]
    CptLength {
        node: usize,
        expected: usize,
        got: usize,
    },
    /// A CPT entry is not a probability.
    #[error("CPT entry {entry} of node {node} is {value}, not a probability in [0, 1]")]
    CptValue {
        node: usize,
        entry: usize,
        value: f64,
    },
    /// One node is given both values in one assignment.
    #[error("node {node} is assigned both 0 and 1")]
    ConflictingAssignment { node: usize },
    /// A bit mask names nodes beyond [`MAX_NODES`](crate::MAX_NODES) or sets values outside its mask.
    #[error("bit mask {mask:#06x} with values {bits:#06x} is not a valid node set or event")]
    InvalidMask { mask: u16, bits: u16 },
    /// A back-door query without treatments.
    #[error("a back-door query needs at least one treatment")]
    NoTreatment,
    /// Treatment and outcome are the same node.
    #[error("node {node} is both treatment and outcome")]
    TreatmentIsOutcome { node: usize },
    /// No set satisfies the back-door criterion for every query the estimand needs.
    #[error("{task} of node {treatment} on node {outcome}: no back-door adjustment set exists")]
    NoAdjustmentSet {
        task: Task,
        treatment: usize,
        outcome: usize,
    },
    /// A caller-supplied adjustment set fails the back-door criterion the estimand needs.
    #[error("{set:?} is not a valid back-door adjustment set for {task}")]
    InvalidAdjustment { task: Task, set: Vec<usize> },
    /// CDE's mediator values must assign exactly the mediators of the X→Y paths.
    #[error("CDE needs values for exactly the mediators {expected:?}, got values for {got:?}")]
    MediatorValues {
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    /// A probability the estimand divides by (a conditioning event or a PN/PS denominator) is 0.
    #[error("the event {event} has probability 0 and cannot be conditioned on")]
    ZeroProbability { event: Event },
    /// A joint distribution used with a graph of a different size.
    #[error("a joint over {joint} nodes used with a graph of {dag} nodes")]
    JointSize { joint: usize, dag: usize },
    /// A counterfactual needs between 1 and [`MAX_WORLDS`](crate::MAX_WORLDS) worlds.
    #[error("a counterfactual needs 1 to {max} worlds, got {k}")]
    WorldCount { k: usize, max: usize },
    /// A world index at or beyond the number of worlds.
    #[error("world {world} does not exist ({k} worlds)")]
    WorldOutOfRange { world: usize, k: usize },
    /// A copy whose source is not computed before the copying node (a later node, itself, or a chain of copies).
    #[error(
        "world {world} copies node {node} from node {source_node} of world {source_world}, \
         which is not computed before it"
    )]
    CopyOrder {
        world: usize,
        node: usize,
        source_world: usize,
        source_node: usize,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
