//! API version negotiation.
//!
//! **Owns:** the table of API version ranges the client implements ([`ApiVersionTable`]) and
//! the per-connection result of intersecting it with a broker's ApiVersions response
//! ([`NegotiatedVersions`]). **Must not touch:** sockets or the ApiVersions exchange itself (that
//! is `net`), or how a message is built for a given version (that is the caller).
//!
//! A client uses, per API, `min(client max, broker max)` when the two ranges overlap. An API
//! whose ranges do not overlap, or that the broker does not list, is unsupported on that
//! connection and asking for it gives a [`VersionError`] naming the API and both ranges.
//!
//! The default table takes each range from what `kafka-protocol` implements (request and
//! response both), which already follows KIP-896 (Kafka 4.0 dropped Produce < v3, Fetch < v4, ListOffsets v0, OffsetCommit
//! < v2, ...). Callers that do not handle a newer version's fields yet can cap it with
//! [`ApiVersionTable::with_range`].
//!
//! ```
//! use kafkit::messages::{ApiKey, ApiVersionsResponse};
//! use kafkit::messages::api_versions_response::ApiVersion;
//! use kafkit::protocol::versions::{negotiate, ApiVersionTable};
//!
//! let broker = ApiVersionsResponse::default().with_api_keys(vec![
//!     ApiVersion::default().with_api_key(0).with_min_version(0).with_max_version(9), // Produce
//!     ApiVersion::default().with_api_key(3).with_min_version(0).with_max_version(12), // Metadata
//! ]);
//! let negotiated = negotiate(&ApiVersionTable::default(), &broker);
//! assert_eq!(negotiated.version(ApiKey::Produce).unwrap(), 9);
//! assert_eq!(negotiated.version(ApiKey::Metadata).unwrap(), 12);
//! assert!(negotiated.version(ApiKey::Fetch).is_err()); // not listed by this broker
//! ```

use std::collections::HashMap;
use std::fmt;

use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::{Message, Request};

/// The APIs the kafkit client implements.
pub const CLIENT_APIS: [ApiKey; 25] = [
    ApiKey::ApiVersions,
    ApiKey::Metadata,
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::ListGroups,
    ApiKey::DescribeGroups,
    ApiKey::DeleteGroups,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::CreatePartitions,
    ApiKey::DescribeConfigs,
    ApiKey::AlterConfigs,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::DescribeCluster,
    ApiKey::InitProducerId,
    ApiKey::DeleteRecords,
    ApiKey::OffsetForLeaderEpoch,
];

/// An inclusive range of API versions, `min..=max`.
///
/// ```
/// use kafkit::protocol::versions::VersionRange;
/// let range = VersionRange::new(3, 11);
/// assert!(range.contains(5));
/// assert_eq!(range.to_string(), "v3..v11");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// The lowest version.
    pub min: i16,
    /// The highest version.
    pub max: i16,
}

impl VersionRange {
    /// The range `min..=max`.
    ///
    /// ```
    /// assert_eq!(kafkit::protocol::versions::VersionRange::new(0, 4).max, 4);
    /// ```
    pub const fn new(min: i16, max: i16) -> Self {
        Self { min, max }
    }

    /// Whether `version` is in the range.
    ///
    /// ```
    /// assert!(!kafkit::protocol::versions::VersionRange::new(3, 11).contains(2));
    /// ```
    pub const fn contains(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }

    /// The versions in both ranges, if any.
    ///
    /// ```
    /// use kafkit::protocol::versions::VersionRange;
    /// let client = VersionRange::new(3, 11);
    /// assert_eq!(client.intersect(VersionRange::new(0, 9)), Some(VersionRange::new(3, 9)));
    /// assert_eq!(client.intersect(VersionRange::new(0, 2)), None);
    /// ```
    pub fn intersect(&self, other: VersionRange) -> Option<VersionRange> {
        let min = self.min.max(other.min);
        let max = self.max.min(other.max);
        (min <= max).then_some(VersionRange { min, max })
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}..v{}", self.min, self.max)
    }
}

