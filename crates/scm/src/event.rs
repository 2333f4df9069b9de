//! Partial assignments of binary nodes: unordered events for probability queries, and ordered
//! assignments for printing a term the way the benchmark words it.

use std::fmt;

use crate::nodeset::{ALL_NODES, node_letter};
use crate::{Error, MAX_NODES, NodeSet, Result};

/// A conjunction `V_i = v_i` over some nodes: `mask` says which nodes, `bits` their values.
///
/// A full state of the model (all n nodes) is a `u16` with bit i = value of node i; the event holds
/// in a state when `state & mask == bits`. `Copy` and two words wide, so queries allocate nothing.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Event {
    mask: u16,
    bits: u16,
}

impl Event {
    /// The empty conjunction, true in every state.
    pub const ANY: Event = Event { mask: 0, bits: 0 };

    /// The event that every `(node, value)` holds. Repeating a pair is fine; giving a node both
    /// values is [`Error::ConflictingAssignment`], a node ≥ [`MAX_NODES`] is [`Error::NodeOutOfRange`].
    pub fn new(assignments: &[(usize, bool)]) -> Result<Event> {
        let mut event = Event::ANY;
        for &(node, value) in assignments {
            event = event
                .and(Event::single(node, value)?)
                .ok_or(Error::ConflictingAssignment { node })?;
        }
        Ok(event)
    }

    /// `V_node = value`.
    pub fn single(node: usize, value: bool) -> Result<Event> {
        if node >= MAX_NODES {
            return Err(Error::NodeOutOfRange { node, n: MAX_NODES });
        }
        Ok(Event::raw_single(node, value))
    }

    /// `V_node = value` for a node already checked to be in range.
    pub(crate) const fn raw_single(node: usize, value: bool) -> Event {
        let bit = 1u16 << node;
        Event {
            mask: bit,
            bits: if value { bit } else { 0 },
        }
    }

    /// The event with the given mask and values; `bits` must lie inside `mask`, and `mask` inside
    /// the first [`MAX_NODES`] bits.
    pub fn from_bits(mask: u16, bits: u16) -> Result<Event> {
        if mask & !ALL_NODES != 0 || bits & !mask != 0 {
            return Err(Error::InvalidMask { mask, bits });
        }
        Ok(Event { mask, bits })
    }

    /// The event that the nodes of `nodes` take the values of the matching bits of `state`.
    pub fn restrict(state: u16, nodes: NodeSet) -> Event {
        Event {
            mask: nodes.bits(),
            bits: state & nodes.bits(),
        }
    }

    /// Which nodes the event constrains.
    pub const fn mask(self) -> u16 {
        self.mask
    }

    /// The required values (a subset of [`mask`](Self::mask)).
    pub const fn bits(self) -> u16 {
        self.bits
    }

    /// The constrained nodes as a set.
    pub const fn nodes(self) -> NodeSet {
        NodeSet::raw(self.mask)
    }

    /// Whether the event constrains nothing.
    pub const fn is_empty(self) -> bool {
        self.mask == 0
    }

    /// The value the event requires of `node`, if any.
    pub fn value(self, node: usize) -> Option<bool> {
        (node < MAX_NODES && self.mask & (1 << node) != 0).then(|| self.bits & (1 << node) != 0)
    }

    /// The conjunction of both events, or `None` when they require different values of a node.
    pub const fn and(self, other: Event) -> Option<Event> {
        let common = self.mask & other.mask;
        if (self.bits ^ other.bits) & common != 0 {
            return None;
        }
        Some(Event {
            mask: self.mask | other.mask,
            bits: self.bits | other.bits,
        })
    }

    /// Whether the event holds in the full state `state`.
    pub const fn holds(self, state: u16) -> bool {
        state & self.mask == self.bits
    }

    /// The `(node, value)` pairs in increasing node order.
    pub fn iter(self) -> impl Iterator<Item = (usize, bool)> {
        self.nodes()
            .iter()
            .map(move |node| (node, self.bits & (1 << node) != 0))
    }
}

impl fmt::Display for Event {
    /// `A=1, C=0`; the empty event prints as `(any)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("(any)");
        }
        for (k, (node, value)) in self.iter().enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", node_letter(node), u8::from(value))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event({self})")
    }
}

