//! caugym-data.
