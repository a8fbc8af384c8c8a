//! Topic configuration: Kafka's topic config names, types and defaults, per-topic overrides,
//! validation, and what they mean for the log and the produce path.
//!
//! Only plain data; the controller stores a [`TopicConfig`] in each topic's metadata and the
//! DescribeConfigs / AlterConfigs handlers read and change it.

use std::collections::BTreeMap;

use crate::log::LogConfig;

/// The type of a config value, numbered as in Kafka's DescribeConfigs `config_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// `true` / `false`.
    Boolean = 1,
    /// A string, possibly from a fixed set of values.
    String = 2,
    /// A 32-bit integer.
    Int = 3,
    /// A 64-bit integer.
    Long = 5,
    /// A floating point number.
    Double = 6,
    /// A comma-separated list.
    List = 7,
}

/// One known topic config: name, type, Kafka's default, and the allowed values for enums.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    /// The config name, e.g. `retention.ms`.
    pub name: &'static str,
    /// Its type.
    pub config_type: ConfigType,
    /// Kafka's default value.
    pub default: &'static str,
    /// For enumerated strings, the allowed values.
    pub allowed: &'static [&'static str],
    /// The smallest allowed value for numbers.
    pub min: Option<i64>,
}

const fn def(name: &'static str, config_type: ConfigType, default: &'static str) -> ConfigDef {
    ConfigDef {
        name,
        config_type,
        default,
        allowed: &[],
        min: None,
    }
}

const fn min(mut d: ConfigDef, min: i64) -> ConfigDef {
    d.min = Some(min);
    d
}

const fn one_of(mut d: ConfigDef, allowed: &'static [&'static str]) -> ConfigDef {
    d.allowed = allowed;
    d
}

/// Every topic config the test broker knows, with Kafka 4.x defaults.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    one_of(
        def("cleanup.policy", ConfigType::List, "delete"),
        &["delete", "compact", "compact,delete", "delete,compact"],
    ),
    one_of(
        def("compression.type", ConfigType::String, "producer"),
        &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"],
    ),
    min(def("compression.gzip.level", ConfigType::Int, "9"), 1),
    min(def("compression.lz4.level", ConfigType::Int, "9"), 1),
    min(def("compression.zstd.level", ConfigType::Int, "3"), -131072),
    min(def("delete.retention.ms", ConfigType::Long, "86400000"), 0),
    min(def("file.delete.delay.ms", ConfigType::Long, "60000"), 0),
    min(
        def("flush.messages", ConfigType::Long, "9223372036854775807"),
        1,
    ),
    min(def("flush.ms", ConfigType::Long, "9223372036854775807"), 0),
    min(def("index.interval.bytes", ConfigType::Int, "4096"), 0),
    min(
        def(
            "max.compaction.lag.ms",
            ConfigType::Long,
            "9223372036854775807",
        ),
        1,
    ),
    min(def("max.message.bytes", ConfigType::Int, "1048588"), 0),
    min(
        def(
            "message.timestamp.after.max.ms",
            ConfigType::Long,
            "3600000",
        ),
        0,
    ),
    min(
        def(
            "message.timestamp.before.max.ms",
            ConfigType::Long,
            "9223372036854775807",
        ),
        0,
    ),
    one_of(
        def("message.timestamp.type", ConfigType::String, "CreateTime"),
        &["CreateTime", "LogAppendTime"],
    ),
    def("min.cleanable.dirty.ratio", ConfigType::Double, "0.5"),
    min(def("min.compaction.lag.ms", ConfigType::Long, "0"), 0),
    min(def("min.insync.replicas", ConfigType::Int, "1"), 1),
    def("preallocate", ConfigType::Boolean, "false"),
    min(def("retention.bytes", ConfigType::Long, "-1"), -1),
    min(def("retention.ms", ConfigType::Long, "604800000"), -1),
    min(def("segment.bytes", ConfigType::Int, "1073741824"), 14),
    min(def("segment.index.bytes", ConfigType::Int, "10485760"), 4),
    min(def("segment.jitter.ms", ConfigType::Long, "0"), 0),
    min(def("segment.ms", ConfigType::Long, "604800000"), 1),
    def(
        "unclean.leader.election.enable",
        ConfigType::Boolean,
        "false",
    ),
];

