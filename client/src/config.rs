//! Configuration machinery shared by the producer, consumer and admin configs: property tables
//! that declare each Java key once, parsing of Java's value forms, and [`ConfigError`].
//!
//! **Owns:** the key/value layer. A config struct declares its properties once (Java name,
//! type with range, default, one-line doc) and gets from it `set(key, value)` with Java's
//! parsing and range checks, `get(key)` in Java's string form, the list of known keys (for the
//! "did you mean" suggestion of [`ConfigError::UnknownKey`] and for docs, see
//! [`markdown_table`]), and checks of values given through typed builder methods.
//!
//! **Must not touch:** sockets, tokio, clocks, and what a setting *means*: rules between
//! settings (idempotence, delivery timeout) belong to the owning config (for example
//! [`crate::producer::config`]).
//!
//! Values are parsed as Java's `ConfigDef` parses them: surrounding whitespace is trimmed,
//! integers are decimal with an optional sign, booleans are `true`/`false` in any case, lists
//! are comma-separated, and choices (`acks`, `compression.type`) are case-sensitive. Errors carry
//! Java's wording (`Invalid value x for configuration k: Value must be at least 0`).
//!
//! ```
//! use std::time::Duration;
//! use kafkit::config::{parse_bool, parse_duration_ms, parse_list};
//!
//! assert_eq!(parse_duration_ms("linger.ms", " 5 ")?, Duration::from_millis(5));
//! assert!(parse_bool("enable.idempotence", "TRUE")?);
//! assert_eq!(parse_list("a:9092, b:9092"), ["a:9092", "b:9092"]);
//! # Ok::<(), kafkit::config::ConfigError>(())
//! ```

use std::fmt;
use std::time::Duration;

use crate::record::Compression;

/// Errors from setting, reading or validating configuration.
///
/// ```
/// use kafkit::config::ConfigError;
///
/// let err = ConfigError::UnknownKey {
///     key: "lingr.ms".into(),
///     suggestion: Some("linger.ms".into()),
/// };
/// assert_eq!(err.to_string(), "unknown configuration `lingr.ms`; did you mean `linger.ms`?");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key is not a configuration this client knows.
    #[error("unknown configuration `{key}`{hint}", hint = did_you_mean(suggestion))]
    UnknownKey {
        /// The key as given.
        key: String,
        /// The nearest known key, when one is close enough to be a likely misspelling.
        suggestion: Option<String>,
    },
    /// The key is a Java client setting that kafkit does not implement.
    #[error("configuration `{key}` is not supported by kafkit: {reason}")]
    Unsupported {
        /// The key.
        key: String,
        /// Why, and what to use instead if anything.
        reason: String,
    },
    /// The value cannot be parsed or is out of range (Java's `ConfigException(name, value,
    /// message)` wording).
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The rejected value, in string form.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key without a default was never set.
    #[error("Missing required configuration \"{key}\" which has no default value.")]
    Missing {
        /// The key.
        key: String,
    },
    /// Settings contradict each other (Java's wording where Java has one).
    #[error("{message}")]
    Conflict {
        /// What contradicts what.
        message: String,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
}

impl ConfigError {
    /// An [`InvalidValue`](ConfigError::InvalidValue) error.
    ///
    /// ```
    /// let err = kafkit::config::ConfigError::invalid("batch.size", "-1", "Value must be at least 0");
    /// assert_eq!(
    ///     err.to_string(),
    ///     "Invalid value -1 for configuration batch.size: Value must be at least 0"
    /// );
    /// ```
    pub fn invalid(key: &str, value: impl fmt::Display, reason: impl Into<String>) -> Self {
        ConfigError::InvalidValue {
            key: key.to_owned(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// A [`Conflict`](ConfigError::Conflict) error.
    ///
    /// ```
    /// let err = kafkit::config::ConfigError::conflict("a contradicts b");
    /// assert_eq!(err.to_string(), "a contradicts b");
    /// ```
    pub fn conflict(message: impl Into<String>) -> Self {
        ConfigError::Conflict {
            message: message.into(),
        }
    }
}

/// The type of a property's value, as Java's `ConfigDef.Type`, with its valid range.
///
/// ```
/// use kafkit::config::PropertyType;
///
/// assert_eq!(PropertyType::Int { min: 0, max: i32::MAX }.valid_values(), "[0,...]");
/// assert_eq!(PropertyType::Choice(&["all", "-1", "0", "1"]).valid_values(), "[all, -1, 0, 1]");
/// assert_eq!(PropertyType::Long { min: 0, max: i64::MAX }.java_type(), "long");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropertyType {
    /// `true` or `false`, in any case.
    Boolean,
    /// A 32-bit integer within `min..=max`.
    Int {
        /// Smallest accepted value.
        min: i32,
        /// Largest accepted value.
        max: i32,
    },
    /// A 32-bit integer within `min..=max`, or exactly `or` (gzip's level -1).
    IntOr {
        /// Smallest accepted value of the range.
        min: i32,
        /// Largest accepted value of the range.
        max: i32,
        /// The one value accepted outside the range.
        or: i32,
    },
    /// A 64-bit integer within `min..=max` (durations in ms, sizes in bytes).
    Long {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// Any string (trimmed).
    String,
    /// A string that is unset (`null`) by default and must not be empty when set.
    NonEmptyString,
    /// One of a fixed set of strings, case-sensitive (`acks`, `compression.type`).
    Choice(&'static [&'static str]),
    /// A comma-separated list.
    List,
    /// A non-empty, duplicate-free comma-separated list of `host:port` (`bootstrap.servers`).
    HostPortList,
}

impl PropertyType {
    /// Java's name for the type (`boolean`, `int`, `long`, `string`, `list`).
    ///
    /// ```
    /// assert_eq!(kafkit::config::PropertyType::HostPortList.java_type(), "list");
    /// ```
    pub fn java_type(&self) -> &'static str {
        match self {
            PropertyType::Boolean => "boolean",
            PropertyType::Int { .. } | PropertyType::IntOr { .. } => "int",
            PropertyType::Long { .. } => "long",
            PropertyType::String | PropertyType::NonEmptyString | PropertyType::Choice(_) => {
                "string"
            }
            PropertyType::List | PropertyType::HostPortList => "list",
        }
    }

    /// The valid values in Java's documentation notation (`[0,...]`, `[1,...,17]`,
    /// `[1,...,9] or -1`, `[none, gzip]`), empty when any value of the type is accepted.
    ///
    /// ```
    /// use kafkit::config::PropertyType;
    /// assert_eq!(PropertyType::IntOr { min: 1, max: 9, or: -1 }.valid_values(), "[1,...,9] or -1");
    /// ```
    pub fn valid_values(&self) -> String {
        fn range(min: i64, max: i64, lowest: i64, highest: i64) -> String {
            match (min == lowest, max == highest) {
                (true, true) => String::new(),
                (true, false) => format!("[...,{max}]"),
                (false, true) => format!("[{min},...]"),
                (false, false) => format!("[{min},...,{max}]"),
            }
        }
        match *self {
            PropertyType::Boolean | PropertyType::String | PropertyType::List => String::new(),
            PropertyType::Int { min, max } => {
                range(min.into(), max.into(), i32::MIN.into(), i32::MAX.into())
            }
            PropertyType::IntOr { min, max, or } => format!("[{min},...,{max}] or {or}"),
            PropertyType::Long { min, max } => range(min, max, i64::MIN, i64::MAX),
            PropertyType::NonEmptyString => "non-empty string".to_owned(),
            PropertyType::Choice(choices) => format!("[{}]", choices.join(", ")),
            PropertyType::HostPortList => "non-empty list of host:port".to_owned(),
        }
    }
}

/// A property's default.
///
/// ```
/// use kafkit::config::PropertyDefault;
/// assert_eq!(PropertyDefault::Value("5").to_string(), "5");
/// assert_eq!(PropertyDefault::Null.to_string(), "null");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyDefault {
    /// No default: the key must be set (`bootstrap.servers`).
    Required,
    /// Unset (Java `null`) unless given.
    Null,
    /// The default in Java's string form.
    Value(&'static str),
}

impl fmt::Display for PropertyDefault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyDefault::Required => f.write_str("(required)"),
            PropertyDefault::Null => f.write_str("null"),
            PropertyDefault::Value("") => f.write_str("\"\""),
            PropertyDefault::Value(v) => f.write_str(v),
        }
    }
}

