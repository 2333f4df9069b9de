//! caugym-model.
