//! Worked solutions: the benchmark's `Reason` dict (Step 1–7: structure check, identification,
//! adjustment set, symbolic formula, values, arithmetic, conclusion) and a readable step-by-step
//! text ending in the JSON answer — the supervised target of later training.

use caugym_scm::Task;

use crate::answer::{Answer, Convention, fmt4, format_prob, push_fmt4};
use crate::dataset::Reason;
use crate::estimate::{Derivation, Estimate, Expr, Trivial};
use crate::graph::Reach;
use crate::problem::{Bound, Lit, NodeId, Problem};

/// Builds the `Reason` dict of a solved problem.
pub fn reason(problem: &Problem, estimate: &Estimate, answer: &Answer) -> Reason {
    let steps = match estimate {
        Estimate::Trivial(t) => vec![trivial_step(problem, *t)],
        Estimate::Lacking { missing } => {
            let list = missing
                .iter()
                .map(|p| p.symbol(problem))
                .collect::<Vec<_>>()
                .join(", ");
            let mut steps = structure_steps(problem);
            steps.push(format!(
                "The stated probabilities do not identify the {}: {list} {} not given. So the answer is LACK_CONDITION.",
                problem.query.task.abbr(),
                if missing.len() == 1 { "is" } else { "are" }
            ));
            steps
        }
        Estimate::Identified(d) => match problem.query.task {
            Task::Pn | Task::Ps => bound_steps(problem, d),
            _ => effect_steps(problem, d, answer),
        },
    };
    Reason(
        steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("Step {}", i + 1), s))
            .collect(),
    )
}

/// The readable solution: the variables involved, each step on its own line, and the final JSON
/// answer on the last line.
pub fn solution_text(problem: &Problem, estimate: &Estimate, answer: &Answer) -> String {
    worked_solution(problem, estimate, answer).1
}

/// Both forms at once ([`reason`] and [`solution_text`]), building the steps once.
pub fn worked_solution(
    problem: &Problem,
    estimate: &Estimate,
    answer: &Answer,
) -> (Reason, String) {
    let reason = reason(problem, estimate, answer);
    let text = text_of(problem, estimate, &reason, answer);
    (reason, text)
}

fn text_of(problem: &Problem, estimate: &Estimate, reason: &Reason, answer: &Answer) -> String {
    let mut out = String::from("Variables:");
    for id in involved(problem, estimate) {
        let n = &problem.nodes[id];
        let words = |b: u8| n.word(b).unwrap_or("?");
        out.push_str(&format!(
            "\n- {} = {} ({}=0 means {}, {}=1 means {})",
            n.letter,
            n.name,
            n.letter,
            words(0),
            n.letter,
            words(1)
        ));
    }
    for (k, v) in &reason.0 {
        out.push_str(&format!("\n{k}: {}", v.replace('\t', ", ")));
    }
    out.push_str("\nAnswer: ");
    out.push_str(&answer.to_gold_string());
    out
}

/// Treatment, outcome, mediators and adjustment set, in letter order.
fn involved(problem: &Problem, estimate: &Estimate) -> Vec<NodeId> {
    let q = &problem.query;
    let mut ids = vec![q.treatment, q.outcome];
    ids.extend(q.conditioned.iter().map(|l| l.node));
    if let Estimate::Identified(d) = estimate {
        ids.extend(&d.mediators);
        ids.extend(&d.adjustment);
    }
    ids.sort_by_key(|&i| problem.letter(i));
    ids.dedup();
    ids
}

