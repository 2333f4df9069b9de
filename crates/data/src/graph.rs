//! Reachability on a parsed problem's printed edges.
//!
//! The solver only needs three structural facts — is X a cause of Y, is there an edge X→Y, which
//! nodes lie on directed X→…→Y paths — plus one example path for the worked solution. Parsed
//! graphs may be cyclic or disconnected when a text is odd, so this works on any edge list rather
//! than requiring a valid DAG. (Generation, which needs back-door sets and CPTs, uses
//! `caugym_scm`.)

use std::collections::VecDeque;

use crate::problem::NodeId;

/// Adjacency of a directed graph on `n` nodes.
#[derive(Debug, Clone)]
pub struct Reach {
    children: Vec<Vec<NodeId>>,
}

impl Reach {
    /// Builds the adjacency; edges naming a node `>= n` are ignored.
    pub fn new(n: usize, edges: &[(NodeId, NodeId)]) -> Reach {
        let mut children = vec![Vec::new(); n];
        for &(a, b) in edges {
            if a < n && b < n && !children[a].contains(&b) {
                children[a].push(b);
            }
        }
        Reach { children }
    }

    /// Whether the edge `a → b` is present.
    pub fn has_edge(&self, a: NodeId, b: NodeId) -> bool {
        self.children.get(a).is_some_and(|c| c.contains(&b))
    }

    /// Nodes reachable from `a` by a path of at least one edge.
    pub fn descendants(&self, a: NodeId) -> Vec<bool> {
        let mut seen = vec![false; self.children.len()];
        let mut stack: Vec<NodeId> = self.children.get(a).cloned().unwrap_or_default();
        while let Some(v) = stack.pop() {
            if !seen[v] {
                seen[v] = true;
                stack.extend(self.children[v].iter().copied());
            }
        }
        seen
    }

    /// Whether `a` is a (proper) ancestor of `b`.
    pub fn is_ancestor(&self, a: NodeId, b: NodeId) -> bool {
        self.descendants(a).get(b).copied().unwrap_or(false)
    }

    /// Nodes strictly inside some directed `x → … → y` path (de(x) ∩ an(y)), ascending.
    pub fn mediators(&self, x: NodeId, y: NodeId) -> Vec<NodeId> {
        let de_x = self.descendants(x);
        (0..self.children.len())
            .filter(|&v| v != x && v != y && de_x[v] && self.is_ancestor(v, y))
            .collect()
    }

    /// A topological order (Kahn's, smallest index first among ready nodes), or `None` when the
    /// graph has a cycle.
    pub fn topological_order(&self) -> Option<Vec<NodeId>> {
        let n = self.children.len();
        let mut indeg = vec![0usize; n];
        for c in self.children.iter().flatten() {
            indeg[*c] += 1;
        }
        let mut done = vec![false; n];
        let mut out = Vec::with_capacity(n);
        while let Some(v) = (0..n).find(|&v| !done[v] && indeg[v] == 0) {
            done[v] = true;
            out.push(v);
            for &c in &self.children[v] {
                indeg[c] -= 1;
            }
        }
        (out.len() == n).then_some(out)
    }

    /// A shortest directed path from `from` to `to` (both included), if any.
    pub fn shortest_path(&self, from: NodeId, to: NodeId) -> Option<Vec<NodeId>> {
        let n = self.children.len();
        if from >= n || to >= n {
            return None;
        }
        let mut prev = vec![usize::MAX; n];
        let mut queue = VecDeque::from([from]);
        prev[from] = from;
        while let Some(v) = queue.pop_front() {
            if v == to && v != from {
                break;
            }
            for &c in &self.children[v] {
                if prev[c] == usize::MAX {
                    prev[c] = v;
                    queue.push_back(c);
                }
            }
        }
        if prev[to] == usize::MAX || to == from {
            return None;
        }
        let mut path = vec![to];
        let mut v = to;
        while v != from {
            v = prev[v];
            path.push(v);
        }
        path.reverse();
        Some(path)
    }

    /// A directed path `x → m → … → y` through at least one intermediate node, if any.
    pub fn mediated_path(&self, x: NodeId, y: NodeId) -> Option<Vec<NodeId>> {
        let m = *self.mediators(x, y).first()?;
        let mut head = self.shortest_path(x, m)?;
        let tail = self.shortest_path(m, y)?;
        head.extend(tail.into_iter().skip(1));
        Some(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachability_on_a_small_graph() {
        // A→B, B→C, A→C, D→C, C→E
        let g = Reach::new(5, &[(0, 1), (1, 2), (0, 2), (3, 2), (2, 4)]);
        assert!(g.is_ancestor(0, 4) && !g.is_ancestor(4, 0) && !g.is_ancestor(3, 1));
        assert!(g.has_edge(0, 2) && !g.has_edge(2, 0));
        assert_eq!(g.mediators(0, 4), vec![1, 2]);
        assert_eq!(g.mediators(0, 2), vec![1]);
        assert_eq!(g.shortest_path(0, 4), Some(vec![0, 2, 4]));
        assert_eq!(g.mediated_path(0, 2), Some(vec![0, 1, 2]));
        assert_eq!(g.mediated_path(3, 2), None);
        assert_eq!(g.shortest_path(4, 0), None);
        assert_eq!(g.topological_order(), Some(vec![0, 1, 3, 2, 4]));
        assert_eq!(Reach::new(2, &[(0, 1), (1, 0)]).topological_order(), None);
    }
}
