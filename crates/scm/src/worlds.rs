//! Exact counterfactuals: several worlds of one functional SCM sharing all exogenous noise.
//!
//! The functional form is V_i = 1[U_i < p_i(pa_i)] with independent U_i ~ Uniform(0, 1), which
//! reproduces every CPT. A counterfactual query lives in K copies ("worlds") of the model that
//! share each U_i but carry their own interventions — the twin network of Balke & Pearl,
//! generalised to K worlds so nested counterfactuals like Y_{x, M_{x'}} are one query.
//!
//! Evaluation is a depth-first walk over the nodes in topological order. Given the parents in
//! every world, the K copies of node i compare the same U_i with at most K thresholds, so they
//! take at most K+1 joint values, each with probability equal to the length of a U_i interval.
//! Branches that contradict a conditioning event are cut, and the walk stops at the last node any
//! event mentions, so the result is exact and cheap for n ≤ 12 and small K.

use std::iter;

use crate::{Error, Event, MAX_NODES, Result, Scm};

/// The most worlds one query may use.
pub const MAX_WORLDS: usize = 8;

/// How a world sets one node instead of its structural equation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// do(V_i = value).
    Value(bool),
    /// V_i takes the value that node `node` has in world `world`: Y_{x, M_{x'}} sets M by copying
    /// M from the world where X = x'. The source must be computed first: `node` < i, or `node` = i
    /// in another world whose own node i is not a copy.
    Copy { world: usize, node: usize },
}

/// The interventions of one world; nodes without a setting follow their structural equation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct World {
    settings: [Option<Setting>; MAX_NODES],
}

impl World {
    /// The factual world: no interventions.
    pub fn factual() -> World {
        World::default()
    }

    /// A world with the given settings; a node set twice differently is an error.
    pub fn new(settings: &[(usize, Setting)]) -> Result<World> {
        let mut world = World::default();
        for &(node, setting) in settings {
            let slot = world
                .settings
                .get_mut(node)
                .ok_or(Error::NodeOutOfRange { node, n: MAX_NODES })?;
            if slot.is_some_and(|old| old != setting) {
                return Err(Error::ConflictingAssignment { node });
            }
            *slot = Some(setting);
        }
        Ok(world)
    }

    /// A world with do(V_i = v_i) for each pair.
    pub fn intervened(values: &[(usize, bool)]) -> Result<World> {
        let settings: Vec<_> = values
            .iter()
            .map(|&(node, v)| (node, Setting::Value(v)))
            .collect();
        World::new(&settings)
    }

    /// The setting of `node`, if any.
    pub fn setting(&self, node: usize) -> Option<Setting> {
        self.settings.get(node).copied().flatten()
    }
}

/// K worlds of one SCM, validated, ready for probability queries.
#[derive(Debug, Clone)]
pub struct Worlds<'a> {
    scm: &'a Scm,
    worlds: Vec<World>,
}

impl<'a> Worlds<'a> {
    /// Checks 1 ≤ K ≤ [`MAX_WORLDS`], that set nodes are in the model, and that every copy names
    /// an existing world and a source computed before it (see [`Setting::Copy`]).
    pub fn new(scm: &'a Scm, worlds: &[World]) -> Result<Worlds<'a>> {
        let k = worlds.len();
        if k == 0 || k > MAX_WORLDS {
            return Err(Error::WorldCount { k, max: MAX_WORLDS });
        }
        for (w, world) in worlds.iter().enumerate() {
            for (node, setting) in world.settings.iter().enumerate() {
                let Some(setting) = *setting else { continue };
                scm.dag().check_node(node)?;
                if let Setting::Copy {
                    world: source_world,
                    node: source,
                } = setting
                {
                    let src = worlds.get(source_world).ok_or(Error::WorldOutOfRange {
                        world: source_world,
                        k,
                    })?;
                    scm.dag().check_node(source)?;
                    let same_node_chain = source == node
                        && (source_world == w
                            || matches!(src.setting(node), Some(Setting::Copy { .. })));
                    if source > node || same_node_chain {
                        return Err(Error::CopyOrder {
                            world: w,
                            node,
                            source_world,
                            source_node: source,
                        });
                    }
                }
            }
        }
        Ok(Worlds {
            scm,
            worlds: worlds.to_vec(),
        })
    }

    /// Number of worlds.
    pub fn k(&self) -> usize {
        self.worlds.len()
    }

    /// P(∧_w events\[w\] holds in world w); `events` may be shorter than K (missing = no constraint).
    pub fn prob(&self, events: &[Event]) -> Result<f64> {
        let (_, both) = self.masses(events, &[])?;
        Ok(both)
    }

    /// P(∧_w events\[w\] | ∧_w given\[w\]), or `None` when the condition has probability 0.
    pub fn cond(&self, events: &[Event], given: &[Event]) -> Result<Option<f64>> {
        let (given_mass, both) = self.masses(events, given)?;
        Ok((given_mass > 0.0).then(|| both / given_mass))
    }

    /// (P(given), P(events ∧ given)) in one walk.
    fn masses(&self, events: &[Event], given: &[Event]) -> Result<(f64, f64)> {
        let target = self.per_world(events)?;
        let given = self.per_world(given)?;
        let end_of = |evs: &[Event; MAX_WORLDS]| {
            let mask = evs.iter().fold(0u16, |m, e| m | e.mask());
            (u16::BITS - mask.leading_zeros()) as usize
        };
        let walk = Walk {
            scm: self.scm,
            worlds: &self.worlds,
            target,
            given,
            given_end: end_of(&given),
            all_end: end_of(&given).max(end_of(&target)),
        };
        let mut acc = (0.0, 0.0);
        walk.visit(0, [0; MAX_WORLDS], 1.0, true, &mut acc);
        Ok(acc)
    }

    fn per_world(&self, events: &[Event]) -> Result<[Event; MAX_WORLDS]> {
        if events.len() > self.k() {
            return Err(Error::WorldOutOfRange {
                world: events.len() - 1,
                k: self.k(),
            });
        }
        let mut out = [Event::ANY; MAX_WORLDS];
        for (slot, &event) in out.iter_mut().zip(events) {
            self.scm.dag().check_set(event.nodes())?;
            *slot = event;
        }
        Ok(out)
    }
}

/// The state of one depth-first evaluation.
struct Walk<'s> {
    scm: &'s Scm,
    worlds: &'s [World],
    target: [Event; MAX_WORLDS],
    given: [Event; MAX_WORLDS],
    /// One past the last node any conditioning event mentions.
    given_end: usize,
    /// One past the last node any event mentions.
    all_end: usize,
}

