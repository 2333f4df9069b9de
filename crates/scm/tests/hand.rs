//! Two small SCMs whose every quantity is derived by hand in the comments.

use caugym_scm::{Bound, Dag, Estimate, Event, Query, Scm, Task, Trivial, from_model, identified};

const TOL: f64 = 1e-12;

fn close(got: f64, want: f64) {
    assert!((got - want).abs() < TOL, "got {got}, want {want}");
}

fn ev(pairs: &[(usize, bool)]) -> Event {
    Event::new(pairs).unwrap()
}

/// Both computations, checking the point estimate against `want` and returning the estimate.
fn both(scm: &Scm, query: Query, want: f64) -> Estimate {
    let estimate = identified(scm, &query).unwrap();
    close(estimate.value, want);
    if !matches!(query.task, Task::Pn | Task::Ps) {
        close(from_model(scm, &query).unwrap(), want);
    }
    estimate
}

/// (target, given, value) of each term, target and given as "A=1, B=0" in stated order.
fn terms(estimate: &Estimate) -> Vec<(String, String, f64)> {
    estimate
        .terms
        .iter()
        .map(|t| {
            (
                t.target.to_string(),
                t.given.to_string(),
                (t.value * 1e9).round() / 1e9,
            )
        })
        .collect()
}

fn term(target: &str, given: &str, value: f64) -> (String, String, f64) {
    (target.to_string(), given.to_string(), value)
}

/// A → B with P(A=1) = 0.3, P(B=1 | A=0) = 0.2, P(B=1 | A=1) = 0.7.
fn two_node() -> Scm {
    Scm::new(
        Dag::new(2, &[(0, 1)]).unwrap(),
        vec![vec![0.3], vec![0.2, 0.7]],
    )
    .unwrap()
}

#[test]
fn two_node_joint_and_do() {
    let scm = two_node();
    // State = A + 2B: P(A0,B0) = 0.7·0.8 = 0.56, P(A1,B0) = 0.3·0.3 = 0.09,
    // P(A0,B1) = 0.7·0.2 = 0.14, P(A1,B1) = 0.3·0.7 = 0.21.
    let joint = scm.joint();
    for (got, want) in joint.probs().iter().zip([0.56, 0.09, 0.14, 0.21]) {
        close(*got, want);
    }
    // P(B=1) = 0.14 + 0.21 = 0.35; P(A=1 | B=1) = 0.21 / 0.35 = 0.6.
    close(joint.prob(ev(&[(1, true)])).unwrap(), 0.35);
    close(
        joint
            .cond(ev(&[(0, true)]), ev(&[(1, true)]))
            .unwrap()
            .unwrap(),
        0.6,
    );
    // do(A=1) cuts nothing (A has no parents) and makes A a point mass: states A1B0 = 0.3, A1B1 = 0.7.
    let done = scm.intervene(&[(0, true)]).unwrap();
    assert_eq!(done.cpt(0), &[1.0]);
    for (got, want) in done.joint().probs().iter().zip([0.0, 0.3, 0.0, 0.7]) {
        close(*got, want);
    }
    // do(B=1) cuts A → B: B no longer depends on A, and P(A=1 | do(B=1)) = P(A=1) = 0.3.
    let cut = scm.intervene(&[(1, true)]).unwrap();
    assert!(cut.dag().edges().is_empty());
    close(
        scm.prob_do(ev(&[(0, true)]), &[(1, true)], Event::ANY)
            .unwrap()
            .unwrap(),
        0.3,
    );
    assert_eq!(
        scm.prob_do(ev(&[(1, true)]), &[(0, false)], ev(&[(0, true)]))
            .unwrap(),
        None
    );
    // Graph facts: the only back-door set for A → B is ∅, and there are no mediators.
    let q = caugym_scm::BackdoorQuery::new(&[0], 1).unwrap();
    assert_eq!(
        scm.dag().smallest_backdoor_sets(&[q]).unwrap(),
        vec![Vec::<usize>::new()]
    );
    assert!(scm.dag().mediators(0, 1).is_empty());
}

