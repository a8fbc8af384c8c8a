//! SKELETON: consumer fetcher (being written).
