//! Directed acyclic graphs over at most [`MAX_NODES`] nodes in topological letter order.

use rand::Rng;

use crate::{Error, MAX_NODES, NodeSet, Result};

/// A DAG whose nodes `0..n` are named `A, B, …` and whose edges all go from a lower to a higher
/// index, as in every CauGym problem (letters follow a topological order).
///
/// Parent, child, ancestor and descendant masks are computed once in [`Dag::new`], so relative
/// queries are O(1) and the back-door search can run on bit masks. Methods taking a single node
/// treat an index ≥ [`n`](Self::n) as a node outside the graph, with no relatives; methods taking
/// sets of nodes return [`Error::NodeOutOfRange`] instead, since a silently empty answer there
/// would read as "separated".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dag {
    n: usize,
    edges: Vec<(usize, usize)>,
    parents: Vec<Vec<usize>>,
    children: Vec<Vec<usize>>,
    pub(crate) pa: [u16; MAX_NODES],
    pub(crate) ch: [u16; MAX_NODES],
    an: [u16; MAX_NODES],
    de: [u16; MAX_NODES],
}

impl Dag {
    /// Builds the graph, rejecting `n = 0`, `n > 12`, out-of-range nodes, self loops, back edges
    /// (from a later to an earlier letter) and duplicate edges. Edge order does not matter.
    pub fn new(n: usize, edges: &[(usize, usize)]) -> Result<Dag> {
        if n == 0 || n > MAX_NODES {
            return Err(Error::NodeCount { n, max: MAX_NODES });
        }
        let mut pa = [0u16; MAX_NODES];
        for &(from, to) in edges {
            for node in [from, to] {
                if node >= n {
                    return Err(Error::NodeOutOfRange { node, n });
                }
            }
            if from == to {
                return Err(Error::SelfLoop { node: from });
            }
            if from > to {
                return Err(Error::BackEdge { from, to });
            }
            if pa[to] & (1 << from) != 0 {
                return Err(Error::DuplicateEdge { from, to });
            }
            pa[to] |= 1 << from;
        }
        Ok(Dag::from_parent_masks(n, pa))
    }

    /// Builds the graph from parent masks already known to be valid (each `pa[i]` inside `0..i`).
    pub(crate) fn from_parent_masks(n: usize, pa: [u16; MAX_NODES]) -> Dag {
        let mut ch = [0u16; MAX_NODES];
        let mut an = [0u16; MAX_NODES];
        let mut edges = Vec::new();
        for to in 0..n {
            for from in NodeSet::raw(pa[to]) {
                ch[from] |= 1 << to;
                an[to] |= an[from] | (1 << from);
                edges.push((from, to));
            }
        }
        edges.sort_unstable();
        let mut de = [0u16; MAX_NODES];
        for from in (0..n).rev() {
            for to in NodeSet::raw(ch[from]) {
                de[from] |= de[to] | (1 << to);
            }
        }
        let parents = (0..n).map(|i| NodeSet::raw(pa[i]).to_vec()).collect();
        let children = (0..n).map(|i| NodeSet::raw(ch[i]).to_vec()).collect();
        Dag {
            n,
            edges,
            parents,
            children,
            pa,
            ch,
            an,
            de,
        }
    }

    /// A random DAG: each of the n(n-1)/2 forward pairs is an edge with probability `edge_prob`.
    pub fn random<R: Rng + ?Sized>(rng: &mut R, n: usize, edge_prob: f64) -> Result<Dag> {
        if n == 0 || n > MAX_NODES {
            return Err(Error::NodeCount { n, max: MAX_NODES });
        }
        if !(0.0..=1.0).contains(&edge_prob) {
            return Err(Error::InvalidProbability {
                what: "edge_prob",
                value: edge_prob,
            });
        }
        let mut pa = [0u16; MAX_NODES];
        for (to, mask) in pa.iter_mut().enumerate().take(n) {
            for from in 0..to {
                if rng.random_bool(edge_prob) {
                    *mask |= 1 << from;
                }
            }
        }
        Ok(Dag::from_parent_masks(n, pa))
    }

    /// Number of nodes.
    pub fn n(&self) -> usize {
        self.n
    }

    /// All nodes as a set.
    pub fn nodes(&self) -> NodeSet {
        NodeSet::first(self.n)
    }

    /// The edges `(from, to)`, sorted.
    pub fn edges(&self) -> &[(usize, usize)] {
        &self.edges
    }

    /// Whether the edge `a → b` exists.
    pub fn has_edge(&self, a: usize, b: usize) -> bool {
        b < self.n && a < MAX_NODES && self.pa[b] & (1 << a) != 0
    }

    /// The parents of `i` in increasing order; this is also the bit order of `i`'s CPT index.
    pub fn parents(&self, i: usize) -> &[usize] {
        self.parents.get(i).map_or(&[], Vec::as_slice)
    }

    /// The children of `i` in increasing order.
    pub fn children(&self, i: usize) -> &[usize] {
        self.children.get(i).map_or(&[], Vec::as_slice)
    }

    /// The parents of `i` as a set.
    pub fn parent_set(&self, i: usize) -> NodeSet {
        NodeSet::raw(self.mask(&self.pa, i))
    }

    /// The strict ancestors of `i` (nodes with a directed path to `i`).
    pub fn ancestors(&self, i: usize) -> NodeSet {
        NodeSet::raw(self.mask(&self.an, i))
    }

    /// The strict descendants of `i` (nodes reachable from `i` by a directed path).
    pub fn descendants(&self, i: usize) -> NodeSet {
        NodeSet::raw(self.mask(&self.de, i))
    }

