//! Reading the two answer values, `PROB` and `ANSWER`, out of parsed JSON.
//!
//! Shared by the gold parser, the training extractor and the benchmark scorer so that all three
//! agree on what counts as a number and as a yes/no.

use serde_json::Value;

/// The answer key holding the estimate.
pub const PROB_KEY: &str = "PROB";
/// The answer key holding the yes/no verdict.
pub const ANSWER_KEY: &str = "ANSWER";
/// The literal a model writes when the problem lacks the data to answer it.
pub const LACK_CONDITION: &str = "LACK_CONDITION";

/// A `PROB` value: a JSON number, or a string holding a decimal number (surrounding whitespace
/// allowed, exponents allowed). Non-finite values (`"NaN"`, `"inf"`, `"1e309"`) are `None`:
/// they can never be within any tolerance of a gold, so they are not numbers for scoring.
pub(crate) fn prob_of(value: &Value) -> Option<f64> {
    let x = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

/// An `ANSWER` value: the string `yes` or `no` in any case, surrounding whitespace allowed.
/// JSON booleans are not accepted: the prompt asks for the words.
pub(crate) fn yes_no_of(value: &Value) -> Option<bool> {
    let Value::String(s) = value else {
        return None;
    };
    let s = s.trim();
    if s.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if s.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prob_accepts_numbers_and_numeric_strings_only() {
        assert_eq!(prob_of(&json!(0.25)), Some(0.25));
        assert_eq!(prob_of(&json!("-0.06")), Some(-0.06));
        assert_eq!(prob_of(&json!(" 1e-3 ")), Some(0.001));
        assert_eq!(prob_of(&json!(-1)), Some(-1.0));
        assert_eq!(prob_of(&json!("NaN")), None);
        assert_eq!(prob_of(&json!("-inf")), None);
        assert_eq!(prob_of(&json!("1e309")), None);
        assert_eq!(prob_of(&json!("0.3 8")), None);
        assert_eq!(prob_of(&json!(true)), None);
        assert_eq!(prob_of(&json!(null)), None);
    }

    #[test]
    fn yes_no_accepts_the_two_words_in_any_case() {
        assert_eq!(yes_no_of(&json!("Yes")), Some(true));
        assert_eq!(yes_no_of(&json!(" NO ")), Some(false));
        assert_eq!(yes_no_of(&json!("y")), None);
        assert_eq!(yes_no_of(&json!(true)), None);
    }
}
