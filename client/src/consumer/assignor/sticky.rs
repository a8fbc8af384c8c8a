//! The `sticky` and `cooperative-sticky` assignors (Java's `StickyAssignor` and
//! `CooperativeStickyAssignor`, on `AbstractStickyAssignor`). Sans-IO; owns the balancing
//! algorithm, the previous-owner rules, the cooperative adjustment and the assignors' user data.
//!
//! Both produce an assignment that is
//!
//! - **complete:** every partition of a subscribed topic goes to exactly one subscribed member;
//! - **balanced:** no partition can move from a member to another member subscribed to its
//!   topic that has at least two fewer partitions (so members with the same subscription
//!   differ by at most one partition);
//! - **sticky:** previously owned partitions stay where they were unless balance needs them
//!   elsewhere, and then as few as possible move.
//!
//! Previous ownership comes from each member's subscription. A partition claimed by two members
//! goes to the claim with the higher generation; two claims in the same generation are both
//! ignored (Java logs this as an error). When all members subscribe to the same topics, claims
//! from members behind the group's highest generation are ignored, as Java's fast path does.
//!
//! `sticky` is eager: members revoke everything before rejoining, so they send their previous
//! assignment in the user data (Java's `StickyAssignor` user data v1: `[topic [partition]]`
//! and the generation; v0 lacks the generation). kafkit falls back to the subscription's owned
//! partitions and generation when a member sends no user data.
//!
//! `cooperative-sticky` reads owned partitions and generation from the subscription (v2+; for
//! v0-v1 members, the generation from its user data: Java's lone `int32`, or the
//! `StickyAssignor` v1 layout librdkafka 1.x sends), and then applies KIP-429's
//! rule: a partition that one member owns and the assignment gives to another is left out of
//! this generation entirely; the owner revokes it, rejoins, and the next rebalance hands it over.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    Assignment, Assignor, Reader, RebalanceProtocol, Subscription, empty_assignments,
    group_by_topic, subscribed_partitions,
};
use crate::TopicPartition;

/// Java's `DEFAULT_GENERATION`: no known generation.
const DEFAULT_GENERATION: i32 = -1;

/// A member's previous assignment as the sticky algorithm sees it.
#[derive(Debug, Clone, Default)]
struct MemberData {
    partitions: Vec<TopicPartition>,
    generation: i32,
}

/// Encodes Java's `StickyAssignor` user data v1: `[topic string, [int32 partition]]`, then
/// the generation (`int32`).
pub(crate) fn encode_sticky_user_data(partitions: &[TopicPartition], generation: i32) -> Bytes {
    let by_topic = group_by_topic(partitions);
    let mut out = BytesMut::new();
    out.put_i32(by_topic.len() as i32);
    for (topic, parts) in by_topic {
        out.put_i16(topic.len() as i16);
        out.put_slice(topic.as_bytes());
        out.put_i32(parts.len() as i32);
        for p in parts {
            out.put_i32(p);
        }
    }
    out.put_i32(generation);
    out.freeze()
}

/// Decodes `StickyAssignor` user data: v1 (with generation), else v0 (without, `None`), else
/// `None` for bytes that are neither.
pub(crate) fn decode_sticky_user_data(bytes: &[u8]) -> Option<(Vec<TopicPartition>, Option<i32>)> {
    let mut reader = Reader::new(bytes, "sticky assignor user data");
    let topics = reader.topic_partitions().ok()?;
    let generation = reader.i32().ok();
    let partitions = topics
        .into_iter()
        .flat_map(|(topic, parts)| {
            parts
                .into_iter()
                .map(move |p| TopicPartition::new(topic, p))
        })
        .collect();
    Some((partitions, generation))
}

