//! Kafka protocol error codes as a typed [`ErrorCode`].
//!
//! Owns: the table of every error code a Kafka broker can put in a response (the `i16` error
//! fields of every API), with the Java client's constant name, whether the Java client treats it
//! as retriable, and a one-sentence description. Must not touch: I/O, retry policy, backoff or
//! metadata refresh. Callers decide what to do with an error; this module only says what it is.
//!
//! The reference is Apache Kafka's `org.apache.kafka.common.protocol.Errors` and the exception
//! class each constant maps to. An error is retriable exactly when that exception class extends
//! `org.apache.kafka.common.errors.RetriableException` (directly, or through
//! `InvalidMetadataException` / `RefreshRetriableException`).
//!
//! The table is one macro invocation, so a code's number, name, retriability and description
//! cannot drift apart; a duplicated number is an unreachable match arm and a duplicated variant a
//! compile error, and the tests check that names are unique and codes contiguous.

/// Defines [`ErrorCode`] and all its lookups from one table.
///
/// Each row: `Variant = code, "JAVA_NAME", retriable, "description";`.
macro_rules! error_codes {
    ($(
        $(#[$attr:meta])*
        $variant:ident = $code:literal, $name:literal, $retriable:literal, $desc:literal;
    )*) => {
        /// A Kafka protocol error code, as carried in the `error_code` fields of API responses.
        ///
        /// Covers every code of Apache Kafka's `Errors` enum up to Kafka 4.4 (-1 to 136). A code
        /// this build does not know decodes to [`ErrorCode::Unknown`], so decoding never fails
        /// and the number is never lost. [`ErrorCode::from_code`] never produces `Unknown` for a
        /// known number.
        ///
        /// ```
        /// use kafkit::protocol::ErrorCode;
        ///
        /// let err = ErrorCode::from_code(6);
        /// assert_eq!(err, ErrorCode::NotLeaderOrFollower);
        /// assert_eq!(err.name(), "NOT_LEADER_OR_FOLLOWER");
        /// assert!(err.is_retriable());
        /// assert_eq!(i16::from(err), 6);
        ///
        /// assert!(!ErrorCode::TopicAuthorizationFailed.is_retriable());
        /// assert_eq!(ErrorCode::from_code(0).into_result(), Ok(()));
        /// assert_eq!(ErrorCode::from_code(29).into_result(), Err(ErrorCode::TopicAuthorizationFailed));
        ///
        /// // A code newer than this build is kept, not rejected.
        /// assert_eq!(ErrorCode::from_code(9999), ErrorCode::Unknown(9999));
        /// assert_eq!(ErrorCode::from_code(9999).code(), 9999);
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $name, "` (", stringify!($code), "): ", $desc)]
                $(#[$attr])*
                $variant,
            )*
            /// An error code this build does not know (a broker newer than this client).
            ///
            /// Not retriable, as the Java client treats an unknown code as
            /// `UNKNOWN_SERVER_ERROR`.
            Unknown(i16),
        }

        /// Every known code, in ascending numeric order.
        const ALL: &[ErrorCode] = &[$(ErrorCode::$variant),*];

        impl ErrorCode {
            /// The typed error for a wire code; total: an unknown number gives
            /// [`ErrorCode::Unknown`].
            ///
            /// ```
            /// use kafkit::protocol::ErrorCode;
            /// assert_eq!(ErrorCode::from_code(-1), ErrorCode::UnknownServerError);
            /// assert_eq!(ErrorCode::from_code(3), ErrorCode::UnknownTopicOrPartition);
            /// assert_eq!(ErrorCode::from_code(-42), ErrorCode::Unknown(-42));
            /// ```
            pub const fn from_code(code: i16) -> ErrorCode {
                match code {
                    $($code => ErrorCode::$variant,)*
                    other => ErrorCode::Unknown(other),
                }
            }

            /// The wire code.
            ///
            /// ```
            /// use kafkit::protocol::ErrorCode;
            /// assert_eq!(ErrorCode::OutOfOrderSequenceNumber.code(), 45);
            /// assert_eq!(ErrorCode::Unknown(500).code(), 500);
            /// ```
            pub const fn code(self) -> i16 {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// The Java client's constant name, e.g. `"NOT_LEADER_OR_FOLLOWER"`;
            /// `"UNKNOWN_ERROR_CODE"` for [`ErrorCode::Unknown`].
            ///
            /// ```
            /// use kafkit::protocol::ErrorCode;
            /// assert_eq!(ErrorCode::RequestTimedOut.name(), "REQUEST_TIMED_OUT");
            /// ```
            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Unknown(_) => "UNKNOWN_ERROR_CODE",
                }
            }

            /// Whether the Java client treats this error as retriable: its exception class
            /// extends `RetriableException`. A retriable error may succeed if the request is
            /// sent again (often after a metadata refresh or backoff).
            ///
            /// ```
            /// use kafkit::protocol::ErrorCode;
            /// assert!(ErrorCode::LeaderNotAvailable.is_retriable());
            /// assert!(!ErrorCode::UnknownServerError.is_retriable());
            /// assert!(!ErrorCode::Unknown(1000).is_retriable());
            /// ```
            pub const fn is_retriable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retriable,)*
                    ErrorCode::Unknown(_) => false,
                }
            }

            /// One sentence saying what the error means, in the spirit of the Java exception's
            /// default message.
            ///
            /// ```
            /// use kafkit::protocol::ErrorCode;
            /// assert_eq!(ErrorCode::RequestTimedOut.description(), "The request timed out.");
            /// ```
            pub const fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $desc,)*
                    ErrorCode::Unknown(_) => {
                        "The broker returned an error code this client does not know."
                    }
                }
            }
        }
    };
}

