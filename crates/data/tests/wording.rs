//! Every wording of the rephrasing bank reads back to the same content: official items are
//! parsed, re-rendered with per-sentence alternative wordings (with and without the instruction
//! line, with the step-by-step suffix), parsed again and compared by names and value words.

use std::path::Path;

use caugym_data::{Problem, Wording, parse_problem, read_items, render, solve_text};

type Pairs = Vec<(String, String)>;
/// Edges by names, statements by (event, given, value), and the query.
type Signature = (Pairs, Vec<(Pairs, Pairs, String)>, String);

/// The content of a problem in names and words (node indices depend on the order of mention).
fn signature(p: &Problem) -> Signature {
    let name = |i: usize| p.nodes[i].name.clone();
    let lits = |v: &[caugym_data::Lit]| -> Pairs {
        v.iter()
            .map(|l| (name(l.node), p.word(*l).unwrap().to_string()))
            .collect()
    };
    let edges = p.edges.iter().map(|&(a, b)| (name(a), name(b))).collect();
    let statements = p
        .statements
        .iter()
        .map(|s| (lits(&s.event), lits(&s.given), format!("{:.4}", s.prob)))
        .collect();
    let q = &p.query;
    let x = caugym_data::Lit::new(q.treatment, q.x);
    let y = caugym_data::Lit::new(q.outcome, q.y);
    let query = format!(
        "{} {:?} {:?} {:?} {:?}",
        q.task,
        lits(&[x]),
        lits(&[y]),
        q.bound,
        lits(&q.conditioned)
    );
    (edges, statements, query)
}

#[test]
fn rephrased_renderings_read_back_identically() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/caugym-eval"
    ));
    let mut checked = 0;
    for set in ["base", "deconfounding"] {
        let items = read_items(&dir.join(format!("{set}.json"))).unwrap();
        for (i, item) in items.iter().enumerate().step_by(3) {
            let original = parse_problem(&item.problem).unwrap();
            let want = signature(&original);
            let answer = solve_text(&item.problem).unwrap().answer;
            for seed in 0..3u64 {
                let mut p = original.clone();
                p.format.wording = Wording::Rephrased {
                    seed: seed * 1000 + i as u64,
                };
                p.format.instruction = seed != 1;
                p.format.step_by_step = seed == 2;
                let text = render(&p).unwrap();
                let back = parse_problem(&text)
                    .unwrap_or_else(|e| panic!("{set} {}: {e}\n{text}", item.id));
                assert_eq!(signature(&back), want, "{set} {}\n{text}", item.id);
                assert_eq!(back.format.instruction, seed != 1);
                assert_eq!(back.format.step_by_step, seed == 2);
                assert_eq!(solve_text(&text).unwrap().answer, answer, "{text}");
                checked += 1;
            }
        }
    }
    assert!(checked > 1200);
}
