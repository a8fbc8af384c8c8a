//! kafkit command-line tool (being written).
fn main() {}