error_codes! {
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR", false,
        "The broker hit an unexpected error while handling the request.";
    None = 0, "NONE", false,
        "No error: the operation succeeded.";
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE", false,
        "The requested offset is outside the range of offsets the broker holds for the partition.";
    CorruptMessage = 2, "CORRUPT_MESSAGE", true,
        "A record failed its CRC check, exceeds the valid size, has a null key on a compacted topic, or is otherwise corrupt.";
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION", true,
        "The broker does not host this topic-partition.";
    InvalidFetchSize = 4, "INVALID_FETCH_SIZE", false,
        "The requested fetch size is not valid.";
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE", true,
        "The partition has no leader at the moment, usually because a leader election is in progress.";
    NotLeaderOrFollower = 6, "NOT_LEADER_OR_FOLLOWER", true,
        "For requests intended only for the leader, the broker is not the current leader of the partition; for requests any replica may serve, the broker is not a replica of it.";
    RequestTimedOut = 7, "REQUEST_TIMED_OUT", true,
        "The request timed out.";
    BrokerNotAvailable = 8, "BROKER_NOT_AVAILABLE", false,
        "The broker is not available.";
    ReplicaNotAvailable = 9, "REPLICA_NOT_AVAILABLE", true,
        "The replica is not available for the requested topic-partition (requests meant only for the leader or a follower get NOT_LEADER_OR_FOLLOWER instead when the broker is not a replica).";
    MessageTooLarge = 10, "MESSAGE_TOO_LARGE", false,
        "The request contained a record larger than the largest message size the broker accepts.";
    StaleControllerEpoch = 11, "STALE_CONTROLLER_EPOCH", false,
        "The request carried an old controller epoch: the controller has moved to another broker.";
    OffsetMetadataTooLarge = 12, "OFFSET_METADATA_TOO_LARGE", false,
        "The metadata string of the offset commit is longer than the broker allows.";
    NetworkException = 13, "NETWORK_EXCEPTION", true,
        "The connection was closed before a response was received.";
    CoordinatorLoadInProgress = 14, "COORDINATOR_LOAD_IN_PROGRESS", true,
        "The coordinator is still loading its state and cannot serve requests yet.";
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE", true,
        "The coordinator is not available.";
    NotCoordinator = 16, "NOT_COORDINATOR", true,
        "This broker is not the coordinator for the requested group or transactional id.";
    InvalidTopicException = 17, "INVALID_TOPIC_EXCEPTION", false,
        "The request tried to operate on a topic that is not valid for the operation, such as a malformed name or an internal topic.";
    RecordListTooLarge = 18, "RECORD_LIST_TOO_LARGE", false,
        "The request contained a record batch larger than the broker's configured segment size.";
    NotEnoughReplicas = 19, "NOT_ENOUGH_REPLICAS", true,
        "The write was rejected because fewer replicas are in sync than the topic's min.insync.replicas requires.";
    NotEnoughReplicasAfterAppend = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true,
        "The records were written to the leader's log, but fewer replicas than required were in sync.";
    InvalidRequiredAcks = 21, "INVALID_REQUIRED_ACKS", false,
        "The produce request asked for an acks value the broker does not accept.";
    IllegalGeneration = 22, "ILLEGAL_GENERATION", false,
        "The group generation id in the request is not the group's current generation.";
    InconsistentGroupProtocol = 23, "INCONSISTENT_GROUP_PROTOCOL", false,
        "The member's protocol type or supported protocols do not match the group's, or the first member joined with an empty protocol type or protocol list.";
    InvalidGroupId = 24, "INVALID_GROUP_ID", false,
        "The group id is not valid.";
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID", false,
        "The coordinator does not know this member id.";
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT", false,
        "The session timeout is outside the range the broker allows (group.min.session.timeout.ms to group.max.session.timeout.ms).";
    RebalanceInProgress = 27, "REBALANCE_IN_PROGRESS", false,
        "The group is rebalancing, so the member must rejoin.";
    InvalidCommitOffsetSize = 28, "INVALID_COMMIT_OFFSET_SIZE", false,
        "The size of the offset data being committed is not valid.";
    TopicAuthorizationFailed = 29, "TOPIC_AUTHORIZATION_FAILED", false,
        "The client is not authorized to access the topic.";
    GroupAuthorizationFailed = 30, "GROUP_AUTHORIZATION_FAILED", false,
        "The client is not authorized to access the group.";
    ClusterAuthorizationFailed = 31, "CLUSTER_AUTHORIZATION_FAILED", false,
        "The client is not authorized to perform this cluster operation.";
    InvalidTimestamp = 32, "INVALID_TIMESTAMP", false,
        "A record timestamp is outside the range the broker accepts.";
    UnsupportedSaslMechanism = 33, "UNSUPPORTED_SASL_MECHANISM", false,
        "The broker does not support the requested SASL mechanism.";
    IllegalSaslState = 34, "ILLEGAL_SASL_STATE", false,
        "The request is not valid in the current state of the SASL exchange.";
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION", false,
        "The broker does not support this version of the API.";
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS", false,
        "A topic with this name already exists.";
    InvalidPartitions = 37, "INVALID_PARTITIONS", false,
        "The requested number of partitions is not valid, for example below 1 or fewer than the topic already has.";
    InvalidReplicationFactor = 38, "INVALID_REPLICATION_FACTOR", false,
        "The replication factor is below 1 or larger than the number of available brokers.";
    InvalidReplicaAssignment = 39, "INVALID_REPLICA_ASSIGNMENT", false,
        "The replica assignment is not valid.";
    InvalidConfig = 40, "INVALID_CONFIG", false,
        "The configuration is not valid.";
    NotController = 41, "NOT_CONTROLLER", true,
        "This broker is not the active controller of the cluster.";
    InvalidRequest = 42, "INVALID_REQUEST", false,
        "The request is malformed or was sent to an incompatible broker; the broker log has the details.";
    UnsupportedForMessageFormat = 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false,
        "The message format version on the broker does not support the request.";
    PolicyViolation = 44, "POLICY_VIOLATION", false,
        "The request parameters violate a policy configured on the broker.";
    OutOfOrderSequenceNumber = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false,
        "The broker received a producer sequence number out of order, which means records may have been lost.";
    DuplicateSequenceNumber = 46, "DUPLICATE_SEQUENCE_NUMBER", false,
        "The broker received a duplicate producer sequence number.";
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH", false,
        "The producer used an epoch older than its current one.";
    InvalidTxnState = 48, "INVALID_TXN_STATE", false,
        "The producer attempted a transactional operation that the transaction's current state does not allow.";
    InvalidProducerIdMapping = 49, "INVALID_PRODUCER_ID_MAPPING", false,
        "The producer id is not the one currently assigned to its transactional id.";
    InvalidTransactionTimeout = 50, "INVALID_TRANSACTION_TIMEOUT", false,
        "The transaction timeout is larger than the broker's transaction.max.timeout.ms.";
    // Retriable in Java: ConcurrentTransactionsException extends RetriableException (checked
    // in Kafka 3.9 source and the 4.1/4.2 javadoc). kafka-protocol 0.18 marks it non-retriable;
    // Java is the reference, see the cross-check test.
    ConcurrentTransactions = 51, "CONCURRENT_TRANSACTIONS", true,
        "Another operation on the same transaction is still in progress.";
    TransactionCoordinatorFenced = 52, "TRANSACTION_COORDINATOR_FENCED", false,
        "The transaction coordinator that sent the WriteTxnMarkers request is no longer the coordinator for this producer.";
    TransactionalIdAuthorizationFailed = 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false,
        "The client is not authorized to use this transactional id.";
    SecurityDisabled = 54, "SECURITY_DISABLED", false,
        "Security features are disabled on the broker.";
    OperationNotAttempted = 55, "OPERATION_NOT_ATTEMPTED", false,
        "The broker did not attempt this operation, typically because another operation in the same batched request failed.";
    KafkaStorageError = 56, "KAFKA_STORAGE_ERROR", true,
        "The broker hit a disk error while accessing the log.";
    LogDirNotFound = 57, "LOG_DIR_NOT_FOUND", false,
        "The requested log directory is not in the broker's configuration.";
    SaslAuthenticationFailed = 58, "SASL_AUTHENTICATION_FAILED", false,
        "SASL authentication failed.";
    UnknownProducerId = 59, "UNKNOWN_PRODUCER_ID", false,
        "The broker has no state for this producer id, for example because retention removed all of its records.";
    ReassignmentInProgress = 60, "REASSIGNMENT_IN_PROGRESS", false,
        "A partition reassignment is in progress.";
    DelegationTokenAuthDisabled = 61, "DELEGATION_TOKEN_AUTH_DISABLED", false,
        "Delegation tokens are not enabled on the broker.";
    DelegationTokenNotFound = 62, "DELEGATION_TOKEN_NOT_FOUND", false,
        "The delegation token was not found on the broker.";
    DelegationTokenOwnerMismatch = 63, "DELEGATION_TOKEN_OWNER_MISMATCH", false,
        "The principal is neither the owner nor a renewer of the delegation token.";
    DelegationTokenRequestNotAllowed = 64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", false,
        "Delegation token requests are not allowed on plaintext or one-way SSL connections, nor on connections authenticated with a delegation token.";
    DelegationTokenAuthorizationFailed = 65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", false,
        "The client is not authorized for this delegation token operation.";
    DelegationTokenExpired = 66, "DELEGATION_TOKEN_EXPIRED", false,
        "The delegation token has expired.";
    InvalidPrincipalType = 67, "INVALID_PRINCIPAL_TYPE", false,
        "The principal type is not supported.";
    NonEmptyGroup = 68, "NON_EMPTY_GROUP", false,
        "The group still has members, so the operation (such as deleting it) is not allowed.";
    GroupIdNotFound = 69, "GROUP_ID_NOT_FOUND", false,
        "The group id does not exist.";
    FetchSessionIdNotFound = 70, "FETCH_SESSION_ID_NOT_FOUND", true,
        "The broker does not know the fetch session id.";
    InvalidFetchSessionEpoch = 71, "INVALID_FETCH_SESSION_EPOCH", true,
        "The fetch session epoch is not the one the broker expects.";
    ListenerNotFound = 72, "LISTENER_NOT_FOUND", true,
        "The partition leader has no listener matching the one the metadata request arrived on.";
    TopicDeletionDisabled = 73, "TOPIC_DELETION_DISABLED", false,
        "Topic deletion is disabled on the broker.";
    FencedLeaderEpoch = 74, "FENCED_LEADER_EPOCH", true,
        "The leader epoch in the request is older than the broker's.";
    UnknownLeaderEpoch = 75, "UNKNOWN_LEADER_EPOCH", true,
        "The leader epoch in the request is newer than the broker's.";
    UnsupportedCompressionType = 76, "UNSUPPORTED_COMPRESSION_TYPE", false,
        "The client's request version does not support the compression type of the partition.";
    StaleBrokerEpoch = 77, "STALE_BROKER_EPOCH", false,
        "The broker epoch in the request is stale.";
    OffsetNotAvailable = 78, "OFFSET_NOT_AVAILABLE", true,
        "The new leader's high watermark has not caught up since the election, so offsets cannot yet be guaranteed to increase monotonically.";
    MemberIdRequired = 79, "MEMBER_ID_REQUIRED", false,
        "The member must rejoin with the member id the coordinator assigned before it can enter the group.";
    PreferredLeaderNotAvailable = 80, "PREFERRED_LEADER_NOT_AVAILABLE", true,
        "The preferred leader is not available.";
    GroupMaxSizeReached = 81, "GROUP_MAX_SIZE_REACHED", false,
        "The group already has its maximum number of members.";
    FencedInstanceId = 82, "FENCED_INSTANCE_ID", false,
        "Another member with the same group.instance.id registered with a different member id, fencing this static member.";
    EligibleLeadersNotAvailable = 83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", true,
        "No eligible leader is available for the partition.";
    ElectionNotNeeded = 84, "ELECTION_NOT_NEEDED", true,
        "The partition already has the desired leader, so no election is needed.";
    NoReassignmentInProgress = 85, "NO_REASSIGNMENT_IN_PROGRESS", false,
        "No partition reassignment is in progress.";
    GroupSubscribedToTopic = 86, "GROUP_SUBSCRIBED_TO_TOPIC", false,
        "The group is actively subscribed to the topic, so its offsets for that topic cannot be deleted.";
    InvalidRecord = 87, "INVALID_RECORD", false,
        "A record failed the broker's validation and was rejected.";
    UnstableOffsetCommit = 88, "UNSTABLE_OFFSET_COMMIT", true,
        "Pending transactional offset commits must complete before the committed offsets can be read.";
    ThrottlingQuotaExceeded = 89, "THROTTLING_QUOTA_EXCEEDED", true,
        "The request exceeded the client's throttling quota.";
    ProducerFenced = 90, "PRODUCER_FENCED", false,
        "A newer producer with the same transactional id has fenced this one.";
    ResourceNotFound = 91, "RESOURCE_NOT_FOUND", false,
        "The request referred to a resource that does not exist.";
    DuplicateResource = 92, "DUPLICATE_RESOURCE", false,
        "The request referred to the same resource more than once.";
    UnacceptableCredential = 93, "UNACCEPTABLE_CREDENTIAL", false,
        "The requested credential does not meet the acceptance criteria.";
    InconsistentVoterSet = 94, "INCONSISTENT_VOTER_SET", false,
        "The sender or the receiver of a voter-only request is not one of the expected voters.";
    InvalidUpdateVersion = 95, "INVALID_UPDATE_VERSION", false,
        "The update version is not valid.";
    FeatureUpdateFailed = 96, "FEATURE_UPDATE_FAILED", false,
        "The finalized features could not be updated because of an unexpected server error.";
    PrincipalDeserializationFailure = 97, "PRINCIPAL_DESERIALIZATION_FAILURE", false,
        "The request principal could not be deserialized while the request was forwarded, which points to a broker security misconfiguration.";
    SnapshotNotFound = 98, "SNAPSHOT_NOT_FOUND", false,
        "The requested snapshot was not found.";
    PositionOutOfRange = 99, "POSITION_OUT_OF_RANGE", false,
        "The requested position is negative or not below the size of the snapshot.";
    UnknownTopicId = 100, "UNKNOWN_TOPIC_ID", true,
        "The broker does not host a topic with this topic id.";
    DuplicateBrokerRegistration = 101, "DUPLICATE_BROKER_REGISTRATION", false,
        "Another broker is already registered with this broker id.";
    BrokerIdNotRegistered = 102, "BROKER_ID_NOT_REGISTERED", false,
        "The broker id is not registered.";
    InconsistentTopicId = 103, "INCONSISTENT_TOPIC_ID", true,
        "The topic id in the request does not match the topic id of the log.";
    InconsistentClusterId = 104, "INCONSISTENT_CLUSTER_ID", false,
        "The cluster id in the request does not match the broker's cluster id.";
    TransactionalIdNotFound = 105, "TRANSACTIONAL_ID_NOT_FOUND", false,
        "The transactional id was not found.";
    FetchSessionTopicIdError = 106, "FETCH_SESSION_TOPIC_ID_ERROR", true,
        "The fetch session used topic ids inconsistently.";
    IneligibleReplica = 107, "INELIGIBLE_REPLICA", false,
        "The proposed ISR contains at least one replica that is not eligible.";
    NewLeaderElected = 108, "NEW_LEADER_ELECTED", false,
        "The AlterPartition request updated the partition state, but the leader has changed since.";
    OffsetMovedToTieredStorage = 109, "OFFSET_MOVED_TO_TIERED_STORAGE", false,
        "The requested offset has moved to tiered storage.";
    FencedMemberEpoch = 110, "FENCED_MEMBER_EPOCH", false,
        "The group coordinator fenced the member epoch; the member must give up all its partitions and rejoin.";
    UnreleasedInstanceId = 111, "UNRELEASED_INSTANCE_ID", false,
        "The instance id is still used by another member of the group, which must leave first.";
    UnsupportedAssignor = 112, "UNSUPPORTED_ASSIGNOR", false,
        "The group does not support the assignor or its version range.";
    StaleMemberEpoch = 113, "STALE_MEMBER_EPOCH", false,
        "The member epoch is stale; the member must retry once the ConsumerGroupHeartbeat API has given it its new epoch.";
    MismatchedEndpointType = 114, "MISMATCHED_ENDPOINT_TYPE", false,
        "The request was sent to an endpoint of the wrong type.";
    UnsupportedEndpointType = 115, "UNSUPPORTED_ENDPOINT_TYPE", false,
        "This endpoint type is not supported yet.";
    UnknownControllerId = 116, "UNKNOWN_CONTROLLER_ID", false,
        "The controller id is not known.";
    UnknownSubscriptionId = 117, "UNKNOWN_SUBSCRIPTION_ID", false,
        "The client pushed telemetry with a subscription id that is unknown or outdated.";
    TelemetryTooLarge = 118, "TELEMETRY_TOO_LARGE", false,
        "The client pushed more telemetry than the broker accepts in one request.";
    InvalidRegistration = 119, "INVALID_REGISTRATION", false,
        "The controller considers the broker registration invalid.";
    TransactionAbortable = 120, "TRANSACTION_ABORTABLE", false,
        "The transaction hit an error on the server; aborting it lets the client keep using this transactional id.";
    InvalidRecordState = 121, "INVALID_RECORD_STATE", false,
        "The record is in a state that does not allow the acknowledgement, so its delivery could not be acknowledged.";
    ShareSessionNotFound = 122, "SHARE_SESSION_NOT_FOUND", true,
        "The share session was not found.";
    InvalidShareSessionEpoch = 123, "INVALID_SHARE_SESSION_EPOCH", true,
        "The share session epoch is not valid.";
    FencedStateEpoch = 124, "FENCED_STATE_EPOCH", false,
        "The share coordinator rejected the request because the share-group state epoch did not match.";
    InvalidVoterKey = 125, "INVALID_VOTER_KEY", false,
        "The voter key does not match the receiving replica's key.";
    DuplicateVoter = 126, "DUPLICATE_VOTER", false,
        "The voter is already in the set of voters.";
    VoterNotFound = 127, "VOTER_NOT_FOUND", false,
        "The voter is not in the set of voters.";
    InvalidRegularExpression = 128, "INVALID_REGULAR_EXPRESSION", false,
        "The regular expression is not valid.";
    RebootstrapRequired = 129, "REBOOTSTRAP_REQUIRED", false,
        "The client's metadata is stale; it should rebootstrap to obtain fresh metadata.";
    StreamsInvalidTopology = 130, "STREAMS_INVALID_TOPOLOGY", false,
        "The supplied Streams topology is not valid.";
    StreamsInvalidTopologyEpoch = 131, "STREAMS_INVALID_TOPOLOGY_EPOCH", false,
        "The supplied Streams topology epoch is not valid.";
    StreamsTopologyFenced = 132, "STREAMS_TOPOLOGY_FENCED", false,
        "The supplied Streams topology epoch is outdated.";
    ShareSessionLimitReached = 133, "SHARE_SESSION_LIMIT_REACHED", true,
        "The broker has reached its limit of share sessions, so a new one could not be opened.";
    // 134-136 arrived in Kafka 4.4 (KIP-1331 and the UnregisterController API); each exception
    // extends ApiException directly, so none is retriable.
    GroupDeletionFailed = 134, "GROUP_DELETION_FAILED", false,
        "DeleteGroups could not complete for this group; the per-group error message gives the cause.";
    StreamsTopologyDescriptionUpdateFailed = 135, "STREAMS_TOPOLOGY_DESCRIPTION_UPDATE_FAILED", false,
        "The broker could not process the Streams topology description update; the error message gives the cause.";
    ControllerIdNotRegistered = 136, "CONTROLLER_ID_NOT_REGISTERED", false,
        "The controller id is not registered in the cluster.";
}