/// Why an API cannot be used on a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// The client's and the broker's ranges do not overlap.
    #[error("{api:?}: client supports {client}, broker supports {broker}")]
    NoOverlap {
        /// The API.
        api: ApiKey,
        /// The client's range.
        client: VersionRange,
        /// The broker's range.
        broker: VersionRange,
    },
    /// The broker's ApiVersions response does not list the API.
    #[error("{api:?}: client supports {client}, broker does not support this API")]
    NotSupportedByBroker {
        /// The API.
        api: ApiKey,
        /// The client's range.
        client: VersionRange,
    },
    /// The API is not in the client's table.
    #[error("{0:?}: not implemented by this client")]
    NotImplementedByClient(ApiKey),
}

/// The API version ranges a client implements.
///
/// ```
/// use kafkit::messages::ApiKey;
/// use kafkit::protocol::versions::{ApiVersionTable, VersionRange};
///
/// let table = ApiVersionTable::default().with_range(ApiKey::Produce, 3, 12);
/// assert_eq!(table.range(ApiKey::Produce), Some(VersionRange::new(3, 12)));
/// assert_eq!(table.range(ApiKey::Fetch), Some(VersionRange::new(4, 18)));
/// assert_eq!(table.range(ApiKey::SaslHandshake), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionTable {
    ranges: HashMap<ApiKey, VersionRange>,
}

impl Default for ApiVersionTable {
    /// Every API in [`CLIENT_APIS`], with the versions `kafka-protocol` can both encode as a
    /// request and decode as a response.
    fn default() -> Self {
        let ranges = CLIENT_APIS
            .iter()
            .filter_map(|&api| implemented_range(api).map(|r| (api, r)))
            .collect();
        Self { ranges }
    }
}

/// The versions of `R` that `kafka-protocol` implements for both the request and the response.
///
/// `ApiKey::valid_versions` is not used: in kafka-protocol 0.18 it can be wider than the message
/// structs (OffsetCommit/OffsetFetch v10 and InitProducerId v6 exist only as responses).
fn range_of<R: Request>() -> VersionRange {
    let req = R::VERSIONS;
    let resp = <R::Response as Message>::VERSIONS;
    VersionRange::new(req.min.max(resp.min), req.max.min(resp.max))
}

/// The implemented range of one of the [`CLIENT_APIS`].
fn implemented_range(api: ApiKey) -> Option<VersionRange> {
    use kafka_protocol::messages as m;
    Some(match api {
        ApiKey::ApiVersions => range_of::<m::ApiVersionsRequest>(),
        ApiKey::Metadata => range_of::<m::MetadataRequest>(),
        ApiKey::Produce => range_of::<m::ProduceRequest>(),
        ApiKey::Fetch => range_of::<m::FetchRequest>(),
        ApiKey::ListOffsets => range_of::<m::ListOffsetsRequest>(),
        ApiKey::FindCoordinator => range_of::<m::FindCoordinatorRequest>(),
        ApiKey::JoinGroup => range_of::<m::JoinGroupRequest>(),
        ApiKey::SyncGroup => range_of::<m::SyncGroupRequest>(),
        ApiKey::Heartbeat => range_of::<m::HeartbeatRequest>(),
        ApiKey::LeaveGroup => range_of::<m::LeaveGroupRequest>(),
        ApiKey::OffsetCommit => range_of::<m::OffsetCommitRequest>(),
        ApiKey::OffsetFetch => range_of::<m::OffsetFetchRequest>(),
        ApiKey::ListGroups => range_of::<m::ListGroupsRequest>(),
        ApiKey::DescribeGroups => range_of::<m::DescribeGroupsRequest>(),
        ApiKey::DeleteGroups => range_of::<m::DeleteGroupsRequest>(),
        ApiKey::CreateTopics => range_of::<m::CreateTopicsRequest>(),
        ApiKey::DeleteTopics => range_of::<m::DeleteTopicsRequest>(),
        ApiKey::CreatePartitions => range_of::<m::CreatePartitionsRequest>(),
        ApiKey::DescribeConfigs => range_of::<m::DescribeConfigsRequest>(),
        ApiKey::AlterConfigs => range_of::<m::AlterConfigsRequest>(),
        ApiKey::IncrementalAlterConfigs => range_of::<m::IncrementalAlterConfigsRequest>(),
        ApiKey::DescribeCluster => range_of::<m::DescribeClusterRequest>(),
        ApiKey::InitProducerId => range_of::<m::InitProducerIdRequest>(),
        ApiKey::DeleteRecords => range_of::<m::DeleteRecordsRequest>(),
        ApiKey::OffsetForLeaderEpoch => range_of::<m::OffsetForLeaderEpochRequest>(),
        _ => return None,
    })
}

