//! Model responses to score: JSONL, one line per item (or several lines per item), each with the
//! item's `id` and its completions. `caugym eval` writes this layout and `caugym score` reads it.
//!
//! A line is `{"id": "item-3", "responses": ["...", "..."]}`; `response`, `completion`,
//! `completions` and `text` are accepted for the completions (one string or an array), and the
//! id may be a string or an integer (the dataset's `idx` or 0-based position). Lines of one id
//! accumulate, so the JSONL of `caugym generate --output` (one completion per line) reads too.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The completions field names, in the order they are looked up.
const COMPLETION_FIELDS: [&str; 5] = ["responses", "response", "completions", "completion", "text"];

/// One line of a responses file as `write_responses` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseLine {
    /// The dataset item's id.
    pub id: String,
    /// Its sampled completions.
    pub responses: Vec<String>,
}

/// Reads a responses file into id → completions (in file order).
pub fn read_responses(path: &Path) -> Result<HashMap<String, Vec<String>>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let record = |what: String| Error::Record {
            path: path.to_path_buf(),
            location: format!("line {}", i + 1),
            what,
        };
        let value: Value =
            serde_json::from_str(&line).map_err(|e| record(format!("invalid JSON: {e}")))?;
        let id = match value.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            Some(other) => {
                return Err(record(format!(
                    "field `id`: expected a string or integer, got {other}"
                )));
            }
            None => return Err(record("missing field `id`".into())),
        };
        let completions = completions_of(&value).map_err(record)?;
        out.entry(id).or_default().extend(completions);
    }
    Ok(out)
}

/// The completions of one line: the first present field of [`COMPLETION_FIELDS`].
fn completions_of(value: &Value) -> std::result::Result<Vec<String>, String> {
    let Some((field, v)) = COMPLETION_FIELDS
        .iter()
        .find_map(|&f| value.get(f).map(|v| (f, v)))
    else {
        return Err(format!(
            "missing the completions (one of `{}`)",
            COMPLETION_FIELDS.join("`, `")
        ));
    };
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("field `{field}`: expected strings, got {other}")),
            })
            .collect(),
        other => Err(format!(
            "field `{field}`: expected a string or an array of strings, got {other}"
        )),
    }
}

/// Writes responses as JSONL, one [`ResponseLine`] per item, atomically (temp file, rename).
pub fn write_responses(path: &Path, lines: &[ResponseLine]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("jsonl.tmp");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(io)?);
    for line in lines {
        let text = serde_json::to_string(line).map_err(|e| io(std::io::Error::other(e)))?;
        writeln!(out, "{text}").map_err(io)?;
    }
    out.flush().map_err(io)?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn reads_every_accepted_shape_and_accumulates_by_id() {
        let f = write(concat!(
            "{\"id\": \"a\", \"responses\": [\"x\", \"y\"]}\n",
            "\n",
            "{\"id\": 7, \"response\": \"z\"}\n",
            "{\"id\": \"a\", \"text\": \"w\", \"index\": 0}\n",
        ));
        let r = read_responses(f.path()).unwrap();
        assert_eq!(r["a"], vec!["x", "y", "w"]);
        assert_eq!(r["7"], vec!["z"]);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn errors_name_the_line_and_field() {
        let cases = [
            ("{\"responses\": [\"x\"]}\n", "line 1: missing field `id`"),
            (
                "{\"id\": \"a\", \"response\": \"x\"}\n{\"id\": \"b\"}\n",
                "line 2: missing the completions",
            ),
            (
                "{\"id\": \"a\", \"responses\": [1]}\n",
                "line 1: field `responses`: expected strings",
            ),
            ("{\"id\": 1.5, \"response\": \"x\"}\n", "line 1: field `id`"),
            ("not json\n", "line 1: invalid JSON"),
        ];
        for (text, want) in cases {
            let f = write(text);
            let err = read_responses(f.path()).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} lacks {want:?}");
            assert!(err.contains(&f.path().display().to_string()));
        }
    }

    #[test]
    fn written_responses_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let lines = vec![
            ResponseLine {
                id: "1".into(),
                responses: vec!["a".into(), "b\n{\"PROB\": 1}".into()],
            },
            ResponseLine {
                id: "x".into(),
                responses: vec![],
            },
        ];
        write_responses(&path, &lines).unwrap();
        let r = read_responses(&path).unwrap();
        assert_eq!(r["1"], lines[0].responses);
        assert!(r["x"].is_empty());
    }
}
