//! Idempotent producer state (in progress).
