//! The async producer (in progress).
