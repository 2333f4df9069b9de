//! One module per subcommand.
pub mod export;
pub mod init_model;
pub mod logprobs;
