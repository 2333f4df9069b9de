//! One module per subcommand.

pub mod generate;
pub mod model_args;
