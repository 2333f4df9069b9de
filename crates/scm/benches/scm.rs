//! Throughput of the operations the task generator runs per item, on 10-node graphs.
//!
//! `cargo bench -p caugym-scm` prints joints/s, conditional probabilities/s, back-door searches/s
//! and whole identifications/s (joint + back-door search + formula) per second of one core's CPU
//! time (thread CPU time on Linux, so a busy machine does not deflate the numbers much).

use std::hint::black_box;
use std::time::Instant;

use caugym_scm::{BackdoorQuery, Dag, Event, Query, Scm, Task, adjustment_queries, identified};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const NODES: usize = 10;
/// About 1.35 edges per node, like the benchmark's 8–10-node graphs.
const EDGE_PROB: f64 = 0.3;
const MODELS: usize = 256;

/// CPU time of this thread in seconds (Linux `schedstat`), so that rates measure one core even
/// when other processes share the machine; `None` elsewhere.
fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos * 1e-9)
}

/// Runs `op` over the inputs round-robin for about a second of CPU time and returns operations
/// per CPU second (per wall second where thread CPU time is unavailable).
fn rate<T>(inputs: &[T], mut op: impl FnMut(&T)) -> f64 {
    let clock = || thread_cpu_seconds().unwrap_or_else(wall_seconds);
    let start = clock();
    let mut done = 0usize;
    while clock() - start < 1.0 {
        for input in inputs {
            op(input);
        }
        done += inputs.len();
    }
    done as f64 / (clock() - start)
}

/// Seconds since the first call.
fn wall_seconds() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// A random query whose treatment is an ancestor of the outcome where the graph allows it.
fn random_query(rng: &mut ChaCha8Rng, dag: &Dag) -> Query {
    let pairs: Vec<(usize, usize)> = dag
        .edges()
        .iter()
        .flat_map(|&(x, _)| dag.descendants(x).iter().map(move |y| (x, y)))
        .collect();
    let (x, y) = if pairs.is_empty() {
        (0, NODES - 1)
    } else {
        pairs[rng.random_range(0..pairs.len())]
    };
    let task = Task::ALL[rng.random_range(0..Task::ALL.len())];
    let query = Query::new(task, x, y, rng.random_bool(0.5), rng.random_bool(0.5));
    let m: Vec<(usize, bool)> = dag
        .mediators(x, y)
        .into_iter()
        .map(|m| (m, rng.random_bool(0.5)))
        .collect();
    match (task, Event::new(&m)) {
        (Task::Cde, Ok(values)) => query.with_mediator_values(values),
        _ => query,
    }
}

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut models = Vec::with_capacity(MODELS);
    let mut queries = Vec::with_capacity(MODELS);
    for _ in 0..MODELS {
        let dag = Dag::random(&mut rng, NODES, EDGE_PROB).expect("valid size and probability");
        let scm = Scm::random(&mut rng, dag, 0.05, 0.95).expect("valid range");
        queries.push(random_query(&mut rng, scm.dag()));
        models.push(scm);
    }
    let joints = rate(&models, |scm| {
        black_box(scm.joint());
    });
    let joint_list: Vec<_> = models.iter().map(Scm::joint).collect();
    let events: Vec<(Event, Event)> = (0..MODELS)
        .map(|k| {
            let target = Event::new(&[(k % NODES, true)]).expect("node in range");
            let given = Event::new(&[((k + 3) % NODES, false), ((k + 7) % NODES, true)])
                .expect("distinct nodes");
            (target, given)
        })
        .collect();
    let pairs: Vec<_> = joint_list.iter().zip(&events).collect();
    let conds = rate(&pairs, |(joint, (target, given))| {
        black_box(joint.cond(*target, *given).ok());
    });
    let single: Vec<(&Dag, Vec<BackdoorQuery>)> = models
        .iter()
        .zip(&queries)
        .map(|(scm, q)| {
            let query = BackdoorQuery::new(&[q.treatment], q.outcome).expect("distinct nodes");
            (scm.dag(), vec![query])
        })
        .collect();
    let searches = rate(&single, |(dag, qs)| {
        black_box(dag.smallest_backdoor_sets(qs).ok());
    });
    let mediation: Vec<(&Dag, Vec<BackdoorQuery>)> = models
        .iter()
        .zip(&queries)
        .filter_map(|(scm, q)| {
            let nde = Query {
                task: Task::Nde,
                ..*q
            };
            Some((scm.dag(), adjustment_queries(scm.dag(), &nde).ok()?))
        })
        .collect();
    let joint_searches = rate(&mediation, |(dag, qs)| {
        black_box(dag.smallest_backdoor_sets(qs).ok());
    });
    let items: Vec<_> = models.iter().zip(&queries).collect();
    let identifications = rate(&items, |(scm, query)| {
        black_box(identified(scm, query).ok());
    });
    println!("caugym-scm on {NODES}-node graphs (edge probability {EDGE_PROB}), per CPU second:");
    println!("  joints (1,024 states)          {joints:>12.0} /s");
    println!("  conditional probabilities      {conds:>12.0} /s");
    println!("  back-door searches, X→Y        {searches:>12.0} /s");
    println!("  back-door searches, NDE joint  {joint_searches:>12.0} /s");
    println!("  identified() items, all tasks  {identifications:>12.0} /s");
}
