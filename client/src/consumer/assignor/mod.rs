//! Partition assignors and the ConsumerProtocol subscription/assignment bytes. Sans-IO.
//!
//! **Owns:** the [`Assignor`] trait (Java's `ConsumerPartitionAssignor`), the four Java
//! assignors ([`RangeAssignor`] `range`, [`RoundRobinAssignor`] `roundrobin`,
//! [`StickyAssignor`] `sticky`, [`CooperativeStickyAssignor`] `cooperative-sticky`), and the
//! versioned bytes members exchange through JoinGroup/SyncGroup ([`encode_subscription`],
//! [`decode_subscription`], [`encode_assignment`], [`decode_assignment`]). **Must not touch:**
//! sockets, tokio, clocks, group membership state (that is [`crate::consumer::group`]).
//!
//! Not implemented: Java's rack-aware variants (KIP-881), which need partition replica racks
//! that [`Assignor::assign`] is not given, and the ordering of static members by
//! `group.instance.id` in `range`/`roundrobin` (members are ordered by member id).
//!
//! # Versions
//!
//! The bytes are an `int16` version followed by the `ConsumerProtocolSubscription` or
//! `ConsumerProtocolAssignment` body of that version (versions 0-3, never flexible).
//! Decoding follows Java's `ConsumerProtocol`: a negative version is an error, a version above
//! 3 is read as version 3 and whatever follows is ignored (so a future member can still join),
//! and trailing bytes are ignored.
//!
//! kafkit writes subscriptions at [`SUBSCRIPTION_VERSION`] (3: owned partitions, generation and
//! rack), as Java 3.5+ and librdkafka 2.x do; older Java members, librdkafka and kafka-python
//! (whose schema is the version-0 layout) read the version-0 prefix and ignore the rest.
//! Assignments are written at [`ASSIGNMENT_VERSION`] (3, Java's choice): every version has the
//! same layout, and every client either accepts any version or ignores it.
//!
//! # Untrusted input
//!
//! Member bytes come from other clients through the broker. Before `kafka-protocol` decodes a
//! body, a walk over the schema checks every length and count against the bytes that remain
//! (its array decoders reserve capacity from the count read off the wire, and a failed
//! allocation aborts the process); the decode itself runs under `catch_unwind`. Malformed bytes
//! give a [`ProtocolError`], never a panic.
//!
//! ```
//! use bytes::Bytes;
//! use kafkit::TopicPartition;
//! use kafkit::consumer::assignor::{self, Subscription};
//!
//! let sub = Subscription {
//!     topics: vec!["orders".into()],
//!     owned_partitions: vec![TopicPartition::new("orders", 0)],
//!     generation_id: 4,
//!     rack_id: Some("rack-a".into()),
//!     ..Subscription::default()
//! };
//! let bytes = assignor::encode_subscription(&sub, assignor::SUBSCRIPTION_VERSION);
//! assert_eq!(assignor::decode_subscription(&bytes)?, sub);
//! // Version 0 keeps only the topics and user data.
//! let v0 = assignor::decode_subscription(&assignor::encode_subscription(&sub, 0))?;
//! assert_eq!((v0.owned_partitions.len(), v0.generation_id, v0.rack_id), (0, -1, None));
//! # Ok::<(), kafkit::protocol::ProtocolError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::TopicPartition;
use crate::protocol::ProtocolError;

mod range;
mod roundrobin;
mod sticky;

pub use range::RangeAssignor;
pub use roundrobin::RoundRobinAssignor;
pub use sticky::{CooperativeStickyAssignor, StickyAssignor};

/// How members give up partitions during a rebalance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RebalanceProtocol {
    /// Every member revokes everything before rejoining (range, roundrobin, sticky).
    Eager,
    /// Members keep their partitions and revoke only those that move (KIP-429).
    Cooperative,
}

/// One member's subscription (ConsumerProtocolSubscription, v0-v3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscription {
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Assignor-specific bytes.
    pub user_data: Option<Bytes>,
    /// Partitions the member owns now (v1+).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation those partitions were assigned in (v2+; -1 unknown).
    pub generation_id: i32,
    /// `client.rack` (v3+).
    pub rack_id: Option<String>,
}

