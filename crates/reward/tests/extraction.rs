//! Every extraction rule, on hand-written completions.

use caugym_reward::{Extraction, Field, FinalAnswer, extract, final_section};

fn answer(text: &str) -> FinalAnswer {
    match extract(text) {
        Extraction::Answer(a) => a,
        other => panic!("expected an answer in {text:?}, got {other:?}"),
    }
}

fn prob(text: &str) -> Option<f64> {
    answer(text).prob.value()
}

#[test]
fn only_the_text_after_the_last_think_close_counts() {
    let t = "<think>{\"PROB\": 0.1}</think>draft {\"PROB\": 0.2}</think>final {\"PROB\": 0.3}";
    assert_eq!(prob(t), Some(0.3));
    // An answer only inside the reasoning is no answer.
    assert_eq!(
        extract("<think>{\"PROB\": 0.1}</think>"),
        Extraction::NoAnswer
    );
    assert_eq!(
        extract("<think>LACK_CONDITION</think>So: 0.4"),
        Extraction::NoAnswer
    );
    // Without `</think>` the whole text is read.
    assert_eq!(prob("<think>unclosed {\"PROB\": 0.7}"), Some(0.7));
    assert_eq!(final_section("x</think>"), "");
}

#[test]
fn span_is_in_the_coordinates_of_the_whole_completion() {
    let t = "<think>a</think> ok {\"PROB\": 0.5} bye";
    let a = answer(t);
    assert_eq!(&t[a.span.clone()], "{\"PROB\": 0.5}");
}

#[test]
fn code_fences_and_whitespace_around_the_object_are_ignored() {
    let t = "</think>\n\n```json\n{\n  \"ANSWER\" :  \"No\",\n\t\"PROB\": \"-0.0612\"\n}\n```\n";
    let a = answer(t);
    assert_eq!(a.prob, Field::Value(-0.0612));
    assert_eq!(a.yes_no, Field::Value(false));
    assert!(a.official_readable);
}

#[test]
fn values_may_be_strings_or_numbers_with_exponents() {
    assert_eq!(prob("{\"PROB\": \"0.3847\"}"), Some(0.3847));
    assert_eq!(prob("{\"PROB\": 0.3847}"), Some(0.3847));
    assert_eq!(prob("{\"PROB\": \" 0.5 \"}"), Some(0.5));
    assert_eq!(prob("{\"PROB\": 1e-3}"), Some(0.001));
    assert_eq!(prob("{\"PROB\": \"2.5E-2\"}"), Some(0.025));
    assert_eq!(prob("{\"PROB\": 1}"), Some(1.0));
    assert_eq!(prob("{\"PROB\": \"1.0000\"}"), Some(1.0));
}

#[test]
fn negative_zero_reads_as_zero() {
    let p = prob("{\"PROB\": \"-0.0\"}").unwrap();
    assert_eq!(p, 0.0);
    assert!(p.is_sign_negative());
    assert_eq!(prob("{\"PROB\": -0}"), Some(0.0));
}

#[test]
fn unusable_values_are_invalid_not_missing() {
    for (text, want) in [
        ("{\"PROB\": \"0.3 8\"}", Field::Invalid),
        ("{\"PROB\": \"NaN\"}", Field::Invalid),
        ("{\"PROB\": \"inf\"}", Field::Invalid),
        ("{\"PROB\": \"1e309\"}", Field::Invalid),
        ("{\"PROB\": null}", Field::Invalid),
        ("{\"PROB\": [0.5]}", Field::Invalid),
        ("{\"ANSWER\": \"Yes\"}", Field::Missing),
    ] {
        assert_eq!(answer(text).prob, want, "{text}");
    }
    assert_eq!(
        answer("{\"ANSWER\": \"maybe\", \"PROB\": 0}").yes_no,
        Field::Invalid
    );
    assert_eq!(
        answer("{\"ANSWER\": true, \"PROB\": 0}").yes_no,
        Field::Invalid
    );
    assert_eq!(
        answer("{\"ANSWER\": \"YES\", \"PROB\": 0}").yes_no,
        Field::Value(true)
    );
    assert_eq!(answer("{\"PROB\": 0}").yes_no, Field::Missing);
}

#[test]
fn a_json_number_too_large_for_f64_makes_the_object_unreadable() {
    // serde_json refuses 1e309 as a number literal, so no object parses: answer-like text, malformed.
    assert_eq!(extract("{\"PROB\": 1e309}"), Extraction::Malformed);
}

#[test]
fn lack_condition_is_an_answer() {
    assert_eq!(
        extract("Not enough data. LACK_CONDITION"),
        Extraction::LackCondition
    );
    assert_eq!(
        extract("</think>\"LACK_CONDITION\""),
        Extraction::LackCondition
    );
    assert_eq!(
        extract("{\"ANSWER\": \"LACK_CONDITION\"}"),
        Extraction::LackCondition
    );
    // Inside the answer object, even when a key follows it.
    assert_eq!(
        extract("{\"PROB\": \"LACK_CONDITION\", \"ANSWER\": \"No\"}"),
        Extraction::LackCondition
    );
    // Case-sensitive, as the benchmark.
    assert_eq!(extract("lack_condition"), Extraction::NoAnswer);
}

