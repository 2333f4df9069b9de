//! Reading and writing datasets: the benchmark's JSON-array files and JSONL.
//!
//! Records need only `problem` and `answer`; `Type`/`task`, `id`/`idx`, `variant`, `solution`
//! and `Reason` are read when present. Every error names the file, the line (JSONL) or item index
//! (JSON array), and the field.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use caugym_scm::Task;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The benchmark's `Reason` dict: `("Step 1", text)`, … in step order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reason(pub Vec<(String, String)>);

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Reason {
    /// The text of step `n` (1-based), if present.
    pub fn step(&self, n: usize) -> Option<&str> {
        let key = format!("Step {n}");
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One record of a dataset file.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetItem {
    /// `id`, else `idx`, else the 0-based position in the file.
    pub id: String,
    /// `Type` or `task`, when present.
    pub task: Option<Task>,
    /// `variant`, when present (generated files).
    pub variant: Option<String>,
    /// The prompt.
    pub problem: String,
    /// The gold: a JSON answer string or `LACK_CONDITION`.
    pub answer: String,
    /// A worked solution, when present (generated files).
    pub solution: Option<String>,
    /// The benchmark's `Reason` dict, when present.
    pub reason: Option<Reason>,
}

/// Reads a dataset: a JSON array (first non-blank character `[`) or JSONL.
pub fn read_items(path: &Path) -> Result<Vec<DatasetItem>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_items(&text, path)
}

/// Parses dataset text; `path` is only used in error messages.
pub fn parse_items(text: &str, path: &Path) -> Result<Vec<DatasetItem>> {
    let record_err = |location: String, what: String| Error::Record {
        path: path.to_path_buf(),
        location,
        what,
    };
    if text.trim_start().starts_with('[') {
        let values: Vec<Value> = serde_json::from_str(text).map_err(|e| {
            record_err(
                format!("line {}, column {}", e.line(), e.column()),
                format!("not a JSON array of objects: {e}"),
            )
        })?;
        values
            .iter()
            .enumerate()
            .map(|(i, v)| item_from(v, i).map_err(|what| record_err(format!("item {i}"), what)))
            .collect()
    } else {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let location = format!("line {}", n + 1);
            let v: Value = serde_json::from_str(line)
                .map_err(|e| record_err(location.clone(), format!("invalid JSON: {e}")))?;
            out.push(item_from(&v, out.len()).map_err(|what| record_err(location, what))?);
        }
        Ok(out)
    }
}

fn string_field(
    obj: &Map<String, Value>,
    key: &str,
) -> std::result::Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("field `{key}` must be a string, found {other}")),
    }
}

fn item_from(v: &Value, position: usize) -> std::result::Result<DatasetItem, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| "record is not a JSON object".to_string())?;
    let problem =
        string_field(obj, "problem")?.ok_or_else(|| "missing field `problem`".to_string())?;
    let answer =
        string_field(obj, "answer")?.ok_or_else(|| "missing field `answer`".to_string())?;
    let task = match (string_field(obj, "Type")?, string_field(obj, "task")?) {
        (Some(t), _) | (None, Some(t)) => Some(
            t.parse::<Task>()
                .map_err(|e| format!("field `Type`/`task`: {e}"))?,
        ),
        (None, None) => None,
    };
    let id = match obj.get("id").or_else(|| obj.get("idx")) {
        None | Some(Value::Null) => position.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(format!(
                "field `id`/`idx` must be a string or number, found {other}"
            ));
        }
    };
    let reason = match obj.get("Reason") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => {
            let mut steps = Vec::with_capacity(m.len());
            for (k, v) in m {
                let text = v
                    .as_str()
                    .ok_or_else(|| format!("field `Reason.{k}` must be a string"))?;
                steps.push((k.clone(), text.to_string()));
            }
            steps.sort_by_key(|(k, _)| step_number(k));
            Some(Reason(steps))
        }
        Some(_) => return Err("field `Reason` must be an object".to_string()),
    };
    Ok(DatasetItem {
        id,
        task,
        variant: string_field(obj, "variant")?,
        problem,
        answer,
        solution: string_field(obj, "solution")?,
        reason,
    })
}

