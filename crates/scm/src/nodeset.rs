//! A set of at most [`MAX_NODES`] nodes as a 16-bit mask.
//!
//! Graph algorithms here work on masks because n ≤ 12: a union is one `|`, and the back-door search
//! tests hundreds of candidate sets per generated item.

use std::fmt;

use crate::{Error, MAX_NODES, Result};

/// The mask of every valid node index.
pub(crate) const ALL_NODES: u16 = (1 << MAX_NODES) - 1;

/// A set of node indices below [`MAX_NODES`], stored as a bit mask (bit i = node i).
///
/// Iteration is in increasing node order; `Debug`/`Display` print letters (`{A, C}`).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeSet(u16);

impl NodeSet {
    /// The empty set.
    pub const EMPTY: NodeSet = NodeSet(0);

    /// The set of the given nodes; duplicates are fine, indices ≥ [`MAX_NODES`] are an error.
    pub fn from_nodes(nodes: &[usize]) -> Result<NodeSet> {
        let mut bits = 0u16;
        for &node in nodes {
            if node >= MAX_NODES {
                return Err(Error::NodeOutOfRange { node, n: MAX_NODES });
            }
            bits |= 1 << node;
        }
        Ok(NodeSet(bits))
    }

    /// The set whose mask is `bits`; bits at or above [`MAX_NODES`] are an error.
    pub fn from_bits(bits: u16) -> Result<NodeSet> {
        if bits & !ALL_NODES != 0 {
            return Err(Error::InvalidMask { mask: bits, bits });
        }
        Ok(NodeSet(bits))
    }

    /// Nodes `0..n` (n clamped to [`MAX_NODES`]).
    pub fn first(n: usize) -> NodeSet {
        NodeSet(ALL_NODES >> (MAX_NODES - n.min(MAX_NODES)))
    }

    /// Wraps a mask already known to be inside [`ALL_NODES`].
    pub(crate) const fn raw(bits: u16) -> NodeSet {
        NodeSet(bits & ALL_NODES)
    }

    /// The bit mask.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether `node` is in the set (false for any index ≥ [`MAX_NODES`]).
    pub fn contains(self, node: usize) -> bool {
        node < MAX_NODES && self.0 & (1 << node) != 0
    }

    /// Number of nodes.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Union.
    pub const fn union(self, other: NodeSet) -> NodeSet {
        NodeSet(self.0 | other.0)
    }

    /// Intersection.
    pub const fn intersection(self, other: NodeSet) -> NodeSet {
        NodeSet(self.0 & other.0)
    }

    /// The nodes of `self` not in `other`.
    pub const fn minus(self, other: NodeSet) -> NodeSet {
        NodeSet(self.0 & !other.0)
    }

    /// Whether every node of `self` is in `other`.
    pub const fn is_subset(self, other: NodeSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The nodes in increasing order.
    pub fn iter(self) -> Nodes {
        Nodes(self.0)
    }

    /// The nodes in increasing order, collected.
    pub fn to_vec(self) -> Vec<usize> {
        self.iter().collect()
    }
}

/// Iterator over the nodes of a [`NodeSet`], lowest first.
#[derive(Debug, Clone)]
pub struct Nodes(u16);

impl Iterator for Nodes {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let node = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(node)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let len = self.0.count_ones() as usize;
        (len, Some(len))
    }
}

impl ExactSizeIterator for Nodes {}

impl IntoIterator for NodeSet {
    type Item = usize;
    type IntoIter = Nodes;

    fn into_iter(self) -> Nodes {
        self.iter()
    }
}

/// The letter the benchmark gives node `i` (`A` for 0); `?` beyond `Z`.
pub fn node_letter(i: usize) -> char {
    u8::try_from(i)
        .ok()
        .filter(|&b| b < 26)
        .map_or('?', |b| char::from(b'A' + b))
}

impl fmt::Display for NodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (k, node) in self.iter().enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", node_letter(node))?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for NodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations_match_hand_results() {
        let a = NodeSet::from_nodes(&[0, 2, 5, 2]).unwrap();
        assert_eq!(a.bits(), 0b100101);
        assert_eq!(a.len(), 3);
        assert_eq!(a.to_vec(), vec![0, 2, 5]);
        let b = NodeSet::from_nodes(&[2, 3]).unwrap();
        assert_eq!(a.union(b).to_vec(), vec![0, 2, 3, 5]);
        assert_eq!(a.intersection(b).to_vec(), vec![2]);
        assert_eq!(a.minus(b).to_vec(), vec![0, 5]);
        assert!(NodeSet::from_nodes(&[2]).unwrap().is_subset(a) && !b.is_subset(a));
        assert!(a.contains(5) && !a.contains(4) && !a.contains(99));
        assert_eq!(NodeSet::first(3).to_vec(), vec![0, 1, 2]);
        assert_eq!(NodeSet::first(40).len(), MAX_NODES);
        assert_eq!(a.to_string(), "{A, C, F}");
        assert_eq!(node_letter(11), 'L');
        assert_eq!(node_letter(26), '?');
    }

    #[test]
    fn rejects_nodes_beyond_the_limit() {
        assert_eq!(
            NodeSet::from_nodes(&[1, 12]),
            Err(Error::NodeOutOfRange { node: 12, n: 12 })
        );
        assert!(NodeSet::from_bits(1 << 12).is_err());
        assert_eq!(NodeSet::from_bits(0b101).unwrap().to_vec(), vec![0, 2]);
    }
}