impl Subscription {
    /// A subscription to `topics` with nothing owned and an unknown generation (-1).
    ///
    /// ```
    /// let sub = kafkit::consumer::assignor::Subscription::new(["a", "b"]);
    /// assert_eq!(sub.topics, ["a", "b"]);
    /// assert_eq!(sub.generation_id, -1);
    /// ```
    pub fn new<T: Into<String>>(topics: impl IntoIterator<Item = T>) -> Self {
        Subscription {
            topics: topics.into_iter().map(Into::into).collect(),
            generation_id: -1,
            ..Subscription::default()
        }
    }

    /// The same subscription, owning `partitions` since `generation_id`.
    ///
    /// ```
    /// use kafkit::TopicPartition;
    /// use kafkit::consumer::assignor::Subscription;
    ///
    /// let sub = Subscription::new(["a"]).owning([TopicPartition::new("a", 1)], 3);
    /// assert_eq!((sub.owned_partitions.len(), sub.generation_id), (1, 3));
    /// ```
    pub fn owning(
        mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
        generation_id: i32,
    ) -> Self {
        self.owned_partitions = partitions.into_iter().collect();
        self.generation_id = generation_id;
        self
    }
}

/// One member's assignment (ConsumerProtocolAssignment, v0-v3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Assigned partitions.
    pub partitions: Vec<TopicPartition>,
    /// Assignor-specific bytes.
    pub user_data: Option<Bytes>,
}

/// A partition assignor (Java's `ConsumerPartitionAssignor`). Runs on the group leader.
///
/// ```
/// use std::collections::BTreeMap;
/// use kafkit::consumer::assignor::{Assignor, RangeAssignor, Subscription};
///
/// let topics = BTreeMap::from([("t".to_string(), 3)]);
/// let members = BTreeMap::from([
///     ("m1".to_string(), Subscription::new(["t"])),
///     ("m2".to_string(), Subscription::new(["t"])),
/// ]);
/// let result = RangeAssignor.assign(&topics, &members);
/// assert_eq!(result["m1"].partitions.len(), 2);
/// assert_eq!(result["m2"].partitions.len(), 1);
/// ```
pub trait Assignor: Send + Sync + std::fmt::Debug {
    /// The protocol name sent in JoinGroup (`range`, `roundrobin`, `sticky`, `cooperative-sticky`).
    fn name(&self) -> &str;
    /// The rebalance protocols it supports, preferred first.
    fn supported_protocols(&self) -> &[RebalanceProtocol];
    /// Assignor-specific subscription bytes for this member.
    fn subscription_user_data(&self, _topics: &[String]) -> Option<Bytes> {
        None
    }
    /// Assign `partitions_per_topic` (topic -> partition count) to the members
    /// (member id -> subscription). Every member id gets an entry.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Assignment>;
    /// Called on every member (leader or not) with its own assignment once SyncGroup returns,
    /// and the generation it was assigned in (Java's `onAssignment`). Assignors that carry state
    /// into the next subscription (the sticky ones) remember it here.
    fn on_assignment(&self, _assignment: &Assignment, _generation_id: i32) {}
}

/// The assignor for a protocol name (`range`, `roundrobin`, `sticky`, `cooperative-sticky`),
/// fresh (without remembered assignments).
///
/// ```
/// use kafkit::consumer::assignor::{RebalanceProtocol, assignor_by_name};
///
/// let a = assignor_by_name("cooperative-sticky").unwrap();
/// assert_eq!(a.supported_protocols()[0], RebalanceProtocol::Cooperative);
/// assert!(assignor_by_name("uniform").is_none());
/// ```
pub fn assignor_by_name(name: &str) -> Option<Arc<dyn Assignor>> {
    Some(match name {
        "range" => Arc::new(RangeAssignor),
        "roundrobin" => Arc::new(RoundRobinAssignor),
        "sticky" => Arc::new(StickyAssignor::default()),
        "cooperative-sticky" => Arc::new(CooperativeStickyAssignor::default()),
        _ => return None,
    })
}

