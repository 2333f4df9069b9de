//! Generator throughput, single-threaded: `cargo bench -p caugym-data` prints items/s per variant
//! (target: at least 10,000 items/s on one core in release).
//!
//! Rates are given per wall-clock second and per second of this thread's CPU time (Linux
//! `/proc/thread-self/schedstat`): on a shared, loaded machine the latter is the one-core rate.

use std::time::Instant;

use caugym_data::pools::NamePool;
use caugym_data::{GenConfig, Generator, Layout, Variant};
use caugym_scm::Task;

/// The allocator the `caugym` binary uses, so the bench measures what `caugym gen` runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU time of this thread in seconds (Linux `schedstat`, nanoseconds), so that rates measure
/// one core even when other processes share the machine; `None` elsewhere.
fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos * 1e-9)
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` this is a quick smoke run.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: usize = if args.iter().any(|a| a == "--bench") {
        10_000
    } else {
        100
    };
    // `cargo bench -p caugym-data -- deconfounding` runs one variant.
    let only: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let (mut total, mut wall, mut cpu_total) = (0usize, 0.0, 0.0);
    for variant in Variant::ALL {
        if !only.is_empty() && !only.iter().any(|o| o.as_str() == variant.name()) {
            continue;
        }
        let config = GenConfig {
            tasks: Task::ALL.to_vec(),
            count,
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
        let items: Result<Vec<_>, _> = (0..count).map(|i| generator.item(i)).collect();
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
            "{:<14} {count} items: {:>7.0} items/s wall ({s:.2} s), {:>7.0} items/s CPU ({cpu:.2} s); {:.2} structures, {:.2} models drawn per item",
            variant.name(),
            count as f64 / s,
            count as f64 / cpu,
            structures as f64 / count as f64,
            models as f64 / count as f64,
        );
        total += count;
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