impl ErrorCode {
    /// Whether this is success (`NONE`, code 0).
    ///
    /// ```
    /// use kafkit::protocol::ErrorCode;
    /// assert!(ErrorCode::None.is_ok());
    /// assert!(!ErrorCode::RequestTimedOut.is_ok());
    /// ```
    pub const fn is_ok(self) -> bool {
        self.code() == 0
    }

    /// `Ok(())` for `NONE`, otherwise `Err(self)`, so a response's error field can be checked
    /// with `?`.
    ///
    /// ```
    /// use kafkit::protocol::ErrorCode;
    /// fn check(code: i16) -> Result<(), ErrorCode> {
    ///     ErrorCode::from_code(code).into_result()?;
    ///     Ok(())
    /// }
    /// assert_eq!(check(0), Ok(()));
    /// assert_eq!(check(7), Err(ErrorCode::RequestTimedOut));
    /// ```
    pub const fn into_result(self) -> Result<(), ErrorCode> {
        if self.is_ok() { Ok(()) } else { Err(self) }
    }

    /// Every known error code (not [`ErrorCode::Unknown`]), in ascending numeric order.
    ///
    /// ```
    /// use kafkit::protocol::ErrorCode;
    /// let all = ErrorCode::all();
    /// assert_eq!(all[0], ErrorCode::UnknownServerError);
    /// assert!(all.iter().all(|e| ErrorCode::from_code(e.code()) == *e));
    /// ```
    pub const fn all() -> &'static [ErrorCode] {
        ALL
    }
}

