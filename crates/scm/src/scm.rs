//! Binary structural causal models: a DAG and one conditional probability table per node.

use rand::Rng;

use crate::{Dag, Error, Event, Joint, MAX_NODES, Result};

/// A binary SCM in CPT form.
///
/// `cpts[i][k]` = P(V_i = 1 | pa(i) = k), where bit j of `k` is the value of the j-th parent of
/// `i` in increasing order ([`Dag::parents`]). The functional form used for counterfactuals is
/// V_i = 1\[U_i < cpts\[i\]\[k\]\] with independent U_i ~ Uniform(0, 1) (see [`Worlds`](crate::Worlds)),
/// which reproduces these CPTs.
#[derive(Debug, Clone, PartialEq)]
pub struct Scm {
    dag: Dag,
    cpts: Vec<Vec<f64>>,
}

impl Scm {
    /// Checks one CPT per node, `2^|pa(i)|` entries each, every entry in [0, 1] (NaN rejected).
    pub fn new(dag: Dag, cpts: Vec<Vec<f64>>) -> Result<Scm> {
        if cpts.len() != dag.n() {
            return Err(Error::CptCount {
                expected: dag.n(),
                got: cpts.len(),
            });
        }
        for (node, cpt) in cpts.iter().enumerate() {
            let expected = 1usize << dag.parents(node).len();
            if cpt.len() != expected {
                return Err(Error::CptLength {
                    node,
                    expected,
                    got: cpt.len(),
                });
            }
            if let Some((entry, &value)) = cpt
                .iter()
                .enumerate()
                .find(|(_, p)| !(0.0..=1.0).contains(*p))
            {
                return Err(Error::CptValue { node, entry, value });
            }
        }
        Ok(Scm { dag, cpts })
    }

    /// Draws every CPT entry uniformly from `[lo, hi]` (0 ≤ lo ≤ hi ≤ 1).
    pub fn random<R: Rng + ?Sized>(rng: &mut R, dag: Dag, lo: f64, hi: f64) -> Result<Scm> {
        if !(0.0 <= lo && lo <= hi && hi <= 1.0) {
            return Err(Error::InvalidRange { lo, hi });
        }
        let cpts = (0..dag.n())
            .map(|i| {
                (0..1usize << dag.parents(i).len())
                    .map(|_| rng.random_range(lo..=hi))
                    .collect()
            })
            .collect();
        Ok(Scm { dag, cpts })
    }

    /// The graph.
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// Number of nodes.
    pub fn n(&self) -> usize {
        self.dag.n()
    }

    /// All CPTs.
    pub fn cpts(&self) -> &[Vec<f64>] {
        &self.cpts
    }

    /// The CPT of node `i` (empty for a node outside the model).
    pub fn cpt(&self, i: usize) -> &[f64] {
        self.cpts.get(i).map_or(&[], Vec::as_slice)
    }

    /// The CPT index of node `i` in the full state `state` (bit j = value of the j-th parent).
    pub(crate) fn parent_index(&self, i: usize, state: u16) -> usize {
        self.dag
            .parents(i)
            .iter()
            .enumerate()
            .fold(0, |k, (j, &p)| k | (usize::from(state >> p & 1 == 1) << j))
    }

    /// P(V_i = 1) given the parents' values in the full state `state`.
    pub(crate) fn p_one(&self, i: usize, state: u16) -> f64 {
        self.cpts[i][self.parent_index(i, state)]
    }

    /// The exact joint distribution, by the chain rule over the topological order.
    ///
    /// Built by doubling: after node i the vector holds P(V_0..V_i) over 2^(i+1) states, each new
    /// state costing one multiplication, 2^n in all.
    pub fn joint(&self) -> Joint {
        let n = self.n();
        let mut p = vec![0.0; 1 << n];
        p[0] = 1.0;
        for (i, cpt) in self.cpts.iter().enumerate() {
            let parents = self.dag.parents(i);
            let (low, high) = p.split_at_mut(1 << i);
            for (s, (lo, hi)) in low.iter_mut().zip(high.iter_mut()).enumerate() {
                // `s < 2^i` holds exactly the values of nodes 0..i, which include every parent of i.
                let k = parents
                    .iter()
                    .enumerate()
                    .fold(0, |k, (j, &p)| k | ((s >> p & 1) << j));
                let q = cpt.get(k).copied().unwrap_or(0.0);
                *hi = *lo * q;
                *lo *= 1.0 - q;
            }
        }
        Joint::from_probs(n, p)
    }

