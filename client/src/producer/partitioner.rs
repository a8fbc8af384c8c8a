//! Partitioners (in progress).
