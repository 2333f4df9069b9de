//! A Hugging Face tokenizer directory loaded the way transformers loads it: tokenizer.json through
//! the `tokenizers` crate (pure-Rust build), special tokens and the chat template from the config
//! files, and the stop ids a Qwen2-family checkpoint needs.
//!
//! # Precedence of the config files
//! * **Named tokens** (`bos_token`, `eos_token`, `pad_token`, ... — strings or `{"content": ...}`
//!   objects): tokenizer_config.json; fields it does not mention come from
//!   special_tokens_map.json. An explicit `null` in tokenizer_config.json means "none".
//! * **eos** ([`Tokenizer::eos_token_ids`]): the union, in this order and without duplicates, of
//!   the named `eos_token`, generation_config.json's `eos_token_id` (an int or a list) and
//!   config.json's `eos_token_id`. The first is the primary eos ([`Tokenizer::eos_token_id`]).
//!   Generation must stop on all of them: Qwen2.5-Instruct ends turns with `<|im_end|>` but may
//!   emit `<|endoftext|>`. No eos anywhere is an error.
//! * **pad** ([`Tokenizer::pad_token_id`]): the named `pad_token`, else `pad_token_id` of
//!   generation_config.json, else of config.json, else the primary eos ([`PadSource`]).
//! * **bos** ([`Tokenizer::bos_token_id`]): the named `bos_token` when a token file mentions the
//!   field (`null` gives `None`: Qwen2.5 has no bos); otherwise `bos_token_id` of
//!   generation_config.json, then config.json.
//! * **Chat template**: chat_template.jinja if the directory has one, else tokenizer_config.json's
//!   `chat_template` (a string, or a list of `{name, template}`; the one named `default` is the
//!   default).
//!
//! Whether `encode(.., add_special_tokens = true)` adds a bos is decided by tokenizer.json's post
//! processor, as in HF's fast tokenizers, not by the fields above.
//!
//! # Tests against real files
//! tests/tokenizer_qwen.rs and tests/chat_real_templates.rs read a real Qwen tokenizer, the real
//! Qwen2.5-Instruct and DeepSeek-R1-Distill-Qwen chat templates and Python-computed expectations
//! from `target/hf-fixtures/` (or `$CAUGYM_HF_FIXTURES`); `scripts/fetch-qwen-tokenizer.sh`
//! puts them there. Without them those tests fail and say so.

mod error;
mod hf_config;
mod special;
mod stream;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use error::{Result, TokenizerError};
pub use special::{PadSource, SpecialTokens};
pub use stream::{IncrementalDecoder, StopStrings, StreamStep, TextStream};

use crate::chat::{ChatTemplate, Message};
use hf_config::JsonFile;
use special::ConfigFiles;

/// The files a tokenizer is read from; only tokenizer.json is required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenizerFiles {
    pub tokenizer_json: PathBuf,
    pub tokenizer_config: Option<PathBuf>,
    pub special_tokens_map: Option<PathBuf>,
    pub generation_config: Option<PathBuf>,
    /// The model's config.json.
    pub model_config: Option<PathBuf>,
    /// A chat_template.jinja file (newer transformers save the template there).
    pub chat_template: Option<PathBuf>,
}

impl TokenizerFiles {
    /// The standard file names in `dir`; optional files are taken when they exist.
    pub fn in_dir(dir: &Path) -> Self {
        let optional = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
        Self {
            tokenizer_json: dir.join("tokenizer.json"),
            tokenizer_config: optional("tokenizer_config.json"),
            special_tokens_map: optional("special_tokens_map.json"),
            generation_config: optional("generation_config.json"),
            model_config: optional("config.json"),
            chat_template: optional("chat_template.jinja"),
        }
    }
}

/// One chat template found in the files, compiled on first use (so that a checkpoint whose
/// template uses an unsupported construct still loads for plain encoding).
#[derive(Debug, Clone)]
struct TemplateSlot {
    name: String,
    origin: String,
    source: String,
    compiled: OnceLock<ChatTemplate>,
}

