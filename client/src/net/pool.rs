//! One connection per broker, opened lazily.
//!
//! Concurrency: the broker table sits behind a `std::sync::Mutex` that is only held for map
//! lookups, never across an `.await`. Each broker slot holds the current connection *attempt*
//! as an `Arc<tokio::sync::OnceCell<Result<..>>>`: concurrent `get`s for the same broker clone
//! the cell, release the lock and await the same single connect (so a burst of callers opens one
//! socket, and all of them see the same failure if it fails). A `get` that finds the attempt
//! failed, or its connection closed, installs a fresh cell and connects again. Backing off
//! between reconnects is left to the caller (the metadata/retry layers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OnceCell;

use super::{Connection, ConnectionConfig, NetError};

type Attempt = Arc<OnceCell<Result<Arc<Connection>, NetError>>>;

struct Slot {
    addr: String,
    attempt: Attempt,
}

impl Slot {
    fn new(addr: String) -> Self {
        Self {
            addr,
            attempt: Attempt::default(),
        }
    }

    /// The live connection, if the current attempt produced one that is still open.
    fn live(&self) -> Option<Arc<Connection>> {
        match self.attempt.get() {
            Some(Ok(conn)) if !conn.is_closed() => Some(conn.clone()),
            _ => None,
        }
    }

    fn close(&self) {
        if let Some(Ok(conn)) = self.attempt.get() {
            conn.close();
        }
    }
}

#[derive(Default)]
struct PoolState {
    /// Brokers by id; bootstrap addresses use ids -1, -2, ... as Kafka clients do.
    slots: HashMap<i32, Slot>,
    closed: bool,
}

/// Connections to the brokers of one cluster, keyed by broker id.
///
/// ```no_run
/// use kafkit::messages::MetadataRequest;
/// use kafkit::net::{ConnectionConfig, ConnectionPool};
///
/// # async fn example() -> Result<(), kafkit::net::NetError> {
/// let pool = ConnectionPool::new(ConnectionConfig::default(), ["b1:9092", "b2:9092"]);
/// pool.update_brokers([(1, "b1:9092".to_owned()), (2, "b2:9092".to_owned())]);
/// let leader = pool.get(2).await?;
/// leader.send(MetadataRequest::default()).await?;
/// pool.close();
/// # Ok(())
/// # }
/// ```
pub struct ConnectionPool {
    config: ConnectionConfig,
    state: Mutex<PoolState>,
}

impl std::fmt::Debug for ConnectionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        let mut ids: Vec<i32> = state.slots.keys().copied().collect();
        ids.sort_unstable();
        f.debug_struct("ConnectionPool")
            .field("brokers", &ids)
            .field("closed", &state.closed)
            .finish_non_exhaustive()
    }
}

