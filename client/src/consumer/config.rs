//! SKELETON: consumer config (being written).