/// The rebalance protocol a member with these assignors uses, as Java's `ConsumerCoordinator`
/// picks it: the most advanced protocol every assignor supports (`Cooperative` over `Eager`),
/// or `None` when they share none (or the list is empty).
///
/// ```
/// use kafkit::consumer::assignor::{RebalanceProtocol, assignor_by_name, rebalance_protocol};
///
/// let both = [assignor_by_name("range").unwrap(), assignor_by_name("cooperative-sticky").unwrap()];
/// assert_eq!(rebalance_protocol(&both), Some(RebalanceProtocol::Eager));
/// assert_eq!(rebalance_protocol(&both[1..]), Some(RebalanceProtocol::Cooperative));
/// ```
pub fn rebalance_protocol(assignors: &[Arc<dyn Assignor>]) -> Option<RebalanceProtocol> {
    let (first, rest) = assignors.split_first()?;
    first
        .supported_protocols()
        .iter()
        .copied()
        .filter(|p| rest.iter().all(|a| a.supported_protocols().contains(p)))
        .max()
}

/// The subscription version kafkit writes.
pub const SUBSCRIPTION_VERSION: i16 = 3;
/// The assignment version kafkit writes.
pub const ASSIGNMENT_VERSION: i16 = 3;
/// The highest ConsumerProtocolSubscription/Assignment version known; higher ones are read as it.
pub const HIGHEST_KNOWN_VERSION: i16 = 3;

/// Topics longer than this cannot be written as an `int16`-length string (and are never valid
/// Kafka topic names, which have at most 249 characters).
const MAX_STRING: usize = i16::MAX as usize;

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// Groups partitions by topic (topics sorted, partitions in the order given).
fn group_by_topic(partitions: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions.iter().filter(|tp| tp.topic.len() <= MAX_STRING) {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    by_topic
}

fn with_version(version: i16, body: &impl Encodable) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(version);
    if body.encode(&mut out, version).is_err() {
        // Unreachable: every string was length-checked above and the version is in range.
        out.truncate(2);
    }
    out.freeze()
}

/// Encode a subscription as ConsumerProtocolSubscription bytes of `version` (clamped to 0-3).
/// Fields the version lacks are left out; owned partitions are grouped by topic, topics sorted.
/// Strings too long for the format (never a valid topic name) are dropped.
///
/// ```
/// use kafkit::consumer::assignor::{Subscription, encode_subscription};
///
/// let bytes = encode_subscription(&Subscription::new(["t"]), 0);
/// // version 0, one topic "t", null user data
/// assert_eq!(&bytes[..], &[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]);
/// ```
pub fn encode_subscription(subscription: &Subscription, version: i16) -> Bytes {
    let version = version.clamp(0, HIGHEST_KNOWN_VERSION);
    let owned = group_by_topic(&subscription.owned_partitions)
        .into_iter()
        .map(|(topic, partitions)| {
            OwnedTopic::default()
                .with_topic(TopicName(str_bytes(topic)))
                .with_partitions(partitions)
        })
        .collect();
    let body = ConsumerProtocolSubscription::default()
        .with_topics(
            subscription
                .topics
                .iter()
                .filter(|t| t.len() <= MAX_STRING)
                .map(|t| str_bytes(t))
                .collect(),
        )
        .with_user_data(subscription.user_data.clone())
        .with_owned_partitions(if version >= 1 { owned } else { Vec::new() })
        .with_generation_id(subscription.generation_id)
        .with_rack_id(
            subscription
                .rack_id
                .as_deref()
                .filter(|r| version >= 3 && r.len() <= MAX_STRING)
                .map(str_bytes),
        );
    with_version(version, &body)
}

