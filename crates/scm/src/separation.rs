//! d-separation and the back-door criterion, on bit masks.
//!
//! d-separation uses the reachability ("Bayes-ball") algorithm: a ball starts at the source
//! nodes and moves along edges following the blocking rules, which visits each (node, direction)
//! pair at most once — O(n) mask operations for n ≤ 12, with no allocation.

use crate::{Dag, Error, NodeSet, Result};

/// One back-door requirement: the effect of a joint intervention on `treatments` on `outcome`.
///
/// CauGym needs X→Y (ATE, ETT, PN, PS), do(X, M)→Y (CDE), and X→Y, X→M, do(X, M)→Y at once
/// (NDE, NIE); [`Dag::smallest_backdoor_sets`] takes a list of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackdoorQuery {
    treatments: NodeSet,
    outcome: usize,
}

impl BackdoorQuery {
    /// The query do(treatments) → outcome; needs at least one treatment, and the outcome must not
    /// be one of them.
    pub fn new(treatments: &[usize], outcome: usize) -> Result<BackdoorQuery> {
        BackdoorQuery::from_set(NodeSet::from_nodes(treatments)?, outcome)
    }

    /// As [`new`](Self::new), with the treatments as a set.
    pub fn from_set(treatments: NodeSet, outcome: usize) -> Result<BackdoorQuery> {
        if treatments.is_empty() {
            return Err(Error::NoTreatment);
        }
        if treatments.contains(outcome) {
            return Err(Error::TreatmentIsOutcome { node: outcome });
        }
        Ok(BackdoorQuery {
            treatments,
            outcome,
        })
    }

    /// The treatments.
    pub fn treatments(&self) -> NodeSet {
        self.treatments
    }

    /// The outcome.
    pub fn outcome(&self) -> usize {
        self.outcome
    }
}

impl Dag {
    /// Whether `zs` d-separates `xs` from `ys`.
    ///
    /// Nodes of `zs` are dropped from `xs` and `ys` first (a variable is independent of anything
    /// given itself); then a node in both `xs` and `ys` means "not separated", and an empty side
    /// means "separated". Nodes outside the graph are an error.
    pub fn d_separated(&self, xs: NodeSet, ys: NodeSet, zs: NodeSet) -> Result<bool> {
        for set in [xs, ys, zs] {
            self.check_set(set)?;
        }
        let (xs, ys) = (xs.minus(zs), ys.minus(zs));
        if !xs.intersection(ys).is_empty() {
            return Ok(false);
        }
        let reached = self.reachable(xs.bits(), zs.bits(), 0);
        Ok(reached & ys.bits() == 0)
    }

    /// Whether `z` satisfies the back-door criterion for the joint intervention do(treatments) on
    /// `outcome`.
    ///
    /// The criterion for a set of treatments T is Pearl's (Causality, 2nd ed., Def. 3.3.1 and
    /// Thm. 3.3.2, stated there for sets): no node of z is a descendant of any treatment, and z
    /// d-separates T from the outcome in the graph with every edge out of T removed. Then
    /// P(y | do(t)) = Σ_z P(y | t, z) P(z) (do-calculus rule 2 for P(y | do(t), z), rule 3 for
    /// P(z | do(t)) = P(z)). z may not contain a treatment or the outcome (false if it does). The
    /// criterion is sufficient, not complete, for adjustment with several treatments.
    pub fn is_backdoor_set(
        &self,
        treatments: &[usize],
        outcome: usize,
        z: &[usize],
    ) -> Result<bool> {
        self.is_backdoor_set_for(
            &BackdoorQuery::new(treatments, outcome)?,
            NodeSet::from_nodes(z)?,
        )
    }

    /// [`is_backdoor_set`](Self::is_backdoor_set) for a prepared query and a set.
    pub fn is_backdoor_set_for(&self, query: &BackdoorQuery, z: NodeSet) -> Result<bool> {
        self.check_query(query)?;
        self.check_set(z)?;
        let blocked = query
            .treatments
            .union(self.descendants_of_set(query.treatments));
        if z.contains(query.outcome) || !z.intersection(blocked).is_empty() {
            return Ok(false);
        }
        Ok(self.backdoor_blocks(query, z.bits()))
    }

    /// All minimum-size sets valid for every query at once (see [`is_backdoor_set`](Self::is_backdoor_set)),
    /// ordered lexicographically (all have the same size); empty when no set exists. With no
    /// queries the empty set is the one answer. Nodes of the queries themselves are never used.
    ///
    /// Candidates are the nodes that are neither a treatment, an outcome, nor a descendant of a
    /// treatment of any query; sets are tried by increasing size, so the common answers (∅ or one
    /// node) cost one to n reachability passes.
    pub fn smallest_backdoor_sets(&self, queries: &[BackdoorQuery]) -> Result<Vec<Vec<usize>>> {
        let mut forbidden = NodeSet::EMPTY;
        for q in queries {
            self.check_query(q)?;
            forbidden = forbidden
                .union(q.treatments)
                .union(self.descendants_of_set(q.treatments))
                .union(NodeSet::raw(1 << q.outcome));
        }
        let candidates = self.nodes().minus(forbidden).to_vec();
        if !queries
            .iter()
            .all(|q| self.any_backdoor_set_exists(q, &candidates))
        {
            return Ok(Vec::new());
        }
        let valid = |z: u16| queries.iter().all(|q| self.backdoor_blocks(q, z));
        for size in 0..=candidates.len() {
            let mut found = Vec::new();
            let mut combo: Vec<usize> = (0..size).collect();
            loop {
                let z = combo.iter().fold(0u16, |m, &k| m | (1 << candidates[k]));
                if valid(z) {
                    found.push(combo.iter().map(|&k| candidates[k]).collect());
                }
                if !next_combination(&mut combo, candidates.len()) {
                    break;
                }
            }
            if !found.is_empty() {
                return Ok(found);
            }
        }
        Ok(Vec::new())
    }

