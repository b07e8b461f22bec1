//! Errors for invalid configurations and actions.

use thiserror::Error;

/// A configuration field whose value the engine cannot run with.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("invalid `{field}`: {reason}")]
pub struct ConfigError {
    /// The parameter's name as the directive spells it.
    pub field: &'static str,
    /// The problem and the accepted values.
    pub reason: String,
}

impl ConfigError {
    /// Creates an error for `field`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }

    /// Checks that a whole-number field lies in `min..=max`.
    pub fn check_range_u32(
        field: &'static str,
        value: u32,
        min: u32,
        max: u32,
    ) -> Result<(), Self> {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(Self::new(
                field,
                format!("{value} is out of range; use {min} to {max}"),
            ))
        }
    }

    /// Checks that a real-valued field is finite and lies in `min..=max`.
    pub fn check_range_f64(
        field: &'static str,
        value: f64,
        min: f64,
        max: f64,
    ) -> Result<(), Self> {
        if value.is_nan() {
            return Err(Self::new(
                field,
                "NaN is not a number; use a value in range",
            ));
        }
        if value < min || value > max {
            return Err(Self::new(
                field,
                format!("{value} is out of range; use {min} to {max}"),
            ));
        }
        Ok(())
    }
}

/// A reader action that the engine cannot carry out in its current state.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{0}")]
pub struct ActionError(pub String);
