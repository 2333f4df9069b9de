//! Preference data: corrupted worked solutions (wrong under the reward crate, following from
//! their one mistake), DPO pairs and 1:1 KTO examples from CauGym items, own wrong samples
//! preferred over corruptions, mismatched KL pairs, and user JSONL records with errors naming
//! the file and line.

use caugym_data::{Answer, Convention};
use caugym_reward::{CausalReward, RewardConfig, RewardFn, RewardOutcome, Target};
use caugym_train::config::{GenerateConfig, SftTarget};
use caugym_train::trainers::corrupt::{Corruption, MIN_GAP, corrupt, corrupt_problem, steps};
use caugym_train::trainers::examples::{Example, generate, read_file};
use caugym_train::trainers::prefs::{
    Source, answer_check, dpo_pairs, item_pair, kto_examples, mismatched, pick_wrong,
};

fn items(variant: &str, layout: &str, count: usize, seed: u64) -> Vec<Example> {
    let g: GenerateConfig = toml::from_str(&format!(
        "count = {count}\nvariant = \"{variant}\"\nlayout = \"{layout}\"\nseed = {seed}\nnodes = [2, 5]"
    ))
    .unwrap();
    generate(&g).unwrap()
}

fn check() -> CausalReward {
    answer_check(&RewardConfig::default()).unwrap()
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap()
}

#[test]
fn corrupted_solutions_are_wrong_and_follow_from_their_mistake() {
    let reward = CausalReward::new(RewardConfig::default()).unwrap();
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    let mut same_route = 0;
    for (variant, layout) in [
        ("base", "cau-gym"),
        ("base", "calm"),
        ("insufficient", "cau-gym"),
        ("deconfounding", "cau-gym"),
    ] {
        for (i, ex) in items(variant, layout, 42, 7).iter().enumerate() {
            let c = corrupt_problem(ex.problem.as_ref().unwrap(), i, Convention::CauGym)
                .unwrap_or_else(|e| panic!("{}: {e}", ex.id));
            // From the generated item's own problem, the data crate writes the item's solution.
            assert_eq!(Some(&c.gold_solution), ex.solution.as_ref(), "{}", ex.id);
            // From its prompt (a file record), the parser's reading gives the same answer and,
            // where it reads the same letters, the same steps with the item's words spliced in.
            let parsed = corrupt(&ex.prompt, i, ex.solution.as_deref()).unwrap();
            assert!(parsed.gold.agrees_with(&c.gold), "{}", ex.id);
            if steps(&parsed.gold_solution) == steps(ex.solution.as_deref().unwrap()) {
                assert_eq!(Some(&parsed.gold_solution), ex.solution.as_ref());
                assert_eq!(parsed.solution, c.solution, "{}", ex.id);
                same_route += 1;
            }
            let gold = Answer::parse(ex.answer.as_deref().unwrap()).unwrap();
            assert!(c.gold.agrees_with(&gold), "{}", ex.id);
            // It ends in its own wrong answer, which the reward crate scores wrong.
            assert_eq!(
                last_line(&c.solution),
                format!("Answer: {}", c.answer.to_gold_string())
            );
            let target = Target::parse(ex.answer.as_deref().unwrap(), ex.task).unwrap();
            let outcome = reward.score(&c.solution, &target);
            assert!(!outcome.is_correct(), "{}: {}", ex.id, c.solution);
            assert!(reward.score(&c.gold_solution, &target).is_correct());
            match c.kind {
                Corruption::SignFlip => {
                    // -x written as a swapped difference is exact: the PROB is the gold's negated.
                    assert_eq!(c.answer.prob().unwrap(), -gold.prob().unwrap(), "{}", ex.id);
                    assert_eq!(outcome.label(), "wrong_value");
                }
                Corruption::Arithmetic { from, to, .. } => {
                    let shift = (to - from).abs();
                    assert!((0.1 - 1e-9..=0.3 + 1e-9).contains(&shift), "{from} -> {to}");
                    let gap = (c.answer.prob().unwrap() - gold.prob().unwrap()).abs();
                    assert!(gap >= MIN_GAP - 1e-9, "{}: gap {gap}", ex.id);
                    assert_eq!(outcome.label(), "wrong_value");
                    // The misread number (or its complement) is printed; the reasoning before
                    // the first line with numbers (variables, structure, identification) is
                    // unchanged, and no line is added or lost.
                    let fmt = caugym_data::answer::fmt4;
                    assert!(
                        c.solution.contains(&fmt(to)) || c.solution.contains(&fmt(1.0 - to)),
                        "{}",
                        c.solution
                    );
                    let (a, b): (Vec<&str>, Vec<&str>) = (
                        c.solution.lines().collect(),
                        c.gold_solution.lines().collect(),
                    );
                    assert_eq!(a.len(), b.len());
                    let first_diff = a.iter().zip(&b).position(|(x, y)| x != y).unwrap();
                    let formula = b
                        .iter()
                        .position(|l| l.contains("=P(") || l.contains("=sum"))
                        .unwrap();
                    assert!(
                        first_diff >= formula,
                        "{first_diff} < {formula}:\n{}",
                        c.solution
                    );
                }
                Corruption::Conclusion => {
                    assert_ne!(
                        matches!(c.gold, Answer::LackCondition),
                        matches!(c.answer, Answer::LackCondition)
                    );
                }
            }
            *kinds.entry(c.kind.name()).or_default() += 1;
        }
    }
    assert!(
        same_route >= 100,
        "{same_route} of 168 items parse to the generator's letters"
    );
    // Both kinds of mistake in identified items, and wrong conclusions for the others.
    for k in ["sign_flip", "arithmetic", "conclusion"] {
        assert!(kinds.get(k).copied().unwrap_or(0) >= 5, "{kinds:?}");
    }
}