impl std::fmt::Display for ErrorCode {
    /// `NAME (code): description`, e.g. `REQUEST_TIMED_OUT (7): The request timed out.`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.name(),
            self.code(),
            self.description()
        )
    }
}

impl std::error::Error for ErrorCode {}

impl From<i16> for ErrorCode {
    /// Same as [`ErrorCode::from_code`].
    fn from(code: i16) -> Self {
        ErrorCode::from_code(code)
    }
}

impl From<ErrorCode> for i16 {
    /// Same as [`ErrorCode::code`].
    fn from(error: ErrorCode) -> Self {
        error.code()
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use std::collections::HashSet;

    /// Every code Java's `Errors` maps to a `RetriableException` subclass (Kafka 4.4).
    const JAVA_RETRIABLE: &[i16] = &[
        2, 3, 5, 6, 7, 9, 13, 14, 15, 16, 19, 20, 41, 51, 56, 70, 71, 72, 74, 75, 78, 80, 83, 84,
        88, 89, 100, 103, 106, 122, 123, 133,
    ];

    /// Codes where kafka-protocol 0.18's `is_retriable` disagrees with Java, and why Java's
    /// answer (ours) is right.
    ///
    /// - 51 CONCURRENT_TRANSACTIONS: `ConcurrentTransactionsException extends
    ///   RetriableException` in Java (Kafka 3.9 source; listed among RetriableException's direct
    ///   subclasses in the 4.1 and 4.2 javadoc). The Java producer retries AddPartitionsToTxn /
    ///   AddOffsetsToTxn / TxnOffsetCommit on it; kafka-protocol marks it non-retriable.
    const RETRIABILITY_DIFFERS_FROM_KAFKA_PROTOCOL: &[i16] = &[51];

    /// `NOT_LEADER_OR_FOLLOWER` -> `NotLeaderOrFollower`.
    fn camel_case(java_name: &str) -> String {
        java_name
            .split('_')
            .map(|word| {
                let lower = word.to_ascii_lowercase();
                let mut chars = lower.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                    Option::None => String::new(),
                }
            })
            .collect()
    }

