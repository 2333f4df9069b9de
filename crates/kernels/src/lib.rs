//! caugym-kernels.
