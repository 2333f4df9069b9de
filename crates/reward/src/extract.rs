//! Finding a completion's final answer, apart from judging it.
//!
//! The rules are listed on [`extract`].

use std::ops::Range;

use serde_json::{Map, Value};

use crate::official::official_matches;
use crate::values::{ANSWER_KEY, LACK_CONDITION, PROB_KEY, prob_of, yes_no_of};

/// The tag closing a reasoning model's hidden reasoning.
pub const THINK_CLOSE: &str = "</think>";

/// Texts that show the model meant to write an answer key.
const KEY_MARKERS: [&str; 4] = ["\"PROB\"", "\"ANSWER\"", "'PROB'", "'ANSWER'"];

/// The state of one key of the final answer object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<T> {
    /// The key is absent.
    Missing,
    /// The key is present but its value is not usable (not a finite number, not yes/no).
    Invalid,
    /// The key holds this value.
    Value(T),
}

impl<T: Copy> Field<T> {
    /// The value, if the key holds a usable one.
    pub fn value(&self) -> Option<T> {
        match self {
            Field::Value(v) => Some(*v),
            Field::Missing | Field::Invalid => None,
        }
    }
}

/// A final answer object, read but not judged.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalAnswer {
    /// The `PROB` key.
    pub prob: Field<f64>,
    /// The `ANSWER` key (`true` for yes).
    pub yes_no: Field<bool>,
    /// Whether the benchmark's own scorer, run on the whole completion, reads this very object
    /// and gets the same `PROB` (see [`crate::official`]): false for, e.g., an object whose first
    /// key is neither `ANSWER` nor `PROB`, or whose values contain a `}`.
    pub official_readable: bool,
    /// Byte range of the object in the completion given to [`extract`].
    pub span: Range<usize>,
}

/// The final answer of a completion, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Extraction {
    /// A JSON answer object.
    Answer(FinalAnswer),
    /// The literal `LACK_CONDITION`.
    LackCondition,
    /// Nothing that looks like an answer.
    NoAnswer,
    /// Answer-like text that is not a readable JSON answer, or that follows the last readable one.
    Malformed,
}

/// The section of `text` where the final answer is looked for: after the last `</think>`, or all
/// of it when there is none.
///
/// ```
/// use caugym_reward::final_section;
///
/// assert_eq!(final_section("a</think>b</think> c"), " c");
/// assert_eq!(final_section("no tags"), "no tags");
/// ```
pub fn final_section(text: &str) -> &str {
    match text.rfind(THINK_CLOSE) {
        Some(i) => &text[i + THINK_CLOSE.len()..],
        None => text,
    }
}

/// Finds the final answer of a completion. Never panics; linear-time in practice.
///
/// Rules, in order:
/// 1. Only the text after the last `</think>` is read when there is one (the reasoning before it
///    may try several answers); otherwise the whole completion.
/// 2. In that section the final answer is whichever comes last: the literal `LACK_CONDITION`, or a
///    JSON object with a `PROB` or `ANSWER` key (keys case-sensitive, as the benchmark requires).
///    "Last" is by the position of the object's `{`, so in `{"result": {"PROB": 0.3}}` the inner
///    object is the answer. A `LACK_CONDITION` inside the answer object (`{"ANSWER":
///    "LACK_CONDITION"}`) counts as `LACK_CONDITION`.
/// 3. Objects are real JSON: code fences and whitespace around them do not matter, values may be
///    numbers or numeric strings, extra keys are allowed, and a value may hold nested objects.
///    Single-quoted pseudo-JSON (`{'PROB': 0.3}`) is rejected, because the benchmark's scorer
///    cannot read it either.
/// 4. When answer-like text (`"PROB"`, `"ANSWER"`, `'PROB'`, `'ANSWER'`) follows the chosen
///    answer, the model's last attempt did not parse: the extraction is [`Extraction::Malformed`],
///    not the earlier answer. With no answer found, a `{` followed by the word prob or answer (any
///    case) is `Malformed`, anything else [`Extraction::NoAnswer`].
/// 5. An answer object nests at most 32 brackets deep, its keys are written plainly (not as
///    `\u` escapes), and its numbers fit an f64 (`1e309` makes the object unreadable JSON).
///
/// ```
/// use caugym_reward::{Extraction, Field, extract};
///
/// let text = "<think>maybe {\"PROB\": 0.1}</think>\n```json\n{\"ANSWER\": \"Yes\", \"PROB\": \"0.3847\"}\n```";
/// let Extraction::Answer(answer) = extract(text) else { panic!("no answer") };
/// assert_eq!(answer.prob, Field::Value(0.3847));
/// assert_eq!(answer.yes_no, Field::Value(true));
/// assert!(answer.official_readable);
///
/// assert_eq!(extract("</think>LACK_CONDITION"), Extraction::LackCondition);
/// assert_eq!(extract("{\"PROB\": 0.1}</think>I am not sure."), Extraction::NoAnswer);
/// assert_eq!(extract("{'PROB': 0.1}"), Extraction::Malformed);
/// ```
pub fn extract(text: &str) -> Extraction {
    let section = final_section(text);
    let offset = text.len() - section.len();
    let object = last_answer_object(section);
    let lack = section.rfind(LACK_CONDITION);

    // The chosen answer and where it ends within `section`.
    let (chosen, end) = match (object, lack) {
        (Some((span, _)), Some(at)) if at >= span.start => (
            Extraction::LackCondition,
            span.end.max(at + LACK_CONDITION.len()),
        ),
        (None, Some(at)) => (Extraction::LackCondition, at + LACK_CONDITION.len()),
        (Some((span, map)), _) => {
            let end = span.end;
            let answer = read_answer(text, &map, span.start + offset..span.end + offset);
            (Extraction::Answer(answer), end)
        }
        (None, None) => {
            return if looks_like_answer(section) {
                Extraction::Malformed
            } else {
                Extraction::NoAnswer
            };
        }
    };
    let after = &section[end..];
    if KEY_MARKERS.iter().any(|m| after.contains(m)) {
        Extraction::Malformed
    } else {
        chosen
    }
}