    /// Whether some subset of `candidates` blocks the query: by the ancestral-set lemma (if any
    /// Z ⊆ R separates X and Y, so does An(X ∪ Y) ∩ R; Tian, Paz & Pearl 1998), testing that one
    /// set decides it, which spares the full subset search when none exists.
    fn any_backdoor_set_exists(&self, q: &BackdoorQuery, candidates: &[usize]) -> bool {
        let cut = q.treatments.bits();
        let ends = cut | (1 << q.outcome);
        let allowed = candidates.iter().fold(0u16, |m, &c| m | (1 << c));
        self.backdoor_blocks(q, self.ancestral_closure(ends, cut) & allowed)
    }

    /// Whether `z` d-separates the treatments from the outcome once the treatments' outgoing
    /// edges are cut (the second back-door condition).
    fn backdoor_blocks(&self, q: &BackdoorQuery, z: u16) -> bool {
        let cut = q.treatments.bits();
        self.reachable(cut, z, cut) & (1 << q.outcome) == 0
    }

    fn check_query(&self, q: &BackdoorQuery) -> Result<()> {
        self.check_set(q.treatments)?;
        self.check_node(q.outcome)
    }

    /// Parents of `v` once the outgoing edges of the nodes in `cut` are removed.
    fn pa_cut(&self, v: usize, cut: u16) -> u16 {
        self.pa[v] & !cut
    }

    /// Children of `v` once the outgoing edges of the nodes in `cut` are removed.
    fn ch_cut(&self, v: usize, cut: u16) -> u16 {
        if cut & (1 << v) != 0 { 0 } else { self.ch[v] }
    }

    /// `set` together with all its ancestors, in the graph with `cut`'s outgoing edges removed.
    fn ancestral_closure(&self, set: u16, cut: u16) -> u16 {
        let (mut closure, mut todo) = (set, set);
        while todo != 0 {
            let v = todo.trailing_zeros() as usize;
            todo &= todo - 1;
            let new = self.pa_cut(v, cut) & !closure;
            closure |= new;
            todo |= new;
        }
        closure
    }

    /// The nodes (outside `zs`) connected to some node of `xs` by a path that is active given
    /// `zs`, in the graph with the outgoing edges of `cut` removed.
    ///
    /// Rules (Koller & Friedman, Alg. 3.1): a ball arriving from a child ("up") at an unobserved
    /// node goes on to its parents and children; a ball arriving from a parent ("down") goes on to
    /// the children if the node is unobserved, and bounces back to the parents if the node or a
    /// descendant is observed (an opened collider).
    fn reachable(&self, xs: u16, zs: u16, cut: u16) -> u16 {
        let opened = self.ancestral_closure(zs, cut);
        let (mut up, mut down) = (xs, 0u16);
        let (mut seen_up, mut seen_down) = (0u16, 0u16);
        loop {
            if up != 0 {
                let v = up.trailing_zeros() as usize;
                up &= up - 1;
                seen_up |= 1 << v;
                if zs & (1 << v) == 0 {
                    up |= self.pa_cut(v, cut) & !seen_up;
                    down |= self.ch_cut(v, cut) & !seen_down;
                }
            } else if down != 0 {
                let v = down.trailing_zeros() as usize;
                down &= down - 1;
                seen_down |= 1 << v;
                if zs & (1 << v) == 0 {
                    down |= self.ch_cut(v, cut) & !seen_down;
                }
                if opened & (1 << v) != 0 {
                    up |= self.pa_cut(v, cut) & !seen_up;
                }
            } else {
                break;
            }
        }
        (seen_up | seen_down) & !zs
    }
}

/// Advances `combo` (strictly increasing indices below `n`) to the next combination of the same
/// size in lexicographic order; false after the last one.
fn next_combination(combo: &mut [usize], n: usize) -> bool {
    let k = combo.len();
    let Some(i) = (0..k).rev().find(|&i| combo[i] < n - k + i) else {
        return false;
    };
    combo[i] += 1;
    for j in i + 1..k {
        combo[j] = combo[j - 1] + 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_in_lexicographic_order() {
        let mut combo = vec![0, 1];
        let mut all = vec![combo.clone()];
        while next_combination(&mut combo, 4) {
            all.push(combo.clone());
        }
        // C(4, 2) = 6.
        assert_eq!(
            all,
            vec![
                vec![0, 1],
                vec![0, 2],
                vec![0, 3],
                vec![1, 2],
                vec![1, 3],
                vec![2, 3]
            ]
        );
        assert!(!next_combination(&mut [], 3));
    }
}
