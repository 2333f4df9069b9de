//! The reader never panics: mutated problem texts (truncated, cut, spliced with arbitrary
//! Unicode) give an answer or an error.

use std::sync::LazyLock;

use caugym_data::pools::NamePool;
use caugym_data::{GenConfig, Layout, Variant, generate, parse_problem, read_items, solve_text};
use proptest::prelude::*;

/// A few generated items of every variant and some official paraphrased items, built once.
static CORPUS: LazyLock<Vec<String>> = LazyLock::new(corpus);

fn corpus() -> Vec<String> {
    let mut texts: Vec<String> = Variant::ALL
        .into_iter()
        .flat_map(|variant| {
            generate(&GenConfig {
                count: 7,
                variant,
                seed: 21,
                layout: if variant == Variant::Omitted {
                    Layout::Calm
                } else {
                    Layout::CauGym
                },
                names: NamePool::Mixed,
                ..GenConfig::default()
            })
            .unwrap()
        })
        .map(|i| i.problem)
        .collect();
    let base = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/caugym-eval/omitted.json"
    );
    texts.extend(
        read_items(std::path::Path::new(base))
            .unwrap()
            .into_iter()
            .take(20)
            .map(|i| i.problem),
    );
    texts
}

/// Cuts `text` at the char boundary nearest below `at`.
fn floor(text: &str, at: usize) -> usize {
    let mut i = at.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn mutated_texts_never_panic(
        pick in 0usize..62,
        a in 0usize..4000,
        b in 0usize..4000,
        insert in "\\PC{0,12}",
        kind in 0u8..4,
    ) {
        let text = &CORPUS[pick % CORPUS.len()];
        let (i, j) = (floor(text, a.min(b)), floor(text, a.max(b)));
        let mutated = match kind {
            0 => text[..j].to_string(),
            1 => format!("{}{}", &text[..i], &text[j..]),
            2 => format!("{}{insert}{}", &text[..i], &text[i..]),
            _ => format!("{}{insert}{}", &text[..i], &text[j..]),
        };
        let _ = parse_problem(&mutated);
        let _ = solve_text(&mutated);
    }

    #[test]
    fn arbitrary_text_gives_an_error_not_a_panic(text in "\\PC{0,300}") {
        prop_assert!(parse_problem(&text).is_err());
        let _ = solve_text(&text);
    }
}
