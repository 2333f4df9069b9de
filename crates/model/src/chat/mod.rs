//! Chat templates: the Jinja program in tokenizer_config.json that turns a conversation into the
//! exact prompt text a model was trained on, rendered with minijinja set up to behave like
//! transformers' jinja2 environment.
//!
//! What transformers does, and what this module mirrors (see `apply_chat_template` and
//! `_compile_jinja_template` in transformers' chat_template_utils.py):
//! * jinja2 with `trim_blocks` and `lstrip_blocks`, the trailing newline of the template dropped,
//!   `{% break %}`/`{% continue %}` enabled;
//! * `raise_exception(msg)` fails the render with `msg`;
//! * `tojson` is `json.dumps(x, ensure_ascii=False)` (keywords `indent`, `separators`,
//!   `sort_keys`, `ensure_ascii` honoured), not jinja2's HTML-escaping filter;
//! * Python string and dict methods (`.split`, `.strip`, `.startswith`, `.items()`, ...) through
//!   minijinja-contrib's pycompat; `namespace`, slicing like `messages[::-1]` are built in;
//! * values print as Python prints them (`None`, `True`, `2.0`);
//! * the context holds `messages`, `tools` (`None` unless given), `documents` (`None`),
//!   `add_generation_prompt`, the set named special tokens (`bos_token`, `eos_token`, ...), and
//!   any extra variables (e.g. `enable_thinking`), which override the special tokens.
//!
//! Not provided: `strftime_now` (Llama-3 templates) and the `{% generation %}` tag
//! (assistant-token masks). Maps keep the key order they are given in; a `serde_json::Value` has
//! sorted keys unless serde_json's `preserve_order` feature is on, so tool schemas render with
//! sorted keys where Python would keep insertion order.

mod pyvalue;

use minijinja::value::{Serde, Value as JinjaValue};
use minijinja::{Environment, Error as JinjaError, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::tokenizer::{Result, SpecialTokens, TokenizerError};

/// One chat message. Templates also read optional fields (`tool_calls`, `reasoning_content`);
/// pass such messages as JSON to [`ChatTemplate::render_json`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// Optional render inputs beyond the messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatExtras {
    /// Tool (function) schemas, passed as `tools`; `None` renders as Python's `None`.
    pub tools: Option<Vec<serde_json::Value>>,
    /// Extra template variables such as `enable_thinking`; they override special tokens.
    pub vars: serde_json::Map<String, serde_json::Value>,
}

/// A compiled chat template together with the special tokens it is rendered with.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    origin: String,
    special_tokens: SpecialTokens,
}

const TEMPLATE_NAME: &str = "chat_template";
/// Context names set by `render` itself, which [`ChatExtras::vars`] may not replace.
const RENDER_ARGUMENTS: [&str; 4] = ["messages", "tools", "documents", "add_generation_prompt"];

impl ChatTemplate {
    /// Compiles `source`. `origin` names where it came from (a file and field) in errors.
    pub fn new(
        source: impl Into<String>,
        origin: impl Into<String>,
        special_tokens: SpecialTokens,
    ) -> Result<Self> {
        let origin = origin.into();
        let source = source.into();
        let mut env = Environment::new();
        let mut syntax = minijinja::syntax::SyntaxConfig::builder();
        syntax.trim_blocks(true).lstrip_blocks(true);
        let syntax = syntax.build().map_err(|source| TokenizerError::Template {
            origin: origin.clone(),
            source,
        })?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(pyvalue::format_value);
        env.add_filter("tojson", pyvalue::tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(TEMPLATE_NAME, source.clone())
            .map_err(|source| TokenizerError::Template {
                origin: origin.clone(),
                source,
            })?;
        Ok(Self {
            env,
            source,
            origin,
            special_tokens,
        })
    }

    /// Where the template came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The special tokens the template is rendered with.
    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.special_tokens
    }

    /// The template text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders a conversation. With `add_generation_prompt` the text ends with the header of a
    /// new assistant turn (`<|im_start|>assistant\n` for Qwen2.5).
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        extras: Option<&ChatExtras>,
    ) -> Result<String> {
        let messages = JinjaValue::from(Serde(messages));
        self.render_value(messages, add_generation_prompt, extras)
    }

    /// Renders messages given as JSON objects, for fields [`Message`] lacks (`tool_calls`,
    /// `reasoning_content`, ...).
    pub fn render_json(
        &self,
        messages: &[serde_json::Value],
        add_generation_prompt: bool,
        extras: Option<&ChatExtras>,
    ) -> Result<String> {
        let messages = JinjaValue::from(Serde(messages));
        self.render_value(messages, add_generation_prompt, extras)
    }

    fn render_value(
        &self,
        messages: JinjaValue,
        add_generation_prompt: bool,
        extras: Option<&ChatExtras>,
    ) -> Result<String> {
        let mut ctx: Vec<(String, JinjaValue)> = vec![
            ("messages".into(), messages),
            (
                "tools".into(),
                extras
                    .and_then(|e| e.tools.as_ref())
                    .map_or(JinjaValue::from(()), |tools| JinjaValue::from(Serde(tools))),
            ),
            ("documents".into(), JinjaValue::from(())),
            (
                "add_generation_prompt".into(),
                JinjaValue::from(add_generation_prompt),
            ),
        ];
        for (name, token) in self.special_tokens.iter() {
            ctx.push((name.into(), JinjaValue::from(token)));
        }
        for (name, value) in extras.map(|e| &e.vars).into_iter().flatten() {
            if RENDER_ARGUMENTS.contains(&name.as_str()) {
                return Err(self.error(JinjaError::new(
                    ErrorKind::InvalidOperation,
                    format!("extra variable `{name}` clashes with a render argument"),
                )));
            }
            ctx.retain(|(n, _)| n != name);
            ctx.push((name.clone(), JinjaValue::from(Serde(value))));
        }
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| self.error(e))?;
        template
            .render(JinjaValue::from_pairs(ctx))
            .map_err(|e| self.error(e))
    }

    fn error(&self, source: JinjaError) -> TokenizerError {
        TokenizerError::Template {
            origin: self.origin.clone(),
            source,
        }
    }
}

/// `raise_exception(message)`: templates call it to reject a conversation (e.g. a bad role).
fn raise_exception(message: String) -> std::result::Result<JinjaValue, JinjaError> {
    Err(JinjaError::new(ErrorKind::InvalidOperation, message))
}
