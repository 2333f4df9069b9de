//! Which ids end, pad and begin a sequence: the precedence rules over the config files.
//!
//! A checkpoint states these in up to four places that often disagree on purpose. Qwen2.5-Instruct,
//! for example, has `eos_token: "<|im_end|>"` in tokenizer_config.json (the token its chat template
//! ends a turn with) but `eos_token_id: [151645, 151643]` in generation_config.json (what
//! `generate` stops on) and `bos_token_id: 151643` in config.json although it never prepends a bos.
//! The rules below keep every stop id and take the tokenizer's word for the named tokens.

use std::path::Path;

use super::error::{Result, TokenizerError};
use super::hf_config::{Field, JsonFile};

/// The named special tokens, as strings: the values transformers passes to a chat template as
/// `bos_token`, `eos_token`, ... (only those that are set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub unk_token: Option<String>,
    pub sep_token: Option<String>,
    pub pad_token: Option<String>,
    pub cls_token: Option<String>,
    pub mask_token: Option<String>,
}

impl SpecialTokens {
    /// The field names, in transformers' `SPECIAL_TOKENS_ATTRIBUTES` order.
    pub const FIELDS: [&'static str; 7] = [
        "bos_token",
        "eos_token",
        "unk_token",
        "sep_token",
        "pad_token",
        "cls_token",
        "mask_token",
    ];

    /// The token string of a field of [`Self::FIELDS`], if set.
    pub fn get(&self, field: &str) -> Option<&str> {
        match field {
            "bos_token" => self.bos_token.as_deref(),
            "eos_token" => self.eos_token.as_deref(),
            "unk_token" => self.unk_token.as_deref(),
            "sep_token" => self.sep_token.as_deref(),
            "pad_token" => self.pad_token.as_deref(),
            "cls_token" => self.cls_token.as_deref(),
            "mask_token" => self.mask_token.as_deref(),
            _ => None,
        }
    }

    /// The set fields as `(name, token)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        Self::FIELDS
            .into_iter()
            .filter_map(|f| self.get(f).map(|t| (f, t)))
    }

    fn slot(&mut self, field: &str) -> Option<&mut Option<String>> {
        match field {
            "bos_token" => Some(&mut self.bos_token),
            "eos_token" => Some(&mut self.eos_token),
            "unk_token" => Some(&mut self.unk_token),
            "sep_token" => Some(&mut self.sep_token),
            "pad_token" => Some(&mut self.pad_token),
            "cls_token" => Some(&mut self.cls_token),
            "mask_token" => Some(&mut self.mask_token),
            _ => None,
        }
    }
}

/// Where the pad id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadSource {
    /// A config file names a pad token or pad id.
    Configured,
    /// Nothing names one, so the primary eos id is used (padded positions are masked out of
    /// attention and loss, so any valid id works; eos is what HF users set by hand).
    EosFallback,
}

/// The config files besides tokenizer.json, each optional.
#[derive(Debug, Default)]
pub(crate) struct ConfigFiles {
    pub tokenizer_config: Option<JsonFile>,
    pub special_tokens_map: Option<JsonFile>,
    pub generation_config: Option<JsonFile>,
    pub model_config: Option<JsonFile>,
}

/// The outcome of the precedence rules.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub special: SpecialTokens,
    /// The primary eos: `eos_ids[0]`.
    pub eos_id: u32,
    /// Never empty.
    pub eos_ids: Vec<u32>,
    pub pad_id: u32,
    pub pad_source: PadSource,
    pub bos_id: Option<u32>,
}

