//! The solver on the benchmark's official test sets (read from `../shared`, never copied).

use std::path::{Path, PathBuf};

use caugym_data::{read_items, solve_items};

fn official(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/caugym-eval")).join(name)
}

#[test]
fn explore() {
    for set in ["base", "deconfounding", "redundant", "insufficient", "rephrased", "omitted"] {
        let items = read_items(&official(&format!("{set}.json"))).unwrap();
        let r = solve_items(&items);
        println!("{set}: {}/{} unreadable {} {:?}", r.overall.correct, r.overall.total, r.unreadable,
            r.per_task.iter().map(|(k, v)| format!("{k}:{}", v.correct)).collect::<Vec<_>>());
        let mut equal = 0;
        let mut shown = 0;
        for item in &items {
            if let Ok(p) = caugym_data::parse_problem(&item.problem) {
                let text = caugym_data::render(&p).unwrap();
                if text == item.problem { equal += 1 } else if shown < 2 && !["rephrased", "omitted"].contains(&set) {
                    shown += 1;
                    println!("DIFF {}\n{}\n----\n{}", item.id, item.problem, text);
                }
            }
        }
        println!("  byte-equal {equal}");
        if set == "base" || set == "deconfounding" {
            for i in [0, 4, 100, 104, 200, 306, 320, 401, 504, 602] {
                let s = caugym_data::solve_text(&items[i].problem).unwrap();
                println!("{}", caugym_data::solution_text(&s.problem, &s.estimate, &s.answer));
            }
        }
        if !["rephrased", "omitted"].contains(&set) {
            for m in r.misses.iter().take(30) {
                let item = items.iter().find(|i| i.id == m.id).unwrap();
                let extra = match caugym_data::solve_text(&item.problem) {
                    Ok(s) => match &s.estimate {
                        caugym_data::Estimate::Identified(d) => {
                            let (lo, hi) = d.rounding_range(5e-5).unwrap();
                            let exact = d.expr.eval(&d.printed_term_values(), false);
                            format!("range [{lo:.5}, {hi:.5}] exact {exact:.5} Z={:?} n_in={}", d.adjustment, d.inputs.len())
                        }
                        e => format!("{e:?}"),
                    },
                    Err(e) => e.to_string(),
                };
                println!("  {} {} gold {} got {} {extra}", m.id, m.task, m.gold, m.computed);
            }
        }
    }
}
