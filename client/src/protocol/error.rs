//! Kafka error codes.

/// A Kafka error code (placeholder; filled in by the error-code work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No error.
    None,
}
