//! Variable names as the parser meets them: one node per name, whatever its spelling.
//!
//! The same variable is written differently across one problem: capitalised at the start of an
//! edge sentence, and in the CauGym sets *mangled* in probability sentences — their generator
//! joined a list with `", "` and then replaced the last `", "` by `" and "`, so a name with a comma
//! that comes last loses its comma (`weather conditions (e.g. wind, humidity)` becomes
//! `weather conditions (e.g. wind and humidity)`). Names are therefore compared by a key that
//! ignores case, punctuation and the word `and`.

use crate::problem::NodeId;

/// The comparison key of a name: lower-case alphanumeric words, without `and`.
pub fn name_key(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !w.eq_ignore_ascii_case("and"))
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Lower-cases the first character (undoing sentence-initial capitalisation).
pub fn decapitalize(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One variable being collected by the parser.
#[derive(Debug, Clone)]
struct Entry {
    /// Best spelling so far.
    name: String,
    key: String,
    /// Whether `name` was seen in a non-sentence-initial position (so its case is exact).
    exact_case: bool,
}

/// The variables of one problem, in order of first mention.
#[derive(Debug, Clone, Default)]
pub struct NameTable {
    entries: Vec<Entry>,
}

impl NameTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no variable has been added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The node a spelling refers to, if known.
    pub fn resolve(&self, text: &str) -> Option<NodeId> {
        let key = name_key(text);
        if key.is_empty() {
            return None;
        }
        self.entries.iter().position(|e| e.key == key)
    }

    /// Registers a spelling and returns its node. `sentence_initial` spellings have an unreliable
    /// first letter, so a later mid-sentence spelling replaces them.
    pub fn add(&mut self, text: &str, sentence_initial: bool) -> NodeId {
        let text = text.trim();
        if let Some(id) = self.resolve(text) {
            let e = &mut self.entries[id];
            if !e.exact_case && !sentence_initial && !text.contains(" and ") {
                e.name = text.to_string();
                e.exact_case = true;
            }
            return id;
        }
        let name = if sentence_initial {
            decapitalize(text)
        } else {
            text.to_string()
        };
        self.entries.push(Entry {
            key: name_key(&name),
            name,
            exact_case: !sentence_initial,
        });
        self.entries.len() - 1
    }

    /// The printed name of node `id`.
    pub fn name(&self, id: NodeId) -> &str {
        self.entries.get(id).map_or("", |e| e.name.as_str())
    }

    /// The names, by node.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// The longest known name that `text` starts with (case-insensitively) and its byte length
    /// in `text`.
    pub fn longest_prefix(&self, text: &str) -> Option<(NodeId, usize)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                text.get(..e.name.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(&e.name))
            })
            .max_by_key(|(_, e)| e.name.len())
            .map(|(i, e)| (i, e.name.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_the_benchmarks_mangled_join() {
        assert_eq!(
            name_key("Weather conditions (e.g. wind, humidity) for starting a forest fire"),
            name_key("weather conditions (e.g. wind and humidity) for starting a forest fire")
        );
        assert_ne!(name_key("student's grades"), name_key("student's grade"));
    }

    #[test]
    fn table_prefers_mid_sentence_spellings() {
        let mut t = NameTable::new();
        let a = t.add("Ceo's decision", true);
        assert_eq!(t.name(a), "ceo's decision");
        let b = t.add("GDP growth", false);
        assert_eq!(t.add("Gdp growth", true), b);
        assert_eq!(t.name(b), "GDP growth");
        assert_eq!(t.resolve("ceo's DECISION"), Some(a));
        assert_eq!(t.longest_prefix("gdp growth being high"), Some((b, 10)));
    }
}