impl Walk<'_> {
    /// Assigns node `i` in every world, branching over the intervals of U_i; `acc` collects
    /// (P(given), P(target ∧ given)).
    fn visit(
        &self,
        i: usize,
        states: [u16; MAX_WORLDS],
        mass: f64,
        target_ok: bool,
        acc: &mut (f64, f64),
    ) {
        let end = if target_ok {
            self.all_end
        } else {
            self.given_end
        };
        if i >= end {
            acc.0 += mass;
            if target_ok {
                acc.1 += mass;
            }
            return;
        }
        let k = self.worlds.len();
        let mut own = [0.0; MAX_WORLDS];
        let mut cuts = [0.0; MAX_WORLDS];
        let mut r = 0;
        for w in 0..k {
            if self.worlds[w].settings[i].is_none() {
                own[w] = self.scm.p_one(i, states[w]);
                cuts[r] = own[w];
                r += 1;
            }
        }
        cuts[..r].sort_unstable_by(f64::total_cmp);
        let bit = 1u16 << i;
        let mut lower = 0.0;
        for upper in cuts[..r].iter().copied().chain(iter::once(1.0)) {
            let width = upper - lower;
            if width <= 0.0 {
                continue;
            }
            lower = upper;
            // U_i in [lower, upper): a free world is 1 iff its threshold is at least `upper`.
            let next = self.assign(i, &states, |w| own[w] >= upper);
            let Some(ok) = self.check(bit, &next, target_ok) else {
                continue;
            };
            self.visit(i + 1, next, mass * width, ok, acc);
        }
    }

    /// The states after setting node i in every world; `free_value(w)` is the structural value.
    fn assign(
        &self,
        i: usize,
        states: &[u16; MAX_WORLDS],
        free_value: impl Fn(usize) -> bool,
    ) -> [u16; MAX_WORLDS] {
        let bit = 1u16 << i;
        let mut next = *states;
        let value_in =
            |states: &[u16; MAX_WORLDS], w: usize, node: usize| states[w] >> node & 1 == 1;
        // Copies of node i itself read their source after the first pass has set it.
        for pass in 0..2 {
            for (w, world) in self.worlds.iter().enumerate() {
                let value = match (world.settings[i], pass) {
                    (None, 0) => free_value(w),
                    (Some(Setting::Value(v)), 0) => v,
                    (Some(Setting::Copy { world: src, node }), 0) if node < i => {
                        value_in(states, src, node)
                    }
                    (Some(Setting::Copy { world: src, node }), 1) if node == i => {
                        value_in(&next, src, node)
                    }
                    _ => continue,
                };
                next[w] = if value { next[w] | bit } else { next[w] & !bit };
            }
        }
        next
    }

    /// `None` when node `bit` contradicts a conditioning event in some world, else whether the
    /// target events still hold.
    fn check(&self, bit: u16, next: &[u16; MAX_WORLDS], target_ok: bool) -> Option<bool> {
        let mut ok = target_ok;
        for (w, &state) in next.iter().enumerate().take(self.worlds.len()) {
            let g = self.given[w];
            if g.mask() & bit != 0 && (state ^ g.bits()) & bit != 0 {
                return None;
            }
            let t = self.target[w];
            if t.mask() & bit != 0 && (state ^ t.bits()) & bit != 0 {
                ok = false;
            }
        }
        Some(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dag;

    /// A → B with P(A=1) = 0.3, P(B=1|A=0) = 0.2, P(B=1|A=1) = 0.7.
    fn two_node() -> Scm {
        Scm::new(
            Dag::new(2, &[(0, 1)]).unwrap(),
            vec![vec![0.3], vec![0.2, 0.7]],
        )
        .unwrap()
    }

    #[test]
    fn twin_network_probabilities_by_hand() {
        let scm = two_node();
        let b = |v| Event::single(1, v).unwrap();
        let a = |v| Event::single(0, v).unwrap();
        let worlds = Worlds::new(
            &scm,
            &[
                World::intervened(&[(0, false)]).unwrap(),
                World::intervened(&[(0, true)]).unwrap(),
            ],
        )
        .unwrap();
        // B_0 = 1[U < 0.2], B_1 = 1[U < 0.7]: P(B_0 = 0, B_1 = 1) = P(0.2 ≤ U < 0.7) = 0.5.
        assert!((worlds.prob(&[b(false), b(true)]).unwrap() - 0.5).abs() < 1e-15);
        // B_0 = 1 forces B_1 = 1 (comonotone): P(B_0 = 1, B_1 = 0) = 0.
        assert_eq!(worlds.prob(&[b(true), b(false)]).unwrap(), 0.0);
        // Factual P(A=1, B=1) = 0.3 · 0.7 = 0.21.
        let factual = Worlds::new(&scm, &[World::factual()]).unwrap();
        assert!((factual.prob(&[a(true).and(b(true)).unwrap()]).unwrap() - 0.21).abs() < 1e-15);
        // P(B=1 | A=1) = 0.21 / 0.3 = 0.7.
        assert!((factual.cond(&[b(true)], &[a(true)]).unwrap().unwrap() - 0.7).abs() < 1e-15);
        // A world that copies B from world 0 at the same node takes B_0's value: P(B_copy = 1) = 0.2.
        let copy = World::new(&[
            (0, Setting::Value(true)),
            (1, Setting::Copy { world: 0, node: 1 }),
        ])
        .unwrap();
        let nested = Worlds::new(&scm, &[World::intervened(&[(0, false)]).unwrap(), copy]).unwrap();
        assert!((nested.prob(&[Event::ANY, b(true)]).unwrap() - 0.2).abs() < 1e-15);
    }

    #[test]
    fn invalid_worlds_are_rejected() {
        let scm = two_node();
        assert_eq!(
            Worlds::new(&scm, &[]).unwrap_err(),
            Error::WorldCount {
                k: 0,
                max: MAX_WORLDS
            }
        );
        assert!(Worlds::new(&scm, &[World::factual(); MAX_WORLDS + 1]).is_err());
        let later = World::new(&[(0, Setting::Copy { world: 0, node: 1 })]).unwrap();
        assert_eq!(
            Worlds::new(&scm, &[World::factual(), later]).unwrap_err(),
            Error::CopyOrder {
                world: 1,
                node: 0,
                source_world: 0,
                source_node: 1
            }
        );
        let selfcopy = World::new(&[(1, Setting::Copy { world: 0, node: 1 })]).unwrap();
        assert!(matches!(
            Worlds::new(&scm, &[selfcopy]),
            Err(Error::CopyOrder { .. })
        ));
        let chain = World::new(&[(1, Setting::Copy { world: 0, node: 1 })]).unwrap();
        let chain0 = World::new(&[(1, Setting::Copy { world: 1, node: 1 })]).unwrap();
        assert!(matches!(
            Worlds::new(&scm, &[chain0, chain]),
            Err(Error::CopyOrder { .. })
        ));
        let missing = World::new(&[(1, Setting::Copy { world: 5, node: 0 })]).unwrap();
        assert_eq!(
            Worlds::new(&scm, &[missing]).unwrap_err(),
            Error::WorldOutOfRange { world: 5, k: 1 }
        );
        let outside = World::intervened(&[(4, true)]).unwrap();
        assert_eq!(
            Worlds::new(&scm, &[outside]).unwrap_err(),
            Error::NodeOutOfRange { node: 4, n: 2 }
        );
        assert!(World::intervened(&[(12, true)]).is_err());
        assert_eq!(
            World::intervened(&[(1, true), (1, false)]).unwrap_err(),
            Error::ConflictingAssignment { node: 1 }
        );
        let ok = Worlds::new(&scm, &[World::factual()]).unwrap();
        assert!(matches!(
            ok.prob(&[Event::ANY, Event::ANY]),
            Err(Error::WorldOutOfRange { world: 1, k: 1 })
        ));
        assert!(ok.prob(&[Event::single(3, true).unwrap()]).is_err());
        assert_eq!(
            ok.cond(&[Event::ANY], &[Event::new(&[(0, true)]).unwrap()])
                .unwrap(),
            Some(1.0)
        );
    }
}
