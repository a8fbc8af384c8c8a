//! The consumer group coordinator (classic protocol).
//!
//! Not implemented yet: groups arrive with the group-coordinator work of the test-broker issue.

/// Consumer group state for the whole cluster.
#[derive(Debug, Default)]
pub struct GroupCoordinator {}