/// The declaration of one property: its Java name, type and range, default and doc line.
///
/// Config structs list theirs (for example
/// [`ProducerConfig::properties`](crate::producer::config::ProducerConfig::properties)).
///
/// ```
/// use kafkit::producer::config::ProducerConfig;
///
/// let linger = ProducerConfig::properties().find(|p| p.name == "linger.ms").unwrap();
/// assert_eq!(linger.default.to_string(), "5");
/// assert_eq!(linger.ty.java_type(), "long");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PropertyDef {
    /// The Java property name (`linger.ms`).
    pub name: &'static str,
    /// Type and valid range.
    pub ty: PropertyType,
    /// The default.
    pub default: PropertyDefault,
    /// One line saying what it does.
    pub doc: &'static str,
}

/// A property of config struct `C`: its declaration plus how to parse into, check and print
/// the field that holds it. Built with the [`property!`] macro.
pub(crate) struct Property<C> {
    pub(crate) def: PropertyDef,
    /// Parses Java's string form (with range checks) into the field.
    pub(crate) set: fn(&mut C, &str) -> Result<(), ConfigError>,
    /// Checks the field's current value (values given through typed builder methods).
    pub(crate) check: fn(&C) -> Result<(), ConfigError>,
    /// The field in Java's string form.
    pub(crate) get: fn(&C) -> String,
}

/// A config struct whose fields are declared as a table of [`Property`]s.
pub(crate) trait PropertyTable: Default + 'static {
    /// Every property, in documentation order.
    fn properties() -> &'static [Property<Self>];

    /// Why a key that Java knows but this table lacks is not supported, if it is one.
    fn unsupported(_key: &str) -> Option<&'static str> {
        None
    }
}

/// A field type that holds a property value.
pub(crate) trait PropertyValue: Sized {
    /// Parses Java's string form and checks it against `ty`'s range.
    fn parse(key: &str, raw: &str, ty: PropertyType) -> Result<Self, ConfigError>;
    /// Checks a value against `ty`'s range.
    fn check(&self, key: &str, ty: PropertyType) -> Result<(), ConfigError>;
    /// Java's string form.
    fn to_java(&self) -> String;
}

/// Declares one [`Property`] of a config struct: Java name, field, type, default, doc line.
/// The field's type must implement [`PropertyValue`] for the given [`PropertyType`].
macro_rules! property {
    ($name:literal, $field:ident, $ty:expr, $default:expr, $doc:literal $(,)?) => {
        $crate::config::Property {
            def: $crate::config::PropertyDef {
                name: $name,
                ty: $ty,
                default: $default,
                doc: $doc,
            },
            set: |c, raw| {
                c.$field = $crate::config::PropertyValue::parse($name, raw, $ty)?;
                Ok(())
            },
            check: |c| $crate::config::PropertyValue::check(&c.$field, $name, $ty),
            get: |c| $crate::config::PropertyValue::to_java(&c.$field),
        }
    };
}
pub(crate) use property;

/// The values of a [`PropertyTable`] plus which keys were given explicitly (Java's
/// `originals().containsKey(..)`, which some rules depend on).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PropertySet<C> {
    values: C,
    explicit: Vec<bool>,
}

impl<C: PropertyTable> PropertySet<C> {
    /// Every property at its default, none explicit.
    pub(crate) fn with_defaults() -> Self {
        let mut values = C::default();
        for p in C::properties() {
            if let PropertyDefault::Value(default) = p.def.default {
                // Defaults are constants checked by tests; a bad one keeps `C::default()`.
                let parsed = (p.set)(&mut values, default);
                debug_assert!(parsed.is_ok(), "bad default for {}", p.def.name);
            }
        }
        PropertySet {
            values,
            explicit: vec![false; C::properties().len()],
        }
    }

    /// The index of `key`, or the error naming the nearest known key.
    pub(crate) fn lookup(key: &str) -> Result<usize, ConfigError> {
        if let Some(i) = C::properties().iter().position(|p| p.def.name == key) {
            return Ok(i);
        }
        if let Some(reason) = C::unsupported(key) {
            return Err(ConfigError::Unsupported {
                key: key.to_owned(),
                reason: reason.to_owned(),
            });
        }
        Err(ConfigError::UnknownKey {
            key: key.to_owned(),
            suggestion: nearest_key(key, Self::known_keys()).map(str::to_owned),
        })
    }