    #[test]
    fn every_known_code_round_trips() {
        for &error in ErrorCode::all() {
            assert_eq!(ErrorCode::from_code(error.code()), error, "{error:?}");
            assert_eq!(ErrorCode::from(i16::from(error)), error);
            assert!(!matches!(error, ErrorCode::Unknown(_)));
        }
    }

    #[test]
    fn every_i16_round_trips_and_unknown_numbers_are_kept() {
        let known: HashSet<i16> = ErrorCode::all().iter().map(|e| e.code()).collect();
        for code in i16::MIN..=i16::MAX {
            let error = ErrorCode::from_code(code);
            assert_eq!(error.code(), code);
            if known.contains(&code) {
                assert!(!matches!(error, ErrorCode::Unknown(_)), "{code}");
            } else {
                assert_eq!(error, ErrorCode::Unknown(code));
                assert!(!error.is_retriable());
                assert!(!error.is_ok());
                assert_eq!(error.into_result(), Err(ErrorCode::Unknown(code)));
            }
        }
    }

    #[test]
    fn codes_are_contiguous_from_minus_one_to_the_highest_known() {
        let all = ErrorCode::all();
        for (index, error) in all.iter().enumerate() {
            assert_eq!(i64::from(error.code()), index as i64 - 1, "{error:?}");
        }
        assert_eq!(all.len(), 138);
        assert_eq!(all.last().map(|e| e.code()), Some(136));
    }

