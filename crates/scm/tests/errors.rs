//! Every error the estimand functions return, with the offending values.

use caugym_scm::{Dag, Error, Event, Query, Scm, Task, from_model, identified, identified_with};

/// A → B → C, A → C with P(A=1) = 0.5 and P(C=1 | …) all 0.5.
fn mediated() -> Scm {
    let dag = Dag::new(3, &[(0, 1), (0, 2), (1, 2)]).unwrap();
    Scm::new(dag, vec![vec![0.5], vec![0.2, 0.7], vec![0.5; 4]]).unwrap()
}

#[test]
fn query_validation() {
    let scm = mediated();
    let same = Query::new(Task::Ate, 1, 1, true, true);
    assert_eq!(
        identified(&scm, &same),
        Err(Error::TreatmentIsOutcome { node: 1 })
    );
    assert_eq!(
        from_model(&scm, &same),
        Err(Error::TreatmentIsOutcome { node: 1 })
    );
    let outside = Query::new(Task::Ett, 0, 3, true, true);
    assert_eq!(
        identified(&scm, &outside),
        Err(Error::NodeOutOfRange { node: 3, n: 3 })
    );
    assert_eq!(
        from_model(&scm, &outside),
        Err(Error::NodeOutOfRange { node: 3, n: 3 })
    );
    // CDE of A on C must hold exactly the mediator B.
    let missing = Query::new(Task::Cde, 0, 2, true, true);
    let want = Error::MediatorValues {
        expected: vec![1],
        got: vec![],
    };
    assert_eq!(identified(&scm, &missing), Err(want.clone()));
    assert_eq!(from_model(&scm, &missing), Err(want));
    let extra = missing.with_mediator_values(Event::new(&[(1, true), (0, false)]).unwrap());
    assert!(matches!(
        identified(&scm, &extra),
        Err(Error::MediatorValues { .. })
    ));
}

#[test]
fn adjustment_and_joint_mismatches() {
    let scm = mediated();
    let query = Query::new(Task::Ate, 1, 2, true, true);
    // B → C is confounded by A: ∅ and {C} are not back-door sets, {A} is.
    assert_eq!(
        identified_with(scm.dag(), &scm.joint(), &query, Some(&[])),
        Err(Error::InvalidAdjustment {
            task: Task::Ate,
            set: vec![]
        })
    );
    assert!(identified_with(scm.dag(), &scm.joint(), &query, Some(&[0])).is_ok());
    assert_eq!(
        identified_with(scm.dag(), &scm.joint(), &query, Some(&[9])),
        Err(Error::NodeOutOfRange { node: 9, n: 3 })
    );
    let small = Scm::new(Dag::new(2, &[]).unwrap(), vec![vec![0.5], vec![0.5]]).unwrap();
    assert_eq!(
        identified_with(scm.dag(), &small.joint(), &query, None),
        Err(Error::JointSize { joint: 2, dag: 3 })
    );
}

#[test]
fn zero_probability_conditions() {
    // P(A=1) = 0: P(C | A=1) is undefined, so every formula conditioning on A=1 fails, and the
    // PN factual event A=1, C=1 has probability 0 in the model too.
    let dag = Dag::new(3, &[(0, 1), (0, 2), (1, 2)]).unwrap();
    let scm = Scm::new(
        dag,
        vec![vec![0.0], vec![0.2, 0.7], vec![0.1, 0.5, 0.6, 0.9]],
    )
    .unwrap();
    let a1 = Event::new(&[(0, true)]).unwrap();
    let ate = Query::new(Task::Ate, 0, 2, true, true);
    assert_eq!(
        identified(&scm, &ate),
        Err(Error::ZeroProbability { event: a1 })
    );
    let pn = Query::new(Task::Pn, 0, 2, true, true);
    let a1c1 = Event::new(&[(0, true), (2, true)]).unwrap();
    assert_eq!(
        identified(&scm, &pn),
        Err(Error::ZeroProbability { event: a1c1 })
    );
    assert_eq!(
        from_model(&scm, &pn),
        Err(Error::ZeroProbability { event: a1c1 })
    );
    // do() conditions on nothing, so the model's ATE is still defined.
    assert!(from_model(&scm, &ate).is_ok());
    // ETT conditions the model on A=1 as well.
    let ett = Query::new(Task::Ett, 0, 2, true, true);
    assert_eq!(
        from_model(&scm, &ett),
        Err(Error::ZeroProbability { event: a1 })
    );
}