#[test]
fn pairs_prefer_own_wrong_samples_and_kto_is_one_to_one() {
    let data = items("base", "cau-gym", 12, 3);
    let mut own = vec![None; data.len()];
    own[2] =
        Some("The effect is positive. Answer: {\"ANSWER\": \"Yes\", \"PROB\": \"0.9\"}".into());
    let pairs = dpo_pairs(&data, &own, &check(), SftTarget::Solution).unwrap();
    assert_eq!(pairs.len(), data.len());
    for (i, (p, ex)) in pairs.iter().zip(&data).enumerate() {
        assert_eq!(Some(&p.chosen), ex.solution.as_ref());
        assert_eq!(p.prompt, ex.prompt);
        if i == 2 {
            assert_eq!(p.source, Source::Sampled);
            assert_eq!(Some(&p.rejected), own[2].as_ref());
        } else {
            assert!(matches!(p.source, Source::Corrupted(_)), "{:?}", p.source);
            assert_ne!(p.rejected, p.chosen);
        }
    }
    // The answer-line form: chosen is the gold line, a corrupted rejected its wrong line.
    let short = dpo_pairs(&data, &own, &check(), SftTarget::Answer).unwrap();
    let reward = CausalReward::new(RewardConfig::default()).unwrap();
    for (p, ex) in short.iter().zip(&data) {
        let gold = ex.answer.as_deref().unwrap();
        assert_eq!(p.chosen, format!("Answer: {gold}"));
        let target = Target::parse(gold, ex.task).unwrap();
        assert!(!reward.score(&p.rejected, &target).is_correct());
        if matches!(p.source, Source::Corrupted(_)) {
            assert!(p.rejected.starts_with("Answer: ") && !p.rejected.contains('\n'));
        }
    }
    let kto = kto_examples(&data, &own, &check(), SftTarget::Solution).unwrap();
    assert_eq!(kto.len(), 2 * data.len());
    let desirable = kto.iter().filter(|e| e.desirable).count();
    assert_eq!(desirable, data.len(), "1:1");
    for (pair, two) in pairs.iter().zip(kto.chunks(2)) {
        assert_eq!((&two[0].completion, two[0].desirable), (&pair.chosen, true));
        assert_eq!(
            (&two[1].completion, two[1].desirable),
            (&pair.rejected, false)
        );
    }
    // Each example's KL completion comes from another prompt.
    let prompts: Vec<&str> = kto.iter().map(|e| e.prompt.as_str()).collect();
    let other = mismatched(&prompts).unwrap();
    for (i, &j) in other.iter().enumerate() {
        assert_ne!(prompts[i], prompts[j]);
        assert_ne!(i, j);
    }
    assert_eq!(other[0], 2, "the next example with a different prompt");
    assert!(mismatched(&["a", "a"]).is_err());
}

#[test]
fn a_solution_that_misses_the_gold_is_an_error_naming_the_example() {
    let data = items("base", "cau-gym", 6, 11);
    let mut ex = data[0].clone();
    // Another item's worked solution (and its answer line) under this item's gold.
    let other = data
        .iter()
        .find(|o| {
            let a = Answer::parse(o.answer.as_deref().unwrap()).unwrap();
            !a.agrees_with(&Answer::parse(ex.answer.as_deref().unwrap()).unwrap())
        })
        .unwrap();
    ex.solution = other.solution.clone();
    let err = item_pair(&ex, None, 0, &check(), SftTarget::Solution)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&ex.id) && err.contains("gold"), "{err}");
    // Without a solution, the data crate's solution of the item's problem is the chosen.
    let mut bare = data[1].clone();
    let want = bare.solution.take();
    let (chosen, _, _) = item_pair(&bare, None, 1, &check(), SftTarget::Solution).unwrap();
    assert_eq!(Some(&chosen), want.as_ref());
    assert!(chosen.starts_with("Variables:"));
}