    /// Parses and stores `value` for `key` (Java's string form), marking it explicit.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let i = Self::lookup(key)?;
        (C::properties()[i].set)(&mut self.values, value)?;
        self.explicit[i] = true;
        Ok(())
    }

    /// The value of `key` in Java's string form.
    pub(crate) fn get(&self, key: &str) -> Result<String, ConfigError> {
        let i = Self::lookup(key)?;
        Ok((C::properties()[i].get)(&self.values))
    }

    /// Changes a field through typed code and marks `key` explicit.
    pub(crate) fn update(&mut self, key: &str, change: impl FnOnce(&mut C)) {
        change(&mut self.values);
        let i = C::properties().iter().position(|p| p.def.name == key);
        debug_assert!(i.is_some(), "typed setter for unknown key {key}");
        if let Some(i) = i {
            self.explicit[i] = true;
        }
    }

    /// Whether `key` was given (by `set` or a typed setter), as opposed to defaulted.
    pub(crate) fn is_explicit(&self, key: &str) -> bool {
        C::properties()
            .iter()
            .position(|p| p.def.name == key)
            .is_some_and(|i| self.explicit[i])
    }

    /// The typed values.
    pub(crate) fn values(&self) -> &C {
        &self.values
    }

    /// The typed values, for post-processing that must not mark anything explicit.
    pub(crate) fn values_mut(&mut self) -> &mut C {
        &mut self.values
    }

    /// Checks every value against its range, and that required keys were given; the first
    /// problem in table order is the error.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (p, &explicit) in C::properties().iter().zip(&self.explicit) {
            if p.def.default == PropertyDefault::Required && !explicit {
                return Err(ConfigError::Missing {
                    key: p.def.name.to_owned(),
                });
            }
            (p.check)(&self.values)?;
        }
        Ok(())
    }

    /// Every known key, in table order.
    pub(crate) fn known_keys() -> impl Iterator<Item = &'static str> {
        C::properties().iter().map(|p| p.def.name)
    }

    /// Every declaration, in table order.
    pub(crate) fn defs() -> impl Iterator<Item = &'static PropertyDef> {
        C::properties().iter().map(|p| &p.def)
    }
}

impl<C: PropertyTable> fmt::Debug for PropertySet<C> {
    /// A map of Java key to Java value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                C::properties()
                    .iter()
                    .map(|p| (p.def.name, (p.get)(&self.values))),
            )
            .finish()
    }
}

// ---- Field types ----------------------------------------------------------------------------

fn type_mismatch(key: &str, ty: PropertyType) -> ConfigError {
    // A table declared a field type that cannot hold `ty`: a bug caught by the defaults tests.
    ConfigError::invalid(
        key,
        "?",
        format!("property declared as {ty:?} on the wrong field type"),
    )
}

impl PropertyValue for bool {
    fn parse(key: &str, raw: &str, ty: PropertyType) -> Result<Self, ConfigError> {
        match ty {
            PropertyType::Boolean => parse_bool(key, raw),
            _ => Err(type_mismatch(key, ty)),
        }
    }

    fn check(&self, key: &str, ty: PropertyType) -> Result<(), ConfigError> {
        match ty {
            PropertyType::Boolean => Ok(()),
            _ => Err(type_mismatch(key, ty)),
        }
    }

    fn to_java(&self) -> String {
        self.to_string()
    }
}

/// Integers of both Java widths are held as `i64`, so that a typed setter given a value outside
/// an `int` range is caught by the check rather than truncated.
impl PropertyValue for i64 {
    fn parse(key: &str, raw: &str, ty: PropertyType) -> Result<Self, ConfigError> {
        let value = match ty {
            PropertyType::Int { .. } | PropertyType::IntOr { .. } => parse_i32(key, raw)?.into(),
            PropertyType::Long { .. } => parse_i64(key, raw)?,
            _ => return Err(type_mismatch(key, ty)),
        };
        value.check(key, ty)?;
        Ok(value)
    }

    fn check(&self, key: &str, ty: PropertyType) -> Result<(), ConfigError> {
        let v = *self;
        match ty {
            PropertyType::Int { min, max } => check_range(key, v, min.into(), max.into()),
            PropertyType::Long { min, max } => check_range(key, v, min, max),
            PropertyType::IntOr { min, max, or } => {
                if v == i64::from(or) || (i64::from(min)..=i64::from(max)).contains(&v) {
                    Ok(())
                } else {
                    Err(ConfigError::invalid(
                        key,
                        v,
                        format!("Value must be between {min} and {max} or equal to {or}"),
                    ))
                }
            }
            _ => Err(type_mismatch(key, ty)),
        }
    }

    fn to_java(&self) -> String {
        self.to_string()
    }
}

impl PropertyValue for String {
    fn parse(key: &str, raw: &str, ty: PropertyType) -> Result<Self, ConfigError> {
        let value = java_trim(raw).to_owned();
        value.check(key, ty)?;
        Ok(value)
    }

    fn check(&self, key: &str, ty: PropertyType) -> Result<(), ConfigError> {
        match ty {
            PropertyType::String => Ok(()),
            _ => Err(type_mismatch(key, ty)),
        }
    }

    fn to_java(&self) -> String {
        self.clone()
    }
}

/// A nullable string; `None` prints as the empty string (which is never a valid set value).
impl PropertyValue for Option<String> {
    fn parse(key: &str, raw: &str, ty: PropertyType) -> Result<Self, ConfigError> {
        let value = Some(java_trim(raw).to_owned());
        value.check(key, ty)?;
        Ok(value)
    }

    fn check(&self, key: &str, ty: PropertyType) -> Result<(), ConfigError> {
        match (ty, self) {
            (PropertyType::NonEmptyString, Some(s)) if s.is_empty() => {
                Err(ConfigError::invalid(key, s, "String must be non-empty"))
            }
            (PropertyType::NonEmptyString, _) => Ok(()),
            _ => Err(type_mismatch(key, ty)),
        }
    }

    fn to_java(&self) -> String {
        self.clone().unwrap_or_default()
    }
}

impl PropertyValue for Vec<String> {
    fn parse(key: &str, raw: &str, ty: PropertyType) -> Result<Self, ConfigError> {
        let value = parse_list(raw);
        value.check(key, ty)?;
        Ok(value)
    }

    fn check(&self, key: &str, ty: PropertyType) -> Result<(), ConfigError> {
        match ty {
            PropertyType::List => Ok(()),
            PropertyType::HostPortList => check_host_port_list(key, self).map(|_| ()),
            _ => Err(type_mismatch(key, ty)),
        }
    }

