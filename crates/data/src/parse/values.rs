//! Value words → bits, and node letters.
//!
//! Tagged text gives both directly. Untagged text (CaLM `base`) does not, and sometimes cannot:
//! but every estimand depends only on which value words are equal, so any consistent assignment
//! solves the item. Words of a known pair take their usual bit (`low` → 0) when that slot is
//! free; otherwise a word takes the free slot.

use crate::error::{Error, Result};
use crate::graph::Reach;
use crate::pools::usual_bit;
use crate::problem::NodeId;

/// Per-node value words and tag letters collected while parsing.
pub struct Values {
    words: Vec<[Option<String>; 2]>,
    letters: Vec<Option<char>>,
}

impl Values {
    /// No words yet for `n` nodes.
    pub fn new(n: usize) -> Self {
        Values {
            words: vec![[None, None]; n],
            letters: vec![None; n],
        }
    }

    /// The bit of `word` for `node` (`name` is for messages); `tag` fixes it when printed.
    pub fn bit(
        &mut self,
        node: NodeId,
        word: &str,
        tag: Option<(char, u8)>,
        name: &str,
    ) -> Result<u8> {
        let err = |reason: String| Error::parse("value word", reason, word);
        let slots = self
            .words
            .get_mut(node)
            .ok_or_else(|| err(format!("unknown node {node}")))?;
        if let Some((letter, bit)) = tag {
            match self.letters[node] {
                Some(l) if l != letter => {
                    return Err(err(format!("`{name}` is tagged both {l} and {letter}")));
                }
                _ => self.letters[node] = Some(letter),
            }
            match &slots[usize::from(bit)] {
                Some(w) if w != word => {
                    return Err(err(format!(
                        "`{name}`={bit} is written both `{w}` and `{word}`"
                    )));
                }
                Some(_) => {}
                None => slots[usize::from(bit)] = Some(word.to_string()),
            }
            return Ok(bit);
        }
        if let Some(b) = slots.iter().position(|w| w.as_deref() == Some(word)) {
            return Ok(b as u8);
        }
        let preferred = usual_bit(word).filter(|&b| slots[usize::from(b)].is_none());
        let free = preferred.or_else(|| slots.iter().position(Option::is_none).map(|b| b as u8));
        let Some(b) = free else {
            return Err(err(format!(
                "`{name}` already has the two value words `{}` and `{}`",
                slots[0].as_deref().unwrap_or(""),
                slots[1].as_deref().unwrap_or("")
            )));
        };
        slots[usize::from(b)] = Some(word.to_string());
        Ok(b)
    }

    /// Records that `word` is the complement of `bit` for `node` (ETT's `x'`, PN/PS's `x'`/`y'`).
    pub fn complement(&mut self, node: NodeId, word: &str, bit: u8, name: &str) -> Result<()> {
        let other = usize::from(1 - bit);
        let slots = &mut self.words[node];
        match &slots[other] {
            Some(w) if w == word => Ok(()),
            None if slots[usize::from(bit)].as_deref() != Some(word) => {
                slots[other] = Some(word.to_string());
                Ok(())
            }
            _ => Err(Error::parse(
                "question",
                format!("`{word}` is not the other value of `{name}`"),
                word,
            )),
        }
    }

    /// Letters: tags where printed; the other nodes take the free letters in a topological order
    /// of the printed graph (ties by first mention), so that letters follow the edges.
    pub fn letters(&self, edges: &[(NodeId, NodeId)]) -> Result<Vec<char>> {
        let n = self.letters.len();
        if n > 26 {
            return Err(Error::Invalid(format!("{n} variables (at most 26)")));
        }
        let mut used = [false; 26];
        for l in self.letters.iter().flatten() {
            let i = (*l as u8).wrapping_sub(b'A') as usize;
            if i >= 26 || std::mem::replace(&mut used[i], true) {
                return Err(Error::Invalid(format!("letter {l} used twice or invalid")));
            }
        }
        let mut free = (0..26u8)
            .filter(|&i| !used[usize::from(i)])
            .map(|i| char::from(b'A' + i));
        let mut out: Vec<Option<char>> = self.letters.clone();
        for v in topological_order(n, edges) {
            if out[v].is_none() {
                out[v] = free.next();
            }
        }
        out.into_iter()
            .map(|l| l.ok_or_else(|| Error::Invalid("ran out of letters".into())))
            .collect()
    }

    /// The value words, by node.
    pub fn into_words(self) -> Vec<[Option<String>; 2]> {
        self.words
    }
}

/// Kahn's order, smallest index first among the ready nodes; nodes on a cycle come last in index
/// order.
fn topological_order(n: usize, edges: &[(NodeId, NodeId)]) -> Vec<NodeId> {
    Reach::new(n, edges)
        .topological_order()
        .unwrap_or_else(|| (0..n).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_words_get_consistent_bits() {
        let mut v = Values::new(2);
        assert_eq!(v.bit(0, "high", None, "a").unwrap(), 1);
        assert_eq!(v.bit(0, "low", None, "a").unwrap(), 0);
        assert!(v.bit(0, "medium", None, "a").is_err());
        assert_eq!(v.bit(1, "many", None, "b").unwrap(), 0);
        assert_eq!(v.bit(1, "few", None, "b").unwrap(), 1);
        v.complement(1, "few", 0, "b").unwrap();
        assert!(v.complement(1, "many", 0, "b").is_err());
    }

    #[test]
    fn tags_fix_bits_and_letters() {
        let mut v = Values::new(3);
        assert_eq!(v.bit(1, "high", Some(('C', 0)), "b").unwrap(), 0);
        assert!(v.bit(1, "low", Some(('C', 0)), "b").is_err());
        assert!(v.bit(1, "low", Some(('D', 1)), "b").is_err());
        // node 1 is C; 0 → 2 → 1 in topological order: 0 gets A, 2 gets B.
        let letters = v.letters(&[(0, 2), (2, 1)]).unwrap();
        assert_eq!(letters, vec!['A', 'C', 'B']);
    }
}