/// The core sticky assignment: member -> partitions (sorted).
fn sticky_assign(
    partitions_per_topic: &BTreeMap<String, i32>,
    subscriptions: &BTreeMap<String, Subscription>,
    member_data: &BTreeMap<&str, MemberData>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let members: Vec<&str> = subscriptions.keys().map(String::as_str).collect();
    let partitions = subscribed_partitions(partitions_per_topic, subscriptions);
    let index: HashMap<&TopicPartition, usize> = partitions
        .iter()
        .enumerate()
        .map(|(i, tp)| (tp, i))
        .collect();
    let topic_sets: Vec<BTreeSet<&str>> = subscriptions
        .values()
        .map(|s| s.topics.iter().map(String::as_str).collect())
        .collect();
    // Members that may take each partition.
    let mut eligible_by_topic: HashMap<&str, Vec<usize>> = HashMap::new();
    for (m, topics) in topic_sets.iter().enumerate() {
        for topic in topics {
            eligible_by_topic.entry(topic).or_default().push(m);
        }
    }
    let eligible: Vec<&[usize]> = partitions
        .iter()
        .map(|tp| {
            eligible_by_topic
                .get(&*tp.topic)
                .map_or(&[][..], Vec::as_slice)
        })
        .collect();

    // Previous owners: highest generation wins; a tie in the highest generation leaves the
    // partition without an owner. With equal subscriptions, only the members of the highest
    // generation keep their claims (Java's constrained assignment).
    let all_equal = topic_sets.windows(2).all(|w| w[0] == w[1]);
    let generation_of = |m: &str| {
        member_data
            .get(m)
            .map_or(DEFAULT_GENERATION, |d| d.generation)
    };
    let max_generation = members
        .iter()
        .map(|m| generation_of(m))
        .max()
        .unwrap_or(DEFAULT_GENERATION);
    let mut owner: Vec<Option<(i32, usize)>> = vec![None; partitions.len()];
    let mut contested = vec![false; partitions.len()];
    for (m, member) in members.iter().enumerate() {
        let Some(data) = member_data.get(member) else {
            continue;
        };
        if all_equal && data.generation < max_generation {
            continue;
        }
        for tp in &data.partitions {
            let Some(&p) = index.get(tp) else { continue };
            if !topic_sets[m].contains(&*tp.topic) {
                continue;
            }
            match owner[p] {
                None => owner[p] = Some((data.generation, m)),
                Some((_, current)) if current == m => {}
                Some((generation, _)) if data.generation > generation => {
                    owner[p] = Some((data.generation, m));
                    contested[p] = false;
                }
                Some((generation, _)) if data.generation == generation => contested[p] = true,
                Some(_) => {}
            }
        }
    }

    let mut current: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); members.len()];
    let mut previously_owned = vec![None; partitions.len()];
    let mut unassigned = Vec::new();
    for p in 0..partitions.len() {
        match owner[p] {
            Some((_, m)) if !contested[p] => {
                current[m].insert(p);
                previously_owned[p] = Some(m);
            }
            _ => unassigned.push(p),
        }
    }

    // Unowned partitions, the most constrained first, each to the least loaded member that
    // may take it.
    unassigned.sort_by_key(|&p| (eligible[p].len(), p));
    for p in unassigned {
        if let Some(&m) = eligible[p].iter().min_by_key(|&&m| (current[m].len(), m)) {
            current[m].insert(p);
        }
    }

    // Balance: move a partition from a member to an eligible one with at least two fewer,
    // until no such move exists. Each move lowers the sum of squared counts, so this ends.
    loop {
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by_key(|&m| (Reverse(current[m].len()), m));
        let mut chosen = None;
        'search: for &from in &order {
            let from_count = current[from].len();
            if from_count < 2 {
                break;
            }
            // Give up partitions this member did not own before first, highest first.
            let mut candidates: Vec<usize> = current[from].iter().copied().collect();
            candidates.sort_by_key(|&p| (previously_owned[p] == Some(from), Reverse(p)));
            for p in candidates {
                let to = eligible[p]
                    .iter()
                    .copied()
                    .filter(|&m| current[m].len() + 1 < from_count)
                    .min_by_key(|&m| (current[m].len(), m));
                if let Some(to) = to {
                    chosen = Some((from, to, p));
                    break 'search;
                }
            }
        }
        let Some((from, to, p)) = chosen else { break };
        current[from].remove(&p);
        current[to].insert(p);
    }

    members
        .iter()
        .zip(current)
        .map(|(m, set)| {
            (
                (*m).to_owned(),
                set.into_iter().map(|p| partitions[p].clone()).collect(),
            )
        })
        .collect()
}

