//! d-separation and back-door sets on classic graphs, with the answers known from the
//! literature (Pearl, Causality ch. 1 and 3).

use caugym_scm::{BackdoorQuery, Dag, Error, NodeSet};

fn set(nodes: &[usize]) -> NodeSet {
    NodeSet::from_nodes(nodes).unwrap()
}

fn sep(dag: &Dag, x: &[usize], y: &[usize], z: &[usize]) -> bool {
    dag.d_separated(set(x), set(y), set(z)).unwrap()
}

fn smallest(dag: &Dag, queries: &[(&[usize], usize)]) -> Vec<Vec<usize>> {
    let queries: Vec<_> = queries
        .iter()
        .map(|&(t, y)| BackdoorQuery::new(t, y).unwrap())
        .collect();
    dag.smallest_backdoor_sets(&queries).unwrap()
}

#[test]
fn chain_fork_collider() {
    // Chain A → B → C: dependent, separated by B.
    let chain = Dag::new(3, &[(0, 1), (1, 2)]).unwrap();
    assert!(!sep(&chain, &[0], &[2], &[]));
    assert!(sep(&chain, &[0], &[2], &[1]));
    // Fork B ← A → C: dependent, separated by A.
    let fork = Dag::new(3, &[(0, 1), (0, 2)]).unwrap();
    assert!(!sep(&fork, &[1], &[2], &[]));
    assert!(sep(&fork, &[1], &[2], &[0]));
    // Collider A → C ← B with C → D: independent; conditioning on C or on its descendant D opens it.
    let collider = Dag::new(4, &[(0, 2), (1, 2), (2, 3)]).unwrap();
    assert!(sep(&collider, &[0], &[1], &[]));
    assert!(!sep(&collider, &[0], &[1], &[2]));
    assert!(!sep(&collider, &[0], &[1], &[3]));
    // Set semantics: a node in both sides is not separated; conditioning on a side drops it.
    assert!(!sep(&chain, &[0, 1], &[1], &[]));
    assert!(sep(&chain, &[0], &[1], &[1]));
    assert!(sep(&chain, &[], &[2], &[]));
}

#[test]
fn chain_fork_collider_backdoor() {
    // X = B in A → B → C: ∅ is the smallest set for B → C; for A → C too.
    let chain = Dag::new(3, &[(0, 1), (1, 2)]).unwrap();
    assert_eq!(smallest(&chain, &[(&[1], 2)]), vec![Vec::<usize>::new()]);
    // Fork B ← A → C with B → C: {A} is the only set.
    let confounded = Dag::new(3, &[(0, 1), (0, 2), (1, 2)]).unwrap();
    assert_eq!(smallest(&confounded, &[(&[1], 2)]), vec![vec![0]]);
    assert!(confounded.is_backdoor_set(&[1], 2, &[0]).unwrap());
    assert!(!confounded.is_backdoor_set(&[1], 2, &[]).unwrap());
    // A descendant of the treatment is never allowed: in A → B → C, {B} is not a back-door set
    // for A → C even though it separates A and C.
    assert!(!chain.is_backdoor_set(&[0], 2, &[1]).unwrap());
    // Treatments and the outcome themselves are rejected.
    assert!(!chain.is_backdoor_set(&[1], 2, &[2]).unwrap());
    assert!(!chain.is_backdoor_set(&[1], 2, &[1]).unwrap());
}

#[test]
fn m_graph() {
    // A=0, B=1, M=2, X=3, Y=4 with A → X, A → M, B → M, B → Y, X → Y.
    // X ← A → M ← B → Y is blocked by the collider M: ∅ is valid, {M} opens it,
    // {M, A} and {M, B} close it again.
    let g = Dag::new(5, &[(0, 3), (0, 2), (1, 2), (1, 4), (3, 4)]).unwrap();
    assert!(g.is_backdoor_set(&[3], 4, &[]).unwrap());
    assert!(!g.is_backdoor_set(&[3], 4, &[2]).unwrap());
    assert!(g.is_backdoor_set(&[3], 4, &[2, 0]).unwrap());
    assert!(g.is_backdoor_set(&[3], 4, &[2, 1]).unwrap());
    assert!(g.is_backdoor_set(&[3], 4, &[0]).unwrap());
    assert_eq!(smallest(&g, &[(&[3], 4)]), vec![Vec::<usize>::new()]);
    // The same graph as d-separation: A ⊥ B, but not given M.
    assert!(sep(&g, &[0], &[1], &[]));
    assert!(!sep(&g, &[0], &[1], &[2]));
}

