//! The one table `gpu_check` prints: a row per result, aligned columns, a status word per row.

use std::fmt::Write as _;

/// What a row says about its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A check that passed.
    Pass,
    /// A check that failed: the exit status becomes 1.
    Fail,
    /// A measured target not reached (the 80%-of-HBM bar): reported, not a failure of the run.
    Below,
    /// A measurement or fact without a pass/fail bar.
    Info,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Below => "BELOW",
            Status::Info => "",
        }
    }
}

#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<[String; 4]>,
    failed: bool,
}

impl Table {
    pub fn push(&mut self, section: &str, item: &str, value: impl Into<String>, status: Status) {
        self.failed |= status == Status::Fail;
        self.rows.push([
            section.to_string(),
            item.to_string(),
            value.into(),
            status.word().to_string(),
        ]);
    }

    pub fn any_failed(&self) -> bool {
        self.failed
    }

    pub fn render(&self) -> String {
        let header = ["section", "item", "result", "status"].map(String::from);
        let mut widths = [0usize; 4];
        for row in std::iter::once(&header).chain(&self.rows) {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, row: &[String; 4]| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        };
        line(&mut out, &header);
        let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        let _ = writeln!(out, "|-{}-|", rule.join("-|-"));
        for row in &self.rows {
            line(&mut out, row);
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}
