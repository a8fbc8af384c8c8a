//! Producer records (in progress).