impl ApiVersionTable {
    /// A table with no APIs.
    ///
    /// ```
    /// use kafkit::messages::ApiKey;
    /// let table = kafkit::protocol::versions::ApiVersionTable::empty();
    /// assert_eq!(table.range(ApiKey::Metadata), None);
    /// ```
    pub fn empty() -> Self {
        Self {
            ranges: HashMap::new(),
        }
    }

    /// Sets the range for `api` (adding it if absent).
    ///
    /// ```
    /// use kafkit::messages::ApiKey;
    /// use kafkit::protocol::versions::{ApiVersionTable, VersionRange};
    /// let table = ApiVersionTable::empty().with_range(ApiKey::Metadata, 1, 12);
    /// assert_eq!(table.range(ApiKey::Metadata), Some(VersionRange::new(1, 12)));
    /// ```
    pub fn with_range(mut self, api: ApiKey, min: i16, max: i16) -> Self {
        self.ranges.insert(api, VersionRange::new(min, max));
        self
    }

    /// Removes `api` from the table.
    ///
    /// ```
    /// use kafkit::messages::ApiKey;
    /// use kafkit::protocol::versions::ApiVersionTable;
    /// let table = ApiVersionTable::default().without(ApiKey::DeleteRecords);
    /// assert_eq!(table.range(ApiKey::DeleteRecords), None);
    /// ```
    pub fn without(mut self, api: ApiKey) -> Self {
        self.ranges.remove(&api);
        self
    }

    /// The client's range for `api`, if it implements it.
    ///
    /// ```
    /// use kafkit::messages::ApiKey;
    /// use kafkit::protocol::versions::ApiVersionTable;
    /// assert_eq!(ApiVersionTable::default().range(ApiKey::Produce).unwrap().min, 3);
    /// ```
    pub fn range(&self, api: ApiKey) -> Option<VersionRange> {
        self.ranges.get(&api).copied()
    }

    /// The APIs and ranges in the table (in no particular order).
    ///
    /// ```
    /// let table = kafkit::protocol::versions::ApiVersionTable::default();
    /// assert_eq!(table.iter().count(), kafkit::protocol::versions::CLIENT_APIS.len());
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (ApiKey, VersionRange)> + '_ {
        self.ranges.iter().map(|(&k, &r)| (k, r))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Negotiated {
    Version(i16),
    Unsupported(VersionError),
}

/// The per-API versions agreed with one broker.
///
/// ```
/// use kafkit::messages::ApiKey;
/// use kafkit::protocol::versions::{NegotiatedVersions, VersionError};
///
/// let none = NegotiatedVersions::default();
/// assert_eq!(none.version(ApiKey::Metadata), Err(VersionError::NotImplementedByClient(ApiKey::Metadata)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NegotiatedVersions {
    apis: HashMap<ApiKey, Negotiated>,
    broker_ranges: HashMap<i16, VersionRange>,
}

impl NegotiatedVersions {
    /// The version to use for `api`, or why it cannot be used.
    ///
    /// ```
    /// use kafkit::messages::{ApiKey, ApiVersionsResponse};
    /// use kafkit::messages::api_versions_response::ApiVersion;
    /// use kafkit::protocol::versions::{negotiate, ApiVersionTable};
    ///
    /// let old_broker = ApiVersionsResponse::default().with_api_keys(vec![
    ///     ApiVersion::default().with_api_key(0).with_min_version(0).with_max_version(2),
    /// ]);
    /// let negotiated = negotiate(&ApiVersionTable::default().with_range(ApiKey::Produce, 3, 11), &old_broker);
    /// let err = negotiated.version(ApiKey::Produce).unwrap_err();
    /// assert_eq!(err.to_string(), "Produce: client supports v3..v11, broker supports v0..v2");
    /// ```
    pub fn version(&self, api: ApiKey) -> Result<i16, VersionError> {
        match self.apis.get(&api) {
            Some(Negotiated::Version(v)) => Ok(*v),
            Some(Negotiated::Unsupported(e)) => Err(e.clone()),
            None => Err(VersionError::NotImplementedByClient(api)),
        }
    }

