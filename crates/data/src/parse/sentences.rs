//! Edge sentences and probability sentences.

use std::sync::LazyLock;

use regex::Regex;

use super::lits::{RawLit, parse_lits};
use crate::names::NameTable;
use crate::template::{Template, slot};
use crate::wording::BANK;

/// An edge as written: cause and effect text, and whether each stood at the sentence start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEdge {
    /// Cause as written.
    pub cause: String,
    /// Effect as written.
    pub effect: String,
    /// The cause opened the sentence (its first letter is then capitalised).
    pub cause_initial: bool,
    /// The effect opened the sentence.
    pub effect_initial: bool,
    /// Index of the template in the bank (0 = the benchmark's).
    pub template: usize,
}

/// Splits the edge block into sentences at a period followed by a capital letter (or the end);
/// a chunk that no template reads is split further at every `. ` (CaLM items sometimes start an
/// edge sentence with a lower-case name). `context` (the whole prompt) settles ambiguous splits,
/// see [`edge`].
pub fn parse_edges(text: &str, context: &str) -> Result<Vec<RawEdge>, String> {
    let context = context.to_lowercase();
    let mut out = Vec::new();
    for chunk in split_at_capitals(text) {
        // Sentences at every `. ` first, so that a slot cannot swallow the next sentence; a name
        // with a period in it (`(e.g. lightning)`) then fails here and the whole chunk is read.
        let pieces: Vec<&str> = chunk.split_inclusive(". ").map(str::trim).collect();
        let edges: Option<Vec<RawEdge>> = pieces.iter().map(|p| edge(p, &context)).collect();
        match edges {
            Some(v) => out.extend(v),
            None => out.push(
                edge(chunk, &context)
                    .ok_or_else(|| format!("unreadable edge sentence `{chunk}`"))?,
            ),
        }
    }
    Ok(out)
}

fn split_at_capitals(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'.' {
            continue;
        }
        let next = text[i + 1..].trim_start();
        if next.is_empty() || next.starts_with(|c: char| c.is_uppercase()) {
            let s = text[start..=i].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = i + 1;
        }
    }
    let tail = text[start..].trim();
    if !tail.is_empty() {
        out.push(tail);
    }
    out
}

/// Reads one edge sentence. When a name contains the template's own words (`from {cause} to
/// {effect}` with a cause `exposed to a disease`), several splits fit; the one whose two names
/// occur most often in the prompt (the smaller count of the two) wins, the first split on ties.
fn edge(sentence: &str, context: &str) -> Option<RawEdge> {
    let sentence = sentence.trim();
    let sentence = if sentence.ends_with('.') {
        sentence.to_string()
    } else {
        format!("{sentence}.")
    };
    let mentions = |name: &str| context.matches(&name.trim().to_lowercase()).count();
    BANK.edges.iter().enumerate().find_map(|(i, t)| {
        let splits: Vec<_> = t
            .all_captures(&sentence, 16)
            .into_iter()
            .filter(|c| {
                ["cause", "effect"]
                    .iter()
                    .all(|s| slot(c, s).is_some_and(|v| !v.trim().is_empty()))
            })
            .collect();
        let score = |c: &crate::template::Captures| {
            let n = |s| slot(c, s).map_or(0, mentions);
            n("cause").min(n("effect"))
        };
        let best = splits.iter().map(score).max()?;
        let caps = splits.into_iter().find(|c| score(c) == best)?;
        let cause = slot(&caps, "cause")?.trim().to_string();
        let effect = slot(&caps, "effect")?.trim().to_string();
        Some(RawEdge {
            cause,
            effect,
            cause_initial: t.source().starts_with("{cause}"),
            effect_initial: t.source().starts_with("{effect}"),
            template: i,
        })
    })
}

/// A probability sentence before resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct RawStatement {
    /// The event list.
    pub event: Vec<RawLit>,
    /// The condition list (empty for marginals and joints).
    pub given: Vec<RawLit>,
    /// The printed number.
    pub prob: f64,
    /// Whether the benchmark's own template was used.
    pub canonical: bool,
}

/// A printed probability: `0.1234` (4 decimals; any number of decimals is accepted).
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[01]\.\d+\b\.?").expect("constant regex"));

