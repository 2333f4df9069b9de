//! caugym-model.

pub mod bpe_train;
pub mod chat;
pub mod tokenizer;