    #[test]
    fn names_and_codes_are_unique() {
        let names: HashSet<&str> = ErrorCode::all().iter().map(|e| e.name()).collect();
        let codes: HashSet<i16> = ErrorCode::all().iter().map(|e| e.code()).collect();
        assert_eq!(names.len(), ErrorCode::all().len());
        assert_eq!(codes.len(), ErrorCode::all().len());
        assert!(!names.contains(ErrorCode::Unknown(999).name()));
    }

    #[test]
    fn variant_names_are_the_java_names_in_camel_case() {
        for &error in ErrorCode::all() {
            assert_eq!(format!("{error:?}"), camel_case(error.name()));
            assert!(
                error
                    .name()
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_')
            );
        }
    }

    #[test]
    fn descriptions_are_single_sentences() {
        for &error in ErrorCode::all() {
            let description = error.description();
            assert!(description.ends_with('.'), "{error:?}");
            assert!(
                description.starts_with(|c: char| c.is_ascii_uppercase()),
                "{error:?}"
            );
            assert!(!description.contains('\n'), "{error:?}");
        }
    }

    #[test]
    fn retriability_is_exactly_javas() {
        let retriable: Vec<i16> = ErrorCode::all()
            .iter()
            .filter(|e| e.is_retriable())
            .map(|e| e.code())
            .collect();
        assert_eq!(retriable, JAVA_RETRIABLE);
    }

