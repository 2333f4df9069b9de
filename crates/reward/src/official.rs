//! The CauGym benchmark's published scoring rule for one response (causal-tasks.md, "Scoring").
//!
//! 1. Remove all whitespace from the response.
//! 2. Find every object whose first key is `"ANSWER"` or `"PROB"` (case-sensitive), from its `{`
//!    up to the first `}` after it; matches do not overlap (the search resumes after the `}`).
//! 3. Lower-case the match, parse it as JSON and read `prob` as a number or a numeric string.
//! 4. The response is correct if ANY value read is within 0.0005 of the gold PROB.
//!
//! Gold `LACK_CONDITION`: correct iff `LACK_CONDITION` occurs anywhere in the whitespace-free
//! response (a superset of occurring in the raw text, since the literal holds no whitespace).
//!
//! Choices where the description is silent, each deliberate:
//! - "within 0.0005" is the strict `|pred - gold| < 0.0005`, the "|Δ| < 5e-4" the docs quote
//!   elsewhere; both sides are IEEE doubles, as in the Python original.
//! - "whitespace" is Unicode White_Space (`char::is_whitespace`).
//! - `prob` must be a JSON number or a string that parses as a decimal float; booleans, nulls and
//!   non-finite values (`"nan"`, `"inf"`, `1e309`) are never within tolerance, so they read as
//!   nothing. Python's `float("1_0")` digit separators are not accepted.
//! - The response's `ANSWER` is ignored, as the original ignores it.

use std::ops::Range;

use serde_json::Value;

use crate::target::Target;
use crate::values::{LACK_CONDITION, prob_of};

/// The benchmark's tolerance: a value is correct when `|pred - gold| < OFFICIAL_TOLERANCE`.
pub const OFFICIAL_TOLERANCE: f64 = 5e-4;

/// The prefixes the benchmark looks for, after whitespace removal.
const OPENERS: [&str; 2] = ["{\"ANSWER\":", "{\"PROB\":"];

/// One object the benchmark's scan matched.
#[derive(Debug, Clone, PartialEq)]
pub struct OfficialMatch {
    /// Byte range of the match in the original (not whitespace-stripped) response, from its `{`
    /// to just past its `}`.
    pub span: Range<usize>,
    /// The `prob` read from it, `None` when the match does not parse or has no finite `prob`.
    pub prob: Option<f64>,
}

/// Every object the benchmark's scan matches in `response`, in order.
///
/// ```
/// use caugym_reward::official_matches;
///
/// let m = official_matches("first {\"PROB\": \"0.1\"} then {\"ANSWER\":\"No\",\"PROB\":2e-1}");
/// assert_eq!(m.iter().map(|m| m.prob).collect::<Vec<_>>(), [Some(0.1), Some(0.2)]);
/// ```
pub fn official_matches(response: &str) -> Vec<OfficialMatch> {
    let (stripped, origin) = strip_whitespace(response);
    let mut out = Vec::new();
    let mut openers = Openers::new(&stripped);
    let mut pos = 0;
    while let Some(start) = openers.next_at_or_after(pos) {
        let Some(close) = stripped[start..].find('}').map(|i| start + i) else {
            break;
        };
        let text = &stripped[start..=close];
        // `origin` has one entry per stripped byte; `{` and `}` are one byte each.
        let span = origin[start]..origin[close] + 1;
        out.push(OfficialMatch {
            span,
            prob: read_prob(text),
        });
        pos = close + 1;
    }
    out
}

/// Whether `response` is correct for `target` under the benchmark's rule (module docs).
///
/// ```
/// use caugym_reward::{Target, official_correct};
///
/// let gold = Target::parse(r#"{"ANSWER": "Yes", "PROB": "0.3847"}"#, None).unwrap();
/// assert!(official_correct("{\"PROB\": \"0.38 5\"}", &gold)); // whitespace removed: 0.385
/// assert!(!official_correct("{\"PROB\": \"0.3852\"}", &gold)); // |Δ| = 0.0005 is not < 0.0005
/// assert!(official_correct("LACK_ CONDITION", &Target::LackCondition));
/// ```
pub fn official_correct(response: &str, target: &Target) -> bool {
    match target {
        Target::LackCondition => strip_whitespace(response).0.contains(LACK_CONDITION),
        Target::Prob { prob: gold, .. } => official_matches(response)
            .iter()
            .filter_map(|m| m.prob)
            .any(|p| (p - gold).abs() < OFFICIAL_TOLERANCE),
    }
}

