//! Append-only JSONL logs of a run (`metrics.jsonl`, `samples.jsonl`): one flushed line per
//! record, so a crash loses nothing already written; a resumed run first drops the lines written
//! after its checkpoint, so the file reads as if the run had never stopped.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{Error, Result};

/// An open JSONL log.
#[derive(Debug)]
pub struct JsonlLog {
    path: PathBuf,
    file: BufWriter<File>,
}

impl JsonlLog {
    /// Opens `path` for appending (creating it). With `keep_through = Some(step)`, lines whose
    /// `"step"` exceeds `step` are removed first (an unreadable last line, cut by a crash, too).
    pub fn open(path: &Path, keep_through: Option<u64>) -> Result<Self> {
        if let Some(step) = keep_through {
            truncate_after(path, step)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
        })
    }

    /// Appends one line and flushes it.
    pub fn write_line(&mut self, line: &str) -> Result<()> {
        let io = |e| Error::io(&self.path, e);
        self.file.write_all(line.as_bytes()).map_err(io)?;
        self.file.write_all(b"\n").map_err(io)?;
        self.file.flush().map_err(io)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `{"step":N,"name":value,...}` with the names in the given order; a non-finite value is
/// written as `null` (JSON has no NaN).
pub fn metrics_line<'a>(step: u64, metrics: impl IntoIterator<Item = (&'a str, f64)>) -> String {
    let mut s = format!("{{\"step\":{step}");
    for (name, v) in metrics {
        let key = Value::String(name.to_string()).to_string();
        let value = serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number);
        s.push(',');
        s.push_str(&key);
        s.push(':');
        s.push_str(&value.to_string());
    }
    s.push('}');
    s
}

fn truncate_after(path: &Path, step: u64) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut kept = String::new();
    for (i, line) in lines.iter().enumerate() {
        let parsed = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v.get("step").and_then(Value::as_u64));
        match parsed {
            Some(s) if s <= step => {
                kept.push_str(line);
                kept.push('\n');
            }
            Some(_) => {}
            None if i + 1 == lines.len() => {} // cut by a crash mid-line
            None => {
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    reason: format!("line {}: not a JSON object with a \"step\"", i + 1),
                });
            }
        }
    }
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, kept).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
