//! One module per subcommand.

pub mod ablate;
pub mod eval;
pub mod export;
pub mod r#gen;
pub mod generate;
pub mod init_model;
pub mod logprobs;
pub mod memory;
pub mod model_args;
pub mod plot;
pub mod score;
pub mod solve;
pub mod train;
