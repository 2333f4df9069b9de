//! Generator throughput, single-threaded: `cargo bench -p caugym-data` prints items/s per variant
//! (target: at least 10,000 items/s on one core in release).
//!
//! Rates are given per wall-clock second and per second of this thread's CPU time (Linux
//! `/proc/thread-self/stat`, 10 ms ticks): on a shared, loaded machine the latter is the one-core
//! rate.

use std::time::Instant;

use caugym_data::pools::NamePool;
use caugym_data::{GenConfig, Generator, Layout, Variant};
use caugym_scm::Task;

/// CPU seconds (user + system) this thread has used, if the platform reports them.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() {
    const COUNT: usize = 10_000;
    // `cargo bench -p caugym-data -- deconfounding` runs one variant.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (mut total, mut wall, mut cpu_total) = (0usize, 0.0, 0.0);
    for variant in Variant::ALL {
        if !only.is_empty() && !only.iter().any(|o| o == variant.name()) {
            continue;
        }
        let config = GenConfig {
            tasks: Task::ALL.to_vec(),
            count: COUNT,
            nodes: (2, 10),
            variant,
            seed: 1,
            layout: Layout::CauGym,
            names: NamePool::Mixed,
            instruction: true,
            step_by_step: false,
        };
        let start = Instant::now();
        let cpu_start = thread_cpu_seconds();
        let mut generator = match Generator::new(config) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("{variant}: {e}");
                std::process::exit(1);
            }
        };
        let items: Result<Vec<_>, _> = (0..COUNT).map(|i| generator.item(i)).collect();
        if let Err(e) = items {
            eprintln!("{variant}: {e}");
            std::process::exit(1);
        }
        drop(items);
        let s = start.elapsed().as_secs_f64();
        let cpu = match (cpu_start, thread_cpu_seconds()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => s,
        };
        let (structures, models) = generator.draws();
        println!(
            "{:<14} {COUNT} items: {:>7.0} items/s wall ({s:.2} s), {:>7.0} items/s CPU ({cpu:.2} s); {:.2} structures, {:.2} models drawn per item",
            variant.name(),
            COUNT as f64 / s,
            COUNT as f64 / cpu,
            structures as f64 / COUNT as f64,
            models as f64 / COUNT as f64,
        );
        total += COUNT;
        wall += s;
        cpu_total += cpu;
    }
    println!(
        "{:<14} {total} items: {:>7.0} items/s wall, {:>7.0} items/s CPU (one thread)",
        "all variants",
        total as f64 / wall,
        total as f64 / cpu_total
    );
}
