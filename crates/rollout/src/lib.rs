//! caugym-rollout.