fn letters(problem: &Problem, ids: &[NodeId]) -> String {
    ids.iter()
        .map(|&i| problem.letter(i).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn set(problem: &Problem, ids: &[NodeId]) -> String {
    if ids.is_empty() {
        "empty set".into()
    } else {
        format!("{{{}}}", letters(problem, ids))
    }
}

fn path(problem: &Problem, p: &[NodeId]) -> String {
    p.iter()
        .map(|&i| problem.letter(i).to_string())
        .collect::<Vec<_>>()
        .join("->")
}

fn trivial_step(problem: &Problem, t: Trivial) -> String {
    let (x, y) = (
        problem.letter(problem.query.treatment),
        problem.letter(problem.query.outcome),
    );
    match t {
        Trivial::NotAncestor => format!(
            "Check whether treatment ({x}) is a cause of outcome ({y}). Node {x} is not a cause of node {y} because there is no directed path from {x} to {y}. So the answer is No."
        ),
        Trivial::NoEdge => format!(
            "Check whether there is an edge from treatment ({x}) to outcome ({y}). The edge {x}->{y} does not exist. So the answer is No."
        ),
        Trivial::NoMediatedPath => format!(
            "Check whether there is an indirect connect between treatment ({x}) and outcome ({y}). There is no directed path with three or more vertices from {x} to {y}. So the answer is No."
        ),
    }
}

/// Step 1 (and Step 2 for the tasks that name it) of a non-trivial item.
fn structure_steps(problem: &Problem) -> Vec<String> {
    let q = &problem.query;
    let reach = Reach::new(problem.nodes.len(), &problem.edges);
    let (x, y) = (problem.letter(q.treatment), problem.letter(q.outcome));
    match q.task {
        Task::Cde | Task::Nde => vec![format!(
            "Check whether there is an edge from treatment ({x}) to outcome ({y}). The edge {x}->{y} exists."
        )],
        Task::Nie => {
            let eg = reach
                .mediated_path(q.treatment, q.outcome)
                .map(|p| format!(" (e.g. {})", path(problem, &p)))
                .unwrap_or_default();
            vec![format!(
                "Check whether there is an indirect connect between treatment ({x}) and outcome ({y}). There exists directed path(s) with three or more vertices from {x} to {y}{eg}."
            )]
        }
        _ => {
            let eg = reach
                .shortest_path(q.treatment, q.outcome)
                .map(|p| format!(" (e.g. {})", path(problem, &p)))
                .unwrap_or_default();
            vec![format!(
                "Check whether treatment ({x}) is a cause of outcome ({y}). Node {x} is a cause of node {y} because there is one or more directed paths from {x} to {y}{eg}."
            )]
        }
    }
}

/// `P(Y=1|do(X=0))`-style symbol for an intervention.
fn do_symbol(problem: &Problem, target: Lit, set: &[Lit]) -> String {
    let list = set
        .iter()
        .map(|&l| problem.lit_symbol(l))
        .collect::<Vec<_>>()
        .join(",");
    format!("P({}|do({list}))", problem.lit_symbol(target))
}

/// A symbolic probability with some variables left free: `P(C=1|B=0,A)`.
fn free_symbol(problem: &Problem, event: &[Sym], given: &[Sym]) -> String {
    let list = |v: &[Sym]| {
        v.iter()
            .map(|s| match s {
                Sym::Fixed(l) => problem.lit_symbol(*l),
                Sym::Free(ids) => letters(problem, ids),
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    if given.is_empty() {
        format!("P({})", list(event))
    } else {
        format!("P({}|{})", list(event), list(given))
    }
}

/// A literal or a free (summed-over) set of variables in a symbolic formula.
enum Sym {
    Fixed(Lit),
    Free(Vec<NodeId>),
}

/// The generic `sum_{…}` form of Step 4 (without the leading `TASK=`), when there is something to
/// sum over.
fn generic_formula(problem: &Problem, d: &Derivation) -> Option<String> {
    let q = &problem.query;
    let x = Lit::new(q.treatment, q.x);
    let xp = x.flip();
    let y = Lit::new(q.outcome, q.y);
    let z = &d.adjustment;
    let m = &d.mediators;
    let fz = || Sym::Free(z.clone());
    let fm = || Sym::Free(m.clone());
    let p = |e: Vec<Sym>, g: Vec<Sym>| free_symbol(problem, &e, &g);
    let zs = letters(problem, z);
    let ms = letters(problem, m);
    let cond = |first: Lit| {
        let mut g = vec![Sym::Fixed(first)];
        g.extend(q.conditioned.iter().map(|&l| Sym::Fixed(l)));
        g
    };
    match q.task {
        Task::Ate if !z.is_empty() => Some(format!(
            "sum_{{{zs}}} [{}*{}-{}*{}]",
            p(vec![Sym::Fixed(y)], vec![Sym::Fixed(x), fz()]),
            p(vec![fz()], vec![]),
            p(vec![Sym::Fixed(y)], vec![Sym::Fixed(xp), fz()]),
            p(vec![fz()], vec![])
        )),
        Task::Ett if !z.is_empty() => Some(format!(
            "{}-sum_{{{zs}}} {}*{}",
            p(vec![Sym::Fixed(y)], vec![Sym::Fixed(x)]),
            p(vec![Sym::Fixed(y)], vec![Sym::Fixed(xp), fz()]),
            p(vec![fz()], vec![Sym::Fixed(x)])
        )),
        Task::Cde | Task::Nde if !z.is_empty() && (q.task == Task::Cde || m.is_empty()) => {
            let mut a = cond(x);
            a.push(fz());
            let mut b = cond(xp);
            b.push(fz());
            Some(format!(
                "sum_{{{zs}}} [{}-{}]*{}",
                p(vec![Sym::Fixed(y)], a),
                p(vec![Sym::Fixed(y)], b),
                p(vec![fz()], vec![])
            ))
        }
        Task::Nde if !m.is_empty() => {
            let (sz, pz, gz) = sum_z(problem, z);
            Some(format!(
                "sum_{{{ms}}}{sz} [{}-{}]*{}{pz}",
                p(vec![Sym::Fixed(y)], with(vec![Sym::Fixed(x), fm()], &gz)),
                p(vec![Sym::Fixed(y)], with(vec![Sym::Fixed(xp), fm()], &gz)),
                p(vec![fm()], with(vec![Sym::Fixed(xp)], &gz)),
            ))
        }
        Task::Nie => {
            let (sz, pz, gz) = sum_z(problem, z);
            Some(format!(
                "sum_{{{ms}}}{sz} {}*[{}-{}]{pz}",
                p(vec![Sym::Fixed(y)], with(vec![Sym::Fixed(xp), fm()], &gz)),
                p(vec![fm()], with(vec![Sym::Fixed(x)], &gz)),
                p(vec![fm()], with(vec![Sym::Fixed(xp)], &gz)),
            ))
        }
        _ => None,
    }
}

fn with(mut v: Vec<Sym>, extra: &[NodeId]) -> Vec<Sym> {
    if !extra.is_empty() {
        v.push(Sym::Free(extra.to_vec()));
    }
    v
}

/// `(sum_{Z}, *P(Z), Z)` fragments, empty without an adjustment set.
fn sum_z(problem: &Problem, z: &[NodeId]) -> (String, String, Vec<NodeId>) {
    if z.is_empty() {
        (String::new(), String::new(), Vec::new())
    } else {
        let zs = letters(problem, z);
        (format!("sum_{{{zs}}}"), format!("*P({zs})"), z.to_vec())
    }
}

fn values_line(problem: &Problem, d: &Derivation) -> String {
    let vals = d.printed_term_values();
    let mut out = String::with_capacity(16 * d.terms.len());
    for (i, (t, v)) in d.terms.iter().zip(vals).enumerate() {
        if i > 0 {
            out.push('\t');
        }
        t.prob.push_symbol(problem, &mut out);
        out.push('=');
        push_fmt4(&mut out, v);
    }
    out
}

fn effect_steps(problem: &Problem, d: &Derivation, answer: &Answer) -> Vec<String> {
    let q = &problem.query;
    let abbr = q.task.abbr();
    let x = Lit::new(q.treatment, q.x);
    let y = Lit::new(q.outcome, q.y);
    let (xl, yl) = (problem.letter(q.treatment), problem.letter(q.outcome));
    let mut steps = structure_steps(problem);
    match q.task {
        Task::Nde | Task::Nie => steps.push(format!(
            "Find a valid mediator set: {}.",
            set(problem, &d.mediators)
        )),
        Task::Cde => {
            let mut ids = vec![q.treatment];
            ids.extend(q.conditioned.iter().map(|l| l.node));
            steps.push(format!(
                "Identification of the Causal Effect. P({yl}|do({})) can be identified.",
                letters(problem, &ids)
            ));
        }
        _ => steps.push(format!(
            "Identification of the Causal Effect. P({yl}|do({xl})) can be identified."
        )),
    }
    steps.push(format!(
        "Find a valid backdoor adjustment set: {}.",
        set(problem, &d.adjustment)
    ));
    let head = match q.task {
        Task::Ate => format!(
            "{}-{}=",
            do_symbol(problem, y, &[x]),
            do_symbol(problem, y, &[x.flip()])
        ),
        Task::Cde => {
            let mut a = vec![x];
            a.extend(&q.conditioned);
            let mut b = vec![x.flip()];
            b.extend(&q.conditioned);
            format!(
                "{}-{}=",
                do_symbol(problem, y, &a),
                do_symbol(problem, y, &b)
            )
        }
        Task::Ett => format!(
            "E[{yl}_{{{}}}-{yl}_{{{}}}|{}]=",
            problem.lit_symbol(x),
            problem.lit_symbol(x.flip()),
            problem.lit_symbol(x)
        ),
        _ => String::new(),
    };
    let symbolic = d
        .expr
        .print(&|out, i| d.terms[i].prob.push_symbol(problem, out));
    let generic = generic_formula(problem, d)
        .map(|g| format!("{g}="))
        .unwrap_or_default();
    steps.push(format!("{abbr}={head}{generic}{symbolic}"));
    steps.push(values_line(problem, d));
    let vals = d.printed_term_values();
    let numeric = d.expr.print(&|out, i| push_fmt4(out, vals[i]));
    let shown = format_prob(d.value);
    steps.push(format!("{abbr}={numeric}={shown}"));
    steps.push(conclusion(q.task, &shown, answer, problem.convention()));
    steps
}

fn conclusion(task: Task, shown: &str, answer: &Answer, convention: Convention) -> String {
    let yes = matches!(
        answer,
        Answer::Prob {
            yes: Some(true),
            ..
        }
    );
    let abbr = task.abbr();
    let relation = match (convention, task, yes) {
        (Convention::Calm, _, true) => ">0",
        (Convention::Calm, _, false) => "<=0",
        (Convention::CauGym, Task::Ett, true) => "<=-0.001",
        (Convention::CauGym, Task::Ett, false) => ">-0.001",
        (Convention::CauGym, _, true) => ">=0.001",
        (Convention::CauGym, _, false) => "<0.001",
    };
    format!(
        "{abbr}={shown}{relation} so the answer is {}.",
        if yes { "Yes" } else { "No" }
    )
}

fn bound_steps(problem: &Problem, d: &Derivation) -> Vec<String> {
    let (step1, do_sym, do_value) = do_step(problem, d);
    vec![step1, ratio_step(problem, d, &do_sym, do_value)]
}

/// Step 1 of PN/PS: P(y*|do(x')) = Σ_z P(y*|x',z) P(z) (or P(y*|x') without Z); returns the
/// step, the `do` symbol and its value (rounded to 4 decimals in CaLM text).
fn do_step(problem: &Problem, d: &Derivation) -> (String, String, f64) {
    let q = &problem.query;
    let x = Lit::new(q.treatment, q.x);
    let y = Lit::new(q.outcome, q.y);
    let target = match q.bound {
        Some(Bound::Upper) => y.flip(),
        _ => y,
    };
    let do_sym = do_symbol(problem, target, &[x.flip()]);
    let vals = d.printed_term_values();
    let do_expr = d.do_term.clone().unwrap_or(Expr::Sum(vec![]));
    let do_value = do_expr.eval(&vals, problem.convention() == Convention::Calm);
    let sym = do_expr.print(&|out, i| d.terms[i].prob.push_symbol(problem, out));
    let mut step = format!("Calculate {do_sym}\n{do_sym}=");
    if d.adjustment.is_empty() {
        step.push_str(&format!("{sym}={}", fmt4(do_value)));
    } else {
        let zs = letters(problem, &d.adjustment);
        let cond = free_symbol(
            problem,
            &[Sym::Fixed(target)],
            &[Sym::Fixed(x.flip()), Sym::Free(d.adjustment.clone())],
        );
        let values = do_expr
            .leaves()
            .into_iter()
            .map(|i| format!("{}={}", d.terms[i].prob.symbol(problem), fmt4(vals[i])))
            .collect::<Vec<_>>()
            .join("\t");
        let numeric = do_expr.print(&|out, i| push_fmt4(out, vals[i]));
        step.push_str(&format!(
            "sum_{{{zs}}} {cond}*P({zs})={sym}\n{values}\n{do_sym}={numeric}={}",
            fmt4(do_value)
        ));
    }
    (step, do_sym, do_value)
}

/// Step 2 of PN/PS: the clamped ratio, symbolically, numerically and evaluated.
fn ratio_step(problem: &Problem, d: &Derivation, do_sym: &str, do_value: f64) -> String {
    let vals = d.printed_term_values();
    let num = |e: &Expr| e.print(&|out, i| push_fmt4(out, vals[i]));
    let sym = |e: &Expr| e.print(&|out, i| d.terms[i].prob.push_symbol(problem, out));
    let (name, open) = match problem.query.bound {
        Some(Bound::Upper) => ("Upper", "min{1, "),
        _ => ("Lower", "max{0, "),
    };
    let ratio = match &d.expr {
        Expr::Max0(r) | Expr::Min1(r) => r.as_ref(),
        other => other,
    };
    let raw = ratio.eval(&vals, problem.convention() == Convention::Calm);
    let Expr::Ratio(numerator, den) = ratio else {
        return format!("{name} bound: {}", format_prob(d.value));
    };
    let (numerator_sym, numerator_num) = match numerator.as_ref() {
        Expr::Diff(a, b) => (
            format!(
                "{}-{}",
                as_symbol(a, do_sym, &sym),
                as_symbol(b, do_sym, &sym)
            ),
            format!(
                "{}-{}",
                as_number(a, do_value, &num),
                as_number(b, do_value, &num)
            ),
        ),
        other => (sym(other), num(other)),
    };
    format!(
        "{name} bound of {abbr}: {open}[{numerator_sym}]/{}}}\n={open}({numerator_num})/{}}}\n={open}{}}}\n={}",
        sym(den),
        num(den),
        fmt4(raw),
        format_prob(d.value),
        abbr = problem.query.task.abbr(),
    )
}

/// The rounded interventional term prints as its `do` symbol.
fn as_symbol(e: &Expr, do_sym: &str, sym: &dyn Fn(&Expr) -> String) -> String {
    match e {
        Expr::Round4(_) => do_sym.to_string(),
        other => sym(other),
    }
}

fn as_number(e: &Expr, do_value: f64, num: &dyn Fn(&Expr) -> String) -> String {
    match e {
        Expr::Round4(_) => fmt4(do_value),
        other => num(other),
    }
}
