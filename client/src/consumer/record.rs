//! SKELETON: consumer record (being written).
