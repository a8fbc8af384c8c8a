//! The `roundrobin` assignor (Java's `RoundRobinAssignor`). Sans-IO; owns nothing but the
//! algorithm.

use std::collections::BTreeMap;

use super::{
    Assignment, Assignor, RebalanceProtocol, Subscription, empty_assignments, subscribed_partitions,
};

/// `roundrobin`: every subscribed partition, sorted by topic then partition, is dealt to the
/// members in member-id order, one at a time; a member not subscribed to the partition's
/// topic is skipped. Eager.
///
/// ```
/// use std::collections::BTreeMap;
/// use kafkit::consumer::assignor::{Assignor, RoundRobinAssignor, Subscription};
///
/// let topics = BTreeMap::from([("t1".to_string(), 2), ("t2".to_string(), 1)]);
/// let members = BTreeMap::from([
///     ("a".to_string(), Subscription::new(["t1", "t2"])),
///     ("b".to_string(), Subscription::new(["t1", "t2"])),
/// ]);
/// let result = RoundRobinAssignor.assign(&topics, &members);
/// let names = |m: &str| result[m].partitions.iter().map(|tp| tp.to_string()).collect::<Vec<_>>();
/// assert_eq!(names("a"), ["t1-0", "t2-0"]);
/// assert_eq!(names("b"), ["t1-1"]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &str {
        "roundrobin"
    }

    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Assignment> {
        let mut result = empty_assignments(subscriptions);
        let members: Vec<(&String, &Subscription)> = subscriptions.iter().collect();
        if members.is_empty() {
            return result;
        }
        let mut next = 0usize;
        for tp in subscribed_partitions(partitions_per_topic, subscriptions) {
            // Some member subscribes to the topic (that is how it got listed), so this ends.
            while !members[next].1.topics.iter().any(|t| **t == *tp.topic) {
                next = (next + 1) % members.len();
            }
            let member = members[next].0;
            next = (next + 1) % members.len();
            if let Some(a) = result.get_mut(member) {
                a.partitions.push(tp);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn two_members_two_topics() {
        // Java's RoundRobinAssignorTest.testTwoConsumersTwoTopicsSixPartitions.
        let t = topics(&[("t1", 3), ("t2", 3)]);
        let m = members(&[("c1", &["t1", "t2"]), ("c2", &["t1", "t2"])]);
        let r = names(&RoundRobinAssignor.assign(&t, &m));
        assert_eq!(r["c1"], ["t1-0", "t1-2", "t2-1"]);
        assert_eq!(r["c2"], ["t1-1", "t2-0", "t2-2"]);
    }

    #[test]
    fn unsubscribed_members_are_skipped() {
        // Java's testMultipleConsumersMixedTopics.
        let t = topics(&[("t1", 3), ("t2", 2)]);
        let m = members(&[("c0", &["t1"]), ("c1", &["t1", "t2"]), ("c2", &["t1"])]);
        let r = names(&RoundRobinAssignor.assign(&t, &m));
        assert_eq!(r["c0"], ["t1-0"]);
        assert_eq!(r["c1"], ["t1-1", "t2-0", "t2-1"]);
        assert_eq!(r["c2"], ["t1-2"]);
    }

    proptest! {
        #[test]
        fn every_partition_once_and_balanced_when_equal(
            counts in proptest::collection::vec(0..12i32, 1..4),
            n_members in 1..7usize,
            subs in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 4), 1..6),
        ) {
            let t: BTreeMap<String, i32> =
                counts.iter().enumerate().map(|(i, n)| (format!("t{i}"), *n)).collect();
            let m: BTreeMap<String, Subscription> = subs.iter().enumerate().map(|(i, flags)| {
                let topics = flags.iter().enumerate().filter(|(_, f)| **f).map(|(j, _)| format!("t{j}"));
                (format!("m{i:02}"), Subscription::new(topics))
            }).collect();
            assert_complete_and_valid(&t, &m, &RoundRobinAssignor.assign(&t, &m));
            let all: Vec<String> = t.keys().cloned().collect();
            let equal: BTreeMap<String, Subscription> =
                (0..n_members).map(|i| (format!("m{i}"), Subscription::new(all.clone()))).collect();
            let r = RoundRobinAssignor.assign(&t, &equal);
            assert_complete_and_valid(&t, &equal, &r);
            let sizes: Vec<usize> = r.values().map(|a| a.partitions.len()).collect();
            prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }
    }
}