fn into_assignments(
    subscriptions: &BTreeMap<String, Subscription>,
    assigned: BTreeMap<String, Vec<TopicPartition>>,
) -> BTreeMap<String, Assignment> {
    let mut result = empty_assignments(subscriptions);
    for (member, partitions) in assigned {
        if let Some(a) = result.get_mut(&member) {
            a.partitions = partitions;
        }
    }
    result
}

/// `sticky`: a balanced assignment that keeps as many previous assignments as possible.
/// Eager; each member sends its last assignment and generation in the user data (Java's format).
///
/// ```
/// use std::collections::BTreeMap;
/// use kafkit::TopicPartition;
/// use kafkit::consumer::assignor::{Assignor, StickyAssignor, Subscription};
///
/// let topics = BTreeMap::from([("t".to_string(), 4)]);
/// let owned = |ps: &[i32]| ps.iter().map(|&p| TopicPartition::new("t", p)).collect::<Vec<_>>();
/// let members = BTreeMap::from([
///     ("a".to_string(), Subscription::new(["t"]).owning(owned(&[0, 1, 2, 3]), 1)),
///     ("b".to_string(), Subscription::new(["t"])),
/// ]);
/// let result = StickyAssignor::default().assign(&topics, &members);
/// assert_eq!(result["a"].partitions, owned(&[0, 1]));
/// assert_eq!(result["b"].partitions, owned(&[2, 3]));
/// ```
#[derive(Debug, Default)]
pub struct StickyAssignor {
    /// This member's last assignment and its generation (set by `on_assignment`).
    last: Mutex<Option<(Vec<TopicPartition>, i32)>>,
}

impl StickyAssignor {
    fn member_data(subscription: &Subscription) -> MemberData {
        match subscription.user_data.as_deref() {
            Some(bytes) if !bytes.is_empty() => match decode_sticky_user_data(bytes) {
                Some((partitions, generation)) => MemberData {
                    partitions,
                    generation: generation.unwrap_or(DEFAULT_GENERATION),
                },
                None => MemberData {
                    partitions: Vec::new(),
                    generation: DEFAULT_GENERATION,
                },
            },
            // No user data (a non-Java member): use the subscription's own fields.
            _ => MemberData {
                partitions: subscription.owned_partitions.clone(),
                generation: subscription.generation_id,
            },
        }
    }
}

impl Assignor for StickyAssignor {
    fn name(&self) -> &str {
        "sticky"
    }

    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    fn subscription_user_data(&self, _topics: &[String]) -> Option<Bytes> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .map(|(partitions, generation)| encode_sticky_user_data(partitions, *generation))
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Assignment> {
        let data = subscriptions
            .iter()
            .map(|(m, s)| (m.as_str(), Self::member_data(s)))
            .collect();
        into_assignments(
            subscriptions,
            sticky_assign(partitions_per_topic, subscriptions, &data),
        )
    }

    fn on_assignment(&self, assignment: &Assignment, generation_id: i32) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((assignment.partitions.clone(), generation_id));
    }
}

