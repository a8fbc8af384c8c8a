//! Frame encoding and decoding.
