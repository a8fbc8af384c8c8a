//! kafkit-bench (placeholder; see issue 5).
fn main() {}