/// `cooperative-sticky`: the sticky assignment with KIP-429's incremental rebalances.
/// Partitions that change owner are withheld for one generation while the old owner revokes
/// them. Supports the cooperative protocol, and the eager one for upgrades.
///
/// ```
/// use std::collections::BTreeMap;
/// use kafkit::TopicPartition;
/// use kafkit::consumer::assignor::{Assignor, CooperativeStickyAssignor, Subscription};
///
/// let topics = BTreeMap::from([("t".to_string(), 4)]);
/// let owned = |ps: &[i32]| ps.iter().map(|&p| TopicPartition::new("t", p)).collect::<Vec<_>>();
/// let assignor = CooperativeStickyAssignor::default();
/// // "b" joins while "a" owns everything: "a" keeps two, the other two wait.
/// let first = assignor.assign(&topics, &BTreeMap::from([
///     ("a".to_string(), Subscription::new(["t"]).owning(owned(&[0, 1, 2, 3]), 1)),
///     ("b".to_string(), Subscription::new(["t"])),
/// ]));
/// assert_eq!(first["a"].partitions, owned(&[0, 1]));
/// assert!(first["b"].partitions.is_empty());
/// // "a" revoked 2 and 3 and rejoined: now "b" gets them.
/// let second = assignor.assign(&topics, &BTreeMap::from([
///     ("a".to_string(), Subscription::new(["t"]).owning(owned(&[0, 1]), 2)),
///     ("b".to_string(), Subscription::new(["t"]).owning([], 2)),
/// ]));
/// assert_eq!(second["b"].partitions, owned(&[2, 3]));
/// ```
#[derive(Debug)]
pub struct CooperativeStickyAssignor {
    /// The generation of this member's last assignment (set by `on_assignment`).
    generation: Mutex<i32>,
}

impl Default for CooperativeStickyAssignor {
    fn default() -> Self {
        CooperativeStickyAssignor {
            generation: Mutex::new(DEFAULT_GENERATION),
        }
    }
}

impl CooperativeStickyAssignor {
    fn member_data(subscription: &Subscription) -> MemberData {
        let generation = if subscription.generation_id != DEFAULT_GENERATION {
            subscription.generation_id
        } else {
            // v0-v1 subscriptions: the generation travels in the user data: Java's lone
            // `int32`, or (librdkafka 1.x) the `StickyAssignor` v1 layout.
            match subscription.user_data.as_deref() {
                Some(b) if b.len() == 4 => i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                Some(b) => decode_sticky_user_data(b)
                    .and_then(|(_, generation)| generation)
                    .unwrap_or(DEFAULT_GENERATION),
                None => DEFAULT_GENERATION,
            }
        };
        MemberData {
            partitions: subscription.owned_partitions.clone(),
            generation,
        }
    }
}

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &str {
        "cooperative-sticky"
    }

    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
    }

    fn subscription_user_data(&self, _topics: &[String]) -> Option<Bytes> {
        let generation = *self.generation.lock().unwrap_or_else(|e| e.into_inner());
        Some(Bytes::copy_from_slice(&generation.to_be_bytes()))
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Assignment> {
        let data = subscriptions
            .iter()
            .map(|(m, s)| (m.as_str(), Self::member_data(s)))
            .collect();
        let mut assigned = sticky_assign(partitions_per_topic, subscriptions, &data);
        withhold_transferring_partitions(subscriptions, &mut assigned);
        into_assignments(subscriptions, assigned)
    }

    fn on_assignment(&self, _assignment: &Assignment, generation_id: i32) {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner()) = generation_id;
    }
}

