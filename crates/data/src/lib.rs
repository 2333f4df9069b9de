//! caugym-data: the CauGym benchmark's text format in both directions, the solver, dataset IO
//! and the generator.
//!
//! One structured representation, [`Problem`], serves every direction: the parser
//! ([`parse_problem`]) reads benchmark text into it, [`estimate()`] computes the answer from its
//! printed numbers, [`solution`] writes the worked solution, [`render()`] prints it back in either
//! benchmark style, and the generator builds it from a random SCM. Free paraphrases that no
//! template reads fall back to the order-based reader ([`order`]).

pub mod answer;
pub mod dataset;
mod error;
pub mod estimate;
pub mod generate;
mod graph;
pub mod names;
pub mod order;
pub mod parse;
pub mod pools;
pub mod problem;
pub mod render;
pub mod responses;
pub mod solution;
pub mod solve;
pub mod template;
pub mod wording;

pub use answer::{Answer, Convention, LACK_CONDITION, STRICT_TOL};
pub use dataset::{DatasetItem, Reason, read_items};
pub use error::{Error, Result};
pub use estimate::{Derivation, Estimate, estimate};
pub use generate::{GenConfig, GeneratedItem, Generator, Variant, generate};
pub use parse::{Parsed, parse_detailed, parse_problem};
pub use problem::{Bound, Format, Layout, Lit, Node, NodeId, Problem, Query, Statement, Wording};
pub use render::render;
pub use responses::{ResponseLine, read_responses, write_responses};
pub use solution::{reason, solution_text, worked_solution};
pub use solve::{Reading, SolveReport, Solved, solve_items, solve_parsed, solve_text};