    fn to_java(&self) -> String {
        self.join(",")
    }
}

impl PropertyValue for Compression {
    fn parse(key: &str, raw: &str, ty: PropertyType) -> Result<Self, ConfigError> {
        match ty {
            PropertyType::Choice(_) => parse_compression(key, raw),
            _ => Err(type_mismatch(key, ty)),
        }
    }

    fn check(&self, key: &str, ty: PropertyType) -> Result<(), ConfigError> {
        match ty {
            PropertyType::Choice(_) => Ok(()),
            _ => Err(type_mismatch(key, ty)),
        }
    }

    fn to_java(&self) -> String {
        self.name().to_owned()
    }
}

// ---- Parse helpers --------------------------------------------------------------------------

/// Java's `String.trim()`: strips every char up to U+0020 from both ends.
fn java_trim(raw: &str) -> &str {
    raw.trim_matches(|c: char| c <= ' ')
}

/// Java's regex `\s`: space, tab, newline, vertical tab, form feed, carriage return.
fn is_java_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

fn check_range(key: &str, value: i64, min: i64, max: i64) -> Result<(), ConfigError> {
    if value < min {
        Err(ConfigError::invalid(
            key,
            value,
            format!("Value must be at least {min}"),
        ))
    } else if value > max {
        Err(ConfigError::invalid(
            key,
            value,
            format!("Value must be no more than {max}"),
        ))
    } else {
        Ok(())
    }
}

/// Parses a Java boolean: `true` or `false` in any case, surrounding whitespace ignored.
///
/// ```
/// use kafkit::config::parse_bool;
/// assert!(parse_bool("enable.idempotence", "True")?);
/// assert!(!parse_bool("enable.idempotence", " false ")?);
/// assert!(parse_bool("enable.idempotence", "yes").is_err());
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
pub fn parse_bool(key: &str, raw: &str) -> Result<bool, ConfigError> {
    let s = java_trim(raw);
    if s.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if s.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ConfigError::invalid(
            key,
            raw,
            "Expected value to be either true or false",
        ))
    }
}

/// Parses a Java `int`: decimal with an optional sign, surrounding whitespace ignored.
///
/// ```
/// use kafkit::config::parse_i32;
/// assert_eq!(parse_i32("retries", "+3")?, 3);
/// assert!(parse_i32("retries", "2147483648").is_err());
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
pub fn parse_i32(key: &str, raw: &str) -> Result<i32, ConfigError> {
    java_trim(raw)
        .parse()
        .map_err(|_| ConfigError::invalid(key, raw, "Not a number of type INT"))
}

/// Parses a Java `long`: decimal with an optional sign, surrounding whitespace ignored.
///
/// ```
/// use kafkit::config::parse_i64;
/// assert_eq!(parse_i64("max.block.ms", "9223372036854775807")?, i64::MAX);
/// assert!(parse_i64("max.block.ms", "5ms").is_err());
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
pub fn parse_i64(key: &str, raw: &str) -> Result<i64, ConfigError> {
    java_trim(raw)
        .parse()
        .map_err(|_| ConfigError::invalid(key, raw, "Not a number of type LONG"))
}

/// Parses a duration in milliseconds (a Java `long` >= 0). `Long.MAX_VALUE`, Java's "forever",
/// gives a duration of about 292 million years.
///
/// ```
/// use std::time::Duration;
/// use kafkit::config::parse_duration_ms;
/// assert_eq!(parse_duration_ms("linger.ms", "5")?, Duration::from_millis(5));
/// assert!(parse_duration_ms("linger.ms", "-1").is_err());
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
pub fn parse_duration_ms(key: &str, raw: &str) -> Result<Duration, ConfigError> {
    let ms = parse_i64(key, raw)?;
    check_range(key, ms, 0, i64::MAX)?;
    Ok(ms_to_duration(ms))
}

/// Parses a duration in milliseconds where a negative value (Java's `-1`) means "none" or
/// "disabled", as in `connections.max.idle.ms`.
///
/// ```
/// use std::time::Duration;
/// use kafkit::config::parse_optional_duration_ms;
/// assert_eq!(parse_optional_duration_ms("connections.max.idle.ms", "-1")?, None);
/// assert_eq!(
///     parse_optional_duration_ms("connections.max.idle.ms", "540000")?,
///     Some(Duration::from_secs(540))
/// );
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
pub fn parse_optional_duration_ms(key: &str, raw: &str) -> Result<Option<Duration>, ConfigError> {
    let ms = parse_i64(key, raw)?;
    Ok((ms >= 0).then(|| ms_to_duration(ms)))
}

/// A duration in whole milliseconds as Java holds it: sub-millisecond parts are dropped and
/// durations beyond `i64::MAX` ms saturate.
///
/// ```
/// use std::time::Duration;
/// use kafkit::config::duration_to_ms;
/// assert_eq!(duration_to_ms(Duration::from_micros(5_900)), 5);
/// assert_eq!(duration_to_ms(Duration::MAX), i64::MAX);
/// ```
pub fn duration_to_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds as a duration; negative values give zero.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(kafkit::config::ms_to_duration(1500), Duration::from_millis(1500));
/// assert_eq!(kafkit::config::ms_to_duration(-1), Duration::ZERO);
/// ```
pub fn ms_to_duration(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Parses a size in bytes held by a Java `int` (`0..=i32::MAX`), such as `batch.size`.
///
/// ```
/// use kafkit::config::parse_size_i32;
/// assert_eq!(parse_size_i32("batch.size", "16384")?, 16384);
/// assert!(parse_size_i32("batch.size", "-1").is_err());
/// assert!(parse_size_i32("batch.size", "4294967296").is_err());
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
pub fn parse_size_i32(key: &str, raw: &str) -> Result<usize, ConfigError> {
    let n = parse_i32(key, raw)?;
    check_range(key, n.into(), 0, i32::MAX.into())?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Parses a size in bytes held by a Java `long` (`0..=i64::MAX`), such as `buffer.memory`.
///
/// ```
/// use kafkit::config::parse_size_i64;
/// assert_eq!(parse_size_i64("buffer.memory", "33554432")?, 33_554_432);
/// assert!(parse_size_i64("buffer.memory", "-5").is_err());
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
pub fn parse_size_i64(key: &str, raw: &str) -> Result<u64, ConfigError> {
    let n = parse_i64(key, raw)?;
    check_range(key, n, 0, i64::MAX)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Splits a Java list value: trimmed, then split at commas with the whitespace around each
/// comma dropped. An empty value is an empty list; empty items are kept (`"a,,b"` has three),
/// for the caller to reject.
///
/// ```
/// use kafkit::config::parse_list;
/// assert_eq!(parse_list(" a:1 , b:2 "), ["a:1", "b:2"]);
/// assert!(parse_list("  ").is_empty());
/// assert_eq!(parse_list("a,,b"), ["a", "", "b"]);
/// ```
pub fn parse_list(raw: &str) -> Vec<String> {
    let s = java_trim(raw);
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',')
        .map(|item| item.trim_matches(is_java_space).to_owned())
        .collect()
}

/// Parses one of a fixed set of values, case-sensitively as Java's `ValidString` does.
///
/// ```
/// use kafkit::config::parse_choice;
/// assert_eq!(parse_choice("acks", " all ", &["all", "-1", "0", "1"])?, "all");
/// let err = parse_choice("acks", "ALL", &["all", "-1", "0", "1"]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "Invalid value ALL for configuration acks: String must be one of: all, -1, 0, 1"
/// );
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
pub fn parse_choice<'a>(key: &str, raw: &str, choices: &[&'a str]) -> Result<&'a str, ConfigError> {
    let s = java_trim(raw);
    choices.iter().copied().find(|c| *c == s).ok_or_else(|| {
        ConfigError::invalid(
            key,
            s,
            format!("String must be one of: {}", choices.join(", ")),
        )
    })
}