/// Splits a data line after each printed number (and its period, if any).
pub fn split_statements(data: &str) -> (Vec<&str>, Option<&str>) {
    let mut out = Vec::new();
    let mut start = 0;
    for m in NUMBER.find_iter(data) {
        let s = data[start..m.end()].trim();
        out.push(s.strip_suffix('.').unwrap_or(s));
        start = m.end();
    }
    let rest = data[start..].trim();
    (out, (!rest.is_empty()).then_some(rest))
}

/// Reads one probability sentence (without its final period); `None` if no template fits.
pub fn parse_statement(sentence: &str, names: &NameTable) -> Option<RawStatement> {
    let sentence = sentence.trim();
    let try_bank = |bank: &[Template], conditional: bool| {
        bank.iter().enumerate().find_map(|(i, t)| {
            let mut found = None;
            t.captures(sentence, &mut |c| {
                let Some(p) = slot(c, "p").and_then(|p| p.trim().parse::<f64>().ok()) else {
                    return false;
                };
                let Some(event) = slot(c, "event").and_then(|e| parse_lits(e, names)) else {
                    return false;
                };
                let given = if conditional {
                    match slot(c, "given").and_then(|g| parse_lits(g, names)) {
                        Some(g) => g,
                        None => return false,
                    }
                } else {
                    Vec::new()
                };
                let sizes_ok = if conditional {
                    event.len() == 1
                } else {
                    (1..=2).contains(&event.len())
                };
                if sizes_ok && (0.0..=1.0).contains(&p) {
                    found = Some(RawStatement {
                        event,
                        given,
                        prob: p,
                        canonical: i == 0,
                    });
                    true
                } else {
                    false
                }
            })?;
            found
        })
    };
    try_bank(&BANK.conditionals, true).or_else(|| try_bank(&BANK.marginals, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_split_at_capitals_and_lowercase_starts() {
        let text = "Ignition source in the forest (e.g. lightning) has a direct effect on damage.Presence of firefighters has a direct effect on spread. Market demand has a direct effect on appearance. appearance has a direct effect on employee performance.";
        let edges = parse_edges(text, text).unwrap();
        let pairs: Vec<(&str, &str)> = edges
            .iter()
            .map(|e| (e.cause.as_str(), e.effect.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("Ignition source in the forest (e.g. lightning)", "damage"),
                ("Presence of firefighters", "spread"),
                ("Market demand", "appearance"),
                ("appearance", "employee performance"),
            ]
        );
        assert!(parse_edges("Nothing here.", "").is_err());
        let alt = parse_edges("Rain is directly affected by cloud cover.", "").unwrap();
        assert_eq!(alt[0].cause, "cloud cover");
        assert!(alt[0].effect_initial && !alt[0].cause_initial);
        // A name containing the template's own words: the split whose names recur wins.
        let text = "Ice directly influences melt directly influences flood.";
        let context = format!("{text} For ice directly influences melt being low, flood is ...");
        let e = parse_edges(text, &context).unwrap();
        assert_eq!(
            (e[0].cause.as_str(), e[0].effect.as_str()),
            ("Ice directly influences melt", "flood")
        );
    }

    #[test]
    fn data_lines_split_after_numbers() {
        let (s, rest) = split_statements("A is 0.4358. B is 0.0511. ");
        assert_eq!(s, vec!["A is 0.4358", "B is 0.0511"]);
        assert_eq!(rest, None);
        let (s, rest) = split_statements("A is 0.4172. B is 0.1000 trailing");
        assert_eq!(s.len(), 2);
        assert_eq!(rest, Some("trailing"));
    }

    #[test]
    fn reads_the_three_sentence_shapes() {
        let mut names = NameTable::new();
        for n in ["ydlu", "izlq"] {
            names.add(n, false);
        }
        let c = parse_statement(
            "For those with ydlu being low, the probability of izlq being low is 0.2210",
            &names,
        )
        .unwrap();
        assert_eq!((c.given.len(), c.event.len(), c.prob), (1, 1, 0.221));
        assert!(c.canonical);
        let j = parse_statement(
            "The probability of ydlu being high and izlq being high is 0.6681",
            &names,
        )
        .unwrap();
        assert_eq!((j.given.len(), j.event.len()), (0, 2));
        let m = parse_statement("The chance of ydlu being high is 0.5000", &names).unwrap();
        assert!(!m.canonical && m.event.len() == 1);
        assert!(parse_statement("lightning) being harmful (D=0) is 0.5198", &names).is_none());
    }
}