#[test]
fn smallest_set_is_not_the_parents() {
    // C=0, A=1, B=2, X=3, Y=4: C → A → X, C → B → X, C → Y, X → Y.
    // pa(X) = {A, B} is valid but not minimum; {C} alone blocks both back-door paths.
    let g = Dag::new(5, &[(0, 1), (0, 2), (0, 4), (1, 3), (2, 3), (3, 4)]).unwrap();
    assert!(g.is_backdoor_set(&[3], 4, &[1, 2]).unwrap());
    assert!(!g.is_backdoor_set(&[3], 4, &[1]).unwrap());
    assert_eq!(smallest(&g, &[(&[3], 4)]), vec![vec![0]]);
}

/// The graph of a deconfounding CDE item: A talent, B weather, C market demand, D physical
/// health, E work-life balance, F stress level, G rainfall, H government policies.
fn deconfounding_cde_graph() -> Dag {
    let edges = [
        (0, 2),
        (0, 1),
        (1, 5),
        (2, 7),
        (2, 4),
        (2, 3),
        (2, 5),
        (3, 4),
        (3, 5),
        (3, 6),
        (4, 5),
        (4, 6),
        (5, 6),
        (6, 7),
    ];
    Dag::new(8, &edges).unwrap()
}

#[test]
fn benchmark_cde_item() {
    let g = deconfounding_cde_graph();
    // Paths C → F: C→D→E→F, C→D→F, C→E→F, C→F; the mediators are D and E.
    assert_eq!(
        g.directed_paths(2, 5),
        vec![vec![2, 3, 4, 5], vec![2, 3, 5], vec![2, 4, 5], vec![2, 5]]
    );
    assert_eq!(g.mediators(2, 5), vec![3, 4]);
    // do(C, D, E) → F: the open back-door path is C ← A → B → F; {A} or {B} blocks it.
    // The benchmark's item states {A}, the lexicographically first.
    assert_eq!(smallest(&g, &[(&[2, 3, 4], 5)]), vec![vec![0], vec![1]]);
    // G and H are descendants of C: never candidates.
    assert!(!g.is_backdoor_set(&[2, 3, 4], 5, &[0, 6]).unwrap());
}

#[test]
fn joint_queries_and_no_solution() {
    // X=1 ← Y=0: Y is a parent of X, so the back-door path X ← Y cannot be blocked.
    let g = Dag::new(2, &[(0, 1)]).unwrap();
    assert!(smallest(&g, &[(&[1], 0)]).is_empty());
    // No query: the empty set is trivially valid.
    assert_eq!(
        g.smallest_backdoor_sets(&[]).unwrap(),
        vec![Vec::<usize>::new()]
    );
    // Joint requirements: A=0 confounds X and Y, W=1 confounds M and Y; X=2 → M=3 → Y=4, X → Y.
    // X→Y alone needs {A}; do(X, M)→Y needs A and W together; so do all three NDE queries.
    let g = Dag::new(5, &[(0, 2), (0, 4), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)]).unwrap();
    assert_eq!(smallest(&g, &[(&[2], 4)]), vec![vec![0]]);
    assert_eq!(smallest(&g, &[(&[2], 3)]), vec![Vec::<usize>::new()]);
    assert_eq!(smallest(&g, &[(&[2, 3], 4)]), vec![vec![0, 1]]);
    assert_eq!(
        smallest(&g, &[(&[2], 4), (&[2], 3), (&[2, 3], 4)]),
        vec![vec![0, 1]]
    );
}

#[test]
fn query_errors() {
    let g = Dag::new(3, &[(0, 1)]).unwrap();
    assert_eq!(BackdoorQuery::new(&[], 1), Err(Error::NoTreatment));
    assert_eq!(
        BackdoorQuery::new(&[1, 2], 2),
        Err(Error::TreatmentIsOutcome { node: 2 })
    );
    assert_eq!(
        g.is_backdoor_set(&[1], 1, &[]),
        Err(Error::TreatmentIsOutcome { node: 1 })
    );
    assert_eq!(
        g.is_backdoor_set(&[0], 5, &[]),
        Err(Error::NodeOutOfRange { node: 5, n: 3 })
    );
    assert_eq!(
        g.is_backdoor_set(&[0], 1, &[7]),
        Err(Error::NodeOutOfRange { node: 7, n: 3 })
    );
    let far = BackdoorQuery::new(&[4], 0).unwrap();
    assert_eq!(
        g.smallest_backdoor_sets(&[far]),
        Err(Error::NodeOutOfRange { node: 4, n: 3 })
    );
    assert_eq!(
        g.d_separated(set(&[0]), set(&[3]), NodeSet::EMPTY),
        Err(Error::NodeOutOfRange { node: 3, n: 3 })
    );
}
