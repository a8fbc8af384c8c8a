//! The group coordinator: where it is (FindCoordinator, cached), the dedicated connection to it,
//! sending group requests to it, and the state the membership handle shares with its heartbeat
//! task (the status `watch`).
//!
//! Must not touch: what the group APIs answer (the join, heartbeat and offset code judge that).
//! Only a std mutex around the cached coordinator is ever locked, never across an `.await`;
//! lookups are serialised by a tokio mutex so that concurrent callers share one.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{GroupError, GroupSettings, KEY_TYPE_GROUP, MembershipStatus, RejoinReason};
use crate::cluster::Metadata;
use crate::net::{Connection, ConnectionConfig, NetError};
use crate::protocol::ErrorCode;

/// The coordinator's broker id and the dedicated connection to it.
#[derive(Debug, Clone)]
pub(super) struct CoordinatorLink {
    pub(super) node_id: i32,
    pub(super) conn: Arc<Connection>,
}

/// State shared by the membership handle and its heartbeat task.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) metadata: Arc<Metadata>,
    pub(super) settings: GroupSettings,
    /// Settings of the dedicated coordinator connection (its request timeout covers JoinGroup).
    pub(super) coordinator_config: ConnectionConfig,
    pub(super) coordinator: Mutex<Option<CoordinatorLink>>,
    /// Serialises coordinator lookups so that concurrent callers share one.
    pub(super) discovering: tokio::sync::Mutex<()>,
    pub(super) status: watch::Sender<MembershipStatus>,
}

/// Exponential back-off: `retry.backoff.ms` doubling up to `retry.backoff.max.ms`.
pub(super) struct Backoff {
    pub(super) next: Duration,
    pub(super) max: Duration,
}

impl Backoff {
    pub(super) fn new(settings: &GroupSettings) -> Self {
        Backoff {
            next: settings.retry_backoff,
            max: settings.retry_backoff_max.max(settings.retry_backoff),
        }
    }

    pub(super) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// Sleeps the next delay, or fails when it would end after `deadline`.
    pub(super) async fn sleep(&mut self, deadline: Option<Instant>) -> Result<(), ()> {
        let wake = Instant::now() + self.next_delay();
        match deadline {
            Some(deadline) if wake >= deadline => {
                tokio::time::sleep_until(deadline).await;
                Err(())
            }
            _ => {
                tokio::time::sleep_until(wake).await;
                Ok(())
            }
        }
    }
}

pub(super) fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// Whether a group API error means the coordinator moved or is unreachable.
pub(super) fn is_coordinator_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
    )
}

impl Inner {
    pub(super) fn lock_coordinator(&self) -> MutexGuard<'_, Option<CoordinatorLink>> {
        self.coordinator
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn current_coordinator(&self) -> Option<CoordinatorLink> {
        self.lock_coordinator()
            .as_ref()
            .filter(|link| !link.conn.is_closed())
            .cloned()
    }

    /// Forgets the coordinator reached through `conn` (unless another one was found since) and
    /// closes that connection, as Java's `markCoordinatorUnknown` does.
    pub(super) fn mark_coordinator_unknown(&self, conn: &Arc<Connection>, why: &str) {
        let forgot = {
            let mut current = self.lock_coordinator();
            match current.as_ref() {
                Some(link) if Arc::ptr_eq(&link.conn, conn) => current.take(),
                _ => None,
            }
        };
        conn.close();
        if let Some(link) = forgot {
            tracing::info!(
                group = %self.settings.group_id,
                coordinator = link.node_id,
                reason = why,
                "group coordinator unknown; will rediscover"
            );
            self.status.send_if_modified(|s| {
                let changed = s.coordinator_id.is_some();
                s.coordinator_id = None;
                changed
            });
        }
    }

