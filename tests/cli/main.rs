//! End-to-end tests of the `caugym` binary, one module per command family, linked into one test
//! binary (each extra test binary costs a full link against candle on 2-core CI).

mod ablate;
mod data;
mod export;
mod generate;
mod gpu;
mod model;
mod plot;
mod score;
mod tiny_run;
mod train;