/// KIP-429 (Java's `CooperativeStickyAssignor.adjustAssignment`): a partition newly given to a
/// member while another member still owns it (and loses it) is removed from the new owner's
/// assignment for this generation.
fn withhold_transferring_partitions(
    subscriptions: &BTreeMap<String, Subscription>,
    assigned: &mut BTreeMap<String, Vec<TopicPartition>>,
) {
    let mut added: BTreeMap<TopicPartition, String> = BTreeMap::new();
    let mut revoked: BTreeSet<TopicPartition> = BTreeSet::new();
    for (member, partitions) in assigned.iter() {
        let owned: BTreeSet<&TopicPartition> = subscriptions
            .get(member)
            .map(|s| s.owned_partitions.iter().collect())
            .unwrap_or_default();
        let now: BTreeSet<&TopicPartition> = partitions.iter().collect();
        for tp in partitions {
            if !owned.contains(tp) {
                added.insert(tp.clone(), member.clone());
            }
        }
        revoked.extend(owned.into_iter().filter(|tp| !now.contains(tp)).cloned());
    }
    for (tp, member) in added {
        if revoked.contains(&tp)
            && let Some(partitions) = assigned.get_mut(&member)
        {
            partitions.retain(|p| *p != tp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use proptest::prelude::*;

    fn owned(topic: &str, ps: &[i32]) -> Vec<TopicPartition> {
        ps.iter().map(|&p| tp(topic, p)).collect()
    }

    fn sizes(r: &BTreeMap<String, Assignment>) -> Vec<usize> {
        r.values().map(|a| a.partitions.len()).collect()
    }

    /// Members' subscriptions after `result` was applied in `generation` (cooperative style).
    fn next_round(
        subs: &BTreeMap<String, Subscription>,
        result: &BTreeMap<String, Assignment>,
        generation: i32,
    ) -> BTreeMap<String, Subscription> {
        subs.iter()
            .map(|(m, s)| {
                let mut s = s.clone();
                s.owned_partitions = result[m].partitions.clone();
                s.generation_id = generation;
                (m.clone(), s)
            })
            .collect()
    }

    fn moved(before: &BTreeMap<String, Assignment>, after: &BTreeMap<String, Assignment>) -> usize {
        before
            .iter()
            .filter_map(|(m, a)| after.get(m).map(|b| (a, b)))
            .map(|(a, b)| {
                a.partitions
                    .iter()
                    .filter(|tp| !b.partitions.contains(tp))
                    .count()
            })
            .sum()
    }

    #[test]
    fn fresh_group_is_balanced_like_round_robin() {
        let t = topics(&[("t1", 3), ("t2", 3)]);
        let m = members(&[("c1", &["t1", "t2"]), ("c2", &["t1", "t2"])]);
        for assignor in [
            &StickyAssignor::default() as &dyn Assignor,
            &CooperativeStickyAssignor::default(),
        ] {
            let r = assignor.assign(&t, &m);
            assert_complete_and_valid(&t, &m, &r);
            assert_eq!(sizes(&r), [3, 3]);
        }
    }

    #[test]
    fn adding_a_member_moves_the_fewest_partitions() {
        let t = topics(&[("t", 9)]);
        let assignor = StickyAssignor::default();
        let m = members(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
        let first = assignor.assign(&t, &m);
        assert_eq!(sizes(&first), [3, 3, 3]);
        let mut m2 = next_round(&m, &first, 1);
        m2.insert("d".into(), Subscription::new(["t"]));
        let second = assignor.assign(&t, &m2);
        assert_complete_and_valid(&t, &m2, &second);
        assert_eq!(sizes(&second).iter().sum::<usize>(), 9);
        assert!(sizes(&second).iter().all(|&n| n == 2 || n == 3));
        // Quotas 3,2,2,2: two partitions must move, and only two do.
        assert_eq!(moved(&first, &second), 2);
    }

    #[test]
    fn removing_a_member_keeps_the_others_partitions() {
        let t = topics(&[("t1", 5), ("t2", 4)]);
        let assignor = StickyAssignor::default();
        let m = members(&[
            ("a", &["t1", "t2"]),
            ("b", &["t1", "t2"]),
            ("c", &["t1", "t2"]),
        ]);
        let first = assignor.assign(&t, &m);
        let mut m2 = next_round(&m, &first, 1);
        m2.remove("b");
        let second = assignor.assign(&t, &m2);
        assert_complete_and_valid(&t, &m2, &second);
        for member in ["a", "c"] {
            for tp in &first[member].partitions {
                assert!(second[member].partitions.contains(tp), "{member} lost {tp}");
            }
        }
        let s = sizes(&second);
        assert!(s.iter().max().unwrap() - s.iter().min().unwrap() <= 1);
    }

    #[test]
    fn eager_sticky_reads_javas_user_data() {
        let t = topics(&[("t", 4)]);
        let data = encode_sticky_user_data(&owned("t", &[3, 2]), 5);
        // v1 layout: one topic "t" with [2, 3] (grouping keeps the given order), generation 5.
        assert_eq!(
            &data[..],
            &[
                0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 5
            ]
        );
        let (parts, generation) = decode_sticky_user_data(&data).unwrap();
        assert_eq!((parts, generation), (owned("t", &[3, 2]), Some(5)));
        // v0 (no generation) decodes with no generation; junk decodes to nothing.
        assert_eq!(
            decode_sticky_user_data(&data[..data.len() - 4]).unwrap().1,
            None
        );
        assert!(decode_sticky_user_data(&[0, 0, 0, 9]).is_none());

        let mut m = members(&[("a", &["t"]), ("b", &["t"])]);
        m.get_mut("b").unwrap().user_data = Some(data);
        let r = StickyAssignor::default().assign(&t, &m);
        assert_eq!(r["b"].partitions, owned("t", &[2, 3]));
        assert_eq!(r["a"].partitions, owned("t", &[0, 1]));
    }

    #[test]
    fn sticky_user_data_follows_on_assignment() {
        let assignor = StickyAssignor::default();
        assert_eq!(assignor.subscription_user_data(&[]), None);
        let a = Assignment {
            partitions: owned("t", &[1]),
            user_data: None,
        };
        assignor.on_assignment(&a, 7);
        let data = assignor.subscription_user_data(&[]).unwrap();
        assert_eq!(
            decode_sticky_user_data(&data).unwrap(),
            (owned("t", &[1]), Some(7))
        );
        let coop = CooperativeStickyAssignor::default();
        assert_eq!(&coop.subscription_user_data(&[]).unwrap()[..], &[0xff; 4]);
        coop.on_assignment(&a, 3);
        assert_eq!(
            &coop.subscription_user_data(&[]).unwrap()[..],
            &[0, 0, 0, 3]
        );
    }

    #[test]
    fn highest_generation_wins_a_contested_partition() {
        let t = topics(&[("t", 2)]);
        // Different subscriptions so that the per-partition rule applies to every claim.
        let mut m = BTreeMap::new();
        m.insert(
            "a".to_string(),
            Subscription::new(["t"]).owning(owned("t", &[0, 1]), 3),
        );
        m.insert(
            "b".to_string(),
            Subscription::new(["t", "other"]).owning(owned("t", &[0]), 5),
        );
        let r = StickyAssignor::default().assign(&t, &m);
        assert_eq!(r["b"].partitions, owned("t", &[0]));
        assert_eq!(r["a"].partitions, owned("t", &[1]));
        // Same generation: neither claim counts; still complete.
        m.get_mut("b").unwrap().generation_id = 3;
        let r = StickyAssignor::default().assign(&t, &m);
        assert_complete_and_valid(&t, &m, &r);
        // With equal subscriptions, a member behind the highest generation loses its claims.
        let m = BTreeMap::from([
            (
                "a".to_string(),
                Subscription::new(["t"]).owning(owned("t", &[0, 1]), 2),
            ),
            ("b".to_string(), Subscription::new(["t"]).owning([], 4)),
        ]);
        let r = StickyAssignor::default().assign(&t, &m);
        assert_eq!(sizes(&r), [1, 1]);
    }

    #[test]
    fn cooperative_withholds_moving_partitions_for_one_generation() {
        let t = topics(&[("t", 6)]);
        let assignor = CooperativeStickyAssignor::default();
        let m = BTreeMap::from([
            (
                "a".to_string(),
                Subscription::new(["t"]).owning(owned("t", &[0, 1, 2, 3, 4, 5]), 1),
            ),
            ("b".to_string(), Subscription::new(["t"])),
            ("c".to_string(), Subscription::new(["t"])),
        ]);
        let first = assignor.assign(&t, &m);
        assert_eq!(first["a"].partitions.len(), 2);
        assert!(first["b"].partitions.is_empty());
        assert!(first["c"].partitions.is_empty());
        // "a" revokes what it no longer has and everybody rejoins in generation 2.
        let m2 = next_round(&m, &first, 2);
        let second = assignor.assign(&t, &m2);
        assert_complete_and_valid(&t, &m2, &second);
        assert_eq!(sizes(&second), [2, 2, 2]);
        assert_eq!(second["a"].partitions, first["a"].partitions);
        // A new member's partitions that nobody owned are handed out at once.
        let fresh = assignor.assign(&t, &members(&[("x", &["t"]), ("y", &["t"])]));
        assert_eq!(sizes(&fresh), [3, 3]);
    }

    #[test]
    fn cooperative_reads_the_generation_from_user_data_for_old_subscriptions() {
        let s = Subscription {
            user_data: Some(Bytes::from_static(&[0, 0, 0, 9])),
            ..Subscription::new(["t"])
        };
        assert_eq!(CooperativeStickyAssignor::member_data(&s).generation, 9);
        let librdkafka = Subscription {
            user_data: Some(encode_sticky_user_data(&owned("t", &[0]), 6)),
            ..Subscription::new(["t"])
        };
        assert_eq!(
            CooperativeStickyAssignor::member_data(&librdkafka).generation,
            6
        );
        let junk = Subscription {
            user_data: Some(Bytes::from_static(&[1, 2])),
            ..Subscription::new(["t"])
        };
        assert_eq!(CooperativeStickyAssignor::member_data(&junk).generation, -1);
        let s = Subscription {
            generation_id: 4,
            ..s
        };
        assert_eq!(CooperativeStickyAssignor::member_data(&s).generation, 4);
    }

    #[test]
    fn unequal_subscriptions_are_balanced_within_what_each_may_take() {
        // Java's testTwoConsumersOneTopicOnePartition-style mixes.
        let t = topics(&[("t1", 1), ("t2", 2), ("t3", 3)]);
        let m = members(&[
            ("c0", &["t1"]),
            ("c1", &["t1", "t2"]),
            ("c2", &["t1", "t2", "t3"]),
        ]);
        let r = StickyAssignor::default().assign(&t, &m);
        assert_complete_and_valid(&t, &m, &r);
        assert_eq!(sizes(&r), [1, 2, 3]);
    }

    fn arb_group() -> impl Strategy<Value = (BTreeMap<String, i32>, BTreeMap<String, Subscription>)>
    {
        (
            proptest::collection::vec(0..8i32, 1..4),
            proptest::collection::vec(proptest::collection::vec(any::<bool>(), 3), 1..6),
            any::<bool>(),
        )
            .prop_map(|(counts, subs, equal)| {
                let t: BTreeMap<String, i32> = counts
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (format!("t{i}"), *n))
                    .collect();
                let m = subs
                    .iter()
                    .enumerate()
                    .map(|(i, flags)| {
                        let topics: Vec<String> = if equal {
                            t.keys().cloned().collect()
                        } else {
                            flags
                                .iter()
                                .enumerate()
                                .filter(|(_, f)| **f)
                                .map(|(j, _)| format!("t{j}"))
                                .collect()
                        };
                        (format!("m{i}"), Subscription::new(topics))
                    })
                    .collect();
                (t, m)
            })
    }

    /// No partition can move to an eligible member with at least two fewer.
    fn assert_balanced(subs: &BTreeMap<String, Subscription>, r: &BTreeMap<String, Assignment>) {
        for (a, aa) in r {
            for tp in &aa.partitions {
                for (b, bb) in r {
                    if subs[b].topics.iter().any(|t| **t == *tp.topic) {
                        assert!(
                            bb.partitions.len() + 1 >= aa.partitions.len(),
                            "{tp} could move from {a} to {b}"
                        );
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn sticky_is_complete_balanced_and_stable(
            (t, m) in arb_group(),
            drop_member in any::<prop::sample::Index>(),
        ) {
            let assignor = StickyAssignor::default();
            let first = assignor.assign(&t, &m);
            assert_complete_and_valid(&t, &m, &first);
            assert_balanced(&m, &first);
            // Re-running with the result as previous ownership changes nothing.
            let again = assignor.assign(&t, &next_round(&m, &first, 1));
            prop_assert_eq!(&again, &first);
            // A member leaves: still complete and balanced; the others keep what they had
            // unless balance needs it.
            let mut m2 = next_round(&m, &first, 1);
            let gone = m2.keys().nth(drop_member.index(m2.len())).cloned().unwrap();
            m2.remove(&gone);
            if !m2.is_empty() {
                let second = assignor.assign(&t, &m2);
                assert_complete_and_valid(&t, &m2, &second);
                assert_balanced(&m2, &second);
            }
        }

        #[test]
        fn cooperative_converges_in_two_rounds(
            (t, m) in arb_group(),
            new_member in any::<bool>(),
        ) {
            let assignor = CooperativeStickyAssignor::default();
            let first = assignor.assign(&t, &m);
            assert_complete_and_valid(&t, &m, &first);
            let mut m2 = next_round(&m, &first, 1);
            if new_member {
                let topics: Vec<String> = t.keys().cloned().collect();
                m2.insert("new".into(), Subscription::new(topics));
            }
            // Round 1: nothing assigned twice, nothing owned by one member given to another.
            let round1 = assignor.assign(&t, &m2);
            let mut seen = BTreeSet::new();
            for (member, a) in &round1 {
                for tp in &a.partitions {
                    prop_assert!(seen.insert(tp.clone()));
                    for (other, s) in &m2 {
                        prop_assert!(other == member || !s.owned_partitions.contains(tp));
                    }
                }
            }
            // Round 2, after revocation: complete and balanced.
            let round2 = assignor.assign(&t, &next_round(&m2, &round1, 2));
            assert_complete_and_valid(&t, &m2, &round2);
            assert_balanced(&m2, &round2);
        }
    }
}

#[cfg(test)]
mod scale_tests {
    use super::*;

    /// 2000 partitions moving from one owner to 100 members: balanced, and quick (about
    /// 15 ms in release, 0.2 s in debug on the 2-core CI machine).
    #[test]
    fn a_large_group_rebalances_from_a_single_owner() {
        let t: BTreeMap<String, i32> = (0..20).map(|i| (format!("t{i}"), 100)).collect();
        let all: Vec<String> = t.keys().cloned().collect();
        let everything: Vec<TopicPartition> = t
            .keys()
            .flat_map(|k| (0..100).map(move |p| TopicPartition::new(k.as_str(), p)))
            .collect();
        let mut m: BTreeMap<String, Subscription> = (0..100)
            .map(|i| {
                (
                    format!("m{i:03}"),
                    Subscription::new(all.clone()).owning([], 1),
                )
            })
            .collect();
        m.insert(
            "m000".into(),
            Subscription::new(all.clone()).owning(everything.clone(), 1),
        );
        let r = StickyAssignor::default().assign(&t, &m);
        assert!(r.values().all(|a| a.partitions.len() == 20));
        // The first owner kept 20 of its own.
        assert!(
            r["m000"]
                .partitions
                .iter()
                .all(|tp| everything.contains(tp))
        );
    }
}