/// The `compression.type` names, in codec id order.
pub const COMPRESSION_NAMES: &[&str] = &["none", "gzip", "snappy", "lz4", "zstd"];

/// Parses a `compression.type` name (case-sensitive, as Java validates it).
///
/// ```
/// use kafkit::config::parse_compression;
/// use kafkit::record::Compression;
/// assert_eq!(parse_compression("compression.type", "zstd")?, Compression::Zstd);
/// assert!(parse_compression("compression.type", "brotli").is_err());
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
pub fn parse_compression(key: &str, raw: &str) -> Result<Compression, ConfigError> {
    let name = parse_choice(key, raw, COMPRESSION_NAMES)?;
    Ok(Compression::ALL
        .into_iter()
        .find(|c| c.name() == name)
        .unwrap_or_default())
}

/// Parses one `bootstrap.servers` entry the way Java's client does: an optional
/// `SCHEME://` prefix, a host (name, IPv4, or IPv6 with or without brackets) and a port.
/// Returns the host (without brackets) and the port. Stricter than Java in two ways: the host
/// must not be empty and the port must not be 0.
///
/// ```
/// use kafkit::config::parse_host_port;
/// assert_eq!(parse_host_port("bootstrap.servers", "kafka-1:9092")?, ("kafka-1".to_owned(), 9092));
/// assert_eq!(parse_host_port("bootstrap.servers", "[::1]:9092")?, ("::1".to_owned(), 9092));
/// assert_eq!(parse_host_port("bootstrap.servers", "PLAINTEXT://b:9093")?, ("b".to_owned(), 9093));
/// assert!(parse_host_port("bootstrap.servers", "kafka-1").is_err());
/// assert!(parse_host_port("bootstrap.servers", "kafka-1:70000").is_err());
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
pub fn parse_host_port(key: &str, entry: &str) -> Result<(String, u16), ConfigError> {
    let invalid_url = || {
        ConfigError::invalid(
            key,
            entry,
            "Invalid url: expected host:port, as kafka-1:9092",
        )
    };
    let rest = match entry.split_once("://") {
        Some((scheme, rest))
            if scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '%' | '.' | '_')) =>
        {
            rest
        }
        _ => entry,
    };
    let (host, port) = rest.rsplit_once(':').ok_or_else(invalid_url)?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_url());
    }
    let host = host.strip_prefix('[').unwrap_or(host);
    let host = host.strip_suffix(']').unwrap_or(host);
    let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '%' | '.' | '_' | ':');
    if host.is_empty() || !host.chars().all(host_char) {
        return Err(invalid_url());
    }
    match port.parse::<u16>() {
        Ok(port) if port != 0 => Ok((host.to_owned(), port)),
        _ => Err(ConfigError::invalid(
            key,
            entry,
            "Invalid port: expected 1 to 65535",
        )),
    }
}

