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