#[test]
fn two_node_estimands() {
    let scm = two_node();
    // ATE(x=1, y=1) = P(B=1|A=1) − P(B=1|A=0) = 0.7 − 0.2 = 0.5; at x=0 it is −0.5; at y=0,
    // 0.3 − 0.8 = −0.5.
    let ate = both(&scm, Query::new(Task::Ate, 0, 1, true, true), 0.5);
    assert_eq!(
        terms(&ate),
        vec![term("B=1", "A=1", 0.7), term("B=1", "A=0", 0.2)]
    );
    both(&scm, Query::new(Task::Ate, 0, 1, false, true), -0.5);
    both(&scm, Query::new(Task::Ate, 0, 1, true, false), -0.5);
    // CDE without mediators and NDE without mediators equal the ATE: 0.5.
    both(&scm, Query::new(Task::Cde, 0, 1, true, true), 0.5);
    both(&scm, Query::new(Task::Nde, 0, 1, true, true), 0.5);
    // NIE has no mediator: 0 by the trivial rule (and truly 0 in the model).
    let nie = both(&scm, Query::new(Task::Nie, 0, 1, true, true), 0.0);
    assert_eq!(nie.trivial, Some(Trivial::NoMediator));
    // ETT(x=1) = P(B=1|A=1) − P(B=1|A=0) = 0.5 (no confounder); ETT(x=0) = 0.2 − 0.7 = −0.5.
    both(&scm, Query::new(Task::Ett, 0, 1, true, true), 0.5);
    both(&scm, Query::new(Task::Ett, 0, 1, false, true), -0.5);
    // Reverse direction: B is not an ancestor of A, so ATE(B on A) = 0, trivially.
    let rev = both(&scm, Query::new(Task::Ate, 1, 0, true, true), 0.0);
    assert_eq!(rev.trivial, Some(Trivial::NotAncestor));
}

#[test]
fn two_node_pn_ps() {
    let scm = two_node();
    // PN = P(B_{A=0} = 0 | A=1, B=1). B = 1[U < p(A)]; B=1 at A=1 means U < 0.7, and B_0 = 0
    // means U ≥ 0.2: PN = 0.5 / 0.7 = 5/7.
    // Bounds: lower = (P(B=1) − P(B=1|do(A=0))) / P(A=1,B=1) = (0.35 − 0.2) / 0.21 = 5/7;
    // upper = min{1, (P(B=0|do(A=0)) − P(A=0,B=0)) / P(A=1,B=1)} = min{1, (0.8 − 0.56)/0.21} = 1.
    let pn = Query::new(Task::Pn, 0, 1, true, true);
    close(from_model(&scm, &pn).unwrap(), 5.0 / 7.0);
    let lower = both(&scm, pn, 5.0 / 7.0);
    let bounds = lower.bounds.unwrap();
    close(bounds.upper, 1.0);
    assert_eq!(
        terms(&lower),
        vec![
            term("B=1", "A=0", 0.2),
            term("B=1", "", 0.35),
            term("A=1, B=1", "", 0.21)
        ]
    );
    let upper = identified(&scm, &pn.with_bound(Bound::Upper)).unwrap();
    close(upper.value, 1.0);
    assert_eq!(
        terms(&upper),
        vec![
            term("B=0", "A=0", 0.8),
            term("A=0, B=0", "", 0.56),
            term("A=1, B=1", "", 0.21)
        ]
    );
    // PS = P(B_{A=1} = 1 | A=0, B=0): U ≥ 0.2 and U < 0.7 → 0.5 / 0.8 = 0.625.
    // Lower = (P(B=0) − P(B=0|do(A=1))) / P(A=0,B=0) = (0.65 − 0.3) / 0.56 = 0.625;
    // upper = (P(B=1|do(A=1)) − P(A=1,B=1)) / P(A=0,B=0) = (0.7 − 0.21) / 0.56 = 0.875.
    let ps = Query::new(Task::Ps, 0, 1, true, true);
    close(from_model(&scm, &ps).unwrap(), 0.625);
    let lower = both(&scm, ps, 0.625);
    assert_eq!(
        terms(&lower),
        vec![
            term("B=0", "A=1", 0.3),
            term("B=0", "", 0.65),
            term("A=0, B=0", "", 0.56)
        ]
    );
    let upper = both(&scm, ps.with_bound(Bound::Upper), 0.875);
    assert_eq!(
        terms(&upper),
        vec![
            term("B=1", "A=1", 0.7),
            term("A=0, B=0", "", 0.56),
            term("A=1, B=1", "", 0.21)
        ]
    );
}

/// A → B, A → C, B → C with P(A=1) = 0.4, P(B=1|A) = (0.3, 0.8) and
/// P(C=1 | A, B) = 0.1 (A0B0), 0.5 (A1B0), 0.6 (A0B1), 0.9 (A1B1).
fn three_node() -> Scm {
    let dag = Dag::new(3, &[(0, 1), (0, 2), (1, 2)]).unwrap();
    Scm::new(
        dag,
        vec![vec![0.4], vec![0.3, 0.8], vec![0.1, 0.5, 0.6, 0.9]],
    )
    .unwrap()
}

