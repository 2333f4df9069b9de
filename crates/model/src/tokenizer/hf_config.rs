//! Typed access to the loosely typed JSON config files of a Hugging Face checkpoint.
//!
//! The files are read as plain JSON objects rather than serde structs because the same field comes
//! in several shapes across releases (a token is a string or an `{"content": ...}` object, an id is
//! an int or a list, a chat template is a string or a list of named templates) and because every
//! error must name the file and the field. Absent and `null` are distinguished where it matters
//! (`bos_token: null` means "no bos", absence means "ask the next file").

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::{Result, TokenizerError};

/// One parsed JSON config file that remembers its path for error messages.
#[derive(Debug, Clone)]
pub(crate) struct JsonFile {
    pub path: PathBuf,
    map: Map<String, Value>,
}

/// A field that may be absent, explicitly `null`, or set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Field<T> {
    Absent,
    Null,
    Set(T),
}

impl JsonFile {
    /// Reads and parses `path`; the top level must be a JSON object.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenizerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|source| TokenizerError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        match value {
            Value::Object(map) => Ok(Self {
                path: path.to_path_buf(),
                map,
            }),
            other => Err(TokenizerError::InvalidField {
                file: path.to_path_buf(),
                field: "(top level)".into(),
                reason: format!("expected a JSON object, found {}", json_kind(&other)),
            }),
        }
    }

    fn invalid(&self, field: &str, reason: impl Into<String>) -> TokenizerError {
        TokenizerError::InvalidField {
            file: self.path.clone(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn field(&self, field: &str) -> Field<&Value> {
        match self.map.get(field) {
            None => Field::Absent,
            Some(Value::Null) => Field::Null,
            Some(v) => Field::Set(v),
        }
    }

    /// A special-token field: a string, or an object whose `content` is the string
    /// (transformers writes `{"__type": "AddedToken", "content": ..., "lstrip": ...}`).
    pub fn token_text(&self, field: &str) -> Result<Field<String>> {
        Ok(match self.field(field) {
            Field::Absent => Field::Absent,
            Field::Null => Field::Null,
            Field::Set(v) => Field::Set(self.token_text_of(field, v)?),
        })
    }

    fn token_text_of(&self, field: &str, value: &Value) -> Result<String> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Object(obj) => match obj.get("content") {
                Some(Value::String(s)) => Ok(s.clone()),
                _ => Err(self.invalid(field, "token object without a string `content`")),
            },
            other => Err(self.invalid(
                field,
                format!(
                    "expected a string or a token object, found {}",
                    json_kind(other)
                ),
            )),
        }
    }

    /// A token-id field: one non-negative integer or a list of them.
    pub fn token_ids(&self, field: &str) -> Result<Field<Vec<u32>>> {
        let as_id = |v: &Value| -> Result<u32> {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| self.invalid(field, format!("expected a token id, found {v}")))
        };
        Ok(match self.field(field) {
            Field::Absent => Field::Absent,
            Field::Null => Field::Null,
            Field::Set(Value::Array(items)) => {
                Field::Set(items.iter().map(as_id).collect::<Result<_>>()?)
            }
            Field::Set(v) => Field::Set(vec![as_id(v)?]),
        })
    }

    /// `chat_template`: a string, or the list form `[{"name": ..., "template": ...}, ...]`.
    /// Returns `(name, source)` pairs; the string form is named `default`.
    pub fn chat_templates(&self, field: &str) -> Result<Vec<(String, String)>> {
        match self.field(field) {
            Field::Absent | Field::Null => Ok(Vec::new()),
            Field::Set(Value::String(s)) => Ok(vec![("default".into(), s.clone())]),
            Field::Set(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    let name = item.get("name").and_then(Value::as_str);
                    let template = item.get("template").and_then(Value::as_str);
                    match (name, template) {
                        (Some(n), Some(t)) => Ok((n.to_string(), t.to_string())),
                        _ => Err(self.invalid(
                            field,
                            "list entries must be objects with string `name` and `template`",
                        )),
                    }
                })
                .collect(),
            Field::Set(other) => Err(self.invalid(
                field,
                format!(
                    "expected a string or a list of named templates, found {}",
                    json_kind(other)
                ),
            )),
        }
    }

    /// `added_tokens_decoder`: `{"<id>": {"content": ..., ...}}` as sorted `(id, content)` pairs.
    pub fn added_tokens_decoder(&self) -> Result<Vec<(u32, String)>> {
        let field = "added_tokens_decoder";
        let obj = match self.field(field) {
            Field::Absent | Field::Null => return Ok(Vec::new()),
            Field::Set(Value::Object(obj)) => obj,
            Field::Set(other) => {
                return Err(self.invalid(
                    field,
                    format!("expected an object, found {}", json_kind(other)),
                ));
            }
        };
        let mut pairs = obj
            .iter()
            .map(|(id, token)| {
                let id = id
                    .parse::<u32>()
                    .map_err(|_| self.invalid(field, format!("key {id:?} is not a token id")))?;
                Ok((id, self.token_text_of(field, token)?))
            })
            .collect::<Result<Vec<_>>>()?;
        pairs.sort();
        Ok(pairs)
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