impl ConnectionPool {
    /// A pool with bootstrap addresses (`host:port`), known as broker ids -1, -2, ... until
    /// [`ConnectionPool::update_brokers`] supplies the real ones. Nothing connects yet.
    ///
    /// ```
    /// use kafkit::net::{ConnectionConfig, ConnectionPool};
    /// let pool = ConnectionPool::new(ConnectionConfig::default(), ["localhost:9092"]);
    /// assert_eq!(pool.addr(-1).as_deref(), Some("localhost:9092"));
    /// ```
    pub fn new<I, A>(config: ConnectionConfig, bootstrap: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        let slots = bootstrap
            .into_iter()
            .zip(1..)
            .map(|(addr, n)| (-n, Slot::new(addr.into())))
            .collect();
        Self {
            config,
            state: Mutex::new(PoolState {
                slots,
                closed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A panic while holding this lock cannot leave the map inconsistent (every update is a
        // single insert/remove), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection settings.
    ///
    /// ```
    /// use kafkit::net::{ConnectionConfig, ConnectionPool};
    /// let pool = ConnectionPool::new(ConnectionConfig::default(), Vec::<String>::new());
    /// assert_eq!(pool.config().client_id.as_deref(), Some("kafkit"));
    /// ```
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// Sets the addresses of the cluster's brokers (ids ≥ 0), typically from a Metadata
    /// response. Brokers no longer listed, or whose address changed, have their connection
    /// closed. Bootstrap entries (negative ids) are kept.
    ///
    /// ```
    /// use kafkit::net::{ConnectionConfig, ConnectionPool};
    /// let pool = ConnectionPool::new(ConnectionConfig::default(), ["seed:9092"]);
    /// pool.update_brokers([(1, "b1:9092".to_owned()), (2, "b2:9092".to_owned())]);
    /// assert_eq!(pool.addr(2).as_deref(), Some("b2:9092"));
    /// pool.update_brokers([(1, "b1:9092".to_owned())]);
    /// assert_eq!(pool.addr(2), None);
    /// assert_eq!(pool.addr(-1).as_deref(), Some("seed:9092"));
    /// ```
    pub fn update_brokers<I>(&self, brokers: I)
    where
        I: IntoIterator<Item = (i32, String)>,
    {
        let brokers: HashMap<i32, String> =
            brokers.into_iter().filter(|(id, _)| *id >= 0).collect();
        let mut state = self.lock();
        state.slots.retain(|id, slot| {
            let keep = *id < 0 || brokers.get(id) == Some(&slot.addr);
            if !keep {
                slot.close();
            }
            keep
        });
        for (id, addr) in brokers {
            state.slots.entry(id).or_insert_with(|| Slot::new(addr));
        }
    }

    /// The address known for `broker_id`.
    ///
    /// ```
    /// use kafkit::net::{ConnectionConfig, ConnectionPool};
    /// let pool = ConnectionPool::new(ConnectionConfig::default(), Vec::<String>::new());
    /// assert_eq!(pool.addr(0), None);
    /// ```
    pub fn addr(&self, broker_id: i32) -> Option<String> {
        self.lock().slots.get(&broker_id).map(|s| s.addr.clone())
    }

    /// The live connection to `broker_id`, connecting (and handshaking) first if there is none
    /// or the previous one was closed.
    ///
    /// ```no_run
    /// # async fn example(pool: kafkit::net::ConnectionPool) -> Result<(), kafkit::net::NetError> {
    /// let conn = pool.get(1).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn get(&self, broker_id: i32) -> Result<Arc<Connection>, NetError> {
        let (attempt, addr) = {
            let mut state = self.lock();
            if state.closed {
                return Err(NetError::PoolClosed);
            }
            let slot = state
                .slots
                .get_mut(&broker_id)
                .ok_or(NetError::UnknownBroker(broker_id))?;
            if let Some(conn) = slot.live() {
                return Ok(conn);
            }
            if slot.attempt.initialized() {
                // The last attempt failed or its connection died: start a new one.
                slot.attempt = Attempt::default();
            }
            (slot.attempt.clone(), slot.addr.clone())
        };
        let result = attempt
            .get_or_init(|| async {
                tracing::debug!(broker_id, %addr, "connecting");
                Connection::connect(&addr, &self.config).await.map(Arc::new)
            })
            .await
            .clone();
        if self.lock().closed {
            // Closed while connecting: do not hand out a connection the pool no longer tracks.
            if let Ok(conn) = &result {
                conn.close();
            }
            return Err(NetError::PoolClosed);
        }
        result
    }

    /// A connection to any broker: a live one if there is one (real brokers first), otherwise
    /// the first that connects, trying real brokers and then bootstrap addresses in order.
    /// Returns the broker id with the connection.
    ///
    /// ```no_run
    /// # async fn example(pool: kafkit::net::ConnectionPool) -> Result<(), kafkit::net::NetError> {
    /// let (broker_id, conn) = pool.any().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn any(&self) -> Result<(i32, Arc<Connection>), NetError> {
        let candidates = {
            let state = self.lock();
            if state.closed {
                return Err(NetError::PoolClosed);
            }
            let mut ids: Vec<i32> = state.slots.keys().copied().collect();
            // 0, 1, 2, ... then -1, -2, ...
            ids.sort_unstable_by_key(|&id| if id >= 0 { (0, id) } else { (1, -id) });
            if let Some((id, conn)) = ids
                .iter()
                .find_map(|id| state.slots[id].live().map(|c| (*id, c)))
            {
                return Ok((id, conn));
            }
            ids
        };
        let mut errors = Vec::new();
        for id in candidates {
            match self.get(id).await {
                Ok(conn) => return Ok((id, conn)),
                Err(NetError::PoolClosed) => return Err(NetError::PoolClosed),
                Err(e) => errors.push(format!("broker {id}: {e}")),
            }
        }
        if errors.is_empty() {
            errors.push("no broker addresses known".to_owned());
        }
        Err(NetError::NoBrokerAvailable(errors.join("; ")))
    }

    /// Closes every connection; later `get`s fail with [`NetError::PoolClosed`].
    ///
    /// ```
    /// use kafkit::net::{ConnectionConfig, ConnectionPool};
    /// let pool = ConnectionPool::new(ConnectionConfig::default(), ["localhost:9092"]);
    /// pool.close();
    /// ```
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        for slot in state.slots.values() {
            slot.close();
        }
    }
}

#[cfg(test)]
mod tests;
