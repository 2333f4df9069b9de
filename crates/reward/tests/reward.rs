//! Every reward error kind, with its score under fixed weights.
//!
//! Weights: format 0.25, accuracy 0.5, no-answer penalty 0.125 (binary fractions, so sums are
//! exact). Hand-computed scores: correct 0.25 + 0.5 = 0.75; a well-formed wrong answer 0.25;
//! a malformed one 0; no answer -0.125.

use caugym_reward::{
    AnswerKey, CausalReward, Error, RewardConfig, RewardError, RewardFn, RewardOutcome,
    RewardSummary, Target,
};
use caugym_scm::Task;

const CORRECT: f64 = 0.75;
const FORMAT_ONLY: f64 = 0.25;
const NOTHING: f64 = 0.0;
const PENALTY: f64 = -0.125;

fn config() -> RewardConfig {
    RewardConfig {
        format_weight: 0.25,
        accuracy_weight: 0.5,
        no_answer_penalty: 0.125,
        check_yes_no: true,
        ..RewardConfig::default()
    }
}

fn reward() -> CausalReward {
    CausalReward::new(config()).unwrap()
}

/// ATE gold 0.3847, Yes.
fn ate() -> Target {
    Target::parse(r#"{"ANSWER": "Yes", "PROB": "0.3847"}"#, Some(Task::Ate)).unwrap()
}

fn check(out: &RewardOutcome, score: f64, format_ok: bool, error: Option<RewardError>) {
    assert_eq!(out.score, score, "{out:?}");
    assert_eq!(out.format_ok, format_ok, "{out:?}");
    assert_eq!(out.error, error, "{out:?}");
}

#[test]
fn correct_answer_earns_both_weights() {
    let out = reward().score(
        "<think>…</think>{\"ANSWER\": \"Yes\", \"PROB\": \"0.3850\"}",
        &ate(),
    );
    check(&out, CORRECT, true, None);
    assert_eq!((out.parsed, out.yes_no), (Some(0.385), Some(true)));
    assert_eq!(out.label(), "correct");
}

#[test]
fn wrong_value_earns_the_format_weight() {
    // |0.3852 - 0.3847| = 0.0005 in decimal, 0.0005000000000000004 in doubles: not < 5e-4.
    let out = reward().score("{\"ANSWER\": \"Yes\", \"PROB\": 0.3852}", &ate());
    check(&out, FORMAT_ONLY, true, Some(RewardError::WrongValue));
    assert_eq!(out.parsed, Some(0.3852));
    // The gold shifted by 0.001 is wrong too.
    let out = reward().score("{\"ANSWER\": \"Yes\", \"PROB\": 0.3857}", &ate());
    check(&out, FORMAT_ONLY, true, Some(RewardError::WrongValue));
}

#[test]
fn tolerance_is_configurable() {
    let loose = CausalReward::new(RewardConfig {
        tolerance: 0.01,
        ..config()
    })
    .unwrap();
    let out = loose.score("{\"ANSWER\": \"Yes\", \"PROB\": 0.39}", &ate());
    check(&out, CORRECT, true, None);
}

#[test]
fn wrong_yes_no_only_with_the_check() {
    let text = "{\"ANSWER\": \"No\", \"PROB\": 0.3847}";
    let out = reward().score(text, &ate());
    check(&out, FORMAT_ONLY, true, Some(RewardError::WrongYesNo));
    let lenient = CausalReward::new(RewardConfig {
        check_yes_no: false,
        ..config()
    })
    .unwrap();
    check(&lenient.score(text, &ate()), CORRECT, true, None);
}

#[test]
fn yes_no_check_uses_the_convention_when_the_gold_has_no_answer() {
    // ETT gold -0.2 without ANSWER: CauGym says Yes (PROB <= -0.001).
    let ett = Target::parse(r#"{"PROB": "-0.2"}"#, Some(Task::Ett)).unwrap();
    check(
        &reward().score("{\"ANSWER\": \"Yes\", \"PROB\": -0.2}", &ett),
        CORRECT,
        true,
        None,
    );
    check(
        &reward().score("{\"ANSWER\": \"No\", \"PROB\": -0.2}", &ett),
        FORMAT_ONLY,
        true,
        Some(RewardError::WrongYesNo),
    );
}

#[test]
fn value_error_comes_before_yes_no_error() {
    let out = reward().score("{\"ANSWER\": \"No\", \"PROB\": 0.1}", &ate());
    assert_eq!(out.error, Some(RewardError::WrongValue));
}

#[test]
fn pn_ps_need_no_answer_key_and_ignore_one() {
    let pn = Target::parse(r#"{"PROB": "0.7"}"#, Some(Task::Pn)).unwrap();
    check(
        &reward().score("{\"PROB\": \"0.7000\"}", &pn),
        CORRECT,
        true,
        None,
    );
    check(
        &reward().score("{\"ANSWER\": \"whatever\", \"PROB\": 0.7}", &pn),
        CORRECT,
        true,
        None,
    );
}

#[test]
fn missing_keys() {
    check(
        &reward().score("{\"ANSWER\": \"Yes\"}", &ate()),
        NOTHING,
        false,
        Some(RewardError::MissingKey(AnswerKey::Prob)),
    );
    let out = reward().score("{\"PROB\": 0.3847}", &ate());
    check(
        &out,
        NOTHING,
        false,
        Some(RewardError::MissingKey(AnswerKey::Answer)),
    );
    assert_eq!(out.parsed, Some(0.3847));
    assert_eq!(out.label(), "missing_answer");
}

#[test]
fn invalid_values() {
    check(
        &reward().score("{\"ANSWER\": \"Yes\", \"PROB\": \"about 0.38\"}", &ate()),
        NOTHING,
        false,
        Some(RewardError::InvalidValue(AnswerKey::Prob)),
    );
    check(
        &reward().score("{\"ANSWER\": \"Maybe\", \"PROB\": \"0.3847\"}", &ate()),
        NOTHING,
        false,
        Some(RewardError::InvalidValue(AnswerKey::Answer)),
    );
    check(
        &reward().score("{\"ANSWER\": \"Yes\", \"PROB\": \"NaN\"}", &ate()),
        NOTHING,
        false,
        Some(RewardError::InvalidValue(AnswerKey::Prob)),
    );
}

#[test]
fn malformed() {
    check(
        &reward().score("{'ANSWER': 'Yes', 'PROB': 0.3847}", &ate()),
        NOTHING,
        false,
        Some(RewardError::Malformed),
    );
    // A correct object followed by a broken attempt: the last attempt counts.
    check(
        &reward().score(
            "{\"ANSWER\": \"Yes\", \"PROB\": 0.3847} {\"ANSWER\": \"Yes\", \"PROB\": 0.3847",
            &ate(),
        ),
        NOTHING,
        false,
        Some(RewardError::Malformed),
    );
}

#[test]
fn official_unreadable_only_when_required() {
    let text = "{\"NOTE\": \"x\", \"ANSWER\": \"Yes\", \"PROB\": 0.3847}";
    check(
        &reward().score(text, &ate()),
        NOTHING,
        false,
        Some(RewardError::OfficialUnreadable),
    );
    let lenient = CausalReward::new(RewardConfig {
        require_official_format: false,
        ..config()
    })
    .unwrap();
    check(&lenient.score(text, &ate()), CORRECT, true, None);
}

#[test]
fn no_answer_gets_the_penalty() {
    let out = reward().score(
        "<think>{\"ANSWER\": \"Yes\", \"PROB\": 0.3847}</think>",
        &ate(),
    );
    check(&out, PENALTY, false, Some(RewardError::NoAnswer));
    assert_eq!(out.parsed, None);
}

#[test]
fn unclosed_think_only_when_required() {
    let text = "<think>so {\"ANSWER\": \"Yes\", \"PROB\": 0.3847}";
    check(&reward().score(text, &ate()), CORRECT, true, None);
    let strict = CausalReward::new(RewardConfig {
        require_think_close: true,
        ..config()
    })
    .unwrap();
    check(
        &strict.score(text, &ate()),
        PENALTY,
        false,
        Some(RewardError::UnclosedThink),
    );
}

#[test]
fn lack_condition_both_ways() {
    let lack = Target::parse("LACK_CONDITION", Some(Task::Nde)).unwrap();
    check(
        &reward().score("</think>LACK_CONDITION", &lack),
        CORRECT,
        true,
        None,
    );
    let out = reward().score("{\"ANSWER\": \"Yes\", \"PROB\": 0.2}", &lack);
    check(
        &out,
        NOTHING,
        false,
        Some(RewardError::ExpectedLackCondition),
    );
    assert_eq!(out.parsed, Some(0.2));
    check(
        &reward().score("</think>LACK_CONDITION", &ate()),
        NOTHING,
        false,
        Some(RewardError::UnexpectedLackCondition),
    );
    check(
        &reward().score("no idea", &lack),
        PENALTY,
        false,
        Some(RewardError::NoAnswer),
    );
}

#[test]
fn default_weights() {
    // Defaults: format 0.1, accuracy 1.0, penalty 0.
    let r = CausalReward::new(RewardConfig::default()).unwrap();
    assert_eq!(
        r.score("{\"ANSWER\": \"Yes\", \"PROB\": 0.3847}", &ate())
            .score,
        0.1 + 1.0
    );
    assert_eq!(
        r.score("{\"ANSWER\": \"Yes\", \"PROB\": 0.5}", &ate())
            .score,
        0.1
    );
    assert_eq!(r.score("nothing", &ate()).score, 0.0);
}

#[test]
fn every_error_label_is_distinct() {
    let mut labels: Vec<_> = RewardError::ALL.iter().map(|e| e.label()).collect();
    labels.push("correct");
    let n = labels.len();
    labels.sort_unstable();
    labels.dedup();
    assert_eq!(labels.len(), n);
}

#[test]
fn batch_scores_in_order_and_checks_lengths() {
    let completions = vec![
        "{\"ANSWER\": \"Yes\", \"PROB\": 0.3847}".to_string(),
        "LACK_CONDITION".to_string(),
        "hmm".to_string(),
    ];
    let targets = vec![ate(), ate(), ate()];
    let out = reward().score_batch(&completions, &targets).unwrap();
    let scores: Vec<f64> = out.iter().map(|o| o.score).collect();
    assert_eq!(scores, [CORRECT, NOTHING, PENALTY]);

    let s = RewardSummary::from_outcomes(&out);
    assert_eq!(s.count, 3);
    assert_eq!(s.mean_score, (CORRECT + NOTHING + PENALTY) / 3.0);
    assert_eq!(s.format_ok_rate, 1.0 / 3.0);
    assert_eq!(s.counts["correct"], 1);
    assert_eq!(s.counts["unexpected_lack_condition"], 1);
    assert_eq!(s.counts["no_answer"], 1);
    assert_eq!(s.counts["wrong_value"], 0);
    assert_eq!(s.counts.len(), RewardError::ALL.len() + 1);

    let err = reward()
        .score_batch(&completions, &targets[..2])
        .unwrap_err();
    assert_eq!(
        err,
        Error::BatchLength {
            completions: 3,
            targets: 2
        }
    );
}

#[test]
fn an_invalid_config_is_refused() {
    let err = CausalReward::new(RewardConfig {
        tolerance: -1.0,
        ..config()
    })
    .unwrap_err();
    assert!(matches!(
        err,
        Error::Config {
            key: "tolerance",
            ..
        }
    ));
}
