//! The CauGym generator: random SCM → [`Problem`] with printed 4-decimal numbers → text, gold
//! answer and worked solution.
//!
//! Ground truth is computed by the solver's own [`estimate`] from the *printed* numbers (so every
//! item is answerable exactly from its text, causal-tasks.md "Rule"); the tests check it against
//! `caugym_scm::identified` on the unrounded model. Items whose conditioning events or PN/PS
//! denominator fall below 0.05 are redrawn, as are PN/PS items whose answer would depend on
//! whether P(y|do(x')) is rounded before the division (CaLM rounds, CauGym does not), so the gold
//! is the same under either convention. Everything is drawn from one ChaCha8 stream seeded by
//! [`GenConfig::seed`]: same seed, same output.

mod record;
mod statements;
mod structure;

use std::fmt;
use std::str::FromStr;

use caugym_scm::{Joint, Scm, Task};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub use record::{GeneratedItem, NodeRecord, ScmRecord};
pub use structure::Class;

use crate::answer::{Convention, round4};
use crate::error::{Error, Result};
use crate::estimate::{Estimate, estimate};
use crate::pools::{NamePool, sample_names, sample_values};
use crate::problem::{Bound, Format, Layout, Lit, Node, Problem, Query, Statement, Wording};
use crate::render::render;
use crate::solution::worked_solution;
use statements::{MIN_EVENT, Needs, Spec, needed, random_spec, state};
use structure::Structure;

/// Which kind of items to generate (the benchmark's evaluation sets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Plain items with the structural mix of `base`.
    Base,
    /// Every item needs a non-empty (one-node) adjustment set.
    Deconfounding,
    /// Two true but irrelevant statements appended.
    Redundant,
    /// The last two needed statements dropped; the answer is `LACK_CONDITION`.
    Insufficient,
    /// No instruction line: the estimand must be recognised from the question.
    Omitted,
    /// Every sentence worded by a draw from the rephrasing bank.
    Rephrased,
}

impl Variant {
    /// All variants.
    pub const ALL: [Variant; 6] = [
        Variant::Base,
        Variant::Deconfounding,
        Variant::Redundant,
        Variant::Insufficient,
        Variant::Omitted,
        Variant::Rephrased,
    ];

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Base => "base",
            Variant::Deconfounding => "deconfounding",
            Variant::Redundant => "redundant",
            Variant::Insufficient => "insufficient",
            Variant::Omitted => "omitted",
            Variant::Rephrased => "rephrased",
        }
    }

    /// The cycle of structural classes the items of `task` run through: trivial, unadjusted and
    /// adjusted in equal parts (PN/PS, never trivial: two unadjusted to one adjusted; the
    /// insufficient variant has no trivial items, as a trivial item is answerable; deconfounding
    /// only adjusted ones).
    pub fn class_cycle(self, task: Task) -> &'static [Class] {
        use Class::{Adjusted, Trivial, Unadjusted};
        match (self, task) {
            (Variant::Deconfounding, _) => &[Adjusted],
            (Variant::Insufficient, _) => &[Unadjusted, Adjusted],
            (_, Task::Pn | Task::Ps) => &[Unadjusted, Unadjusted, Adjusted],
            _ => &[Trivial, Unadjusted, Adjusted],
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Variant {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Variant::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::Generate(format!(
                    "unknown variant `{s}` (expected one of base, deconfounding, redundant, insufficient, omitted, rephrased)"
                ))
            })
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// Tasks, cycled item by item.
    pub tasks: Vec<Task>,
    /// Number of items.
    pub count: usize,
    /// Nodes per graph, inclusive range within 2..=10.
    pub nodes: (usize, usize),
    /// The variant.
    pub variant: Variant,
    /// Seed of the whole stream.
    pub seed: u64,
    /// CaLM (untagged, spaced) or CauGym (tagged) layout.
    pub layout: Layout,
    /// Name pool.
    pub names: NamePool,
    /// Print the instruction line (the omitted variant never does).
    pub instruction: bool,
    /// Append `Let's think step by step.`.
    pub step_by_step: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            tasks: Task::ALL.to_vec(),
            count: 70,
            nodes: (2, 10),
            variant: Variant::Base,
            seed: 0,
            layout: Layout::CauGym,
            names: NamePool::Mixed,
            instruction: true,
            step_by_step: false,
        }
    }
}

/// Generates `config.count` items.
pub fn generate(config: &GenConfig) -> Result<Vec<GeneratedItem>> {
    let mut g = Generator::new(config.clone())?;
    (0..config.count).map(|i| g.item(i)).collect()
}

