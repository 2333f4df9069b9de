//! Prompt text to prompt tokens (`data.prompt_format`), and completion text to the tokens an
//! SFT target trains on.

use caugym_model::chat::Message;
use caugym_model::tokenizer::Tokenizer;

use crate::Result;
use crate::config::{DataConfig, PromptFormat};

/// How prompts are presented to the model.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptStyle {
    /// Chat template or raw text.
    pub format: PromptFormat,
    /// An optional system turn (chat only).
    pub system: Option<String>,
}

impl PromptStyle {
    /// The style of a `[data]` table.
    pub fn of(data: &DataConfig) -> Self {
        Self {
            format: data.prompt_format,
            system: data.system_prompt.clone(),
        }
    }

    /// Prompt tokens: one user turn through the chat template with the generation prompt, or
    /// the raw text.
    pub fn encode(&self, tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
        Ok(match self.format {
            PromptFormat::Raw => tokenizer.encode(text, false)?,
            PromptFormat::Chat => {
                let mut messages = Vec::with_capacity(2);
                if let Some(s) = &self.system {
                    messages.push(Message::system(s.clone()));
                }
                messages.push(Message::user(text));
                tokenizer.encode_chat(&messages, true)?
            }
        })
    }
}

/// Completion tokens ending in the tokenizer's end-of-sequence token (the chat template's
/// end-of-turn token for chat models), so the model learns to stop.
pub fn completion_tokens(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    let mut ids = tokenizer.encode(text, false)?;
    ids.push(tokenizer.eos_token_id());
    Ok(ids)
}