/// Checks a `bootstrap.servers` list (non-empty, no empty or duplicate entries, each a valid
/// `host:port`) and returns it normalised to `host:port`, IPv6 hosts in brackets.
pub(crate) fn check_host_port_list(
    key: &str,
    entries: &[String],
) -> Result<Vec<String>, ConfigError> {
    let value = entries.join(",");
    if entries.is_empty() {
        return Err(ConfigError::invalid(
            key,
            value,
            "must not be empty; expected a list of host:port",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        if entry.is_empty() {
            return Err(ConfigError::invalid(key, value, "values must not be empty"));
        }
        if entries[..i].contains(entry) {
            return Err(ConfigError::invalid(
                key,
                value,
                "values must not be duplicated",
            ));
        }
        let (host, port) = parse_host_port(key, entry)?;
        out.push(if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        });
    }
    Ok(out)
}

/// Parses a `bootstrap.servers` value: a non-empty comma-separated list of distinct
/// `host:port` entries (see [`parse_host_port`]), returned normalised to `host:port` with IPv6
/// hosts in brackets, ready for [`crate::net::ConnectionPool::new`].
///
/// ```
/// use kafkit::config::parse_bootstrap_servers;
/// assert_eq!(
///     parse_bootstrap_servers("bootstrap.servers", "SSL://a:9093, ::1:9092")?,
///     ["a:9093", "[::1]:9092"]
/// );
/// assert!(parse_bootstrap_servers("bootstrap.servers", "a:1,a:1").is_err());
/// assert!(parse_bootstrap_servers("bootstrap.servers", "").is_err());
/// # Ok::<(), kafkit::config::ConfigError>(())
/// ```
pub fn parse_bootstrap_servers(key: &str, raw: &str) -> Result<Vec<String>, ConfigError> {
    check_host_port_list(key, &parse_list(raw))
}

// ---- Suggestions and docs -------------------------------------------------------------------

/// The candidate nearest to `key`, if one is close enough to be a likely misspelling: the
/// smallest Damerau-Levenshtein distance (ignoring ASCII case; a key that is a candidate cut
/// at a dot counts as one edit), allowed up to a quarter of the key's length (at least 2);
/// failing that, a candidate that contains the key or is contained
/// in it (at least 4 characters). Ties go to the earlier candidate.
///
/// ```
/// use kafkit::config::nearest_key;
/// let keys = ["linger.ms", "batch.size", "acks"];
/// assert_eq!(nearest_key("lingr.ms", keys), Some("linger.ms"));
/// assert_eq!(nearest_key("batch_size", keys), Some("batch.size"));
/// assert_eq!(nearest_key("linger", keys), Some("linger.ms"));
/// assert_eq!(nearest_key("colour", keys), None);
/// ```
pub fn nearest_key<'a>(
    key: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    const MAX_KEY_CHARS: usize = 256;
    let lower: Vec<char> = key.to_ascii_lowercase().chars().collect();
    if lower.is_empty() || lower.len() > MAX_KEY_CHARS {
        return None;
    }
    let limit = (lower.len() / 4).max(2);
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    let mut best: Option<(usize, &'a str)> = None;
    let key_lower = key.to_ascii_lowercase();
    for &candidate in &candidates {
        let candidate_lower = candidate.to_ascii_lowercase();
        let c: Vec<char> = candidate_lower.chars().collect();
        let mut d = damerau_levenshtein(&lower, &c);
        // A key that stops at a dot of a candidate ("linger" for "linger.ms") is one edit.
        if candidate_lower
            .strip_prefix(&key_lower)
            .is_some_and(|rest| rest.starts_with('.'))
        {
            d = d.min(1);
        }
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    if let Some((_, candidate)) = best {
        return Some(candidate);
    }
    if lower.len() < 4 {
        return None;
    }
    candidates
        .iter()
        .copied()
        .filter(|c| {
            let c = c.to_ascii_lowercase();
            c.contains(&key_lower) || (c.len() >= 4 && key_lower.contains(&c))
        })
        .min_by_key(|c| c.len().abs_diff(key.len()))
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and transpositions
/// of adjacent characters each cost 1.
fn damerau_levenshtein(a: &[char], b: &[char]) -> usize {
    let width = b.len() + 1;
    let mut prev2 = vec![0; width];
    let mut prev: Vec<usize> = (0..width).collect();
    let mut cur = vec![0; width];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// A Markdown table of properties (key, type, default, valid values, description), one row
/// per line, for documentation.
///
/// ```
/// use kafkit::producer::config::ProducerConfig;
///
/// let table = kafkit::config::markdown_table(ProducerConfig::properties());
/// assert!(table.starts_with("| Key | Type | Default | Valid values | Description |"));
/// assert!(table.contains("| `linger.ms` | long | `5` | [0,...] |"));
/// ```
pub fn markdown_table<'a>(defs: impl IntoIterator<Item = &'a PropertyDef>) -> String {
    let mut out = String::from(
        "| Key | Type | Default | Valid values | Description |\n|---|---|---|---|---|\n",
    );
    for def in defs {
        let default = match def.default {
            PropertyDefault::Required => "(required)".to_owned(),
            other => format!("`{other}`"),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            def.name,
            def.ty.java_type(),
            default,
            def.ty.valid_values(),
            def.doc
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(err: ConfigError) -> String {
        match err {
            ConfigError::InvalidValue { reason, .. } => reason,
            other => panic!("expected InvalidValue, got {other:?}"),
        }
    }

    #[test]
    fn booleans_are_true_or_false_in_any_case() {
        for (raw, want) in [
            ("true", true),
            ("TRUE", true),
            (" True\t", true),
            ("false", false),
            ("fAlSe", false),
        ] {
            assert_eq!(parse_bool("k", raw).unwrap(), want, "{raw:?}");
        }
        for raw in ["", "1", "yes", "t", "truee"] {
            let err = parse_bool("k", raw).unwrap_err();
            assert_eq!(reason(err), "Expected value to be either true or false");
        }
    }

    #[test]
    fn integers_parse_like_java() {
        assert_eq!(parse_i32("k", "5").unwrap(), 5);
        assert_eq!(parse_i32("k", "+5").unwrap(), 5);
        assert_eq!(parse_i32("k", " -1 ").unwrap(), -1);
        assert_eq!(parse_i32("k", "2147483647").unwrap(), i32::MAX);
        assert_eq!(parse_i32("k", "-2147483648").unwrap(), i32::MIN);
        for raw in ["", "2147483648", "5ms", "1_000", "0x10", "1.5", "- 1"] {
            let err = parse_i32("k", raw).unwrap_err();
            assert_eq!(reason(err), "Not a number of type INT", "{raw:?}");
        }
        assert_eq!(parse_i64("k", "9223372036854775807").unwrap(), i64::MAX);
        assert_eq!(
            reason(parse_i64("k", "9223372036854775808").unwrap_err()),
            "Not a number of type LONG"
        );
        let err = parse_i32("retries", "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value x for configuration retries: Not a number of type INT"
        );
    }

    #[test]
    fn durations_are_milliseconds_with_java_conventions() {
        assert_eq!(
            parse_duration_ms("k", "0").unwrap(),
            Duration::ZERO,
            "zero is allowed"
        );
        assert_eq!(
            parse_duration_ms("k", "120000").unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(
            parse_duration_ms("k", &i64::MAX.to_string()).unwrap(),
            Duration::from_millis(i64::MAX as u64)
        );
        assert_eq!(
            reason(parse_duration_ms("k", "-1").unwrap_err()),
            "Value must be at least 0"
        );
        assert_eq!(parse_optional_duration_ms("k", "-1").unwrap(), None);
        assert_eq!(parse_optional_duration_ms("k", "-100").unwrap(), None);
        assert_eq!(
            parse_optional_duration_ms("k", "0").unwrap(),
            Some(Duration::ZERO)
        );
        assert!(parse_optional_duration_ms("k", "soon").is_err());
        assert_eq!(duration_to_ms(Duration::from_nanos(999_999)), 0);
        assert_eq!(duration_to_ms(Duration::from_millis(7)), 7);
        assert_eq!(duration_to_ms(Duration::MAX), i64::MAX);
        assert_eq!(ms_to_duration(i64::MIN), Duration::ZERO);
    }

    #[test]
    fn sizes_fit_their_java_width() {
        assert_eq!(parse_size_i32("k", "0").unwrap(), 0);
        assert_eq!(
            parse_size_i32("k", "2147483647").unwrap(),
            i32::MAX as usize
        );
        assert_eq!(
            reason(parse_size_i32("k", "-1").unwrap_err()),
            "Value must be at least 0"
        );
        assert_eq!(
            reason(parse_size_i32("k", "2147483648").unwrap_err()),
            "Not a number of type INT"
        );
        assert_eq!(parse_size_i64("k", "2147483648").unwrap(), 2_147_483_648);
        assert!(parse_size_i64("k", "-1").is_err());
    }

    #[test]
    fn lists_split_at_commas_like_java() {
        assert!(parse_list("").is_empty());
        assert!(parse_list(" \t ").is_empty());
        assert_eq!(parse_list("a"), ["a"]);
        assert_eq!(parse_list(" a ,\tb\n, c "), ["a", "b", "c"]);
        assert_eq!(parse_list("a,,b"), ["a", "", "b"]);
        assert_eq!(parse_list("a,"), ["a", ""]);
        assert_eq!(parse_list(",a"), ["", "a"]);
        assert_eq!(parse_list("a b,c"), ["a b", "c"], "inner spaces stay");
    }

    #[test]
    fn choices_are_case_sensitive_and_trimmed() {
        let acks = ["all", "-1", "0", "1"];
        assert_eq!(parse_choice("acks", "-1", &acks).unwrap(), "-1");
        assert_eq!(parse_choice("acks", " 1 ", &acks).unwrap(), "1");
        for raw in ["All", "2", "", "one"] {
            assert_eq!(
                reason(parse_choice("acks", raw, &acks).unwrap_err()),
                "String must be one of: all, -1, 0, 1"
            );
        }
        for codec in Compression::ALL {
            assert_eq!(parse_compression("c", codec.name()).unwrap(), codec);
        }
        let err = parse_compression("compression.type", "GZIP").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value GZIP for configuration compression.type: \
             String must be one of: none, gzip, snappy, lz4, zstd"
        );
    }

    #[test]
    fn host_port_entries_follow_javas_pattern() {
        let ok = [
            ("localhost:9092", "localhost", 9092),
            ("10.0.0.1:1", "10.0.0.1", 1),
            (
                "kafka_1.example-2.com:65535",
                "kafka_1.example-2.com",
                65535,
            ),
            ("PLAINTEXT://broker:9092", "broker", 9092),
            ("SASL_SSL://broker:9093", "broker", 9093),
            ("[::1]:9092", "::1", 9092),
            ("::1:9092", "::1", 9092),
            ("[fe80::1%eth0]:9092", "fe80::1%eth0", 9092),
        ];
        for (entry, host, port) in ok {
            assert_eq!(
                parse_host_port("b", entry).unwrap(),
                (host.to_string(), port),
                "{entry}"
            );
        }
        for entry in [
            "localhost",
            "localhost:",
            ":9092",
            "[]:9092",
            "host:+1",
            "host:-1",
            "host:port",
            "a b:9092",
            "http//x:1",
            "x://y://z:1",
            "host:9092/",
        ] {
            let err = parse_host_port("bootstrap.servers", entry).unwrap_err();
            assert!(reason(err).starts_with("Invalid url"), "{entry}");
        }
        for entry in ["host:0", "host:65536", "host:99999999999999999999"] {
            let err = parse_host_port("bootstrap.servers", entry).unwrap_err();
            assert!(reason(err).starts_with("Invalid port"), "{entry}");
        }
    }

    #[test]
    fn bootstrap_lists_are_non_empty_distinct_and_normalised() {
        assert_eq!(
            parse_bootstrap_servers("b", "a:1, PLAINTEXT://b:2,fe80::1:3").unwrap(),
            ["a:1", "b:2", "[fe80::1]:3"]
        );
        assert_eq!(
            reason(parse_bootstrap_servers("b", " ").unwrap_err()),
            "must not be empty; expected a list of host:port"
        );
        assert_eq!(
            reason(parse_bootstrap_servers("b", "a:1,,b:2").unwrap_err()),
            "values must not be empty"
        );
        assert_eq!(
            reason(parse_bootstrap_servers("b", "a:1,b:2,a:1").unwrap_err()),
            "values must not be duplicated"
        );
        assert!(parse_bootstrap_servers("b", "a:1,b").is_err());
    }

    #[test]
    fn suggestions_find_misspellings_only() {
        let keys = [
            "bootstrap.servers",
            "linger.ms",
            "acks",
            "retries",
            "retry.backoff.ms",
            "retry.backoff.max.ms",
            "max.in.flight.requests.per.connection",
            "request.timeout.ms",
        ];
        let cases = [
            ("lingr.ms", Some("linger.ms")),
            ("linegr.ms", Some("linger.ms")), // transposition
            ("LINGER.MS", Some("linger.ms")),
            ("linger_ms", Some("linger.ms")),
            ("ack", Some("acks")),
            ("retrys", Some("retries")),
            ("retry.backof.ms", Some("retry.backoff.ms")),
            ("retry.backoff.max", Some("retry.backoff.max.ms")),
            ("bootstrap.server", Some("bootstrap.servers")),
            (
                "max.inflight.requests.per.connection",
                Some("max.in.flight.requests.per.connection"),
            ),
            (
                "max.in.flight",
                Some("max.in.flight.requests.per.connection"),
            ),
            ("producer.linger.ms", Some("linger.ms")),
            ("zzz", None),
            ("colour.scheme", None),
            ("", None),
        ];
        for (key, want) in cases {
            assert_eq!(nearest_key(key, keys), want, "{key}");
        }
        let huge = "x".repeat(100_000);
        assert_eq!(nearest_key(&huge, keys), None);
    }

    #[test]
    fn distance_counts_each_edit_once() {
        let d = |a: &str, b: &str| {
            damerau_levenshtein(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
            )
        };
        assert_eq!(d("", ""), 0);
        assert_eq!(d("abc", ""), 3);
        assert_eq!(d("", "abc"), 3);
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("ab", "ba"), 1);
        assert_eq!(d("acks", "acks"), 0);
        assert_eq!(
            d("ca", "abc"),
            3,
            "OSA does not edit a transposed pair again"
        );
    }

    #[test]
    fn errors_read_like_java() {
        let unknown = ConfigError::UnknownKey {
            key: "x".into(),
            suggestion: None,
        };
        assert_eq!(unknown.to_string(), "unknown configuration `x`");
        let missing = ConfigError::Missing {
            key: "bootstrap.servers".into(),
        };
        assert_eq!(
            missing.to_string(),
            "Missing required configuration \"bootstrap.servers\" which has no default value."
        );
        let unsupported = ConfigError::Unsupported {
            key: "ssl.keystore.location".into(),
            reason: "TLS is not supported yet".into(),
        };
        assert_eq!(
            unsupported.to_string(),
            "configuration `ssl.keystore.location` is not supported by kafkit: \
             TLS is not supported yet"
        );
    }

    #[test]
    fn property_types_describe_their_ranges_like_javas_docs() {
        let cases = [
            (
                PropertyType::Int {
                    min: 0,
                    max: i32::MAX,
                },
                "[0,...]",
            ),
            (PropertyType::Int { min: 1, max: 17 }, "[1,...,17]"),
            (
                PropertyType::Int {
                    min: i32::MIN,
                    max: 0,
                },
                "[...,0]",
            ),
            (
                PropertyType::Int {
                    min: i32::MIN,
                    max: i32::MAX,
                },
                "",
            ),
            (
                PropertyType::Long {
                    min: 5000,
                    max: i64::MAX,
                },
                "[5000,...]",
            ),
            (PropertyType::Boolean, ""),
            (PropertyType::NonEmptyString, "non-empty string"),
        ];
        for (ty, want) in cases {
            assert_eq!(ty.valid_values(), want, "{ty:?}");
        }
    }

    /// A small table exercising the generic machinery the way consumer/admin configs will.
    #[derive(Default, Clone, PartialEq, Eq, Debug)]
    struct Sample {
        servers: Vec<String>,
        level: i64,
        wait_ms: i64,
        on: bool,
        name: String,
        id: Option<String>,
        codec: Compression,
    }

    static SAMPLE: &[Property<Sample>] = &[
        property!(
            "servers",
            servers,
            PropertyType::HostPortList,
            PropertyDefault::Required,
            "Where to start."
        ),
        property!(
            "level",
            level,
            PropertyType::IntOr {
                min: 1,
                max: 9,
                or: -1
            },
            PropertyDefault::Value("-1"),
            "A level."
        ),
        property!(
            "wait.ms",
            wait_ms,
            PropertyType::Long {
                min: 0,
                max: i64::MAX
            },
            PropertyDefault::Value("100"),
            "A wait."
        ),
        property!(
            "on",
            on,
            PropertyType::Boolean,
            PropertyDefault::Value("true"),
            "A switch."
        ),
        property!(
            "name",
            name,
            PropertyType::String,
            PropertyDefault::Value(""),
            "A name."
        ),
        property!(
            "id",
            id,
            PropertyType::NonEmptyString,
            PropertyDefault::Null,
            "An id."
        ),
        property!(
            "codec",
            codec,
            PropertyType::Choice(COMPRESSION_NAMES),
            PropertyDefault::Value("lz4"),
            "A codec."
        ),
    ];

    impl PropertyTable for Sample {
        fn properties() -> &'static [Property<Self>] {
            SAMPLE
        }

        fn unsupported(key: &str) -> Option<&'static str> {
            (key == "old.key").then_some("removed")
        }
    }

    #[test]
    fn a_property_table_gives_defaults_set_get_and_checks() {
        let mut set = PropertySet::<Sample>::with_defaults();
        assert_eq!(set.values().level, -1);
        assert_eq!(set.values().wait_ms, 100);
        assert!(set.values().on);
        assert_eq!(set.values().codec, Compression::Lz4);
        assert_eq!(set.values().id, None);
        assert_eq!(set.get("id").unwrap(), "");
        assert_eq!(set.get("name").unwrap(), "");
        assert!(!set.is_explicit("wait.ms"));
        assert_eq!(
            set.validate(),
            Err(ConfigError::Missing {
                key: "servers".into()
            })
        );

        set.set("servers", "a:1, b:2").unwrap();
        set.set("level", " 9 ").unwrap();
        set.set("on", "FALSE").unwrap();
        set.set("id", "tx-1").unwrap();
        assert!(set.is_explicit("level"));
        assert_eq!(set.get("servers").unwrap(), "a:1,b:2");
        assert_eq!(set.get("level").unwrap(), "9");
        assert_eq!(set.get("on").unwrap(), "false");
        assert_eq!(set.get("id").unwrap(), "tx-1");
        assert_eq!(set.validate(), Ok(()));

        let err = set.set("level", "0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid value 0 for configuration level: Value must be between 1 and 9 or equal to -1"
        );
        assert_eq!(
            set.get("level").unwrap(),
            "9",
            "a failed set changes nothing"
        );
        assert!(set.set("id", "  ").is_err());
        assert!(set.set("servers", "a").is_err());
        assert!(set.set("wait.ms", "-1").is_err());
        assert_eq!(
            set.set("wiat.ms", "1"),
            Err(ConfigError::UnknownKey {
                key: "wiat.ms".into(),
                suggestion: Some("wait.ms".into())
            })
        );
        assert!(matches!(
            set.get("old.key"),
            Err(ConfigError::Unsupported { .. })
        ));

        // Typed updates mark the key explicit and are range-checked by validate().
        set.update("wait.ms", |s| s.wait_ms = -5);
        assert_eq!(
            set.validate().unwrap_err().to_string(),
            "Invalid value -5 for configuration wait.ms: Value must be at least 0"
        );
        let debug = format!("{set:?}");
        assert!(debug.contains("\"wait.ms\": \"-5\""), "{debug}");
        assert_eq!(
            PropertySet::<Sample>::known_keys().collect::<Vec<_>>(),
            ["servers", "level", "wait.ms", "on", "name", "id", "codec"]
        );
    }

    #[test]
    fn markdown_rows_show_type_default_and_range() {
        let table = markdown_table(PropertySet::<Sample>::defs());
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows.len(), 2 + SAMPLE.len());
        assert_eq!(
            rows[2],
            "| `servers` | list | (required) | non-empty list of host:port | Where to start. |"
        );
        assert_eq!(
            rows[3],
            "| `level` | int | `-1` | [1,...,9] or -1 | A level. |"
        );
        assert_eq!(rows[6], "| `name` | string | `\"\"` |  | A name. |");
        assert_eq!(
            rows[7],
            "| `id` | string | `null` | non-empty string | An id. |"
        );
    }
}
