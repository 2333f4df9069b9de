//! Sentence templates with `{slot}` placeholders, used in both directions: the renderer fills
//! them, the parser matches text against them.
//!
//! Matching backtracks over every way of splitting the text between the literal pieces and lets
//! the caller accept or reject each split, so a name that happens to contain a template word
//! (`student's performance on exams` in `... of {X} on {Y}.`) is still read correctly: the split
//! whose slots all resolve to known names wins.

/// A piece of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Literal text.
    Text(&'static str),
    /// A placeholder, by name.
    Slot(&'static str),
}

/// A compiled template such as `"{cause} has a direct effect on {effect}."`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: &'static str,
    parts: Vec<Part>,
}

/// One way a template matched: `(slot, captured text)` in template order.
pub type Captures<'t> = Vec<(&'static str, &'t str)>;

impl Template {
    /// Compiles `source`. Slots are `{name}`; two slots must be separated by literal text.
    pub fn new(source: &'static str) -> Template {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            if open > 0 {
                parts.push(Part::Text(&rest[..open]));
            }
            parts.push(Part::Slot(&rest[open + 1..open + close]));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest));
        }
        Template { source, parts }
    }

    /// The template text.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Whether the template starts with a slot (the renderer then capitalises the slot's text).
    pub fn starts_with_slot(&self) -> bool {
        matches!(self.parts.first(), Some(Part::Slot(_)))
    }

    /// Appends the filled template to `out`, `fill(out, slot)` writing each slot's text.
    pub fn fill_into(&self, out: &mut String, fill: &dyn Fn(&mut String, &str)) {
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Slot(s) => fill(out, s),
            }
        }
    }

    /// The first split of `text` into slot values that `accept` takes, or `None`. Slots capture
    /// non-empty text.
    pub fn captures<'t>(
        &self,
        text: &'t str,
        accept: &mut dyn FnMut(&Captures<'t>) -> bool,
    ) -> Option<Captures<'t>> {
        let mut caps = Vec::new();
        if self.walk(0, text, 0, &mut caps, accept) {
            Some(caps)
        } else {
            None
        }
    }

    /// Every split of `text` into slot values (at most `limit`).
    pub fn all_captures<'t>(&self, text: &'t str, limit: usize) -> Vec<Captures<'t>> {
        let mut all = Vec::new();
        self.captures(text, &mut |c| {
            all.push(c.clone());
            all.len() >= limit
        });
        all
    }

    fn walk<'t>(
        &self,
        k: usize,
        text: &'t str,
        pos: usize,
        caps: &mut Captures<'t>,
        accept: &mut dyn FnMut(&Captures<'t>) -> bool,
    ) -> bool {
        let Some(part) = self.parts.get(k) else {
            return pos == text.len() && accept(caps);
        };
        match *part {
            Part::Text(t) => {
                text[pos..].starts_with(t) && self.walk(k + 1, text, pos + t.len(), caps, accept)
            }
            Part::Slot(name) => match self.parts.get(k + 1) {
                None => {
                    if pos >= text.len() {
                        return false;
                    }
                    caps.push((name, &text[pos..]));
                    let ok = self.walk(k + 1, text, text.len(), caps, accept);
                    caps.pop();
                    ok
                }
                Some(Part::Text(next)) => {
                    let mut from = pos + 1;
                    while from <= text.len() {
                        let Some(off) = text.get(from..).and_then(|s| s.find(next)) else {
                            return false;
                        };
                        let j = from + off;
                        caps.push((name, &text[pos..j]));
                        if self.walk(k + 1, text, j, caps, accept) {
                            return true;
                        }
                        caps.pop();
                        from = j + 1;
                        while from < text.len() && !text.is_char_boundary(from) {
                            from += 1;
                        }
                    }
                    false
                }
                Some(Part::Slot(_)) => false,
            },
        }
    }
}

/// The value captured for `slot` (the first, if the slot repeats).
pub fn slot<'t>(caps: &Captures<'t>, slot: &str) -> Option<&'t str> {
    caps.iter().find(|(s, _)| *s == slot).map(|(_, v)| *v)
}

/// Every value captured for `slot`.
pub fn slots<'t>(caps: &Captures<'t>, slot: &str) -> Vec<&'t str> {
    caps.iter()
        .filter(|(s, _)| *s == slot)
        .map(|(_, v)| *v)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_matches_back() {
        let t = Template::new("Consider the {long} ({abbr}) of {X} on {Y}.");
        let mut text = String::new();
        t.fill_into(&mut text, &|out, s| {
            out.push_str(match s {
                "long" => "average treatment effect",
                "abbr" => "ATE",
                "X" => "student's performance on exams",
                _ => "final grade",
            })
        });
        assert_eq!(
            text,
            "Consider the average treatment effect (ATE) of student's performance on exams on final grade."
        );
        // The first split takes X = "student's performance"; reject it to get the right one.
        let caps = t
            .captures(&text, &mut |c| {
                slot(c, "X") != Some("student's performance")
            })
            .unwrap();
        assert_eq!(slot(&caps, "X"), Some("student's performance on exams"));
        assert_eq!(slot(&caps, "Y"), Some("final grade"));
        assert!(
            t.captures("Consider something else.", &mut |_| true)
                .is_none()
        );
    }

    #[test]
    fn repeated_slots_are_all_captured() {
        let t = Template::new("For those with {X} being {x}, if their {X} had been {x2}?");
        let caps = t
            .captures(
                "For those with a being low, if their a had been high?",
                &mut |_| true,
            )
            .unwrap();
        assert_eq!(slots(&caps, "X"), vec!["a", "a"]);
        assert_eq!(slot(&caps, "x2"), Some("high"));
        assert!(!t.starts_with_slot());
        assert!(Template::new("{cause} has a direct effect on {effect}.").starts_with_slot());
    }
}