    #[test]
    fn retriable_errors_from_the_brief_and_kafka_md() {
        use ErrorCode::*;
        for error in [
            NotLeaderOrFollower,
            LeaderNotAvailable,
            RequestTimedOut,
            NetworkException,
            NotEnoughReplicas,
            NotEnoughReplicasAfterAppend,
            UnknownTopicOrPartition,
            FencedLeaderEpoch,
            UnknownLeaderEpoch,
            CoordinatorLoadInProgress,
            CoordinatorNotAvailable,
            NotCoordinator,
            CorruptMessage,
            KafkaStorageError,
            OffsetNotAvailable,
            PreferredLeaderNotAvailable,
            EligibleLeadersNotAvailable,
            FetchSessionIdNotFound,
            InvalidFetchSessionEpoch,
            ListenerNotFound,
            FetchSessionTopicIdError,
            UnknownTopicId,
            InconsistentTopicId,
            UnstableOffsetCommit,
            ThrottlingQuotaExceeded,
            ConcurrentTransactions,
            NotController,
        ] {
            assert!(error.is_retriable(), "{error:?}");
        }
        for error in [
            UnknownServerError,
            ErrorCode::None,
            OutOfOrderSequenceNumber,
            MessageTooLarge,
            TopicAuthorizationFailed,
            ProducerFenced,
            InvalidProducerEpoch,
            UnsupportedVersion,
            RebootstrapRequired,
            TransactionAbortable,
        ] {
            assert!(!error.is_retriable(), "{error:?}");
        }
    }