    /// The model under do(V_i = v_i, …) by truncated factorisation.
    ///
    /// Incoming edges of the intervened nodes are cut (the mutilated graph G with arrows into the
    /// targets removed) and each target's CPT becomes the point mass `[v_i]`; every other CPT is
    /// unchanged, so the joint of the result is Π_{i not set} P(v_i | pa_i) · Π_{i set} 1\[v_i\].
    pub fn intervene(&self, interventions: &[(usize, bool)]) -> Result<Scm> {
        let event = Event::new(interventions)?;
        self.dag.check_set(event.nodes())?;
        let mut pa = [0u16; MAX_NODES];
        for (i, mask) in pa.iter_mut().enumerate().take(self.n()) {
            *mask = self.dag.parent_set(i).bits();
        }
        let mut cpts = self.cpts.clone();
        for (node, value) in event.iter() {
            pa[node] = 0;
            cpts[node] = vec![if value { 1.0 } else { 0.0 }];
        }
        Ok(Scm {
            dag: Dag::from_parent_masks(self.n(), pa),
            cpts,
        })
    }

    /// P(event | do(interventions), given); `None` when P(given | do(…)) = 0.
    pub fn prob_do(
        &self,
        event: Event,
        interventions: &[(usize, bool)],
        given: Event,
    ) -> Result<Option<f64>> {
        self.intervene(interventions)?.joint().cond(event, given)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors() {
        let dag = Dag::new(2, &[(0, 1)]).unwrap();
        assert_eq!(
            Scm::new(dag.clone(), vec![vec![0.5]]),
            Err(Error::CptCount {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            Scm::new(dag.clone(), vec![vec![0.5], vec![0.5]]),
            Err(Error::CptLength {
                node: 1,
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            Scm::new(dag.clone(), vec![vec![0.5], vec![0.5, 1.5]]),
            Err(Error::CptValue {
                node: 1,
                entry: 1,
                value: 1.5
            })
        );
        assert!(matches!(
            Scm::new(dag.clone(), vec![vec![f64::NAN], vec![0.5, 0.5]]),
            Err(Error::CptValue {
                node: 0,
                entry: 0,
                ..
            })
        ));
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
        assert_eq!(
            Scm::random(&mut rng, dag.clone(), 0.6, 0.4),
            Err(Error::InvalidRange { lo: 0.6, hi: 0.4 })
        );
        assert!(Scm::random(&mut rng, dag.clone(), -0.1, 0.4).is_err());
        let scm = Scm::random(&mut rng, dag, 0.25, 0.25).unwrap();
        assert_eq!(scm.cpts(), &[vec![0.25], vec![0.25, 0.25]]);
        assert_eq!(
            scm.intervene(&[(2, true)]),
            Err(Error::NodeOutOfRange { node: 2, n: 2 })
        );
        assert_eq!(
            scm.intervene(&[(1, true), (1, false)]),
            Err(Error::ConflictingAssignment { node: 1 })
        );
    }

    #[test]
    fn parent_index_uses_sorted_parent_bits() {
        // C has parents A (bit 0) and B (bit 1): state A=0, B=1 is index 2.
        let dag = Dag::new(3, &[(1, 2), (0, 2)]).unwrap();
        let scm = Scm::new(dag, vec![vec![0.5], vec![0.5], vec![0.1, 0.2, 0.3, 0.4]]).unwrap();
        assert_eq!(scm.parent_index(2, 0b010), 2);
        assert_eq!(scm.p_one(2, 0b011), 0.4);
        assert_eq!(scm.p_one(2, 0b001), 0.2);
    }
}