    /// The coordinator connection, discovering the coordinator first (with back-off) when it is
    /// unknown. Fails on a non-retriable error or when `deadline` passes.
    pub(super) async fn coordinator(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Arc<Connection>, GroupError> {
        let mut backoff = Backoff::new(&self.settings);
        loop {
            if let Some(link) = self.current_coordinator() {
                return Ok(link.conn);
            }
            let attempt = {
                let _guard = self.discovering.lock().await;
                if let Some(link) = self.current_coordinator() {
                    return Ok(link.conn);
                }
                let lookup = self.discover();
                match deadline {
                    Some(deadline) => tokio::time::timeout_at(deadline, lookup)
                        .await
                        .unwrap_or(Err(GroupError::Timeout(self.settings.api_timeout))),
                    None => lookup.await,
                }
            };
            match attempt {
                Ok(link) => {
                    let conn = link.conn.clone();
                    tracing::info!(
                        group = %self.settings.group_id,
                        coordinator = link.node_id,
                        addr = conn.addr(),
                        "discovered group coordinator"
                    );
                    let node_id = link.node_id;
                    *self.lock_coordinator() = Some(link);
                    self.status.send_if_modified(|s| {
                        let changed = s.coordinator_id != Some(node_id);
                        s.coordinator_id = Some(node_id);
                        changed
                    });
                    return Ok(conn);
                }
                Err(e) if !e.is_retriable() => return Err(e),
                Err(e) => {
                    tracing::debug!(group = %self.settings.group_id, error = %e, "coordinator lookup failed; retrying");
                    if backoff.sleep(deadline).await.is_err() {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// One FindCoordinator round trip and a dedicated connection to the answer.
    pub(super) async fn discover(&self) -> Result<CoordinatorLink, GroupError> {
        let (_, conn) = self.metadata.pool().any().await?;
        let version = conn.versions().version(ApiKey::FindCoordinator)?;
        let group_id = s(&self.settings.group_id);
        let mut request = FindCoordinatorRequest::default();
        if version >= 4 {
            request.coordinator_keys = vec![group_id.clone()];
        } else {
            request.key = group_id.clone();
        }
        if version >= 1 {
            request.key_type = KEY_TYPE_GROUP;
        }
        let response = tokio::time::timeout(
            self.settings.request_timeout,
            conn.send_with_version(request, version),
        )
        .await
        .map_err(|_| NetError::Timeout {
            api: ApiKey::FindCoordinator,
            timeout: self.settings.request_timeout,
        })??;
        let (code, node_id, host, port) = if version >= 4 {
            let found = response
                .coordinators
                .iter()
                .find(|c| c.key == group_id)
                .ok_or(GroupError::Broker {
                    api: ApiKey::FindCoordinator,
                    error: ErrorCode::CoordinatorNotAvailable,
                })?;
            (
                found.error_code,
                found.node_id.0,
                found.host.to_string(),
                found.port,
            )
        } else {
            (
                response.error_code,
                response.node_id.0,
                response.host.to_string(),
                response.port,
            )
        };
        let error = ErrorCode::from_code(code);
        if error != ErrorCode::None {
            return Err(GroupError::Broker {
                api: ApiKey::FindCoordinator,
                error,
            });
        }
        let addr = format!("{host}:{port}");
        let conn = Connection::connect(&addr, &self.coordinator_config).await?;
        Ok(CoordinatorLink {
            node_id,
            conn: Arc::new(conn),
        })
    }

    /// Sends `request` to the coordinator through `conn` within `timeout`; a wire failure or
    /// timeout forgets the coordinator.
    pub(super) async fn call<R: Request>(
        &self,
        conn: &Arc<Connection>,
        api: ApiKey,
        version: i16,
        request: R,
        timeout: Duration,
    ) -> Result<R::Response, GroupError> {
        let result =
            match tokio::time::timeout(timeout, conn.send_with_version(request, version)).await {
                Ok(result) => result,
                Err(_) => Err(NetError::Timeout { api, timeout }),
            };
        result.map_err(|e| {
            if e.is_retriable() {
                self.mark_coordinator_unknown(conn, &e.to_string());
            }
            GroupError::Net(e)
        })
    }

    /// Applies `f` to the status if `epoch` is still current; returns whether it did.
    pub(super) fn update_if_current(
        &self,
        epoch: u64,
        f: impl FnOnce(&mut MembershipStatus),
    ) -> bool {
        self.status.send_if_modified(|s| {
            if s.epoch != epoch {
                return false;
            }
            f(s);
            true
        })
    }

    /// Forgets member id and generation: the partitions are lost.
    pub(super) fn reset_member(s: &mut MembershipStatus, reason: RejoinReason) {
        s.member_id.clear();
        if s.generation.take().is_some() {
            s.partitions_lost = true;
        }
        s.rejoin = Some(reason);
    }
}