/// A tokenizer plus the special-token facts of its checkpoint directory.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    files: TokenizerFiles,
    special: SpecialTokens,
    eos_id: u32,
    eos_ids: Vec<u32>,
    pad_id: u32,
    pad_source: PadSource,
    bos_id: Option<u32>,
    templates: Vec<TemplateSlot>,
}

impl Tokenizer {
    /// Loads `dir/tokenizer.json` and whichever of tokenizer_config.json, special_tokens_map.json,
    /// generation_config.json, config.json and chat_template.jinja exist there.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        Self::from_files(TokenizerFiles::in_dir(dir.as_ref()))
    }

    /// Loads from explicitly named files (see the module docs for precedence).
    pub fn from_files(files: TokenizerFiles) -> Result<Self> {
        let path = &files.tokenizer_json;
        if !path.is_file() {
            return Err(TokenizerError::Io {
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "file not found"),
            });
        }
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|source| {
            TokenizerError::Tokenizers {
                what: format!("loading {}", path.display()),
                source,
            }
        })?;
        let read = |p: &Option<PathBuf>| p.as_deref().map(JsonFile::read).transpose();
        let configs = ConfigFiles {
            tokenizer_config: read(&files.tokenizer_config)?,
            special_tokens_map: read(&files.special_tokens_map)?,
            generation_config: read(&files.generation_config)?,
            model_config: read(&files.model_config)?,
        };
        if let Some(config) = &configs.tokenizer_config {
            check_added_tokens(config, &inner)?;
        }
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let resolved = configs.resolve(&inner, &dir)?;
        let templates = template_slots(&files, configs.tokenizer_config.as_ref())?;
        Ok(Self {
            inner,
            files,
            special: resolved.special,
            eos_id: resolved.eos_id,
            eos_ids: resolved.eos_ids,
            pad_id: resolved.pad_id,
            pad_source: resolved.pad_source,
            bos_id: resolved.bos_id,
            templates,
        })
    }

    /// Token ids of `text`. `add_special_tokens` applies tokenizer.json's post processor
    /// (none for Qwen2; a bos for DeepSeek-R1-Distill). Special tokens written in the text, such
    /// as `<|im_start|>`, always map to their single ids.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|source| TokenizerError::Tokenizers {
                what: "encoding text".into(),
                source,
            })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// [`Self::encode`] for many texts (in parallel).
    pub fn encode_batch<S: AsRef<str>>(
        &self,
        texts: &[S],
        add_special_tokens: bool,
    ) -> Result<Vec<Vec<u32>>> {
        let inputs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let encodings = self
            .inner
            .encode_batch(inputs, add_special_tokens)
            .map_err(|source| TokenizerError::Tokenizers {
                what: "encoding a batch".into(),
                source,
            })?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// The text of `ids`. With byte-level BPE an incomplete UTF-8 sequence decodes to U+FFFD;
    /// use [`IncrementalDecoder`] for token-by-token output.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|source| TokenizerError::Tokenizers {
                what: "decoding ids".into(),
                source,
            })
    }

    /// [`Self::decode`] for many sequences.
    pub fn decode_batch(&self, batch: &[&[u32]], skip_special_tokens: bool) -> Result<Vec<String>> {
        self.inner
            .decode_batch(batch, skip_special_tokens)
            .map_err(|source| TokenizerError::Tokenizers {
                what: "decoding a batch".into(),
                source,
            })
    }

    /// The id of a token string (vocabulary or added token).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The token string of an id.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Number of ids the tokenizer can produce, added tokens included (151,665 for Qwen2.5,
    /// 151,669 for Qwen3 with its four extra tool/think tokens). The model's embedding table may
    /// be larger (151,936 for both): rows past this are padding.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The primary eos id: the named `eos_token` if any (see the module docs).
    pub fn eos_token_id(&self) -> u32 {
        self.eos_id
    }

    /// Every id generation must stop on, primary first.
    pub fn eos_token_ids(&self) -> &[u32] {
        &self.eos_ids
    }

    /// Whether `id` is one of [`Self::eos_token_ids`].
    pub fn is_eos(&self, id: u32) -> bool {
        self.eos_ids.contains(&id)
    }

    /// The pad id; the primary eos when nothing configures one ([`Self::pad_source`]).
    pub fn pad_token_id(&self) -> u32 {
        self.pad_id
    }

    /// Whether the pad id was configured or fell back to eos.
    pub fn pad_source(&self) -> PadSource {
        self.pad_source
    }

    /// The bos id, if the checkpoint has one.
    pub fn bos_token_id(&self) -> Option<u32> {
        self.bos_id
    }

    /// The named special token strings (what a chat template sees as `eos_token` etc.).
    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }

    /// The files this tokenizer was read from.
    pub fn files(&self) -> &TokenizerFiles {
        &self.files
    }

    /// The underlying `tokenizers` tokenizer, for what this wrapper does not cover.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// The default chat template, compiled with this tokenizer's special tokens.
    pub fn chat_template(&self) -> Result<&ChatTemplate> {
        self.chat_template_named("default")
    }

    /// A chat template by name (the list form of `chat_template`, e.g. `tool_use`).
    pub fn chat_template_named(&self, name: &str) -> Result<&ChatTemplate> {
        let Some(slot) = self.templates.iter().find(|t| t.name == name) else {
            let file = self.files.tokenizer_config.clone().unwrap_or_else(|| {
                self.files
                    .tokenizer_json
                    .with_file_name("tokenizer_config.json")
            });
            return Err(match name {
                "default" => TokenizerError::NoChatTemplate { file },
                _ => TokenizerError::MissingField {
                    file,
                    field: format!("chat_template[name = {name:?}]"),
                },
            });
        };
        if let Some(done) = slot.compiled.get() {
            return Ok(done);
        }
        let compiled = ChatTemplate::new(&slot.source, &slot.origin, self.special.clone())?;
        Ok(slot.compiled.get_or_init(|| compiled))
    }

    /// Names of the chat templates the files define.
    pub fn chat_template_names(&self) -> impl Iterator<Item = &str> {
        self.templates.iter().map(|t| t.name.as_str())
    }

    /// Renders `messages` with the default chat template and encodes the result without adding
    /// special tokens (the template writes them), as transformers' `apply_chat_template` does.
    pub fn encode_chat(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<Vec<u32>> {
        let text = self
            .chat_template()?
            .render(messages, add_generation_prompt, None)?;
        self.encode(&text, false)
    }
}

