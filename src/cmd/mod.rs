//! One module per subcommand.

pub mod r#gen;
pub mod score;
pub mod solve;
