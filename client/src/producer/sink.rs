//! Produce requests and responses for drained batches (in progress).
