//! Token-by-token detokenisation for streaming output and stop strings.
//!
//! Byte-level BPE tokens are byte strings, not characters: "🎉" is four bytes that may arrive in
//! up to four tokens, and each piece alone decodes to U+FFFD. Decoding token by token therefore
//! garbles text, while decoding the whole sequence at every step costs O(n²). The decoder keeps a
//! window of ids: `prefix_offset..read_offset` was already emitted and is decoded again only as
//! context (so decoders that strip a leading space still see it), `read_offset..` is pending.
//! Text is emitted once the window no longer ends in an incomplete character.

use super::Tokenizer;
use super::error::Result;

/// U+FFFD, what byte-level decoding yields for an incomplete UTF-8 sequence.
const REPLACEMENT: char = '\u{FFFD}';

/// A character is at most 4 bytes and each byte-level token carries at least one, so after this
/// many pending tokens a trailing U+FFFD is real (invalid bytes, or the model wrote U+FFFD).
const MAX_PENDING_TOKENS: usize = 4;

/// Turns a growing id sequence into text pieces whose concatenation equals decoding all ids.
#[derive(Debug, Clone)]
pub struct IncrementalDecoder {
    ids: Vec<u32>,
    prefix_offset: usize,
    read_offset: usize,
    skip_special_tokens: bool,
    text: String,
}

impl IncrementalDecoder {
    pub fn new(skip_special_tokens: bool) -> Self {
        Self {
            ids: Vec::new(),
            prefix_offset: 0,
            read_offset: 0,
            skip_special_tokens,
            text: String::new(),
        }
    }

    /// Adds one id and returns the text it completes (empty while a character is still split).
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> Result<String> {
        self.ids.push(id);
        self.advance(tokenizer, false)
    }

    /// Returns whatever is still pending, even an incomplete character (as U+FFFD).
    pub fn finish(&mut self, tokenizer: &Tokenizer) -> Result<String> {
        if self.read_offset == self.ids.len() {
            return Ok(String::new());
        }
        self.advance(tokenizer, true)
    }

    fn advance(&mut self, tokenizer: &Tokenizer, force: bool) -> Result<String> {
        let skip = self.skip_special_tokens;
        let full = tokenizer.decode(&self.ids[self.prefix_offset..], skip)?;
        let pending = self.ids.len() - self.read_offset;
        if !force && full.ends_with(REPLACEMENT) && pending < MAX_PENDING_TOKENS {
            return Ok(String::new());
        }
        let prefix = tokenizer.decode(&self.ids[self.prefix_offset..self.read_offset], skip)?;
        let delta = suffix_after(&full, &prefix).to_string();
        self.prefix_offset = self.read_offset;
        self.read_offset = self.ids.len();
        self.text.push_str(&delta);
        Ok(delta)
    }

    /// All text emitted so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// All ids pushed so far.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
}

/// The part of `full` after `prefix`. Byte-level decoding is concatenative, so `full` starts with
/// `prefix`; if a decoder's clean-up broke that, fall back to the longest common prefix.
fn suffix_after<'a>(full: &'a str, prefix: &str) -> &'a str {
    if let Some(rest) = full.strip_prefix(prefix) {
        return rest;
    }
    let common = full
        .char_indices()
        .zip(prefix.chars())
        .take_while(|((_, a), b)| a == b)
        .last()
        .map_or(0, |((i, c), _)| i + c.len_utf8());
    &full[common..]
}

/// Strings that end generation when they appear in the output (the stop string itself is not
/// part of the output).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopStrings {
    stops: Vec<String>,
}

impl StopStrings {
    /// Empty strings are dropped (they would stop before the first token).
    pub fn new<I, S>(stops: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            stops: stops
                .into_iter()
                .map(Into::into)
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }

    /// The stop strings.
    pub fn as_slice(&self) -> &[String] {
        &self.stops
    }

    /// The earliest match in `text` as `(byte offset, index of the stop string)`; at equal
    /// offsets the first listed stop string wins.
    pub fn find(&self, text: &str) -> Option<(usize, usize)> {
        self.stops
            .iter()
            .enumerate()
            .filter_map(|(i, s)| text.find(s.as_str()).map(|at| (at, i)))
            .min()
    }

    /// How many bytes at the end of `text` could be the start of a stop string, and so must be
    /// held back until more text shows whether the stop string completes.
    pub fn held_back(&self, text: &str) -> usize {
        self.stops
            .iter()
            .filter_map(|s| {
                (1..s.len().min(text.len() + 1))
                    .rev()
                    .find(|&k| s.is_char_boundary(k) && text.ends_with(&s[..k]))
            })
            .max()
            .unwrap_or(0)
    }
}

/// What one step of a [`TextStream`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamStep {
    /// Text that is safe to show (possibly empty).
    Text(String),
    /// A stop string appeared: `text` is the last output before it; `stop` indexes the stop
    /// strings. Later steps return `Stopped` with empty text.
    Stopped { text: String, stop: usize },
}

/// An [`IncrementalDecoder`] that also watches for stop strings, even ones split across tokens.
#[derive(Debug, Clone)]
pub struct TextStream {
    decoder: IncrementalDecoder,
    stops: StopStrings,
    /// Decoded text not yet emitted: empty, or a tail that may begin a stop string.
    held: String,
    stopped: Option<usize>,
}

impl TextStream {
    pub fn new(skip_special_tokens: bool, stops: StopStrings) -> Self {
        Self {
            decoder: IncrementalDecoder::new(skip_special_tokens),
            stops,
            held: String::new(),
            stopped: None,
        }
    }

    /// Adds one id.
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> Result<StreamStep> {
        if let Some(stop) = self.stopped {
            return Ok(StreamStep::Stopped {
                text: String::new(),
                stop,
            });
        }
        let delta = self.decoder.push(tokenizer, id)?;
        Ok(self.scan(delta, false))
    }

    /// Ends the stream: flushes pending bytes and the held-back tail.
    pub fn finish(&mut self, tokenizer: &Tokenizer) -> Result<StreamStep> {
        if let Some(stop) = self.stopped {
            return Ok(StreamStep::Stopped {
                text: String::new(),
                stop,
            });
        }
        let delta = self.decoder.finish(tokenizer)?;
        Ok(self.scan(delta, true))
    }

    fn scan(&mut self, delta: String, at_end: bool) -> StreamStep {
        self.held.push_str(&delta);
        if let Some((at, stop)) = self.stops.find(&self.held) {
            self.stopped = Some(stop);
            let mut text = std::mem::take(&mut self.held);
            text.truncate(at);
            return StreamStep::Stopped { text, stop };
        }
        let keep = if at_end {
            0
        } else {
            self.stops.held_back(&self.held)
        };
        let tail = self.held.split_off(self.held.len() - keep);
        StreamStep::Text(std::mem::replace(&mut self.held, tail))
    }

    /// Which stop string ended the stream, if any.
    pub fn stopped(&self) -> Option<usize> {
        self.stopped
    }

    /// The ids pushed so far.
    pub fn ids(&self) -> &[u32] {
        self.decoder.ids()
    }
}

impl Default for IncrementalDecoder {
    fn default() -> Self {
        Self::new(false)
    }
}