#[test]
fn three_node_joint_do_and_graph() {
    let scm = three_node();
    // State = A + 2B + 4C. P(A0B0) = 0.6·0.7 = 0.42, P(A1B0) = 0.4·0.2 = 0.08,
    // P(A0B1) = 0.6·0.3 = 0.18, P(A1B1) = 0.4·0.8 = 0.32; times P(C | A, B):
    let want = [0.378, 0.04, 0.072, 0.032, 0.042, 0.04, 0.108, 0.288];
    for (got, want) in scm.joint().probs().iter().zip(want) {
        close(*got, want);
    }
    // P(C=1) = 0.042 + 0.04 + 0.108 + 0.288 = 0.478.
    close(scm.joint().prob(ev(&[(2, true)])).unwrap(), 0.478);
    // do(B=1): P(C=1) = 0.6·0.6 + 0.4·0.9 = 0.72 and P(A=1, C=1) = 0.4·0.9 = 0.36;
    // P(A=1 | C=1, do(B=1)) = 0.36 / 0.72 = 0.5.
    close(
        scm.prob_do(ev(&[(2, true)]), &[(1, true)], Event::ANY)
            .unwrap()
            .unwrap(),
        0.72,
    );
    close(
        scm.prob_do(ev(&[(0, true), (2, true)]), &[(1, true)], Event::ANY)
            .unwrap()
            .unwrap(),
        0.36,
    );
    close(
        scm.prob_do(ev(&[(0, true)]), &[(1, true)], ev(&[(2, true)]))
            .unwrap()
            .unwrap(),
        0.5,
    );
    assert_eq!(
        scm.intervene(&[(1, true)]).unwrap().dag().edges(),
        &[(0, 2), (1, 2)]
    );
    // Graph: A confounds B → C (back-door set {A}, ∅ fails); B mediates A → C.
    let dag = scm.dag();
    let q = caugym_scm::BackdoorQuery::new(&[1], 2).unwrap();
    assert_eq!(dag.smallest_backdoor_sets(&[q]).unwrap(), vec![vec![0]]);
    assert!(!dag.is_backdoor_set(&[1], 2, &[]).unwrap());
    assert_eq!(dag.mediators(0, 2), vec![1]);
    assert!(dag.mediators(1, 2).is_empty());
    assert_eq!(dag.directed_paths(0, 2), vec![vec![0, 1, 2], vec![0, 2]]);
}

#[test]
fn three_node_confounded_effects() {
    let scm = three_node();
    // X = B, Y = C, Z = {A}. ATE(1,1) = Σ_a [P(C=1|B=1,a) − P(C=1|B=0,a)] P(a)
    // = 0.6·(0.6 − 0.1) + 0.4·(0.9 − 0.5) = 0.3 + 0.16 = 0.46.
    let ate = both(&scm, Query::new(Task::Ate, 1, 2, true, true), 0.46);
    assert_eq!(ate.adjustment, vec![0]);
    assert_eq!(
        terms(&ate),
        vec![
            term("C=1", "B=1, A=0", 0.6),
            term("C=1", "B=0, A=0", 0.1),
            term("A=0", "", 0.6),
            term("C=1", "B=1, A=1", 0.9),
            term("C=1", "B=0, A=1", 0.5),
            term("A=1", "", 0.4),
        ]
    );
    // ETT(1,1) = P(C=1|B=1) − Σ_a P(C=1|B=0,a) P(a|B=1). P(B=1) = 0.5,
    // P(C=1|B=1) = (0.108 + 0.288)/0.5 = 0.792, P(A=0|B=1) = 0.18/0.5 = 0.36:
    // 0.792 − (0.1·0.36 + 0.5·0.64) = 0.792 − 0.356 = 0.436.
    let ett = both(&scm, Query::new(Task::Ett, 1, 2, true, true), 0.436);
    assert_eq!(
        terms(&ett),
        vec![
            term("C=1", "B=1", 0.792),
            term("C=1", "A=0, B=0", 0.1),
            term("A=0", "B=1", 0.36),
            term("C=1", "A=1, B=0", 0.5),
            term("A=1", "B=1", 0.64),
        ]
    );
    // B → C has no mediator: CDE and NDE are the adjusted ATE 0.46, NIE is 0.
    let cde = both(&scm, Query::new(Task::Cde, 1, 2, true, true), 0.46);
    assert_eq!(cde.adjustment, vec![0]);
    both(&scm, Query::new(Task::Nde, 1, 2, true, true), 0.46);
    both(&scm, Query::new(Task::Nie, 1, 2, true, true), 0.0);
}

