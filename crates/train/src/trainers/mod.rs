//! The trainers: each turns the run config into a [`crate::runner::Method`] and calls the shared
//! runner. Math lives in the loss library; batching in [`collate`]; data in [`examples`].

pub mod collate;
pub mod examples;
pub mod order;
