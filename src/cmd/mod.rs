//! One module per subcommand.

pub mod export;
pub mod r#gen;
pub mod init_model;
pub mod logprobs;
pub mod score;
pub mod solve;
