//! One module per subcommand.

pub mod export;
pub mod init_model;
pub mod logprobs;
pub mod r#gen;
pub mod score;
pub mod solve;