#[test]
fn pick_wrong_prefers_a_well_formed_mistake() {
    let outcome = |error: Option<&str>, format_ok: bool| RewardOutcome {
        score: 0.0,
        format_ok,
        parsed: None,
        yes_no: None,
        error: error.map(|_| caugym_reward::RewardError::WrongValue),
    };
    let samples = vec![
        ("right".to_string(), outcome(None, true)),
        ("   ".to_string(), outcome(Some("x"), false)),
        ("garbled".to_string(), outcome(Some("x"), false)),
        ("wrong value".to_string(), outcome(Some("x"), true)),
    ];
    assert_eq!(pick_wrong(&samples).as_deref(), Some("wrong value"));
    assert_eq!(pick_wrong(&samples[..3]).as_deref(), Some("garbled"));
    assert_eq!(pick_wrong(&samples[..2]), None);
}

#[test]
fn user_jsonl_preference_and_kto_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dpo = tmp.path().join("pairs.jsonl");
    std::fs::write(
        &dpo,
        "{\"prompt\": \"p1\", \"chosen\": \"good\", \"rejected\": \"bad\"}\n\
         \n\
         {\"prompt\": \"p2\", \"chosen\": \"fine\", \"rejected\": \"worse\", \"id\": 7}\n",
    )
    .unwrap();
    let ex = read_file(&dpo).unwrap();
    let pairs = dpo_pairs(&ex, &[], &check(), SftTarget::Solution).unwrap();
    assert_eq!(pairs.len(), 2);
    assert_eq!(
        (
            pairs[1].id.as_str(),
            pairs[1].chosen.as_str(),
            pairs[1].rejected.as_str()
        ),
        ("7", "fine", "worse")
    );
    assert!(pairs.iter().all(|p| p.source == Source::Given));
    // A pair file gives KTO one desirable and one undesirable example per record.
    let kto = kto_examples(&ex, &[], &check(), SftTarget::Solution).unwrap();
    let labels: Vec<bool> = kto.iter().map(|e| e.desirable).collect();
    assert_eq!(labels, [true, false, true, false]);

    let unpaired = tmp.path().join("kto.jsonl");
    std::fs::write(
        &unpaired,
        "{\"prompt\": \"p1\", \"completion\": \"good\", \"label\": true}\n\
         {\"prompt\": \"p2\", \"completion\": \"bad\", \"label\": false}\n\
         {\"prompt\": \"p3\", \"completion\": \"bad too\", \"label\": false}\n",
    )
    .unwrap();
    let ex = read_file(&unpaired).unwrap();
    let kto = kto_examples(&ex, &[], &check(), SftTarget::Solution).unwrap();
    let got: Vec<(&str, bool)> = kto
        .iter()
        .map(|e| (e.completion.as_str(), e.desirable))
        .collect();
    assert_eq!(got, [("good", true), ("bad", false), ("bad too", false)]);
    let err = dpo_pairs(&ex, &[], &check(), SftTarget::Solution)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line-1") && err.contains("KTO record"),
        "{err}"
    );

    // Bad records: the error names the file, the line and the field.
    for (body, line, field) in [
        (
            "{\"prompt\": \"p\", \"completion\": \"c\", \"label\": true}\n{\"prompt\": \"p\", \"completion\": \"c\", \"label\": \"yes\"}\n",
            2,
            "label",
        ),
        ("{\"prompt\": \"p\", \"chosen\": \"c\"}\n", 1, "rejected"),
        ("{\"prompt\": \"p\", \"label\": false}\n", 1, "completion"),
        (
            "{\"prompt\": \"p\", \"chosen\": \"c\", \"rejected\": 3}\n",
            1,
            "rejected",
        ),
    ] {
        let path = tmp.path().join("bad.jsonl");
        std::fs::write(&path, body).unwrap();
        let err = read_file(&path).unwrap_err().to_string();
        assert!(err.contains("bad.jsonl"), "{err}");
        assert!(err.contains(&format!("line {line}")), "{err}");
        assert!(err.contains(&format!("`{field}`")), "{err}");
    }
    // A prompt with neither a pair, a label nor a gold answer cannot become a pair.
    let plain = tmp.path().join("plain.jsonl");
    std::fs::write(&plain, "{\"prompt\": \"p\", \"completion\": \"c\"}\n").unwrap();
    let err = dpo_pairs(
        &read_file(&plain).unwrap(),
        &[],
        &check(),
        SftTarget::Solution,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line-1") && err.contains("answer"), "{err}");
}
