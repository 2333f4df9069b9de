//! The generator: determinism, round trip through the parser, ground truth against the SCM
//! engine, structural mix and variants.

use caugym_data::answer::Answer;
use caugym_data::generate::Class;
use caugym_data::pools::NamePool;
use caugym_data::{
    Estimate, GenConfig, GeneratedItem, Layout, Reading, Variant, Wording, generate, render,
    solve_parsed,
};
use caugym_scm::{Dag, Event, Scm, Task, identified_with};

fn config(variant: Variant, layout: Layout, names: NamePool, count: usize, seed: u64) -> GenConfig {
    GenConfig {
        tasks: Task::ALL.to_vec(),
        count,
        nodes: (2, 10),
        variant,
        seed,
        layout,
        names,
        instruction: true,
        step_by_step: seed.is_multiple_of(2),
    }
}

fn jsonl(items: &[GeneratedItem]) -> String {
    items
        .iter()
        .map(|i| serde_json::to_string(i).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn same_seed_same_items_different_seed_different_items() {
    let c = config(Variant::Base, Layout::CauGym, NamePool::Mixed, 35, 11);
    let a = jsonl(&generate(&c).unwrap());
    let b = jsonl(&generate(&c).unwrap());
    assert_eq!(a, b);
    let other = jsonl(&generate(&GenConfig { seed: 12, ..c }).unwrap());
    assert_ne!(a, other);
}

/// The estimate the solver reads back from an item's text.
fn read_back(item: &GeneratedItem) -> (Answer, Estimate, caugym_data::Problem) {
    let solved = solve_parsed(&item.problem)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", item.id, item.problem));
    let Reading::Parsed {
        problem, estimate, ..
    } = solved.reading
    else {
        unreachable!("solve_parsed only parses")
    };
    (solved.answer, estimate, *problem)
}

/// Every variant × layout × name pool × task solves back to its own gold through the parser.
#[test]
fn every_item_solves_back_to_its_gold() {
    let mut checked = 0;
    for (v, variant) in Variant::ALL.into_iter().enumerate() {
        for layout in [Layout::Calm, Layout::CauGym] {
            for names in [NamePool::Real, NamePool::Nonsense] {
                let seed = 100
                    + v as u64 * 4
                    + u64::from(layout == Layout::Calm) * 2
                    + u64::from(names == NamePool::Real);
                for item in generate(&config(variant, layout, names, 7 * 30, seed)).unwrap() {
                    let gold = Answer::parse(&item.answer).unwrap();
                    let (answer, _, problem) = read_back(&item);
                    assert!(
                        answer.agrees_with(&gold),
                        "{}: {answer} vs {gold}\n{}",
                        item.id,
                        item.problem
                    );
                    assert_eq!(problem.query.task, item.task, "{}", item.id);
                    if layout == Layout::CauGym {
                        // Tagged text is read with the CauGym convention: the verdict agrees too.
                        assert_eq!(answer, gold, "{}", item.id);
                    }
                    assert!(item.solution.ends_with(&format!("Answer: {}", item.answer)));
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 6 * 2 * 2 * 210);
}

/// The gold (printed-number arithmetic) against the SCM engine's identification on the unrounded
/// model: the true value lies in the range the formula takes over the printed numbers' rounding
/// box, so it differs from the gold by the 4-decimal rounding effect only.
#[test]
fn ground_truth_matches_the_scm_engine_within_rounding() {
    let mut compared = 0;
    for variant in [Variant::Base, Variant::Deconfounding, Variant::Omitted] {
        for item in generate(&config(
            variant,
            Layout::CauGym,
            NamePool::Nonsense,
            7 * 40,
            7,
        ))
        .unwrap()
        {
            let dag = Dag::new(item.scm.nodes.len(), &item.scm.edges).unwrap();
            let scm = Scm::new(dag.clone(), item.scm.cpts.clone()).unwrap();
            let ps = item.task == Task::Ps;
            // scm's PN/PS take Pearl's "present" values (1, 1); PS observes (0, 0).
            let (xv, yv) = if ps {
                (item.x == 0, item.y == 0)
            } else {
                (item.x == 1, item.y == 1)
            };
            let mut q = caugym_scm::Query::new(item.task, item.treatment, item.outcome, xv, yv);
            if item.task == Task::Cde {
                let held: Vec<(usize, bool)> = item
                    .conditioned
                    .iter()
                    .map(|l| (l.node, l.value == 1))
                    .collect();
                q = q.with_mediator_values(Event::new(&held).unwrap());
            }
            if let Some(b) = item.bound {
                q = q.with_bound(match b {
                    caugym_data::Bound::Lower => caugym_scm::Bound::Lower,
                    caugym_data::Bound::Upper => caugym_scm::Bound::Upper,
                });
            }
            let truth = identified_with(&dag, &scm.joint(), &q, Some(&item.adjustment)).unwrap();
            let gold = Answer::parse(&item.answer).unwrap().prob().unwrap();
            let (_, estimate, parsed) = read_back(&item);
            match estimate {
                Estimate::Trivial(_) => assert_eq!((truth.value, gold), (0.0, 0.0), "{}", item.id),
                Estimate::Identified(d) => {
                    let (lo, hi) = d.rounding_range(5e-5).unwrap();
                    assert!(
                        lo - 1e-9 <= truth.value && truth.value <= hi + 1e-9,
                        "{}: truth {} outside [{lo}, {hi}]",
                        item.id,
                        truth.value
                    );
                    if !matches!(item.task, Task::Pn | Task::Ps) {
                        assert!((truth.value - gold).abs() < 6e-4, "{}", item.id);
                    }
                    // Parsed node indices follow the text; letters are the shared names.
                    let letters: Vec<char> =
                        d.adjustment.iter().map(|&i| parsed.letter(i)).collect();
                    let want: Vec<char> = item
                        .adjustment
                        .iter()
                        .map(|&i| caugym_scm::node_letter(i))
                        .collect();
                    assert_eq!(letters, want, "{}", item.id);
                }
                Estimate::Lacking { .. } => panic!("{}: lacking", item.id),
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 3 * 280);
}

/// Classes are read off the solver's estimate of the text, not the generator's own label.
#[test]
fn structural_mix_and_variants() {
    for variant in Variant::ALL {
        let items = generate(&config(variant, Layout::CauGym, NamePool::Mixed, 7 * 12, 5)).unwrap();
        for task in Task::ALL {
            let mut counts = [0usize; 3];
            for item in items.iter().filter(|i| i.task == task) {
                let (answer, estimate, problem) = read_back(item);
                let class = match (&estimate, variant) {
                    (_, Variant::Insufficient) => {
                        assert_eq!(answer, Answer::LackCondition);
                        assert!(
                            !item
                                .problem
                                .lines()
                                .nth(1)
                                .unwrap()
                                .trim_end()
                                .ends_with('.')
                        );
                        item.class
                    }
                    (Estimate::Trivial(_), _) => Class::Trivial,
                    (Estimate::Identified(d), _) if d.adjustment.is_empty() => Class::Unadjusted,
                    (Estimate::Identified(d), _) => {
                        assert_eq!(d.adjustment.len(), 1);
                        Class::Adjusted
                    }
                    (Estimate::Lacking { .. }, _) => panic!("{} lacks a term", item.id),
                };
                assert_eq!(class, item.class, "{}", item.id);
                if let Estimate::Identified(d) = &estimate
                    && matches!(task, Task::Nde | Task::Nie)
                {
                    assert!(d.mediators.len() <= 1, "{}", item.id);
                }
                if variant == Variant::Redundant {
                    // The last two statements are true but play no part in the answer.
                    let n = problem.statements.len();
                    assert!(n >= 2);
                    if let Estimate::Identified(d) = &estimate {
                        assert!(d.inputs.iter().all(|i| i.statement < n - 2), "{}", item.id);
                    }
                }
                assert_eq!(problem.format.instruction, variant != Variant::Omitted);
                if variant == Variant::Omitted {
                    assert!(!item.problem.contains("Instruction:"), "{}", item.id);
                }
                if variant == Variant::Rephrased {
                    let mut canonical = item.structured.clone();
                    canonical.format.wording = Wording::Canonical;
                    assert_ne!(render(&canonical).unwrap(), item.problem, "{}", item.id);
                }
                counts[class as usize] += 1;
            }
            let cycle = variant.class_cycle(task);
            for (c, want) in [Class::Trivial, Class::Unadjusted, Class::Adjusted]
                .iter()
                .enumerate()
            {
                let expected = 12 * cycle.iter().filter(|k| *k == want).count() / cycle.len();
                assert_eq!(counts[c], expected, "{variant} {task} {want:?}");
            }
        }
    }
}
