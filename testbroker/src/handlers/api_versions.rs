//! ApiVersions: the APIs and version ranges this broker serves.

use kafkit::messages::api_versions_response::ApiVersion;
use kafkit::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafkit::protocol::ErrorCode;

use super::{RequestContext, supported_apis};

/// The lowest Produce version advertised. Kafka 4.0 removed Produce v0-v2 (KIP-896) but still
/// advertises them (KAFKA-18659): librdkafka (before 2.10) only compresses with gzip, snappy or
/// lz4 when the broker's Produce range includes v0, and silently sends uncompressed batches
/// otherwise. Requests at v0-v2 are still refused, as in Kafka.
const PRODUCE_ADVERTISED_MIN_VERSION: i16 = 0;

fn api_keys() -> Vec<ApiVersion> {
    supported_apis()
        .map(|(api, min, max)| {
            let min = if api == ApiKey::Produce {
                PRODUCE_ADVERTISED_MIN_VERSION
            } else {
                min
            };
            ApiVersion::default()
                .with_api_key(api as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

/// Handle an ApiVersions request.
pub(crate) fn handle(_ctx: &RequestContext, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(api_keys())
}

/// The answer to an ApiVersions request at a version this broker does not know: error 35 and
/// the ranges, to be encoded as v0.
pub(crate) fn unsupported_version_response() -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(ErrorCode::UnsupportedVersion.code())
        .with_api_keys(api_keys())
}