    /// Whether `api` can be used on this connection.
    ///
    /// ```
    /// use kafkit::messages::ApiKey;
    /// assert!(!kafkit::protocol::versions::NegotiatedVersions::default().supports(ApiKey::Fetch));
    /// ```
    pub fn supports(&self, api: ApiKey) -> bool {
        matches!(self.apis.get(&api), Some(Negotiated::Version(_)))
    }

    /// The range the broker listed for a raw API key (including APIs the client does not
    /// implement), if it listed one.
    ///
    /// ```
    /// use kafkit::messages::ApiVersionsResponse;
    /// use kafkit::messages::api_versions_response::ApiVersion;
    /// use kafkit::protocol::versions::{negotiate, ApiVersionTable, VersionRange};
    ///
    /// let broker = ApiVersionsResponse::default().with_api_keys(vec![
    ///     ApiVersion::default().with_api_key(17).with_min_version(0).with_max_version(1),
    /// ]);
    /// let negotiated = negotiate(&ApiVersionTable::default(), &broker);
    /// assert_eq!(negotiated.broker_range(17), Some(VersionRange::new(0, 1)));
    /// ```
    pub fn broker_range(&self, api_key: i16) -> Option<VersionRange> {
        self.broker_ranges.get(&api_key).copied()
    }
}

