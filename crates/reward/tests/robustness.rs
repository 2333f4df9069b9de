//! No input makes the extractor, the reward or the benchmark scorer panic, and every score stays
//! within the configured range.

use caugym_reward::{
    CausalReward, Extraction, RewardConfig, RewardError, RewardFn, Target, extract,
    official_correct,
};
use caugym_scm::Task;
use proptest::prelude::*;

fn reward() -> CausalReward {
    CausalReward::new(RewardConfig {
        format_weight: 0.3,
        accuracy_weight: 0.7,
        no_answer_penalty: 0.2,
        check_yes_no: true,
        ..RewardConfig::default()
    })
    .unwrap()
}

fn targets() -> Vec<Target> {
    vec![
        Target::parse(r#"{"ANSWER": "Yes", "PROB": "0.3847"}"#, Some(Task::Ate)).unwrap(),
        Target::parse(r#"{"PROB": "1.0000"}"#, Some(Task::Pn)).unwrap(),
        Target::parse(r#"{"ANSWER": "No", "PROB": "-0.0"}"#, None).unwrap(),
        Target::LackCondition,
    ]
}

/// Runs every entry point on `text` and checks the score range.
fn exercise(reward: &CausalReward, text: &str) -> Result<(), TestCaseError> {
    let (lo, hi) = reward.config().score_range();
    let _ = extract(text);
    for t in targets() {
        let out = reward.score(text, &t);
        prop_assert!(
            out.score >= lo && out.score <= hi,
            "{} not in [{lo}, {hi}]",
            out.score
        );
        prop_assert!(out.score.is_finite());
        let _ = official_correct(text, &t);
    }
    Ok(())
}

/// Fragments that stress the parsers when glued together at random.
const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "{{",
    "}}",
    "[",
    "]",
    "\"",
    "'",
    ":",
    ",",
    " ",
    "\n",
    "\t",
    "\u{a0}",
    "\u{3000}",
    "\"PROB\"",
    "\"ANSWER\"",
    "'PROB'",
    "PROB",
    "prob",
    "\"Yes\"",
    "\"No\"",
    "\"yes\"",
    "0.3847",
    "\"0.3847\"",
    "-0.0",
    "1e-3",
    "1E309",
    "1e309",
    "-1e-400",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "\"NaN\"",
    "\"inf\"",
    "\"-inf\"",
    "\"1e309\"",
    "\"\\ud800\"",
    "\"\\udc00\\ud800\"",
    "\\u0000",
    "\"\\",
    "\"unterminated",
    "</think>",
    "<think>",
    "LACK_CONDITION",
    "LACK_",
    "```json",
    "```",
    "{\"PROB\":",
    "{\"ANSWER\":",
    "é",
    "漢字",
    "🦀",
    "\u{200b}",
    "\u{feff}",
    "0",
    "-",
    "+",
    ".",
    "e",
    "E",
    "null",
    "true",
];

fn fragment_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..200).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_unicode_never_panics(text in any::<String>()) {
        exercise(&reward(), &text)?;
    }

    #[test]
    fn adversarial_fragments_never_panic(text in fragment_soup()) {
        exercise(&reward(), &text)?;
    }

    #[test]
    fn answers_wrapped_in_noise_are_still_found(
        prefix in fragment_soup(),
        prob in -1.0f64..1.0,
        suffix in "[a-z .,!]{0,40}",
    ) {
        // Whatever precedes `</think>`, a clean final answer is read back exactly.
        let text = format!("{prefix}</think>{{\"ANSWER\": \"Yes\", \"PROB\": {prob}}}{suffix}");
        let Extraction::Answer(a) = extract(&text) else {
            return Err(TestCaseError::fail(format!("no answer in {text:?}")));
        };
        prop_assert_eq!(a.prob.value(), Some(prob));
    }
}

/// About 1 MB of `unit`.
fn huge(unit: &str) -> String {
    unit.repeat((1 << 20) / unit.len().max(1))
}

#[test]
fn huge_adversarial_inputs_never_panic_and_stay_in_range() {
    let r = reward();
    let cases = [
        huge("{"),
        huge("}"),
        huge("{\"PROB\":"),
        huge("{\"ANSWER\":\"Yes\",\"PROB\":"),
        huge("[{\"a\":"),
        huge("\"PROB\""),
        huge("{\"PROB\": 0.3847}"),
        huge("</think>"),
        huge("漢🦀é "),
        huge("LACK_CONDITION"),
        format!("{{\"PROB\": \"{}\"}}", huge("9")),
        format!("{{\"PROB\": 0.{}}}", huge("3")),
        format!("{{\"PROB\": \"{}", huge("x")),
        format!("{}{{\"PROB\": 0.3847}}", huge("{\"a\":[")),
    ];
    for text in &cases {
        exercise(&r, text).unwrap();
    }
}

#[test]
fn huge_input_with_a_final_answer_is_read() {
    let text = format!(
        "{}</think>{{\"ANSWER\": \"Yes\", \"PROB\": 0.3847}}",
        huge("{\"PROB\":")
    );
    let out = reward().score(&text, &targets()[0]);
    // The final answer is found, but the benchmark's scan opens at the first `{"PROB":` and runs
    // to the answer's `}`, so it cannot read it: under the default config that is not well-formed.
    assert_eq!(out.parsed, Some(0.3847));
    assert_eq!(out.error, Some(RewardError::OfficialUnreadable));
    let lenient = CausalReward::new(RewardConfig {
        require_official_format: false,
        ..RewardConfig::default()
    })
    .unwrap();
    assert!(lenient.score(&text, &targets()[0]).is_correct());
}

/// Guards against quadratic extraction: a full JSON parse from every `{` took ~420 s on 1 MB of
/// `{"PROB":` (serde's value skipper has no depth limit) and ~5 s with a depth-limited parse; the
/// bracket scan takes ~0.2 s. The 10 s bound leaves a wide margin for a slow CI machine.
#[test]
fn extraction_of_huge_nested_input_stays_fast() {
    for unit in ["{\"PROB\":", "[{\"a\":", "{\"PROB\": 0.3847}"] {
        let text = huge(unit);
        let t = std::time::Instant::now();
        let _ = extract(&text);
        let elapsed = t.elapsed();
        assert!(elapsed.as_secs_f64() < 10.0, "{unit:?}: {elapsed:?}");
    }
}
