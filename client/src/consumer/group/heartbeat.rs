//! The heartbeat task of one generation (Java's heartbeat thread).
//!
//! Must not touch: joins and offsets; it only reports through the status `watch` (rebalance in
//! progress, member reset, session expiry, fencing) and forgets a coordinator that stopped
//! answering.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, GroupId, HeartbeatRequest};
use tokio::time::Instant;

use super::coordinator::{Backoff, Inner, s};
use super::{GroupError, RejoinReason};
use crate::protocol::ErrorCode;

/// The heartbeat task of one generation: a Heartbeat every `heartbeat.interval.ms`, reporting
/// through the status watch; ends when the member must rejoin from scratch, on a fatal error,
/// when the session runs out, or when aborted (a new join, leave, drop).
pub(super) async fn heartbeat_loop(
    inner: Arc<Inner>,
    epoch: u64,
    generation_id: i32,
    member_id: String,
) {
    let settings = &inner.settings;
    let mut last_success = Instant::now();
    let mut backoff = Backoff::new(settings);
    let mut delay = settings.heartbeat_interval;
    loop {
        tokio::time::sleep(delay).await;
        let session_end = last_success + settings.session_timeout;
        if Instant::now() >= session_end {
            tracing::warn!(group = %settings.group_id, %member_id, "no successful heartbeat within the session timeout; partitions lost");
            if let Some(link) = inner.current_coordinator() {
                inner.mark_coordinator_unknown(&link.conn, "session timed out");
            }
            inner.update_if_current(epoch, |s| {
                Inner::reset_member(s, RejoinReason::SessionTimedOut);
            });
            return;
        }
        let conn = match inner.coordinator(Some(session_end)).await {
            Ok(conn) => conn,
            Err(e) if !e.is_retriable() => {
                inner.update_if_current(epoch, |s| s.fatal = Some(e));
                return;
            }
            Err(_) => {
                // The session ran out while looking: the check above reports it.
                delay = Duration::ZERO;
                continue;
            }
        };
        let version = match conn.versions().version(ApiKey::Heartbeat) {
            Ok(v) => v,
            Err(e) => {
                inner.update_if_current(epoch, |s| s.fatal = Some(GroupError::Net(e.into())));
                return;
            }
        };
        let mut request = HeartbeatRequest::default()
            .with_group_id(GroupId(s(&settings.group_id)))
            .with_generation_id(generation_id)
            .with_member_id(s(&member_id));
        if version >= 3 {
            request.group_instance_id = settings.group_instance_id.as_deref().map(s);
        }
        let timeout = settings
            .request_timeout
            .min(session_end.saturating_duration_since(Instant::now()))
            .max(Duration::from_millis(1));
        let code = match inner
            .call(&conn, ApiKey::Heartbeat, version, request, timeout)
            .await
        {
            Ok(response) => ErrorCode::from_code(response.error_code),
            Err(e) => {
                tracing::debug!(group = %settings.group_id, error = %e, "heartbeat failed");
                delay = backoff.next_delay();
                continue;
            }
        };
        match code {
            ErrorCode::None => {
                last_success = Instant::now();
                backoff = Backoff::new(settings);
                delay = settings.heartbeat_interval;
                inner.update_if_current(epoch, |s| s.heartbeats += 1);
            }
            ErrorCode::RebalanceInProgress => {
                // The member is alive; it must rejoin. Keep heartbeating until it does.
                last_success = Instant::now();
                delay = settings.heartbeat_interval;
                let reported = inner.update_if_current(epoch, |s| {
                    s.heartbeats += 1;
                    if s.rejoin.is_none() {
                        s.rejoin = Some(RejoinReason::RebalanceInProgress);
                    }
                });
                if reported {
                    tracing::info!(group = %settings.group_id, "heartbeat: rebalance in progress; rejoin needed");
                }
            }
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                tracing::info!(group = %settings.group_id, %code, "heartbeat: member reset; partitions lost");
                inner.update_if_current(epoch, |s| {
                    Inner::reset_member(s, RejoinReason::MemberReset(code));
                });
                return;
            }
            ErrorCode::FencedInstanceId => {
                tracing::error!(group = %settings.group_id, "heartbeat: fenced by another instance with the same group.instance.id");
                inner.update_if_current(epoch, |s| {
                    s.fatal = Some(GroupError::Broker {
                        api: ApiKey::Heartbeat,
                        error: code,
                    });
                    Inner::reset_member(s, RejoinReason::MemberReset(code));
                });
                return;
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                inner.mark_coordinator_unknown(&conn, code.name());
                delay = backoff.next_delay();
            }
            other if other.is_retriable() => {
                delay = backoff.next_delay();
            }
            other => {
                tracing::error!(group = %settings.group_id, error = %other, "heartbeat failed fatally");
                inner.update_if_current(epoch, |s| {
                    s.fatal = Some(GroupError::Broker {
                        api: ApiKey::Heartbeat,
                        error: other,
                    });
                });
                return;
            }
        }
    }
}