/// The JSON object with a `PROB` or `ANSWER` key whose `{` comes last, with its byte span.
///
/// Tries each `{` from the end, skipping those after the last quoted key (an answer object holds
/// one) and those not followed by a key or `}`. A try first finds the balancing `}` with a cheap
/// byte scan nesting at most [`MAX_DEPTH`] deep, then parses only that span as JSON. The depth cap
/// keeps adversarial input linear: ~1 MB of `{"PROB":{"PROB":…` is read in milliseconds (a full
/// parse per `{` would be quadratic).
fn last_answer_object(section: &str) -> Option<(Range<usize>, Map<String, Value>)> {
    let last_key = section.rfind("\"PROB\"").max(section.rfind("\"ANSWER\""))?;
    section[..last_key]
        .rmatch_indices('{')
        .filter(|(start, _)| {
            let next = section[start + 1..].trim_start().chars().next();
            matches!(next, Some('"' | '}'))
        })
        .find_map(|(start, _)| {
            let rest = &section[start..];
            let end = balanced_end(rest.as_bytes())?;
            match serde_json::from_str::<Value>(&rest[..end]) {
                Ok(Value::Object(map))
                    if map.contains_key(PROB_KEY) || map.contains_key(ANSWER_KEY) =>
                {
                    Some((start..start + end, map))
                }
                _ => None,
            }
        })
}

/// Deepest bracket nesting an answer object may have (the answer object itself is depth 1).
const MAX_DEPTH: usize = 32;

/// Length of the bracketed value at the start of `bytes` (which begins with `{` or `[`), found by
/// matching brackets outside JSON strings; `None` when it is unbalanced, mismatched, or nests
/// deeper than [`MAX_DEPTH`]. Does not validate JSON: the caller parses the span.
fn balanced_end(bytes: &[u8]) -> Option<usize> {
    let mut stack = [0u8; MAX_DEPTH];
    let mut depth = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                *stack.get_mut(depth)? = if b == b'{' { b'}' } else { b']' };
                depth += 1;
            }
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if stack.get(depth) != Some(&b) {
                    return None;
                }
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Reads the keys of an answer object found at `span` of `text`.
fn read_answer(text: &str, map: &Map<String, Value>, span: Range<usize>) -> FinalAnswer {
    let prob = field(map.get(PROB_KEY), prob_of);
    let yes_no = field(map.get(ANSWER_KEY), yes_no_of);
    let official_readable = prob.value().is_some_and(|p| {
        official_matches(text)
            .iter()
            .any(|m| m.span == span && m.prob == Some(p))
    });
    FinalAnswer {
        prob,
        yes_no,
        official_readable,
        span,
    }
}

fn field<T>(value: Option<&Value>, read: impl Fn(&Value) -> Option<T>) -> Field<T> {
    match value {
        None => Field::Missing,
        Some(v) => read(v).map_or(Field::Invalid, Field::Value),
    }
}

/// A `{` followed somewhere by the word prob or answer, in any case.
fn looks_like_answer(section: &str) -> bool {
    section.find('{').is_some_and(|i| {
        let rest = section[i..].to_ascii_lowercase();
        rest.contains("prob") || rest.contains("answer")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_end_matches_brackets_outside_strings() {
        assert_eq!(balanced_end(b"{} tail"), Some(2));
        assert_eq!(
            balanced_end(br#"{"a": "}{", "b": [1, {"c": "\\\"}"}]} x"#),
            Some(37)
        );
        assert_eq!(balanced_end(b"{]"), None);
        assert_eq!(balanced_end(b"{[}]"), None);
        assert_eq!(balanced_end(br#"{"a": 1"#), None);
        let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(balanced_end(deep.as_bytes()), Some(2 * MAX_DEPTH));
        let deeper = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(balanced_end(deeper.as_bytes()), None);
    }
}