/// A seeded stream of items.
pub struct Generator {
    config: GenConfig,
    rng: ChaCha8Rng,
    structures: usize,
    models: usize,
}

/// The question's values for one item.
struct Values {
    x: u8,
    y: u8,
    bound: Option<Bound>,
    held: Vec<Lit>,
}

impl Generator {
    /// Checks the configuration and seeds the stream.
    pub fn new(config: GenConfig) -> Result<Self> {
        let (lo, hi) = config.nodes;
        if !(2 <= lo && lo <= hi && hi <= 10) {
            return Err(Error::Generate(format!(
                "nodes {lo}-{hi}: need 2 <= min <= max <= 10"
            )));
        }
        if config.tasks.is_empty() {
            return Err(Error::Generate("no tasks given".into()));
        }
        if config.variant == Variant::Deconfounding && hi < 3 {
            return Err(Error::Generate(
                "deconfounding needs graphs of at least 3 nodes".into(),
            ));
        }
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        Ok(Generator {
            config,
            rng,
            structures: 0,
            models: 0,
        })
    }

    /// The `index`-th item (call in order for the seeded stream): structures are drawn until one
    /// of the item's class appears, then models on it until every check passes.
    pub fn item(&mut self, index: usize) -> Result<GeneratedItem> {
        const STRUCTURES: usize = 200;
        const MODELS: usize = 4;
        let tasks = &self.config.tasks;
        let task = tasks[index % tasks.len()];
        let cycle = self.config.variant.class_cycle(task);
        let class = cycle[(index / tasks.len()) % cycle.len()];
        for _ in 0..STRUCTURES {
            let st = structure::choose(&mut self.rng, task, class, self.config.nodes)?;
            self.structures += 1;
            for _ in 0..MODELS {
                self.models += 1;
                if let Some(item) = self.attempt(index, task, class, &st)? {
                    return Ok(item);
                }
            }
        }
        Err(Error::Generate(format!(
            "item {index}: no acceptable {task} item of class {class:?} after {STRUCTURES} structures"
        )))
    }

    /// How many structures and models were drawn so far (rejection diagnostics).
    pub fn draws(&self) -> (usize, usize) {
        (self.structures, self.models)
    }

    /// The question's values: x and y at random (PN observes 1, 1 and PS 0, 0), a random bound,
    /// and CDE's mediators at random values.
    fn values(&mut self, task: Task, st: &Structure) -> Values {
        let rng = &mut self.rng;
        let (x, y) = match task {
            Task::Pn => (1, 1),
            Task::Ps => (0, 0),
            _ => (rng.random_range(0..=1u8), rng.random_range(0..=1u8)),
        };
        let bound = matches!(task, Task::Pn | Task::Ps).then(|| {
            if rng.random_bool(0.5) {
                Bound::Lower
            } else {
                Bound::Upper
            }
        });
        let held = if task == Task::Cde {
            st.mediators
                .iter()
                .map(|&m| Lit::new(m, rng.random_range(0..=1u8)))
                .collect()
        } else {
            Vec::new()
        };
        Values { x, y, bound, held }
    }

