//! caugym-train.
