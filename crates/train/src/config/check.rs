//! Small validators shared by the config sections: each names the full dotted key and says
//! what is allowed, so `validate()` reads as a list of rules.

use crate::{Error, Result};

/// Fails with `reason` for `key`.
pub(crate) fn fail<T>(key: &str, reason: impl Into<String>) -> Result<T> {
    Err(Error::setting(key, reason))
}

/// `value` must not be blank.
pub(crate) fn non_empty(key: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return fail(key, "must not be empty");
    }
    Ok(())
}

/// `value` must be at least 1.
pub(crate) fn positive_count(key: &str, value: usize) -> Result<()> {
    if value == 0 {
        return fail(key, "must be at least 1");
    }
    Ok(())
}

/// `value` must be finite and within `[lo, hi]`.
pub(crate) fn within(key: &str, value: f64, lo: f64, hi: f64) -> Result<()> {
    if !(value.is_finite() && value >= lo && value <= hi) {
        return fail(key, format!("{value} is outside [{lo}, {hi}]"));
    }
    Ok(())
}

/// `value` must be finite and strictly positive.
pub(crate) fn positive(key: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        return fail(key, format!("{value} must be a finite number > 0"));
    }
    Ok(())
}

/// `value` must be finite and `>= 0`.
pub(crate) fn non_negative(key: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value >= 0.0) {
        return fail(key, format!("{value} must be a finite number >= 0"));
    }
    Ok(())
}
