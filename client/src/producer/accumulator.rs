//! The record accumulator (in progress).