/// Decode ConsumerProtocolSubscription bytes (any version 0-3; unknown higher versions read as 3).
///
/// ```
/// use bytes::Bytes;
/// use kafkit::consumer::assignor::decode_subscription;
///
/// // A version-9 subscription from a future client: read as version 3, the rest ignored.
/// let mut raw = vec![0, 9, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff];
/// raw.extend([0, 0, 0, 0, 0, 0, 0, 7, 0xff, 0xff, 1, 2, 3]);
/// let sub = decode_subscription(&Bytes::from(raw))?;
/// assert_eq!((sub.topics.as_slice(), sub.generation_id), (&["t".to_string()][..], 7));
/// assert!(decode_subscription(&Bytes::from_static(&[0xff, 0xff])).is_err());
/// # Ok::<(), kafkit::protocol::ProtocolError>(())
/// ```
pub fn decode_subscription(bytes: &Bytes) -> Result<Subscription, ProtocolError> {
    let (version, body) = read_version(bytes, "subscription")?;
    let mut walk = Reader::new(&body, "consumer protocol subscription");
    walk.string_array()?;
    walk.bytes(true)?;
    if version >= 1 {
        walk.topic_partitions()?;
    }
    if version >= 2 {
        walk.i32()?;
    }
    if version >= 3 {
        walk.string(true)?;
    }
    let data: ConsumerProtocolSubscription = checked_decode(body, version)?;
    Ok(Subscription {
        topics: data.topics.iter().map(|t| t.to_string()).collect(),
        user_data: data.user_data,
        owned_partitions: flatten(
            data.owned_partitions
                .iter()
                .map(|t| (&*t.topic.0, &t.partitions)),
        ),
        generation_id: data.generation_id,
        rack_id: data.rack_id.map(|r| r.to_string()),
    })
}

/// Encode an assignment as ConsumerProtocolAssignment bytes of `version` (clamped to 0-3;
/// every version has the same layout). Partitions are grouped by topic, topics sorted.
///
/// ```
/// use kafkit::TopicPartition;
/// use kafkit::consumer::assignor::{Assignment, decode_assignment, encode_assignment};
///
/// let a = Assignment { partitions: vec![TopicPartition::new("t", 0)], user_data: None };
/// assert_eq!(decode_assignment(&encode_assignment(&a, 3))?, a);
/// # Ok::<(), kafkit::protocol::ProtocolError>(())
/// ```
pub fn encode_assignment(assignment: &Assignment, version: i16) -> Bytes {
    let version = version.clamp(0, HIGHEST_KNOWN_VERSION);
    let body = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(
            group_by_topic(&assignment.partitions)
                .into_iter()
                .map(|(topic, partitions)| {
                    AssignedTopic::default()
                        .with_topic(TopicName(str_bytes(topic)))
                        .with_partitions(partitions)
                })
                .collect(),
        )
        .with_user_data(assignment.user_data.clone());
    with_version(version, &body)
}

/// Decode ConsumerProtocolAssignment bytes (an empty byte string is an empty assignment).
///
/// ```
/// use bytes::Bytes;
/// use kafkit::consumer::assignor::{Assignment, decode_assignment};
///
/// assert_eq!(decode_assignment(&Bytes::new())?, Assignment::default());
/// assert!(decode_assignment(&Bytes::from_static(&[0, 1, 0x7f, 0xff, 0xff, 0xff])).is_err());
/// # Ok::<(), kafkit::protocol::ProtocolError>(())
/// ```
pub fn decode_assignment(bytes: &Bytes) -> Result<Assignment, ProtocolError> {
    if bytes.is_empty() {
        return Ok(Assignment::default());
    }
    let (version, body) = read_version(bytes, "assignment")?;
    let mut walk = Reader::new(&body, "consumer protocol assignment");
    walk.topic_partitions()?;
    walk.bytes(true)?;
    let data: ConsumerProtocolAssignment = checked_decode(body, version)?;
    Ok(Assignment {
        partitions: flatten(
            data.assigned_partitions
                .iter()
                .map(|t| (&*t.topic.0, &t.partitions)),
        ),
        user_data: data.user_data,
    })
}