/// tokenizer_config.json's `added_tokens_decoder` must agree with tokenizer.json, or ids written
/// by one tool would mean other tokens to another.
fn check_added_tokens(config: &JsonFile, inner: &tokenizers::Tokenizer) -> Result<()> {
    for (id, content) in config.added_tokens_decoder()? {
        let found = inner.token_to_id(&content);
        if found != Some(id) {
            return Err(TokenizerError::AddedTokenMismatch {
                file: config.path.clone(),
                id,
                content,
                found,
            });
        }
    }
    Ok(())
}

fn template_slots(files: &TokenizerFiles, config: Option<&JsonFile>) -> Result<Vec<TemplateSlot>> {
    let slot = |name: String, origin: String, source: String| TemplateSlot {
        name,
        origin,
        source,
        compiled: OnceLock::new(),
    };
    let mut slots = Vec::new();
    if let Some(path) = &files.chat_template {
        let source = std::fs::read_to_string(path).map_err(|source| TokenizerError::Io {
            path: path.clone(),
            source,
        })?;
        slots.push(slot("default".into(), path.display().to_string(), source));
    }
    if let Some(config) = config {
        for (name, source) in config.chat_templates("chat_template")? {
            if slots.iter().any(|s| s.name == name) {
                continue;
            }
            let origin = format!("{} (chat_template {name:?})", config.path.display());
            slots.push(slot(name, origin, source));
        }
    }
    Ok(slots)
}
