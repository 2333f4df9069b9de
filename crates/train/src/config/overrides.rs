//! `--set key=value` overrides, applied to the parsed TOML table before it is deserialised, so
//! an override goes through exactly the checks a value in the file does.

use toml::{Table, Value};

use super::check::fail;
use crate::Result;

/// One parsed override.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// The dotted key, e.g. `grpo.beta`.
    pub key: String,
    /// The value: a TOML literal (`0.04`, `true`, `["ATE", "PN"]`, `"text"`), or else the
    /// text itself as a string, so `model.path=runs/sft/final` needs no quotes.
    pub value: Value,
}

impl Override {
    /// Parses `key=value`.
    pub fn parse(spec: &str) -> Result<Self> {
        let Some((key, raw)) = spec.split_once('=') else {
            return fail(
                spec,
                "an override is `key=value`, e.g. `--set grpo.beta=0.04`",
            );
        };
        let key = key.trim();
        if key.is_empty() || key.split('.').any(|part| part.trim().is_empty()) {
            return fail(
                spec,
                "the key must be a dotted path such as `optim.learning_rate`",
            );
        }
        let raw = raw.trim();
        let value = match format!("v = {raw}").parse::<Table>() {
            Ok(mut t) => t
                .remove("v")
                .unwrap_or_else(|| Value::String(raw.to_string())),
            Err(_) => Value::String(raw.to_string()),
        };
        Ok(Self {
            key: key.to_string(),
            value,
        })
    }

    /// Sets the value in `table`, creating missing intermediate tables. Whether the key exists
    /// is decided by deserialisation, which rejects unknown keys by name.
    pub fn apply(&self, table: &mut Table) -> Result<()> {
        let parts: Vec<&str> = self.key.split('.').map(str::trim).collect();
        let Some((last, parents)) = parts.split_last() else {
            return fail(&self.key, "empty key");
        };
        let mut here = table;
        for (i, part) in parents.iter().enumerate() {
            let entry = here
                .entry((*part).to_string())
                .or_insert_with(|| Value::Table(Table::new()));
            here = match entry {
                Value::Table(t) => t,
                _ => {
                    return fail(
                        &self.key,
                        format!("`{}` is a value, not a table", parts[..=i].join(".")),
                    );
                }
            };
        }
        here.insert((*last).to_string(), self.value.clone());
        Ok(())
    }
}
