//! The admin client's configuration ([`AdminConfig`]): Java `AdminClientConfig` names, typed
//! fields, and `set(key, value)` for pasting an existing config.
//!
//! Owns: parsing and validating admin settings. Must not touch: connections or requests.

use std::time::Duration;

use crate::config::{ConfigError, nearest_key, parse_bootstrap_servers, parse_duration_ms};
use crate::net::ConnectionConfig;

/// Every key [`AdminConfig::set`] accepts.
pub const ADMIN_CONFIG_KEYS: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "request.timeout.ms",
    "default.api.timeout.ms",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "metadata.max.age.ms",
    "connections.max.idle.ms",
    "socket.connection.setup.timeout.ms",
];

/// Admin client settings (Java's `AdminClientConfig`, the subset kafkit uses).
///
/// ```
/// use std::time::Duration;
/// use kafkit::admin::AdminConfig;
///
/// let config = AdminConfig::builder()
///     .bootstrap_servers("localhost:9092")
///     .set("default.api.timeout.ms", "15000")?
///     .build()?;
/// assert_eq!(config.default_api_timeout, Duration::from_secs(15));
/// assert_eq!(config.request_timeout, Duration::from_secs(30));
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// `bootstrap.servers`: `host:port` entries to discover the cluster from (required).
    pub bootstrap_servers: Vec<String>,
    /// `client.id` (default `"kafkit-admin"`).
    pub client_id: String,
    /// `request.timeout.ms`: how long one request may wait for its response (default 30 s).
    pub request_timeout: Duration,
    /// `default.api.timeout.ms`: the bound of an admin operation given no timeout of its own
    /// (default 60 s).
    pub default_api_timeout: Duration,
    /// `retry.backoff.ms`: the first back-off before retrying a retriable error (default 100 ms).
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the back-off doubles up to this (default 1 s).
    pub retry_backoff_max: Duration,
    /// `metadata.max.age.ms` (default 5 minutes). The admin client refreshes metadata before
    /// every routed request, so this only bounds how stale cached routing may be.
    pub metadata_max_age: Duration,
    /// `connections.max.idle.ms` (default 5 minutes; accepted for compatibility).
    pub connections_max_idle: Duration,
    /// `socket.connection.setup.timeout.ms` (default 10 s).
    pub socket_connection_setup_timeout: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            bootstrap_servers: Vec::new(),
            client_id: "kafkit-admin".to_owned(),
            request_timeout: Duration::from_secs(30),
            default_api_timeout: Duration::from_secs(60),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            metadata_max_age: Duration::from_secs(300),
            connections_max_idle: Duration::from_secs(300),
            socket_connection_setup_timeout: Duration::from_secs(10),
        }
    }
}

impl AdminConfig {
    /// A builder starting from the defaults.
    ///
    /// ```
    /// let config = kafkit::admin::AdminConfig::builder().bootstrap_servers("b:9092").build()?;
    /// assert_eq!(config.bootstrap_servers, vec!["b:9092".to_string()]);
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn builder() -> AdminConfigBuilder {
        AdminConfigBuilder {
            config: AdminConfig::default(),
        }
    }

