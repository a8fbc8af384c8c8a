//! SKELETON: consumer group (being written).