fn flatten<'a>(topics: impl Iterator<Item = (&'a str, &'a Vec<i32>)>) -> Vec<TopicPartition> {
    let mut out = Vec::new();
    for (topic, partitions) in topics {
        let topic: Arc<str> = Arc::from(topic);
        out.extend(partitions.iter().map(|&p| TopicPartition {
            topic: topic.clone(),
            partition: p,
        }));
    }
    out
}

/// Reads the `int16` version as Java's `ConsumerProtocol` does: negative is an error, above
/// the highest known reads as the highest known.
fn read_version(bytes: &Bytes, what: &'static str) -> Result<(i16, Bytes), ProtocolError> {
    let mut reader = Reader::new(bytes, "consumer protocol header");
    let version = reader.i16()?;
    if version < 0 {
        return Err(ProtocolError::Decode(format!(
            "Unsupported {what} version: {version}"
        )));
    }
    Ok((version.min(HIGHEST_KNOWN_VERSION), bytes.slice(2..)))
}

/// Decodes with `kafka-protocol` after the schema walk succeeded; a panic inside it (none is
/// known) becomes an error.
fn checked_decode<T: Decodable>(body: Bytes, version: i16) -> Result<T, ProtocolError> {
    let mut buf = body;
    match catch_unwind(AssertUnwindSafe(|| T::decode(&mut buf, version))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(ProtocolError::Decode(format!("{e:#}"))),
        Err(_) => Err(ProtocolError::Decode(
            "kafka-protocol panicked while decoding".to_owned(),
        )),
    }
}

/// A cursor over untrusted bytes in the classic (non-flexible) encoding: every length and count
/// is checked against the bytes that remain before anything is read or reserved.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        if self.buf.len() < n {
            return Err(ProtocolError::Truncated {
                what: self.what,
                needed: n,
                available: self.buf.len(),
            });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, ProtocolError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, ProtocolError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn length(&mut self, len: i64, nullable: bool) -> Result<Option<usize>, ProtocolError> {
        match len {
            -1 if nullable => Ok(None),
            n if n < 0 => Err(ProtocolError::Malformed("negative length")),
            n => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n > self.buf.len() {
                    return Err(ProtocolError::LengthOutOfBounds {
                        claimed: n as u64,
                        available: self.buf.len(),
                    });
                }
                Ok(Some(n))
            }
        }
    }

    /// An `int16`-length string (`-1` is null when `nullable`).
    pub(crate) fn string(&mut self, nullable: bool) -> Result<Option<&'a str>, ProtocolError> {
        let len = self.i16()?;
        match self.length(len.into(), nullable)? {
            None => Ok(None),
            Some(n) => std::str::from_utf8(self.take(n)?)
                .map(Some)
                .map_err(|_| ProtocolError::Malformed("string is not UTF-8")),
        }
    }

    /// An `int32`-length byte string (`-1` is null when `nullable`).
    pub(crate) fn bytes(&mut self, nullable: bool) -> Result<Option<&'a [u8]>, ProtocolError> {
        let len = self.i32()?;
        match self.length(len.into(), nullable)? {
            None => Ok(None),
            Some(n) => self.take(n).map(Some),
        }
    }

    /// A non-nullable array count whose elements take at least `min_element` bytes each.
    pub(crate) fn array_count(&mut self, min_element: usize) -> Result<usize, ProtocolError> {
        let count = self.i32()?;
        if count < 0 {
            return Err(ProtocolError::Malformed("non-nullable array is null"));
        }
        let count = count as usize;
        let needed = count.saturating_mul(min_element);
        if needed > self.buf.len() {
            return Err(ProtocolError::LengthOutOfBounds {
                claimed: count as u64,
                available: self.buf.len(),
            });
        }
        Ok(count)
    }

    fn string_array(&mut self) -> Result<(), ProtocolError> {
        for _ in 0..self.array_count(2)? {
            self.string(false)?;
        }
        Ok(())
    }

    /// `[topic string, [int32 partition]]`, returned as (topic, partitions) pairs.
    pub(crate) fn topic_partitions(&mut self) -> Result<Vec<(&'a str, Vec<i32>)>, ProtocolError> {
        let count = self.array_count(6)?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let topic = self.string(false)?.unwrap_or_default();
            let n = self.array_count(4)?;
            let mut partitions = Vec::with_capacity(n);
            for _ in 0..n {
                partitions.push(self.i32()?);
            }
            out.push((topic, partitions));
        }
        Ok(out)
    }
}