#[test]
fn the_later_of_lack_condition_and_an_object_wins() {
    assert_eq!(prob("LACK_CONDITION? No: {\"PROB\": 0.2}"), Some(0.2));
    assert_eq!(
        extract("{\"PROB\": 0.2} Wait, the data is missing: LACK_CONDITION"),
        Extraction::LackCondition
    );
}

#[test]
fn several_objects_give_the_last() {
    let t = "{\"ANSWER\": \"Yes\", \"PROB\": 0.1} then {\"other\": 1} then {\"ANSWER\": \"No\", \"PROB\": 0.2} done {\"x\": 2}";
    let a = answer(t);
    assert_eq!(a.prob, Field::Value(0.2));
    assert_eq!(a.yes_no, Field::Value(false));
}

#[test]
fn nested_braces() {
    // The answer object nested in a wrapper is found.
    let a = answer("{\"result\": {\"ANSWER\": \"Yes\", \"PROB\": 0.4}}");
    assert_eq!(a.prob, Field::Value(0.4));
    assert!(a.official_readable);
    // An answer object holding a nested value is read, but the benchmark cannot read it
    // (its match stops at the inner `}`).
    let a = answer("{\"PROB\": 0.4, \"detail\": {\"z\": 1}}");
    assert_eq!(a.prob, Field::Value(0.4));
    assert!(!a.official_readable);
    // Braces inside strings do not confuse the JSON reader.
    assert_eq!(prob("{\"note\": \"a } and {\", \"PROB\": 0.6}"), Some(0.6));
    // LaTeX braces before the answer are skipped.
    assert_eq!(prob("$\\frac{1}{2}$ so {\"PROB\": 0.5}"), Some(0.5));
}

#[test]
fn keys_are_case_sensitive() {
    // `prob` is not an answer key, so there is no answer object; the text is answer-like.
    assert_eq!(extract("{\"prob\": 0.5}"), Extraction::Malformed);
    assert_eq!(
        extract("{\"Prob\": 0.5, \"Answer\": \"Yes\"}"),
        Extraction::Malformed
    );
}

#[test]
fn extra_keys_are_allowed_and_key_order_is_free() {
    let a = answer("{\"ANSWER\": \"No\", \"PROB\": 0.25, \"CONFIDENCE\": \"high\"}");
    assert_eq!(a.prob, Field::Value(0.25));
    assert!(a.official_readable);
    let a = answer("{\"PROB\": 0.25, \"ANSWER\": \"No\"}");
    assert!(a.official_readable);
    // A leading extra key: readable JSON, but not by the benchmark (first key must be ANSWER/PROB).
    let a = answer("{\"CONFIDENCE\": \"high\", \"PROB\": 0.25}");
    assert_eq!(a.prob, Field::Value(0.25));
    assert!(!a.official_readable);
}

#[test]
fn single_quotes_are_rejected() {
    // Python-dict style is not JSON, and the benchmark's scan needs `{"PROB":`.
    assert_eq!(
        extract("{'ANSWER': 'Yes', 'PROB': '0.3'}"),
        Extraction::Malformed
    );
    // A later single-quoted attempt overrides an earlier valid object.
    assert_eq!(
        extract("{\"PROB\": 0.3} or rather {'PROB': 0.4}"),
        Extraction::Malformed
    );
}

#[test]
fn a_broken_last_attempt_is_malformed_not_the_earlier_answer() {
    assert_eq!(
        extract("{\"PROB\": 0.3}\nFinal: {\"ANSWER\": \"Yes\", \"PROB\": 0.4,}"),
        Extraction::Malformed
    );
    assert_eq!(
        extract("{\"PROB\": 0.3}\nFinal: {\"PROB\": 0.4"),
        Extraction::Malformed
    );
    // Mentioning PROB without quotes after the answer is fine.
    assert_eq!(prob("{\"PROB\": 0.3} where PROB is the ATE."), Some(0.3));
}

#[test]
fn answer_like_text_without_an_object_is_malformed_else_no_answer() {
    assert_eq!(extract("{PROB: 0.3}"), Extraction::Malformed);
    assert_eq!(extract("{ \"answer\" = yes }"), Extraction::Malformed);
    assert_eq!(extract("The answer is 0.3."), Extraction::NoAnswer);
    assert_eq!(extract("{\"x\": 1}"), Extraction::NoAnswer);
    assert_eq!(extract(""), Extraction::NoAnswer);
}

#[test]
fn official_readability_follows_the_whole_completion() {
    // An unterminated `{"PROB":` earlier in the text swallows the final object in the benchmark's
    // scan, so the benchmark never reads it, even though it is fine on its own.
    let t = "<think>{\"PROB\": 0.1 hmm</think>{\"PROB\": 0.2}";
    let a = answer(t);
    assert_eq!(a.prob, Field::Value(0.2));
    assert!(!a.official_readable);
    // Whitespace inside a number: we reject the value; the benchmark would read 0.38.
    let a = answer("{\"PROB\": \"0. 38\"}");
    assert_eq!(a.prob, Field::Invalid);
    assert!(!a.official_readable);
}

#[test]
fn answer_objects_nest_at_most_32_deep() {
    let nested = |levels: usize| {
        format!(
            "{{\"PROB\": 0.5, \"x\": {}{}}}",
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    assert_eq!(prob(&nested(31)), Some(0.5));
    assert_eq!(extract(&nested(32)), Extraction::Malformed);
}
