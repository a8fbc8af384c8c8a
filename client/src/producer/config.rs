//! Producer configuration (in progress).
