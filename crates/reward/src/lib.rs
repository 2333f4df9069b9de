//! caugym-reward.