/// Finds openers left to right, remembering the next occurrence of each so that the scan stays
/// linear even when one opener is frequent and the other absent.
struct Openers<'a> {
    text: &'a str,
    /// Per opener: its next occurrence (`None` once there is none left).
    next: [Option<usize>; 2],
}

impl<'a> Openers<'a> {
    fn new(text: &'a str) -> Self {
        Openers {
            text,
            next: OPENERS.map(|o| text.find(o)),
        }
    }

    /// The first opener starting at or after byte `from` (`from` never decreases between calls).
    fn next_at_or_after(&mut self, from: usize) -> Option<usize> {
        for (next, opener) in self.next.iter_mut().zip(OPENERS) {
            if next.is_some_and(|at| at < from) {
                *next = self.text[from..].find(opener).map(|i| from + i);
            }
        }
        self.next.iter().flatten().copied().min()
    }
}

/// Steps 3 of the rule on one matched object.
fn read_prob(object: &str) -> Option<f64> {
    let lowered = object.to_lowercase();
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&lowered) else {
        return None;
    };
    map.get("prob").and_then(prob_of)
}

/// The response without whitespace, and for each of its bytes the byte offset it came from.
fn strip_whitespace(s: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(s.len());
    let mut origin = Vec::with_capacity(s.len());
    for (i, c) in s.char_indices().filter(|(_, c)| !c.is_whitespace()) {
        out.push(c);
        origin.extend(i..i + c.len_utf8());
    }
    (out, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gold(p: &str) -> Target {
        Target::parse(&format!("{{\"PROB\": \"{p}\"}}"), None).unwrap()
    }

    #[test]
    fn spans_point_into_the_original_text() {
        let r = "xx { \"PROB\" : 0.5 } yy";
        let m = official_matches(r);
        assert_eq!(m.len(), 1);
        assert_eq!(&r[m[0].span.clone()], "{ \"PROB\" : 0.5 }");
        assert_eq!(m[0].prob, Some(0.5));
    }

    #[test]
    fn first_key_must_be_answer_or_prob_in_upper_case() {
        assert!(official_matches("{\"prob\": 0.5}").is_empty());
        assert!(official_matches("{\"X\": 1, \"PROB\": 0.5}").is_empty());
        assert!(!official_correct("{\"X\": 1, \"PROB\": 0.5}", &gold("0.5")));
    }

    #[test]
    fn match_ends_at_the_first_closing_brace() {
        // The nested object cuts the match short: `{"prob":0.5,"x":{"a":1}` is not JSON.
        let m = official_matches("{\"PROB\": 0.5, \"x\": {\"a\": 1}}");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].prob, None);
        // An unterminated opener swallows the next object up to its `}`.
        let m = official_matches("{\"PROB\": oops {\"PROB\": 0.5}");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].prob, None);
        // No closing brace at all: nothing.
        assert!(official_matches("{\"PROB\": 0.5").is_empty());
    }

    #[test]
    fn lower_casing_makes_value_case_irrelevant() {
        // `1E-3` lower-cases to `1e-3`; `"YES"` is ignored anyway.
        assert!(official_correct(
            "{\"ANSWER\": \"YES\", \"PROB\": \"1E-3\"}",
            &gold("0.001")
        ));
    }

    #[test]
    fn tolerance_is_strict() {
        // In doubles |0.2505 - 0.25| = |0.25 - 0.2495| = 0.0005000000000000004 (checked in Python),
        // so half a unit of the fourth decimal is wrong, as in the original.
        let g = gold("0.25");
        assert!(official_correct("{\"PROB\": 0.2504}", &g));
        assert!(!official_correct("{\"PROB\": 0.2505}", &g));
        assert!(official_correct("{\"PROB\": 0.2496}", &g));
        assert!(!official_correct("{\"PROB\": 0.2495}", &g));
    }
}