    /// Names, value words and print format of a structure's variables.
    fn dress(&mut self, st: &Structure, statements: Vec<Statement>, query: Query) -> Problem {
        let cfg = &self.config;
        let rng = &mut self.rng;
        let names = sample_names(rng, cfg.names, st.dag.n());
        let nodes: Vec<Node> = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                let [a, b] = sample_values(rng, 0.05);
                Node {
                    name,
                    values: [Some(a), Some(b)],
                    letter: caugym_scm::node_letter(i),
                }
            })
            .collect();
        let format = Format {
            layout: cfg.layout,
            tags: cfg.layout == Layout::CauGym,
            instruction: cfg.instruction && cfg.variant != Variant::Omitted,
            truncated_data: cfg.variant == Variant::Insufficient,
            step_by_step: cfg.step_by_step,
            wording: if cfg.variant == Variant::Rephrased {
                Wording::Rephrased { seed: rng.random() }
            } else {
                Wording::Canonical
            },
        };
        Problem {
            nodes,
            edges: st.dag.edges().to_vec(),
            statements,
            query,
            format,
        }
    }

    /// One model on `st`; `None` when a check rejects it.
    fn attempt(
        &mut self,
        index: usize,
        task: Task,
        class: Class,
        st: &Structure,
    ) -> Result<Option<GeneratedItem>> {
        let scm = Scm::random(&mut self.rng, st.dag.clone(), 0.05, 0.95)?;
        let joint = scm.joint();
        let v = self.values(task, st);
        let needs = Needs {
            task,
            x: Lit::new(st.treatment, v.x),
            y: Lit::new(st.outcome, v.y),
            z: st.adjustment.first().copied(),
            m: match task {
                Task::Nde | Task::Nie => st.mediators.first().copied(),
                _ => None,
            },
            held: &v.held,
            bound: v.bound,
        };
        let specs = if class == Class::Trivial {
            Vec::new()
        } else {
            needed(&needs)
        };
        let Some(stated) = state_needed(&joint, &specs, &needs) else {
            return Ok(None);
        };
        let query = Query {
            task,
            treatment: st.treatment,
            outcome: st.outcome,
            x: v.x,
            y: v.y,
            bound: v.bound,
            conditioned: v.held.clone(),
        };
        let mut problem = self.dress(st, stated, query);
        let full = estimate(&problem)?;
        if !acceptable(&full, class) {
            return Ok(None);
        }
        let Some(final_estimate) = self.apply_variant(&mut problem, full, &specs, &joint)? else {
            return Ok(None);
        };
        let answer = final_estimate.answer(task, Convention::CauGym);
        let text = render(&problem)?;
        let (reason, solution) = worked_solution(&problem, &final_estimate, &answer);
        let cfg = &self.config;
        Ok(Some(GeneratedItem {
            id: format!("{}-{}-{index}", cfg.variant, cfg.seed),
            task,
            variant: cfg.variant,
            class,
            answer: answer.to_gold_string(),
            solution,
            reason,
            problem: text,
            scm: ScmRecord::new(&problem, scm.cpts()),
            treatment: st.treatment,
            outcome: st.outcome,
            x: v.x,
            y: v.y,
            bound: v.bound,
            conditioned: v.held,
            adjustment: st.adjustment.clone(),
            structured: problem,
        }))
    }

    /// The redundant variant appends two true statements that must leave the answer unchanged;
    /// the insufficient variant drops the last two needed ones, which must leave the estimand
    /// unidentified. Returns the final estimate, `None` when the variant's check fails.
    fn apply_variant(
        &mut self,
        problem: &mut Problem,
        full: Estimate,
        specs: &[Spec],
        joint: &Joint,
    ) -> Result<Option<Estimate>> {
        let task = problem.query.task;
        match self.config.variant {
            Variant::Redundant => {
                let gold = full.answer(task, Convention::CauGym);
                let mut avoid: Vec<Spec> = specs.to_vec();
                for _ in 0..2 {
                    let Some(extra) = random_spec(&mut self.rng, problem.nodes.len(), &avoid)
                    else {
                        return Ok(None);
                    };
                    let Ok(s) = state(joint, &extra) else {
                        return Ok(None);
                    };
                    problem.statements.push(s);
                    avoid.push(extra);
                }
                let e = estimate(problem)?;
                Ok((e.answer(task, Convention::CauGym) == gold).then_some(e))
            }
            Variant::Insufficient => {
                let keep = problem.statements.len().saturating_sub(2);
                problem.statements.truncate(keep);
                let e = estimate(problem)?;
                Ok(matches!(e, Estimate::Lacking { .. }).then_some(e))
            }
            _ => Ok(Some(full)),
        }
    }
}

/// The printed statements of `specs`, or `None` when a conditioning event (or PN/PS's
/// denominator P(x, y)) is below [`MIN_EVENT`].
fn state_needed(joint: &Joint, specs: &[Spec], needs: &Needs) -> Option<Vec<Statement>> {
    let stated = specs
        .iter()
        .map(|s| state(joint, s))
        .collect::<Result<Vec<Statement>>>()
        .ok()?;
    let tiny_denominator = needs.bound.is_some()
        && stated
            .iter()
            .find(|s| s.event == [needs.x, needs.y])
            .is_none_or(|s| s.prob < MIN_EVENT);
    (!tiny_denominator).then_some(stated)
}

/// The solver reproduces the intended structure, and a PN/PS answer does not depend on whether
/// P(y|do(x')) is rounded before the division.
fn acceptable(e: &Estimate, class: Class) -> bool {
    match (e, class) {
        (Estimate::Trivial(_), Class::Trivial) => true,
        (Estimate::Identified(d), Class::Unadjusted) => d.adjustment.is_empty() && stable(d),
        (Estimate::Identified(d), Class::Adjusted) => d.adjustment.len() == 1 && stable(d),
        _ => false,
    }
}

fn stable(d: &crate::estimate::Derivation) -> bool {
    let vals = d.printed_term_values();
    round4(d.expr.eval(&vals, true)) == round4(d.expr.eval(&vals, false))
}
