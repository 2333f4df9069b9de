//! End-to-end tests of the `caugym` binary, one module per command family, linked into one test
//! binary (each extra test binary costs a full link against candle on 2-core CI).

mod data;
mod generate;
mod model;
mod score;
mod train;
