//! Record batch encode/decode benchmark (placeholder).
fn main() {}