fn step_number(key: &str) -> (u32, String) {
    let n = key
        .trim_start_matches("Step ")
        .parse::<u32>()
        .unwrap_or(u32::MAX);
    (n, key.to_string())
}

/// A record in the benchmark's JSON-array layout.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchmarkRecord {
    /// The prompt.
    pub problem: String,
    /// The gold answer string.
    pub answer: String,
    /// The task abbreviation.
    #[serde(rename = "Type")]
    pub task: Task,
    /// The worked solution in the benchmark's shape.
    #[serde(rename = "Reason")]
    pub reason: Reason,
    /// An identifier.
    pub id: String,
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: PathBuf::from(path),
        source,
    }
}

/// Writes one JSON object per line.
pub fn write_jsonl_to<W: Write, T: Serialize>(mut w: W, records: &[T]) -> std::io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut w, r)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// Writes a JSON array, one record per element (pretty-printed, like the benchmark's files).
pub fn write_json_array_to<W: Write, T: Serialize>(mut w: W, records: &[T]) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut w, records)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// [`write_jsonl_to`] into a file.
pub fn write_jsonl<T: Serialize>(path: &Path, records: &[T]) -> Result<()> {
    write_jsonl_to(create(path)?, records).map_err(io_err(path))
}

/// [`write_json_array_to`] into a file.
pub fn write_json_array<T: Serialize>(path: &Path, records: &[T]) -> Result<()> {
    write_json_array_to(create(path)?, records).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_layouts_and_minimal_records() {
        let p = Path::new("mem.json");
        let arr = r#"[{"problem": "p0", "answer": "LACK_CONDITION", "Type": "PN", "idx": 7,
                       "Reason": {"Step 2": "b", "Step 1": "a"}},
                      {"problem": "p1", "answer": "{\"PROB\": \"0.5\"}"}]"#;
        let items = parse_items(arr, p).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].id.as_str(), items[0].task), ("7", Some(Task::Pn)));
        assert_eq!(items[0].reason.as_ref().unwrap().step(1), Some("a"));
        assert_eq!((items[1].id.as_str(), items[1].task), ("1", None));
        let jsonl = "{\"problem\": \"a\", \"answer\": \"b\", \"task\": \"ate\", \"id\": \"x\"}\n\n{\"problem\": \"c\", \"answer\": \"d\"}\n";
        let items = parse_items(jsonl, p).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            (items[0].id.as_str(), items[0].task),
            ("x", Some(Task::Ate))
        );
        assert_eq!(items[1].id, "1");
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let p = Path::new("data/x.jsonl");
        let bad = "{\"problem\": \"a\", \"answer\": \"b\"}\n{\"answer\": \"b\"}\n";
        let msg = parse_items(bad, p).unwrap_err().to_string();
        assert!(
            msg.contains("data/x.jsonl") && msg.contains("line 2") && msg.contains("`problem`"),
            "{msg}"
        );
        let msg = parse_items("{\"problem\": 3, \"answer\": \"b\"}", p)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("line 1") && msg.contains("`problem` must be a string"),
            "{msg}"
        );
        let msg = parse_items(
            "[{\"problem\": \"a\", \"answer\": \"b\", \"Type\": \"XYZ\"}]",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("item 0") && msg.contains("Type"), "{msg}");
        let msg = parse_items("{not json", p).unwrap_err().to_string();
        assert!(
            msg.contains("line 1") && msg.contains("invalid JSON"),
            "{msg}"
        );
    }

    #[test]
    fn writers_round_trip() {
        let rec = BenchmarkRecord {
            problem: "p".into(),
            answer: "{\"PROB\": \"0.1000\"}".into(),
            task: Task::Ps,
            reason: Reason(vec![("Step 1".into(), "s1".into())]),
            id: "g-1".into(),
        };
        let mut buf = Vec::new();
        write_json_array_to(&mut buf, std::slice::from_ref(&rec)).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let items = parse_items(&text, Path::new("m")).unwrap();
        assert_eq!(items[0].task, Some(Task::Ps));
        assert_eq!(items[0].reason, Some(rec.reason.clone()));
        let mut buf = Vec::new();
        write_jsonl_to(&mut buf, &[rec.clone(), rec]).unwrap();
        let items = parse_items(std::str::from_utf8(&buf).unwrap(), Path::new("m")).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].id, "g-1");
    }
}