/// An event that also remembers the order its nodes were named in.
///
/// The benchmark states conditions in a task-specific order (treatment, then mediators, then the
/// adjuster, …), so the terms of an [`Estimate`](crate::Estimate) carry this instead of a bare
/// [`Event`]. At most [`MAX_NODES`] distinct nodes; fixed size, no allocation.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Assignment {
    nodes: [u8; MAX_NODES],
    len: u8,
    event: Event,
}

impl Assignment {
    /// The pairs in the given order; a repeated pair is kept once, a conflicting one is an error.
    pub fn new(pairs: &[(usize, bool)]) -> Result<Assignment> {
        Assignment::from_parts(&[pairs])
    }

    /// The pairs of every part in order (e.g. treatment, then mediators, then the adjuster).
    pub fn from_parts(parts: &[&[(usize, bool)]]) -> Result<Assignment> {
        let mut out = Assignment::default();
        for &(node, value) in parts.iter().flat_map(|part| part.iter()) {
            let single = Event::single(node, value)?;
            let joined = out
                .event
                .and(single)
                .ok_or(Error::ConflictingAssignment { node })?;
            if joined != out.event {
                // A new node: `joined` grew by one bit, so there is room (≤ MAX_NODES distinct nodes).
                out.nodes[usize::from(out.len)] = node as u8;
                out.len += 1;
                out.event = joined;
            }
        }
        Ok(out)
    }

    /// The same pairs as an unordered event.
    pub const fn event(&self) -> Event {
        self.event
    }

    /// Number of pairs.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there are no pairs.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `(node, value)` pairs in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (usize, bool)> + '_ {
        self.nodes[..self.len()]
            .iter()
            .map(|&node| (usize::from(node), self.event.bits & (1 << node) != 0))
    }
}

impl fmt::Display for Assignment {
    /// `C=1, A=0` in the stored order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, (node, value)) in self.iter().enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", node_letter(node), u8::from(value))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Assignment({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_bits_and_conjunction() {
        // A=1, C=0: mask 0b101, bits 0b001.
        let e = Event::new(&[(0, true), (2, false), (0, true)]).unwrap();
        assert_eq!((e.mask(), e.bits()), (0b101, 0b001));
        assert_eq!(e.value(0), Some(true));
        assert_eq!(e.value(2), Some(false));
        assert_eq!(e.value(1), None);
        assert!(e.holds(0b011) && !e.holds(0b111) && !e.holds(0b010));
        assert_eq!(e.to_string(), "A=1, C=0");
        let f = Event::single(1, true).unwrap();
        assert_eq!(e.and(f).unwrap().to_string(), "A=1, B=1, C=0");
        assert_eq!(e.and(Event::single(2, true).unwrap()), None);
        assert_eq!(
            Event::restrict(0b1110, NodeSet::from_nodes(&[1, 3]).unwrap()).to_string(),
            "B=1, D=1"
        );
        assert_eq!(Event::ANY.to_string(), "(any)");
    }

    #[test]
    fn event_errors() {
        assert_eq!(
            Event::new(&[(3, true), (3, false)]),
            Err(Error::ConflictingAssignment { node: 3 })
        );
        assert_eq!(
            Event::single(12, true),
            Err(Error::NodeOutOfRange { node: 12, n: 12 })
        );
        assert!(Event::from_bits(0b01, 0b10).is_err());
        assert!(Event::from_bits(1 << 13, 0).is_err());
        assert_eq!(
            Event::from_bits(0b11, 0b10).unwrap().to_string(),
            "A=0, B=1"
        );
    }

    #[test]
    fn assignment_keeps_order() {
        let a = Assignment::from_parts(&[&[(4, true)], &[(0, false), (4, true)], &[(2, true)]])
            .unwrap();
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            vec![(4, true), (0, false), (2, true)]
        );
        assert_eq!(a.to_string(), "E=1, A=0, C=1");
        assert_eq!(
            a.event(),
            Event::new(&[(0, false), (2, true), (4, true)]).unwrap()
        );
        assert_eq!(a.len(), 3);
        assert_eq!(
            Assignment::new(&[(1, true), (1, false)]),
            Err(Error::ConflictingAssignment { node: 1 })
        );
    }
}