    /// The union of the strict descendants of every node of `set`.
    pub fn descendants_of_set(&self, set: NodeSet) -> NodeSet {
        set.iter()
            .fold(NodeSet::EMPTY, |acc, i| acc.union(self.descendants(i)))
    }

    /// Whether there is a directed path `a → … → b` (false for `a == b`).
    pub fn is_ancestor(&self, a: usize, b: usize) -> bool {
        self.ancestors(b).contains(a)
    }

    /// Every directed path from `x` to `y` as its node list (both ends included), in
    /// lexicographic order; empty when `x == y` or there is none.
    pub fn directed_paths(&self, x: usize, y: usize) -> Vec<Vec<usize>> {
        let mut paths = Vec::new();
        if self.is_ancestor(x, y) {
            // Only nodes on some x→y path can extend a partial path: de(x) ∩ (an(y) ∪ {y}).
            let allowed = self.descendants(x).bits() & (self.ancestors(y).bits() | (1 << y));
            let mut path = vec![x];
            self.extend_paths(&mut path, y, allowed, &mut paths);
        }
        paths
    }

    fn extend_paths(
        &self,
        path: &mut Vec<usize>,
        y: usize,
        allowed: u16,
        out: &mut Vec<Vec<usize>>,
    ) {
        let Some(&last) = path.last() else { return };
        if last == y {
            out.push(path.clone());
            return;
        }
        for next in NodeSet::raw(self.ch[last] & allowed) {
            path.push(next);
            self.extend_paths(path, y, allowed, out);
            path.pop();
        }
    }

    /// The nodes strictly inside some directed `x → … → y` path: de(x) ∩ an(y), increasing.
    pub fn mediators(&self, x: usize, y: usize) -> Vec<usize> {
        self.mediator_set(x, y).to_vec()
    }

    /// [`mediators`](Self::mediators) as a set.
    pub fn mediator_set(&self, x: usize, y: usize) -> NodeSet {
        self.descendants(x).intersection(self.ancestors(y))
    }

    /// Checks that every node of `set` is in the graph.
    pub(crate) fn check_set(&self, set: NodeSet) -> Result<()> {
        match set.minus(self.nodes()).iter().next() {
            Some(node) => Err(Error::NodeOutOfRange { node, n: self.n }),
            None => Ok(()),
        }
    }

    /// Checks that `node` is in the graph.
    pub(crate) fn check_node(&self, node: usize) -> Result<()> {
        if node < self.n {
            Ok(())
        } else {
            Err(Error::NodeOutOfRange { node, n: self.n })
        }
    }

    fn mask(&self, masks: &[u16; MAX_NODES], i: usize) -> u16 {
        if i < self.n { masks[i] } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A→B, A→C, B→C, C→D.
    fn diamond() -> Dag {
        Dag::new(4, &[(1, 2), (0, 1), (0, 2), (2, 3)]).unwrap()
    }

    #[test]
    fn relatives_of_a_small_graph() {
        let g = diamond();
        assert_eq!(g.edges(), &[(0, 1), (0, 2), (1, 2), (2, 3)]);
        assert_eq!(g.parents(2), &[0, 1]);
        assert_eq!(g.children(0), &[1, 2]);
        assert_eq!(g.ancestors(3).to_vec(), vec![0, 1, 2]);
        assert_eq!(g.descendants(1).to_vec(), vec![2, 3]);
        assert!(g.is_ancestor(0, 3) && !g.is_ancestor(3, 0) && !g.is_ancestor(2, 2));
        assert!(g.has_edge(1, 2) && !g.has_edge(2, 1) && !g.has_edge(0, 3));
        // Paths A→D: A→B→C→D and A→C→D.
        assert_eq!(
            g.directed_paths(0, 3),
            vec![vec![0, 1, 2, 3], vec![0, 2, 3]]
        );
        assert!(g.directed_paths(3, 0).is_empty() && g.directed_paths(1, 1).is_empty());
        assert_eq!(g.mediators(0, 3), vec![1, 2]);
        assert_eq!(g.mediators(0, 2), vec![1]);
        assert!(g.mediators(1, 2).is_empty());
        // Out-of-range single nodes have no relatives.
        assert!(g.parents(9).is_empty() && g.ancestors(40).is_empty() && !g.has_edge(0, 40));
    }

    #[test]
    fn construction_errors() {
        assert_eq!(Dag::new(0, &[]), Err(Error::NodeCount { n: 0, max: 12 }));
        assert_eq!(Dag::new(13, &[]), Err(Error::NodeCount { n: 13, max: 12 }));
        assert_eq!(Dag::new(3, &[(1, 1)]), Err(Error::SelfLoop { node: 1 }));
        assert_eq!(
            Dag::new(3, &[(2, 0)]),
            Err(Error::BackEdge { from: 2, to: 0 })
        );
        assert_eq!(
            Dag::new(3, &[(0, 2), (0, 2)]),
            Err(Error::DuplicateEdge { from: 0, to: 2 })
        );
        assert_eq!(
            Dag::new(3, &[(0, 3)]),
            Err(Error::NodeOutOfRange { node: 3, n: 3 })
        );
        assert!(Dag::new(12, &[(0, 11)]).is_ok());
    }

    #[test]
    fn random_graph_respects_probability_extremes() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        assert!(Dag::random(&mut rng, 6, 0.0).unwrap().edges().is_empty());
        // n(n-1)/2 = 15 edges when every pair is drawn.
        assert_eq!(Dag::random(&mut rng, 6, 1.0).unwrap().edges().len(), 15);
        assert!(Dag::random(&mut rng, 6, 1.5).is_err());
        assert!(Dag::random(&mut rng, 13, 0.5).is_err());
        let g = Dag::random(&mut rng, 10, 0.3).unwrap();
        assert!(g.edges().iter().all(|&(a, b)| a < b));
    }
}
