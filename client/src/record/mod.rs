//! Record batch v2 codec.