/// The definition of a known topic config.
pub fn topic_config_def(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Why a config change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The name is not a topic config.
    #[error("unknown topic config '{0}'")]
    Unknown(String),
    /// The value does not fit the config's type or range.
    #[error("invalid value '{value}' for config '{name}': {reason}")]
    InvalidValue {
        /// The config name.
        name: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Check that `value` is acceptable for topic config `name`.
pub fn validate(name: &str, value: &str) -> Result<(), ConfigError> {
    let def = topic_config_def(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
    let invalid = |reason: String| ConfigError::InvalidValue {
        name: name.to_string(),
        value: value.to_string(),
        reason,
    };
    match def.config_type {
        ConfigType::Boolean => {
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                return Err(invalid("expected true or false".into()));
            }
        }
        ConfigType::Int | ConfigType::Long => {
            let n: i64 = value
                .trim()
                .parse()
                .map_err(|_| invalid("expected an integer".into()))?;
            if def.config_type == ConfigType::Int && i32::try_from(n).is_err() {
                return Err(invalid("out of range for a 32-bit integer".into()));
            }
            if let Some(min) = def.min {
                if n < min {
                    return Err(invalid(format!("must be at least {min}")));
                }
            }
        }
        ConfigType::Double => {
            value
                .trim()
                .parse::<f64>()
                .map_err(|_| invalid("expected a number".into()))?;
        }
        ConfigType::String | ConfigType::List => {
            if !def.allowed.is_empty() && !def.allowed.contains(&value.trim()) {
                return Err(invalid(format!(
                    "expected one of {}",
                    def.allowed.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// A topic's configuration: overrides on top of Kafka's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    overrides: BTreeMap<String, String>,
}

impl TopicConfig {
    /// A config with the given overrides, each validated.
    pub fn with_overrides<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<TopicConfig, ConfigError> {
        let mut config = TopicConfig::default();
        for (name, value) in entries {
            config.set(name, value)?;
        }
        Ok(config)
    }

    /// Set an override after validating it.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        validate(name, value)?;
        self.overrides
            .insert(name.to_string(), value.trim().to_string());
        Ok(())
    }

    /// Remove an override (the default applies again).
    pub fn delete(&mut self, name: &str) -> Result<(), ConfigError> {
        topic_config_def(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        self.overrides.remove(name);
        Ok(())
    }

    /// The overrides.
    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    /// The effective value of a known config and whether it is the default.
    pub fn get(&self, name: &str) -> Option<(&str, bool)> {
        if let Some(v) = self.overrides.get(name) {
            return Some((v, false));
        }
        topic_config_def(name).map(|d| (d.default, true))
    }

    fn number(&self, name: &str) -> i64 {
        self.get(name)
            .and_then(|(v, _)| v.parse().ok())
            .expect("validated numeric config")
    }

    /// `min.insync.replicas`.
    pub fn min_insync_replicas(&self) -> usize {
        self.number("min.insync.replicas") as usize
    }

    /// `max.message.bytes`: the largest record batch the topic accepts.
    pub fn max_message_bytes(&self) -> usize {
        self.number("max.message.bytes") as usize
    }

    /// Whether `message.timestamp.type` is `LogAppendTime`.
    pub fn log_append_time(&self) -> bool {
        self.get("message.timestamp.type").map(|(v, _)| v) == Some("LogAppendTime")
    }

    /// `unclean.leader.election.enable`.
    pub fn unclean_leader_election(&self) -> bool {
        self.get("unclean.leader.election.enable")
            .is_some_and(|(v, _)| v.eq_ignore_ascii_case("true"))
    }

    /// The log settings these configs imply.
    pub fn log_config(&self) -> LogConfig {
        LogConfig {
            segment_bytes: self.number("segment.bytes") as usize,
            segment_ms: self.number("segment.ms"),
            retention_ms: self.number("retention.ms"),
            retention_bytes: self.number("retention.bytes"),
            index_interval_bytes: self.number("index.interval.bytes") as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_validation() {
        let mut c = TopicConfig::default();
        assert_eq!(c.get("retention.ms"), Some(("604800000", true)));
        assert_eq!(c.min_insync_replicas(), 1);
        c.set("min.insync.replicas", "2").unwrap();
        assert_eq!(c.get("min.insync.replicas"), Some(("2", false)));
        assert_eq!(c.min_insync_replicas(), 2);
        assert!(matches!(
            c.set("min.insync.replicas", "0"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            c.set("retention.ms", "soon"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            c.set("no.such.config", "1"),
            Err(ConfigError::Unknown(_))
        ));
        assert!(matches!(
            c.set("message.timestamp.type", "Wallclock"),
            Err(ConfigError::InvalidValue { .. })
        ));
        c.set("message.timestamp.type", "LogAppendTime").unwrap();
        assert!(c.log_append_time());
        c.set("segment.bytes", "4096").unwrap();
        assert_eq!(c.log_config().segment_bytes, 4096);
        c.delete("segment.bytes").unwrap();
        assert_eq!(c.log_config().segment_bytes, 1 << 30);
        assert!(
            TOPIC_CONFIGS
                .iter()
                .all(|d| validate(d.name, d.default).is_ok()),
            "defaults are valid"
        );
    }
}

/// Where a config value comes from, numbered as in DescribeConfigs `config_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic.
    DynamicTopic = 1,
    /// A broker's static configuration.
    StaticBroker = 4,
    /// Kafka's default.
    Default = 5,
}

/// DescribeConfigs / AlterConfigs resource types.
pub mod resource_type {
    /// A topic.
    pub const TOPIC: i8 = 2;
    /// A broker.
    pub const BROKER: i8 = 4;
}

/// IncrementalAlterConfigs operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterOp {
    /// Set the value.
    Set,
    /// Remove the override.
    Delete,
    /// Add to a list config.
    Append,
    /// Remove from a list config.
    Subtract,
}

impl AlterOp {
    /// From the wire value (0..=3).
    pub fn from_i8(op: i8) -> Option<AlterOp> {
        Some(match op {
            0 => AlterOp::Set,
            1 => AlterOp::Delete,
            2 => AlterOp::Append,
            3 => AlterOp::Subtract,
            _ => return None,
        })
    }
}

impl TopicConfig {
    /// Apply one IncrementalAlterConfigs operation.
    pub fn apply(
        &mut self,
        name: &str,
        op: AlterOp,
        value: Option<&str>,
    ) -> Result<(), ConfigError> {
        let def = topic_config_def(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        let invalid = |reason: &str| ConfigError::InvalidValue {
            name: name.to_string(),
            value: value.unwrap_or_default().to_string(),
            reason: reason.to_string(),
        };
        match op {
            AlterOp::Set => self.set(name, value.ok_or_else(|| invalid("SET needs a value"))?),
            AlterOp::Delete => self.delete(name),
            AlterOp::Append | AlterOp::Subtract => {
                if def.config_type != ConfigType::List {
                    return Err(invalid("APPEND and SUBTRACT apply only to list configs"));
                }
                let current = self
                    .get(name)
                    .map(|(v, _)| v.to_string())
                    .unwrap_or_default();
                let mut items: Vec<String> = current
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                for item in value
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                {
                    if op == AlterOp::Append {
                        if !items.iter().any(|i| i == item) {
                            items.push(item.to_string());
                        }
                    } else {
                        items.retain(|i| i != item);
                    }
                }
                self.set(name, &items.join(","))
            }
        }
    }
}

/// The broker configs DescribeConfigs reports for a broker resource, with their types.
pub fn broker_configs(
    broker_id: i32,
    settings: &crate::broker::BrokerSettings,
    defaults: &crate::controller::ControllerDefaults,
) -> Vec<(&'static str, String, ConfigType)> {
    vec![
        ("node.id", broker_id.to_string(), ConfigType::Int),
        ("broker.id", broker_id.to_string(), ConfigType::Int),
        (
            "auto.create.topics.enable",
            settings.auto_create_topics.to_string(),
            ConfigType::Boolean,
        ),
        (
            "num.partitions",
            defaults.partitions.to_string(),
            ConfigType::Int,
        ),
        (
            "default.replication.factor",
            defaults.replication_factor.to_string(),
            ConfigType::Int,
        ),
        (
            "message.max.bytes",
            settings.message_max_bytes.to_string(),
            ConfigType::Int,
        ),
        (
            "socket.request.max.bytes",
            settings.max_frame_size.to_string(),
            ConfigType::Int,
        ),
        (
            "log.dirs",
            settings
                .data_dir
                .as_ref()
                .map_or_else(|| "(in memory)".to_string(), |d| d.display().to_string()),
            ConfigType::String,
        ),
    ]
}