    /// Sets one setting by its Java name. An unknown key fails and names the nearest known one.
    ///
    /// ```
    /// let mut config = kafkit::admin::AdminConfig::default();
    /// config.set("client.id", "ops")?;
    /// let err = config.set("request.timeout", "5").unwrap_err();
    /// assert!(err.to_string().contains("request.timeout.ms"));
    /// # Ok::<(), kafkit::config::ConfigError>(())
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let value = value.trim();
        match key {
            "bootstrap.servers" => self.bootstrap_servers = parse_bootstrap_servers(key, value)?,
            "client.id" => self.client_id = value.to_owned(),
            "request.timeout.ms" => self.request_timeout = parse_duration_ms(key, value)?,
            "default.api.timeout.ms" => self.default_api_timeout = parse_duration_ms(key, value)?,
            "retry.backoff.ms" => self.retry_backoff = parse_duration_ms(key, value)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = parse_duration_ms(key, value)?,
            "metadata.max.age.ms" => self.metadata_max_age = parse_duration_ms(key, value)?,
            "connections.max.idle.ms" => self.connections_max_idle = parse_duration_ms(key, value)?,
            "socket.connection.setup.timeout.ms" => {
                self.socket_connection_setup_timeout = parse_duration_ms(key, value)?
            }
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_owned(),
                    suggestion: nearest_key(key, ADMIN_CONFIG_KEYS.iter().copied())
                        .map(str::to_owned),
                });
            }
        }
        Ok(())
    }

    /// Checks the settings hang together (bootstrap servers given, back-offs ordered).
    ///
    /// ```
    /// assert!(kafkit::admin::AdminConfig::default().validate().is_err()); // no bootstrap servers
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.bootstrap_servers.is_empty() {
            return Err(ConfigError::invalid(
                "bootstrap.servers",
                "",
                "at least one host:port is required",
            ));
        }
        if self.retry_backoff_max < self.retry_backoff {
            return Err(ConfigError::conflict(
                "retry.backoff.max.ms must not be below retry.backoff.ms",
            ));
        }
        if self.default_api_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "default.api.timeout.ms",
                0,
                "must be positive",
            ));
        }
        Ok(())
    }

    /// The connection settings these values imply.
    ///
    /// ```
    /// let config = kafkit::admin::AdminConfig::default();
    /// assert_eq!(config.connection_config().client_id.as_deref(), Some("kafkit-admin"));
    /// ```
    pub fn connection_config(&self) -> ConnectionConfig {
        ConnectionConfig {
            client_id: Some(self.client_id.clone()),
            request_timeout: self.request_timeout,
            connect_timeout: self.socket_connection_setup_timeout,
            ..ConnectionConfig::default()
        }
    }
}

/// Builds an [`AdminConfig`].
///
/// ```
/// use std::time::Duration;
/// let config = kafkit::admin::AdminConfig::builder()
///     .bootstrap_servers("a:9092,b:9092")
///     .client_id("ops")
///     .default_api_timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(config.bootstrap_servers.len(), 2);
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AdminConfigBuilder {
    config: AdminConfig,
}

impl AdminConfigBuilder {
    /// `bootstrap.servers`, comma separated. Parsed (and checked) in [`Self::build`].
    pub fn bootstrap_servers(mut self, servers: impl AsRef<str>) -> Self {
        self.config.bootstrap_servers = servers
            .as_ref()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        self
    }

    /// `client.id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = id.into();
        self
    }

    /// `request.timeout.ms`.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// `default.api.timeout.ms`.
    pub fn default_api_timeout(mut self, timeout: Duration) -> Self {
        self.config.default_api_timeout = timeout;
        self
    }

    /// `retry.backoff.ms` and `retry.backoff.max.ms`.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.config.retry_backoff = first;
        self.config.retry_backoff_max = max;
        self
    }

    /// Any setting by its Java name (see [`AdminConfig::set`]).
    pub fn set(mut self, key: &str, value: &str) -> Result<Self, ConfigError> {
        self.config.set(key, value)?;
        Ok(self)
    }

    /// The validated configuration.
    pub fn build(self) -> Result<AdminConfig, ConfigError> {
        let joined = self.config.bootstrap_servers.join(",");
        let mut config = self.config;
        if !joined.is_empty() {
            config.bootstrap_servers = parse_bootstrap_servers("bootstrap.servers", &joined)?;
        }
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_java() {
        let c = AdminConfig::default();
        assert_eq!(c.request_timeout, Duration::from_millis(30_000));
        assert_eq!(c.default_api_timeout, Duration::from_millis(60_000));
        assert_eq!(c.retry_backoff, Duration::from_millis(100));
        assert_eq!(c.retry_backoff_max, Duration::from_millis(1000));
    }

    #[test]
    fn every_key_is_settable() {
        let mut c = AdminConfig::default();
        for key in ADMIN_CONFIG_KEYS {
            let value = if *key == "bootstrap.servers" {
                "h:1"
            } else {
                "1234"
            };
            c.set(key, value).unwrap();
        }
        assert_eq!(c.request_timeout, Duration::from_millis(1234));
        assert_eq!(c.bootstrap_servers, vec!["h:1".to_string()]);
    }

    #[test]
    fn bad_values_fail() {
        let mut c = AdminConfig::default();
        assert!(c.set("request.timeout.ms", "soon").is_err());
        assert!(c.set("bootstrap.servers", "nohost").is_err());
        let err = c.set("retry.backof.ms", "1").unwrap_err().to_string();
        assert!(err.contains("retry.backoff.ms"), "{err}");
        let err = AdminConfig::builder()
            .bootstrap_servers("h:1")
            .retry_backoff(Duration::from_secs(2), Duration::from_secs(1))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("retry.backoff"), "{err}");
    }
}