    #[test]
    fn well_known_numbers() {
        use ErrorCode::*;
        let pinned = [
            (UnknownServerError, -1),
            (ErrorCode::None, 0),
            (OffsetOutOfRange, 1),
            (UnknownTopicOrPartition, 3),
            (NotLeaderOrFollower, 6),
            (NotEnoughReplicas, 19),
            (IllegalGeneration, 22),
            (RebalanceInProgress, 27),
            (UnsupportedVersion, 35),
            (InvalidPartitions, 37),
            (OutOfOrderSequenceNumber, 45),
            (FencedLeaderEpoch, 74),
            (UnknownLeaderEpoch, 75),
            (MemberIdRequired, 79),
            (ProducerFenced, 90),
            (UnknownTopicId, 100),
            (InvalidRegistration, 119),
            (TransactionAbortable, 120),
            (InvalidRecordState, 121),
            (ShareSessionNotFound, 122),
            (InvalidShareSessionEpoch, 123),
            (FencedStateEpoch, 124),
            (InvalidVoterKey, 125),
            (DuplicateVoter, 126),
            (VoterNotFound, 127),
            (InvalidRegularExpression, 128),
            (RebootstrapRequired, 129),
            (StreamsInvalidTopology, 130),
            (StreamsInvalidTopologyEpoch, 131),
            (StreamsTopologyFenced, 132),
            (ShareSessionLimitReached, 133),
            (GroupDeletionFailed, 134),
            (StreamsTopologyDescriptionUpdateFailed, 135),
            (ControllerIdNotRegistered, 136),
        ];
        for (error, code) in pinned {
            assert_eq!(error.code(), code, "{error:?}");
        }
    }

    #[test]
    fn ok_and_result() {
        assert!(ErrorCode::None.is_ok());
        assert_eq!(ErrorCode::None.into_result(), Ok(()));
        for &error in ErrorCode::all().iter().filter(|e| e.code() != 0) {
            assert!(!error.is_ok());
            assert_eq!(error.into_result(), Err(error));
        }
    }

    #[test]
    fn display_and_std_error() {
        assert_eq!(
            ErrorCode::RequestTimedOut.to_string(),
            "REQUEST_TIMED_OUT (7): The request timed out."
        );
        assert!(
            ErrorCode::NotLeaderOrFollower.to_string().starts_with(
                "NOT_LEADER_OR_FOLLOWER (6): For requests intended only for the leader"
            )
        );
        assert_eq!(
            ErrorCode::UnknownServerError.to_string(),
            "UNKNOWN_SERVER_ERROR (-1): The broker hit an unexpected error while handling the request."
        );
        assert_eq!(
            ErrorCode::Unknown(4242).to_string(),
            "UNKNOWN_ERROR_CODE (4242): The broker returned an error code this client does not know."
        );
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(ErrorCode::PolicyViolation);
        assert!(boxed.to_string().starts_with("POLICY_VIOLATION (44): "));
    }

    /// Everything kafka-protocol knows, we know with the same number; where retriability
    /// differs, the difference is listed (with the reason) in
    /// [`RETRIABILITY_DIFFERS_FROM_KAFKA_PROTOCOL`].
    #[test]
    fn cross_check_against_kafka_protocol() {
        use kafka_protocol::ResponseError;

        let mut theirs_known = 0;
        let mut retriability_differs = Vec::new();
        for code in i16::MIN..=i16::MAX {
            let ours = ErrorCode::from_code(code);
            let theirs = match ResponseError::try_from_code(code) {
                // kafka-protocol has no variant for NONE.
                Option::None => {
                    assert_eq!(ours, ErrorCode::None);
                    continue;
                }
                Some(ResponseError::Unknown(_)) => continue,
                Some(theirs) => theirs,
            };
            theirs_known += 1;
            assert!(
                !matches!(ours, ErrorCode::Unknown(_)),
                "kafka-protocol knows code {code} ({theirs}) but we do not"
            );
            assert_eq!(theirs.code(), ours.code());
            assert_eq!(
                theirs.to_string(),
                format!("{ours:?}"),
                "name of code {code}"
            );
            if theirs.is_retriable() != ours.is_retriable() {
                println!(
                    "retriability differs for {ours}: kafka-protocol says {}, Java (ours) says {}",
                    theirs.is_retriable(),
                    ours.is_retriable()
                );
                retriability_differs.push(code);
            }
        }
        let only_ours: Vec<&str> = ErrorCode::all()
            .iter()
            .filter(|e| e.code() != 0)
            .filter(|e| {
                matches!(
                    ResponseError::try_from_code(e.code()),
                    Some(ResponseError::Unknown(_)) | Option::None
                )
            })
            .map(|e| e.name())
            .collect();
        println!("kafka-protocol knows {theirs_known} codes; only we know {only_ours:?}");
        assert!(
            theirs_known >= 130,
            "the scan found too few codes: {theirs_known}"
        );
        assert_eq!(
            retriability_differs, RETRIABILITY_DIFFERS_FROM_KAFKA_PROTOCOL,
            "a new retriability disagreement with kafka-protocol: check it against Java's \
             exception hierarchy and record the verdict"
        );
    }
}