/// Intersects the client's table with a broker's ApiVersions response.
///
/// Only the response's `api_keys` are read; checking its `error_code` is the caller's job. If
/// the broker lists an API twice, the last entry wins.
///
/// ```
/// use kafkit::messages::{ApiKey, ApiVersionsResponse};
/// use kafkit::messages::api_versions_response::ApiVersion;
/// use kafkit::protocol::versions::{negotiate, ApiVersionTable};
///
/// let broker = ApiVersionsResponse::default().with_api_keys(vec![
///     ApiVersion::default().with_api_key(1).with_min_version(4).with_max_version(20), // Fetch
/// ]);
/// let negotiated = negotiate(&ApiVersionTable::default(), &broker);
/// assert_eq!(negotiated.version(ApiKey::Fetch).unwrap(), 18); // the client's max
/// ```
pub fn negotiate(client: &ApiVersionTable, broker: &ApiVersionsResponse) -> NegotiatedVersions {
    let broker_ranges: HashMap<i16, VersionRange> = broker
        .api_keys
        .iter()
        .map(|v| (v.api_key, VersionRange::new(v.min_version, v.max_version)))
        .collect();
    let apis = client
        .iter()
        .map(|(api, client_range)| {
            let outcome = match broker_ranges.get(&(api as i16)) {
                None => Negotiated::Unsupported(VersionError::NotSupportedByBroker {
                    api,
                    client: client_range,
                }),
                Some(&broker_range) => match client_range.intersect(broker_range) {
                    Some(common) => Negotiated::Version(common.max),
                    None => Negotiated::Unsupported(VersionError::NoOverlap {
                        api,
                        client: client_range,
                        broker: broker_range,
                    }),
                },
            };
            (api, outcome)
        })
        .collect();
    NegotiatedVersions {
        apis,
        broker_ranges,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;

    fn broker(entries: &[(i16, i16, i16)]) -> ApiVersionsResponse {
        ApiVersionsResponse::default().with_api_keys(
            entries
                .iter()
                .map(|&(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(k)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        )
    }

    #[test]
    fn default_table_covers_the_client_apis_and_respects_kip_896() {
        let table = ApiVersionTable::default();
        assert_eq!(table.iter().count(), CLIENT_APIS.len());
        assert_eq!(table.range(ApiKey::Produce).unwrap().min, 3);
        assert_eq!(table.range(ApiKey::Fetch).unwrap().min, 4);
        assert_eq!(table.range(ApiKey::ListOffsets).unwrap().min, 1);
        assert_eq!(table.range(ApiKey::OffsetCommit).unwrap().min, 2);
        // kafka-protocol 0.18 has OffsetCommit/OffsetFetch v10 and InitProducerId v6 responses
        // but not the requests.
        assert_eq!(
            table.range(ApiKey::OffsetCommit),
            Some(VersionRange::new(2, 9))
        );
        assert_eq!(
            table.range(ApiKey::OffsetFetch),
            Some(VersionRange::new(1, 9))
        );
        assert_eq!(
            table.range(ApiKey::InitProducerId),
            Some(VersionRange::new(0, 5))
        );
        for (api, range) in table.iter() {
            let kp = api.valid_versions();
            assert!(
                kp.min <= range.min && range.max <= kp.max && range.min <= range.max,
                "{api:?}"
            );
        }
    }

    #[test]
    fn picks_the_highest_common_version() {
        let table = ApiVersionTable::empty()
            .with_range(ApiKey::Produce, 3, 11)
            .with_range(ApiKey::Metadata, 0, 12)
            .with_range(ApiKey::Fetch, 4, 13);
        let n = negotiate(&table, &broker(&[(0, 0, 9), (3, 4, 20), (1, 13, 13)]));
        assert_eq!(n.version(ApiKey::Produce), Ok(9)); // broker max below client max
        assert_eq!(n.version(ApiKey::Metadata), Ok(12)); // client max below broker max
        assert_eq!(n.version(ApiKey::Fetch), Ok(13)); // single common version
        assert!(n.supports(ApiKey::Produce));
    }

    #[test]
    fn no_overlap_names_the_api_and_both_ranges() {
        let table = ApiVersionTable::empty()
            .with_range(ApiKey::Produce, 3, 11)
            .with_range(ApiKey::Fetch, 4, 13);
        let n = negotiate(&table, &broker(&[(0, 0, 2), (1, 14, 17)]));
        let err = n.version(ApiKey::Produce).unwrap_err();
        assert_eq!(
            err,
            VersionError::NoOverlap {
                api: ApiKey::Produce,
                client: VersionRange::new(3, 11),
                broker: VersionRange::new(0, 2)
            }
        );
        assert_eq!(
            err.to_string(),
            "Produce: client supports v3..v11, broker supports v0..v2"
        );
        assert_eq!(
            n.version(ApiKey::Fetch).unwrap_err().to_string(),
            "Fetch: client supports v4..v13, broker supports v14..v17"
        );
        assert!(!n.supports(ApiKey::Fetch));
    }

    #[test]
    fn unlisted_and_unimplemented_apis() {
        let table = ApiVersionTable::empty().with_range(ApiKey::Metadata, 0, 12);
        let n = negotiate(&table, &broker(&[(17, 0, 1), (999, 0, 0)]));
        assert_eq!(
            n.version(ApiKey::Metadata).unwrap_err().to_string(),
            "Metadata: client supports v0..v12, broker does not support this API"
        );
        // listed by the broker but not in the client table
        assert_eq!(
            n.version(ApiKey::SaslHandshake),
            Err(VersionError::NotImplementedByClient(ApiKey::SaslHandshake))
        );
        assert_eq!(n.broker_range(17), Some(VersionRange::new(0, 1)));
        assert_eq!(n.broker_range(999), Some(VersionRange::new(0, 0)));
        assert_eq!(n.broker_range(3), None);
    }

    #[test]
    fn malformed_broker_range_is_no_overlap() {
        let table = ApiVersionTable::empty().with_range(ApiKey::Heartbeat, 0, 4);
        let n = negotiate(&table, &broker(&[(12, 3, 1)]));
        assert!(matches!(
            n.version(ApiKey::Heartbeat),
            Err(VersionError::NoOverlap { .. })
        ));
    }

    #[test]
    fn a_full_modern_broker_supports_every_client_api_at_the_client_max() {
        let all: Vec<(i16, i16, i16)> = ApiKey::iter()
            .map(|k| (k as i16, 0, k.valid_versions().max))
            .collect();
        let table = ApiVersionTable::default();
        let n = negotiate(&table, &broker(&all));
        for api in CLIENT_APIS {
            assert_eq!(n.version(api), Ok(table.range(api).unwrap().max), "{api:?}");
        }
    }
}
