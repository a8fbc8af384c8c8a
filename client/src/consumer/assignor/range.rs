//! The `range` assignor (Java's `RangeAssignor`). Sans-IO; owns nothing but the algorithm.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Assignment, Assignor, RebalanceProtocol, Subscription, empty_assignments};
use crate::TopicPartition;

/// `range`: for each topic, the members subscribed to it, sorted by member id, get contiguous
/// ranges of its partitions; when the partitions do not divide evenly, the first members get
/// one more. Eager.
///
/// ```
/// use std::collections::BTreeMap;
/// use kafkit::consumer::assignor::{Assignor, RangeAssignor, Subscription};
///
/// let topics = BTreeMap::from([("t".to_string(), 3)]);
/// let members = BTreeMap::from([
///     ("a".to_string(), Subscription::new(["t"])),
///     ("b".to_string(), Subscription::new(["t"])),
/// ]);
/// let result = RangeAssignor.assign(&topics, &members);
/// let partitions = |m: &str| result[m].partitions.iter().map(|tp| tp.partition).collect::<Vec<_>>();
/// assert_eq!(partitions("a"), [0, 1]);
/// assert_eq!(partitions("b"), [2]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &str {
        "range"
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
        // Topic -> subscribed members, sorted by member id (BTreeMap order).
        let mut members_per_topic: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (member, sub) in subscriptions {
            for topic in &sub.topics {
                let members = members_per_topic.entry(topic).or_default();
                if !members.contains(&member.as_str()) {
                    members.push(member);
                }
            }
        }
        for (topic, members) in members_per_topic {
            let Some(&count) = partitions_per_topic.get(topic) else {
                continue;
            };
            let count = count.max(0) as usize;
            let name: Arc<str> = Arc::from(topic);
            let per_member = count / members.len();
            let extra = count % members.len();
            for (i, member) in members.iter().enumerate() {
                let start = per_member * i + i.min(extra);
                let len = per_member + usize::from(i < extra);
                let partitions = &mut result.get_mut(*member).expect("member").partitions;
                partitions.extend((start..start + len).map(|p| TopicPartition {
                    topic: name.clone(),
                    partition: p as i32,
                }));
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
    fn two_members_three_partitions() {
        let t = topics(&[("t", 3)]);
        let m = members(&[("c1", &["t"]), ("c2", &["t"])]);
        let r = names(&RangeAssignor.assign(&t, &m));
        assert_eq!(r["c1"], ["t-0", "t-1"]);
        assert_eq!(r["c2"], ["t-2"]);
    }

    #[test]
    fn each_topic_is_ranged_on_its_own() {
        // Java's RangeAssignorTest.testTwoConsumersTwoTopicsSixPartitions.
        let t = topics(&[("t1", 3), ("t2", 3)]);
        let m = members(&[("c1", &["t1", "t2"]), ("c2", &["t1", "t2"])]);
        let r = names(&RangeAssignor.assign(&t, &m));
        assert_eq!(r["c1"], ["t1-0", "t1-1", "t2-0", "t2-1"]);
        assert_eq!(r["c2"], ["t1-2", "t2-2"]);
    }

    #[test]
    fn members_only_get_their_topics_and_missing_topics_are_skipped() {
        // Java's testMultipleConsumersMixedTopics.
        let t = topics(&[("t1", 3), ("t2", 2)]);
        let m = members(&[
            ("c1", &["t1"]),
            ("c2", &["t1", "t2"]),
            ("c3", &["t1", "gone"]),
        ]);
        let r = names(&RangeAssignor.assign(&t, &m));
        assert_eq!(r["c1"], ["t1-0"]);
        assert_eq!(r["c2"], ["t1-1", "t2-0", "t2-1"]);
        assert_eq!(r["c3"], ["t1-2"]);
        let r = names(&RangeAssignor.assign(&t, &members(&[("c", &[])])));
        assert!(r["c"].is_empty());
    }

    #[test]
    fn more_members_than_partitions() {
        let t = topics(&[("t", 1)]);
        let m = members(&[("a", &["t"]), ("b", &["t"])]);
        let r = names(&RangeAssignor.assign(&t, &m));
        assert_eq!(r["a"], ["t-0"]);
        assert!(r["b"].is_empty());
    }

    proptest! {
        #[test]
        fn every_partition_once(
            counts in proptest::collection::vec(0..12i32, 1..4),
            subs in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 4), 1..6),
        ) {
            let t: BTreeMap<String, i32> =
                counts.iter().enumerate().map(|(i, n)| (format!("t{i}"), *n)).collect();
            let m: BTreeMap<String, Subscription> = subs.iter().enumerate().map(|(i, flags)| {
                let topics = flags.iter().enumerate().filter(|(_, f)| **f).map(|(j, _)| format!("t{j}"));
                (format!("m{i:02}"), Subscription::new(topics))
            }).collect();
            let r = RangeAssignor.assign(&t, &m);
            assert_complete_and_valid(&t, &m, &r);
            // Per topic, subscribed members' counts differ by at most one.
            for topic in t.keys() {
                let counts: Vec<usize> = m.iter()
                    .filter(|(_, s)| s.topics.contains(topic))
                    .map(|(id, _)| r[id].partitions.iter().filter(|tp| *tp.topic == **topic).count())
                    .collect();
                if let (Some(max), Some(min)) = (counts.iter().max(), counts.iter().min()) {
                    prop_assert!(max - min <= 1);
                }
            }
        }
    }
}