impl ConfigFiles {
    /// Named token strings: tokenizer_config.json wins, including an explicit `null`;
    /// special_tokens_map.json fills fields that tokenizer_config.json does not mention.
    /// Returns the tokens and, per field, the file that set it.
    fn special_tokens(&self) -> Result<(SpecialTokens, Vec<(&'static str, &JsonFile)>)> {
        let mut special = SpecialTokens::default();
        let mut origin = Vec::new();
        for field in SpecialTokens::FIELDS {
            for file in [&self.tokenizer_config, &self.special_tokens_map]
                .into_iter()
                .flatten()
            {
                match file.token_text(field)? {
                    Field::Absent => continue,
                    Field::Null => {}
                    Field::Set(text) => {
                        if let Some(slot) = special.slot(field) {
                            *slot = Some(text);
                        }
                        origin.push((field, file));
                    }
                }
                break;
            }
        }
        Ok((special, origin))
    }

    /// Whether a token file mentions `field` at all (even as `null`).
    fn token_field_mentioned(&self, field: &str) -> Result<bool> {
        for file in [&self.tokenizer_config, &self.special_tokens_map]
            .into_iter()
            .flatten()
        {
            if file.token_text(field)? != Field::Absent {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Ids of `field` in generation_config.json then config.json, with their files.
    fn id_fields(&self, field: &str) -> Result<Vec<(u32, &JsonFile)>> {
        let mut out = Vec::new();
        for file in [&self.generation_config, &self.model_config]
            .into_iter()
            .flatten()
        {
            if let Field::Set(ids) = file.token_ids(field)? {
                out.extend(ids.into_iter().map(|id| (id, file)));
            }
        }
        Ok(out)
    }

    /// Applies the precedence rules (documented on [`crate::tokenizer::Tokenizer`]).
    pub fn resolve(&self, vocab: &tokenizers::Tokenizer, dir: &Path) -> Result<Resolved> {
        let (special, origin) = self.special_tokens()?;
        let named_id = |field: &str| -> Result<Option<u32>> {
            let Some(&(_, file)) = origin.iter().find(|(f, _)| *f == field) else {
                return Ok(None);
            };
            let token = special.get(field).unwrap_or_default();
            vocab
                .token_to_id(token)
                .map(Some)
                .ok_or_else(|| TokenizerError::UnknownToken {
                    file: file.path.clone(),
                    field: field.into(),
                    token: token.into(),
                })
        };
        let checked = |(id, file): (u32, &JsonFile), field: &str| -> Result<u32> {
            match vocab.id_to_token(id) {
                Some(_) => Ok(id),
                None => Err(TokenizerError::UnknownTokenId {
                    file: file.path.clone(),
                    field: field.into(),
                    id,
                    vocab_size: vocab.get_vocab_size(true),
                }),
            }
        };

        let mut eos_ids = Vec::new();
        let named_eos = named_id("eos_token")?;
        let listed_eos = self.id_fields("eos_token_id")?;
        for id in named_eos.into_iter().map(Ok).chain(
            listed_eos
                .into_iter()
                .map(|entry| checked(entry, "eos_token_id")),
        ) {
            let id = id?;
            if !eos_ids.contains(&id) {
                eos_ids.push(id);
            }
        }
        let Some(&primary_eos) = eos_ids.first() else {
            return Err(TokenizerError::NoEosToken {
                dir: dir.to_path_buf(),
            });
        };

        let configured_pad = match named_id("pad_token")? {
            Some(id) => Some(id),
            None => match self.id_fields("pad_token_id")?.into_iter().next() {
                Some(entry) => Some(checked(entry, "pad_token_id")?),
                None => None,
            },
        };
        let (pad_id, pad_source) = match configured_pad {
            Some(id) => (id, PadSource::Configured),
            None => (primary_eos, PadSource::EosFallback),
        };

        let bos_id = if self.token_field_mentioned("bos_token")? {
            named_id("bos_token")?
        } else {
            match self.id_fields("bos_token_id")?.into_iter().next() {
                Some(entry) => Some(checked(entry, "bos_token_id")?),
                None => None,
            }
        };

        Ok(Resolved {
            special,
            eos_id: primary_eos,
            eos_ids,
            pad_id,
            pad_source,
            bos_id,
        })
    }
}
