//! Where weights come from (kept apart from the model, as candle's VarBuilder is): a HF
//! checkpoint directory with one or several safetensors shards (memory-mapped), a hub repo id
//! resolved through hf-hub's local cache, or an in-memory map. Also the atomic checkpoint writer.

use crate::config::Qwen2Config;
use crate::qwen2::Qwen2;
use crate::{Error, Result};
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Files of a tokenizer that travel with a checkpoint when it is saved.
pub const TOKENIZER_FILES: [&str; 5] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "chat_template.jinja",
];

/// A source of named tensors (HF checkpoint names).
pub trait WeightSource {
    /// The tensor `name` on `device`, in its stored dtype; [`Error::MissingTensor`] if absent.
    fn tensor(&self, name: &str, device: &Device) -> Result<Tensor>;
}

impl WeightSource for HashMap<String, Tensor> {
    fn tensor(&self, name: &str, device: &Device) -> Result<Tensor> {
        let t = self.get(name).ok_or_else(|| Error::MissingTensor {
            name: name.to_string(),
        })?;
        Ok(t.to_device(device)?)
    }
}

/// Memory-mapped safetensors files, one or several shards.
pub struct SafetensorsWeights {
    inner: MmapedSafetensors,
    names: BTreeSet<String>,
}

impl SafetensorsWeights {
    /// Maps the shards of the checkpoint in `dir`: the files named by
    /// `model.safetensors.index.json` if present, else `model.safetensors`.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let index = dir.join("model.safetensors.index.json");
        let files = if index.exists() {
            shard_files(&index)?
        } else {
            vec![dir.join("model.safetensors")]
        };
        Self::open_files(&files)
    }

    /// Maps the given safetensors files.
    pub fn open_files(files: &[PathBuf]) -> Result<Self> {
        for f in files {
            if !f.is_file() {
                return Err(Error::io(
                    f,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                ));
            }
        }
        // SAFETY: the files are mapped read-only; as with every mmap-based loader (candle's
        // VarBuilder, safetensors in Python), they must not be modified while the model loads.
        let inner = unsafe { MmapedSafetensors::multi(files) }.map_err(|e| Error::Safetensors {
            path: files.first().cloned().unwrap_or_default(),
            reason: e.to_string(),
        })?;
        let names = inner.tensors().into_iter().map(|(n, _)| n).collect();
        Ok(Self { inner, names })
    }

    /// Names of every stored tensor.
    pub fn names(&self) -> &BTreeSet<String> {
        &self.names
    }
}

impl WeightSource for SafetensorsWeights {
    fn tensor(&self, name: &str, device: &Device) -> Result<Tensor> {
        if !self.names.contains(name) {
            return Err(Error::MissingTensor {
                name: name.to_string(),
            });
        }
        Ok(self.inner.load(name, device)?)
    }
}

/// The shard files listed in a `model.safetensors.index.json` (its `weight_map` values).
fn shard_files(index: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|source| Error::Json {
        path: index.to_path_buf(),
        source,
    })?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::Safetensors {
            path: index.to_path_buf(),
            reason: "no `weight_map` object".into(),
        })?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let files: BTreeSet<String> = map
        .values()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    Ok(files.into_iter().map(|f| dir.join(f)).collect())
}

/// Resolves `spec` to a local checkpoint directory: an existing directory is used as is;
/// otherwise `spec` is read as a hub repo id (`owner/name`, optionally `@revision`) and looked
/// up in hf-hub's cache (`$HF_HOME/hub`, default `~/.cache/huggingface/hub`). This build never
/// downloads: a repo that is not cached is an error naming the repo and the cache path.
pub fn resolve_model_dir(spec: &str) -> Result<PathBuf> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let (repo_id, revision) = match spec.split_once('@') {
        Some((r, rev)) => (r, rev.to_string()),
        None => (spec, "main".to_string()),
    };
    let cache = hf_hub::Cache::from_env();
    let unavailable = |reason: &str| Error::HubUnavailable {
        repo: spec.to_string(),
        cache: cache.path().clone(),
        reason: reason.to_string(),
    };
    if repo_id.split('/').count() != 2 || repo_id.starts_with('.') || repo_id.starts_with('/') {
        return Err(unavailable(
            "not a directory, and not a hub repo id of the form owner/name",
        ));
    }
    let repo = cache.repo(hf_hub::Repo::with_revision(
        repo_id.to_string(),
        hf_hub::RepoType::Model,
        revision,
    ));
    let config = repo.get("config.json").ok_or_else(|| {
        unavailable("config.json is not cached and this build does not download (populate the cache, e.g. `huggingface-cli download REPO`)")
    })?;
    let dir = config
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| unavailable("bad cache layout"))?;
    Ok(dir)
}

/// Loads the Qwen2 checkpoint `spec` (a directory or a cached hub repo id) in `dtype` on `device`.
pub fn load_model(spec: &str, dtype: DType, device: &Device) -> Result<Qwen2> {
    let dir = resolve_model_dir(spec)?;
    load_model_dir(&dir, dtype, device)
}

/// Loads the Qwen2 checkpoint in `dir`.
pub fn load_model_dir(dir: &Path, dtype: DType, device: &Device) -> Result<Qwen2> {
    let cfg = Qwen2Config::from_file(&dir.join("config.json"))?;
    let weights = SafetensorsWeights::open_dir(dir)?;
    Qwen2::new(&cfg, &weights, dtype, device)
}

/// Writes `tensors` as a safetensors file with PyTorch's `{"format": "pt"}` metadata.
pub(crate) fn write_safetensors(tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let data: Vec<(&str, Tensor)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.as_str(), t.contiguous()?)))
        .collect::<Result<_>>()?;
    safetensors::serialize_to_file(data, Some(meta), path).map_err(|e| Error::Safetensors {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

pub(crate) fn write_json<T: serde::Serialize>(value: &T, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    std::fs::write(path, text + "\n").map_err(|e| Error::io(path, e))
}

/// Fills a fresh directory with `fill`, then moves it to `dir` in one rename. An existing
/// `dir` is moved aside first and deleted only after the new one is in place, so a crash at
/// any point leaves a complete checkpoint (the old or the new one) on disk.
pub fn write_dir_atomically(dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let had_old = dir.exists();
    if had_old {
        std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
    if had_old {
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    Ok(())
}

/// Saves `model`'s base weights (adapters excluded) as a HF checkpoint in `dir`: config.json
/// and model.safetensors, plus the tokenizer files found in `tokenizer_dir`. Atomic.
pub fn save_checkpoint(model: &Qwen2, dir: &Path, tokenizer_dir: Option<&Path>) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = model
        .named_params()
        .into_iter()
        .map(|(n, p)| (n, p.tensor().detach()))
        .collect();
    write_dir_atomically(dir, |tmp| {
        write_json(model.config(), &tmp.join("config.json"))?;
        write_safetensors(&tensors, &tmp.join("model.safetensors"))?;
        if let Some(src) = tokenizer_dir {
            copy_tokenizer_files(src, tmp)?;
        }
        Ok(())
    })
}

/// Copies whichever of [`TOKENIZER_FILES`] exist in `src` into `dst`.
pub fn copy_tokenizer_files(src: &Path, dst: &Path) -> Result<()> {
    for f in TOKENIZER_FILES {
        let from = src.join(f);
        if from.is_file() {
            std::fs::copy(&from, dst.join(f)).map_err(|e| Error::io(&from, e))?;
        }
    }
    Ok(())
}