#[test]
fn three_node_pn_ps_with_adjustment() {
    let scm = three_node();
    // PN(B on C) = P(C_{B=0} = 0 | B=1, C=1). Per a: P(a, B=1, C=1) = 0.108 (a=0), 0.288 (a=1);
    // given U_C < p(a, 1), C_{B=0} = 0 iff U_C ≥ p(a, 0): 0.5/0.6 (a=0), 0.4/0.9 (a=1).
    // PN = (0.108·5/6 + 0.288·4/9) / 0.396 = (0.09 + 0.128) / 0.396 = 0.218/0.396.
    // Lower bound = (P(C=1) − P(C=1|do(B=0))) / P(B=1,C=1) = (0.478 − 0.26)/0.396, the same
    // (C is monotone in B); upper = (P(C=0|do(B=0)) − P(B=0,C=0)) / 0.396 = (0.74 − 0.418)/0.396.
    let pn = Query::new(Task::Pn, 1, 2, true, true);
    close(from_model(&scm, &pn).unwrap(), 0.218 / 0.396);
    let est = both(&scm, pn, 0.218 / 0.396);
    close(est.bounds.unwrap().upper, 0.322 / 0.396);
    assert_eq!(est.adjustment, vec![0]);
    // PS = P(C_{B=1} = 1 | B=0, C=0): P(a, B=0, C=0) = 0.378, 0.04; given U_C ≥ p(a, 0),
    // C_{B=1} = 1 iff U_C < p(a, 1): 0.5/0.9 (a=0), 0.4/0.5 (a=1).
    // PS = (0.378·5/9 + 0.04·0.8) / 0.418 = 0.242/0.418 = lower bound (0.522 − 0.28)/0.418;
    // upper = (P(C=1|do(B=1)) − P(B=1,C=1)) / P(B=0,C=0) = (0.72 − 0.396)/0.418.
    let ps = Query::new(Task::Ps, 1, 2, true, true).with_bound(Bound::Upper);
    close(from_model(&scm, &ps).unwrap(), 0.242 / 0.418);
    let est = both(&scm, ps, 0.324 / 0.418);
    close(est.bounds.unwrap().lower, 0.242 / 0.418);
}

#[test]
fn three_node_mediation() {
    let scm = three_node();
    // X = A, Y = C, M = {B}, Z = ∅. P(C=1|A=1) = (0.04 + 0.288)/0.4 = 0.82,
    // P(C=1|A=0) = (0.042 + 0.108)/0.6 = 0.25: ATE = ETT = 0.57.
    both(&scm, Query::new(Task::Ate, 0, 2, true, true), 0.57);
    both(&scm, Query::new(Task::Ett, 0, 2, true, true), 0.57);
    // CDE holds B: at B=1, P(C=1|A=1,B=1) − P(C=1|A=0,B=1) = 0.9 − 0.6 = 0.3; at B=0, 0.5 − 0.1.
    let b = |v| ev(&[(1, v)]);
    let cde = both(
        &scm,
        Query::new(Task::Cde, 0, 2, true, true).with_mediator_values(b(true)),
        0.3,
    );
    assert_eq!(cde.mediators, vec![1]);
    assert_eq!(
        terms(&cde),
        vec![term("C=1", "A=1, B=1", 0.9), term("C=1", "A=0, B=1", 0.6)]
    );
    both(
        &scm,
        Query::new(Task::Cde, 0, 2, true, true).with_mediator_values(b(false)),
        0.4,
    );
    // NDE(1,1) = Σ_b [P(C=1|A=1,b) − P(C=1|A=0,b)] P(b|A=0) = 0.4·0.7 + 0.3·0.3 = 0.37
    // (= P(Y_{1,M_0}=1) − P(Y_0=1) = (0.7·0.5 + 0.3·0.9) − 0.25).
    let nde = both(&scm, Query::new(Task::Nde, 0, 2, true, true), 0.37);
    assert_eq!(
        terms(&nde),
        vec![
            term("C=1", "B=0, A=1", 0.5),
            term("C=1", "B=0, A=0", 0.1),
            term("B=0", "A=0", 0.7),
            term("C=1", "B=1, A=1", 0.9),
            term("C=1", "B=1, A=0", 0.6),
            term("B=1", "A=0", 0.3),
        ]
    );
    // NIE(1,1) = Σ_b P(C=1|A=0,b) [P(b|A=1) − P(b|A=0)] = 0.1·(0.2 − 0.7) + 0.6·(0.8 − 0.3) = 0.25
    // (= P(Y_{0,M_1}=1) − P(Y_0=1) = (0.2·0.1 + 0.8·0.6) − 0.25).
    let nie = both(&scm, Query::new(Task::Nie, 0, 2, true, true), 0.25);
    assert_eq!(nie.terms.len(), 6);
    // At x = 0 (x' = 1): NDE = (0.1 − 0.5)·0.2 + (0.6 − 0.9)·0.8 = −0.32,
    // NIE = 0.5·(0.7 − 0.2) + 0.9·(0.3 − 0.8) = −0.2.
    both(&scm, Query::new(Task::Nde, 0, 2, false, true), -0.32);
    both(&scm, Query::new(Task::Nie, 0, 2, false, true), -0.2);
    // At y = 0 every effect flips sign: NDE(1, 0) = −0.37.
    both(&scm, Query::new(Task::Nde, 0, 2, true, false), -0.37);
}
