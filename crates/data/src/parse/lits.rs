//! Lists of `<name> being <value>` items, with or without `(A=0)` tags.
//!
//! With tags, an item ends at its tag. Without tags the item boundaries (`, ` and ` and `) may
//! also occur inside names and values, so items are read by matching known names: an item starts
//! with a known name followed by ` being `, and its value runs to the next separator that is
//! followed by another known name (or to the end). If no known name fits (a name spelled
//! differently), the list is cut at ` being ` and at the last separator before each.

use std::sync::LazyLock;

use regex::Regex;

use crate::names::NameTable;

/// One item of a list, before names and words are resolved to nodes and bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLit {
    /// The name as written.
    pub name: String,
    /// The value word as written.
    pub word: String,
    /// The symbolic tag `(letter, bit)`, if printed.
    pub tag: Option<(char, u8)>,
}

/// A symbolic tag such as ` (A=0)`. (A constant pattern: `expect` cannot fire on data.)
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r" ?\(([A-Z])=([01])\)").expect("constant regex"));

const SEPARATORS: [&str; 3] = [", and ", ", ", " and "];
const BEING: &str = " being ";

/// Whether `text` carries `(A=0)` tags.
pub fn has_tags(text: &str) -> bool {
    TAG.is_match(text)
}

/// Reads a list; `None` when it is not a list of `<name> being <value>` items.
pub fn parse_lits(text: &str, names: &NameTable) -> Option<Vec<RawLit>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if has_tags(text) {
        tagged(text)
    } else {
        by_known_names(text, names).or_else(|| by_being(text))
    }
}

fn strip_separator(s: &str) -> &str {
    let s = s.trim_start();
    let s = s.strip_prefix(',').unwrap_or(s).trim_start();
    s.strip_prefix("and ").unwrap_or(s)
}

fn split_item(item: &str) -> Option<(String, String)> {
    let at = item.rfind(BEING)?;
    let name = item[..at].trim();
    let word = item[at + BEING.len()..].trim();
    (!name.is_empty() && !word.is_empty()).then(|| (name.to_string(), word.to_string()))
}

fn tagged(text: &str) -> Option<Vec<RawLit>> {
    let mut out = Vec::new();
    let mut start = 0;
    for cap in TAG.captures_iter(text) {
        let whole = cap.get(0)?;
        let item = strip_separator(&text[start..whole.start()]);
        let (name, word) = split_item(item)?;
        let letter = cap.get(1)?.as_str().chars().next()?;
        let bit = u8::from(cap.get(2)?.as_str() == "1");
        out.push(RawLit {
            name,
            word,
            tag: Some((letter, bit)),
        });
        start = whole.end();
    }
    text[start..].trim().is_empty().then_some(out)
}

/// Item boundaries from known names: backtracks over separator positions.
fn by_known_names(text: &str, names: &NameTable) -> Option<Vec<RawLit>> {
    let mut out = Vec::new();
    known_from(text, 0, names, &mut out).then_some(out)
}

fn known_from(text: &str, pos: usize, names: &NameTable, out: &mut Vec<RawLit>) -> bool {
    let rest = &text[pos..];
    let Some((_, len)) = names.longest_prefix(rest) else {
        return false;
    };
    if !rest[len..].starts_with(BEING) {
        return false;
    }
    let name = rest[..len].to_string();
    let value_start = pos + len + BEING.len();
    // Candidate ends of the value: each separator followed by a known name and " being ".
    let mut ends: Vec<(usize, usize)> = Vec::new();
    for sep in SEPARATORS {
        let mut from = value_start + 1;
        while let Some(off) = text.get(from..).and_then(|s| s.find(sep)) {
            let at = from + off;
            let next = at + sep.len();
            if names
                .longest_prefix(&text[next..])
                .is_some_and(|(_, l)| text[next + l..].starts_with(BEING))
            {
                ends.push((at, next));
            }
            from = at + 1;
        }
    }
    ends.sort();
    for (end, next) in ends {
        out.push(RawLit {
            name: name.clone(),
            word: text[value_start..end].trim().to_string(),
            tag: None,
        });
        if known_from(text, next, names, out) {
            return true;
        }
        out.pop();
    }
    let word = text[value_start..].trim();
    if word.is_empty() {
        return false;
    }
    out.push(RawLit {
        name,
        word: word.to_string(),
        tag: None,
    });
    true
}

/// Fallback: cut at each ` being `; the text between two cuts is `<value><sep><next name>`,
/// split at its last separator.
fn by_being(text: &str) -> Option<Vec<RawLit>> {
    let pieces: Vec<&str> = text.split(BEING).collect();
    if pieces.len() < 2 {
        return None;
    }
    let mut out = Vec::new();
    let mut name = pieces[0].trim().to_string();
    for (i, piece) in pieces.iter().enumerate().skip(1) {
        let (word, next) = if i + 1 == pieces.len() {
            (piece.trim(), "")
        } else {
            let cut = SEPARATORS
                .iter()
                .filter_map(|s| piece.rfind(s).map(|at| (at, s.len())))
                .max_by_key(|&(at, len)| (at, std::cmp::Reverse(len)))?;
            (piece[..cut.0].trim(), piece[cut.0 + cut.1..].trim())
        };
        if name.is_empty() || word.is_empty() {
            return None;
        }
        out.push(RawLit {
            name,
            word: word.to_string(),
            tag: None,
        });
        name = next.to_string();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(names: &[&str]) -> NameTable {
        let mut t = NameTable::new();
        for n in names {
            t.add(n, false);
        }
        t
    }

    fn pairs(v: &[RawLit]) -> Vec<(String, String)> {
        v.iter().map(|l| (l.name.clone(), l.word.clone())).collect()
    }

    #[test]
    fn tagged_lists_split_at_tags_even_when_mangled() {
        let t = table(&[]);
        let text = "spread of the forest fire being contained (F=1), weather conditions (e.g. wind and humidity) for starting a forest fire being dangerous conditions (A=0)";
        let lits = parse_lits(text, &t).unwrap();
        assert_eq!(lits.len(), 2);
        assert_eq!(lits[1].word, "dangerous conditions");
        assert_eq!(lits[1].tag, Some(('A', 0)));
        assert_eq!(
            lits[1].name,
            "weather conditions (e.g. wind and humidity) for starting a forest fire"
        );
        let joint = parse_lits("xhum being low (A=0) and kzjt being low (H=0)", &t).unwrap();
        assert_eq!(joint[1].tag, Some(('H', 0)));
    }

    #[test]
    fn untagged_lists_use_known_names() {
        let t = table(&[
            "feeling more alert and energized",
            "being more productive throughout the day",
            "stress level",
        ]);
        let text = "stress level being low, feeling more alert and energized being high and being more productive throughout the day being very low";
        let lits = parse_lits(text, &t).unwrap();
        assert_eq!(
            pairs(&lits),
            vec![
                ("stress level".into(), "low".into()),
                ("feeling more alert and energized".into(), "high".into()),
                (
                    "being more productive throughout the day".into(),
                    "very low".into()
                ),
            ]
        );
    }

    #[test]
    fn unknown_names_fall_back_to_cutting_at_being() {
        let t = table(&[]);
        let lits = parse_lits("aaa bb being low, ccc being high and dd being good", &t).unwrap();
        assert_eq!(
            pairs(&lits),
            vec![
                ("aaa bb".into(), "low".into()),
                ("ccc".into(), "high".into()),
                ("dd".into(), "good".into())
            ]
        );
        assert!(parse_lits("no list here", &t).is_none());
    }
}