// ---- Helpers shared by the assignors --------------------------------------------------------

/// An empty assignment for every member.
fn empty_assignments(
    subscriptions: &BTreeMap<String, Subscription>,
) -> BTreeMap<String, Assignment> {
    subscriptions
        .keys()
        .map(|m| (m.clone(), Assignment::default()))
        .collect()
}

/// Every partition of the topics some member subscribes to that exist in
/// `partitions_per_topic`, sorted by topic then partition.
fn subscribed_partitions(
    partitions_per_topic: &BTreeMap<String, i32>,
    subscriptions: &BTreeMap<String, Subscription>,
) -> Vec<TopicPartition> {
    let topics: BTreeSet<&str> = subscriptions
        .values()
        .flat_map(|s| s.topics.iter().map(String::as_str))
        .collect();
    let mut out = Vec::new();
    for topic in topics {
        if let Some(&count) = partitions_per_topic.get(topic) {
            let name: Arc<str> = Arc::from(topic);
            out.extend((0..count.max(0)).map(|p| TopicPartition {
                topic: name.clone(),
                partition: p,
            }));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub(crate) fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    pub(crate) fn topics(counts: &[(&str, i32)]) -> BTreeMap<String, i32> {
        counts.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    pub(crate) fn members(subs: &[(&str, &[&str])]) -> BTreeMap<String, Subscription> {
        subs.iter()
            .map(|(m, t)| (m.to_string(), Subscription::new(t.iter().copied())))
            .collect()
    }

    /// Member -> sorted "topic-partition" strings.
    pub(crate) fn names(result: &BTreeMap<String, Assignment>) -> BTreeMap<String, Vec<String>> {
        result
            .iter()
            .map(|(m, a)| {
                let mut v: Vec<String> = a.partitions.iter().map(|tp| tp.to_string()).collect();
                v.sort();
                (m.clone(), v)
            })
            .collect()
    }

    /// Every subscribed partition assigned exactly once, only to members subscribed to its topic.
    pub(crate) fn assert_complete_and_valid(
        partitions_per_topic: &BTreeMap<String, i32>,
        subscriptions: &BTreeMap<String, Subscription>,
        result: &BTreeMap<String, Assignment>,
    ) {
        assert_eq!(
            result.keys().collect::<Vec<_>>(),
            subscriptions.keys().collect::<Vec<_>>()
        );
        let mut seen = BTreeSet::new();
        for (member, a) in result {
            for tp in &a.partitions {
                assert!(
                    subscriptions[member]
                        .topics
                        .iter()
                        .any(|t| **t == *tp.topic),
                    "{member} got {tp} without subscribing"
                );
                assert!(seen.insert(tp.clone()), "{tp} assigned twice");
            }
        }
        let want: BTreeSet<TopicPartition> =
            subscribed_partitions(partitions_per_topic, subscriptions)
                .into_iter()
                .collect();
        assert_eq!(seen, want);
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use proptest::prelude::*;

    fn sorted(mut v: Vec<TopicPartition>) -> Vec<TopicPartition> {
        v.sort();
        v
    }

    #[test]
    fn subscription_round_trips_in_every_version() {
        let full = Subscription {
            topics: vec!["b".into(), "a".into()],
            user_data: Some(Bytes::from_static(b"xyz")),
            owned_partitions: vec![tp("a", 2), tp("a", 0), tp("b", 1)],
            generation_id: 12,
            rack_id: Some("r1".into()),
        };
        for version in 0..=3 {
            let bytes = encode_subscription(&full, version);
            assert_eq!(i16::from_be_bytes([bytes[0], bytes[1]]), version);
            let back = decode_subscription(&bytes).unwrap();
            assert_eq!(back.topics, full.topics);
            assert_eq!(back.user_data, full.user_data);
            let owned = if version >= 1 {
                full.owned_partitions.clone()
            } else {
                vec![]
            };
            assert_eq!(sorted(back.owned_partitions), sorted(owned), "v{version}");
            assert_eq!(back.generation_id, if version >= 2 { 12 } else { -1 });
            assert_eq!(
                back.rack_id,
                if version >= 3 {
                    full.rack_id.clone()
                } else {
                    None
                }
            );
        }
        // Out-of-range versions are clamped when writing.
        assert_eq!(&encode_subscription(&full, 7)[..2], &[0, 3]);
        assert_eq!(&encode_subscription(&full, -2)[..2], &[0, 0]);
    }

    #[test]
    fn subscription_bytes_match_the_java_layout() {
        let sub = Subscription {
            topics: vec!["t".into()],
            user_data: None,
            owned_partitions: vec![tp("t", 5)],
            generation_id: 2,
            rack_id: None,
        };
        let want: &[u8] = &[
            0, 3, // version
            0, 0, 0, 1, 0, 1, b't', // topics
            0xff, 0xff, 0xff, 0xff, // null user data
            0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 5, // owned
            0, 0, 0, 2, // generation
            0xff, 0xff, // null rack
        ];
        assert_eq!(&encode_subscription(&sub, 3)[..], want);
    }

    #[test]
    fn versions_follow_javas_consumer_protocol() {
        let sub = Subscription::new(["t"]).owning([tp("t", 0)], 3);
        // A higher version is read as version 3, extra fields ignored.
        let mut raw = BytesMut::from(&encode_subscription(&sub, 3)[..]);
        raw[1] = 42;
        raw.extend_from_slice(b"future fields");
        assert_eq!(decode_subscription(&raw.freeze()).unwrap(), sub);
        // Negative versions are refused.
        let mut raw = BytesMut::from(&encode_subscription(&sub, 3)[..]);
        raw[0] = 0x80;
        let err = decode_subscription(&raw.freeze()).unwrap_err();
        assert!(
            err.to_string().contains("Unsupported subscription version"),
            "{err}"
        );
        // A truncated header or body is an error.
        assert!(decode_subscription(&Bytes::from_static(&[0])).is_err());
        assert!(decode_subscription(&Bytes::new()).is_err());
        let full = encode_subscription(&sub, 3);
        for cut in 2..full.len() {
            assert!(
                decode_subscription(&full.slice(..cut)).is_err(),
                "cut at {cut}"
            );
        }
        // Assignment: empty is empty; a higher version reads as 3.
        let a = Assignment {
            partitions: vec![tp("t", 1)],
            user_data: Some(Bytes::from_static(b"u")),
        };
        let mut raw = BytesMut::from(&encode_assignment(&a, 0)[..]);
        raw[1] = 100;
        raw.extend_from_slice(&[1, 2, 3]);
        assert_eq!(decode_assignment(&raw.freeze()).unwrap(), a);
        assert!(decode_assignment(&Bytes::from_static(&[0xff, 0xfe, 0, 0, 0, 0])).is_err());
    }

    #[test]
    fn oversized_counts_are_refused_before_decoding() {
        // i32::MAX topics in a 10-byte body.
        let raw = Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 1, b'a', 0]);
        assert!(matches!(
            decode_subscription(&raw),
            Err(ProtocolError::LengthOutOfBounds { .. })
        ));
        // i32::MAX partitions for one owned topic.
        let raw = Bytes::from_static(&[
            0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 1, b't', 0x7f, 0xff, 0xff,
            0xff,
        ]);
        assert!(matches!(
            decode_subscription(&raw),
            Err(ProtocolError::LengthOutOfBounds { .. })
        ));
        // Null non-nullable topic list, negative byte length.
        assert!(decode_subscription(&Bytes::from_static(&[0, 0, 0xff, 0xff, 0xff, 0xff])).is_err());
        assert!(
            decode_assignment(&Bytes::from_static(&[
                0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe
            ]))
            .is_err()
        );
        // Invalid UTF-8 topic.
        assert!(
            decode_subscription(&Bytes::from_static(&[
                0, 0, 0, 0, 0, 1, 0, 1, 0xff, 0, 0, 0, 0
            ]))
            .is_err()
        );
    }

    #[test]
    fn assignor_names_resolve() {
        for (name, protocols) in [
            ("range", &[RebalanceProtocol::Eager][..]),
            ("roundrobin", &[RebalanceProtocol::Eager]),
            ("sticky", &[RebalanceProtocol::Eager]),
            (
                "cooperative-sticky",
                &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager],
            ),
        ] {
            let a = assignor_by_name(name).unwrap();
            assert_eq!(a.name(), name);
            assert_eq!(a.supported_protocols(), protocols);
        }
        assert!(assignor_by_name("Range").is_none());
        let by = |names: &[&str]| -> Vec<Arc<dyn Assignor>> {
            names.iter().map(|n| assignor_by_name(n).unwrap()).collect()
        };
        assert_eq!(rebalance_protocol(&[]), None);
        assert_eq!(
            rebalance_protocol(&by(&["cooperative-sticky"])),
            Some(RebalanceProtocol::Cooperative)
        );
        assert_eq!(
            rebalance_protocol(&by(&["cooperative-sticky", "sticky"])),
            Some(RebalanceProtocol::Eager)
        );
        assert_eq!(
            rebalance_protocol(&by(&["roundrobin", "range"])),
            Some(RebalanceProtocol::Eager)
        );
    }

    fn arb_tp() -> impl Strategy<Value = TopicPartition> {
        ("[a-c]{1,3}", 0..20i32).prop_map(|(t, p)| TopicPartition::new(t, p))
    }

    fn arb_subscription() -> impl Strategy<Value = Subscription> {
        (
            proptest::collection::vec("[a-z._-]{0,8}", 0..5),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
            proptest::collection::vec(arb_tp(), 0..8),
            any::<i32>(),
            proptest::option::of("[a-z0-9]{0,6}"),
        )
            .prop_map(
                |(topics, user_data, owned, generation_id, rack_id)| Subscription {
                    topics,
                    user_data: user_data.map(Bytes::from),
                    owned_partitions: owned,
                    generation_id,
                    rack_id,
                },
            )
    }

    proptest! {
        #[test]
        fn subscriptions_round_trip(sub in arb_subscription(), version in 0i16..=3) {
            let back = decode_subscription(&encode_subscription(&sub, version)).unwrap();
            prop_assert_eq!(&back.topics, &sub.topics);
            prop_assert_eq!(&back.user_data, &sub.user_data);
            if version >= 1 {
                prop_assert_eq!(sorted(back.owned_partitions.clone()), sorted(sub.owned_partitions.clone()));
            }
            if version >= 2 {
                prop_assert_eq!(back.generation_id, sub.generation_id);
            }
            if version >= 3 {
                prop_assert_eq!(&back.rack_id, &sub.rack_id);
            }
        }

        #[test]
        fn assignments_round_trip(
            partitions in proptest::collection::vec(arb_tp(), 0..10),
            user_data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
            version in 0i16..=3,
        ) {
            let a = Assignment { partitions, user_data: user_data.map(Bytes::from) };
            let back = decode_assignment(&encode_assignment(&a, version)).unwrap();
            prop_assert_eq!(sorted(back.partitions), sorted(a.partitions));
            prop_assert_eq!(back.user_data, a.user_data);
        }

        #[test]
        fn random_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            let bytes = Bytes::from(raw);
            let _ = decode_subscription(&bytes);
            let _ = decode_assignment(&bytes);
            let _ = sticky::decode_sticky_user_data(&bytes);
        }

        #[test]
        fn mutated_valid_bytes_never_panic(
            sub in arb_subscription(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        ) {
            let mut raw = encode_subscription(&sub, 3).to_vec();
            for (at, byte) in flips {
                let i = at % raw.len();
                raw[i] = byte;
            }
            let bytes = Bytes::from(raw);
            let _ = decode_subscription(&bytes);
            let _ = decode_assignment(&bytes);
        }
    }
}
