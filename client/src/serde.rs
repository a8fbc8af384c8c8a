//! Serializers and deserializers: how a typed key or value becomes the bytes of a record and back.
//!
//! Owns the [`Serializer`] and [`Deserializer`] traits, the built-in wire formats of Java's
//! `org.apache.kafka.common.serialization` package ([`DefaultSerde`]) and, behind the `json`
//! feature, serde JSON (`Json`, `JsonSerde`). It must not touch batches, partitions,
//! configuration or I/O: the producer calls a serializer, then hands the bytes to
//! [`crate::record`].
//!
//! # Shape
//!
//! Java's `Serializer<T>.serialize(topic, headers, data)` returns a fresh `byte[]` per call. Here
//! [`Serializer::serialize_into`] appends to a caller-owned `Vec<u8>` instead, so the producer
//! can reuse one scratch buffer for every record and serialize without allocating;
//! [`Serializer::serialize`] is the convenience that returns [`Bytes`]. A null key or value is
//! `None` on the record and never reaches the serializer; a serializer can still produce Kafka
//! null for a present value ([`Serialized::Null`], as Java's `VoidSerializer` does).
//! [`Deserializer::deserialize`] takes `Option<&[u8]>` (`None` is null) and returns
//! `Option<T>`; [`Deserializer::deserialize_bytes`] takes [`Bytes`] so the `Bytes`
//! deserializer can hand out the buffer without copying it.
//!
//! Headers are not passed to serializers (Java's header-taking overloads default to the plain
//! ones, and every built-in ignores them).
//!
//! # Built-in formats ([`DefaultSerde`])
//!
//! | Rust type | Java class | bytes |
//! |---|---|---|
//! | `String`, `str`, `&str` | `StringSerializer` (UTF-8) | the UTF-8 bytes |
//! | `Vec<u8>`, `[u8]`, `&[u8]`, [`Bytes`] | `ByteArraySerializer`, `BytesSerializer` | as is |
//! | `i16`, `i32`, `i64` | `ShortSerializer`, `IntegerSerializer`, `LongSerializer` | big-endian two's complement |
//! | `f32`, `f64` | `FloatSerializer`, `DoubleSerializer` | IEEE 754 bits (raw, NaN payload kept), big-endian |
//! | `bool` | `BooleanSerializer` | one byte, `0x01` / `0x00` |
//! | `()` | `VoidSerializer` | always null |
//!
//! Deserializers mirror them; a fixed-size type given the wrong number of bytes is
//! [`SerdeError::WrongSize`] (Java's `SerializationException`). Unlike Java's lossy
//! `StringDeserializer`, invalid UTF-8 is an error ([`SerdeError::InvalidUtf8`]), since a Rust
//! `String` cannot hold it.
//!
//! ```
//! use kafkit::serde::{DefaultSerde, Deserializer, Serializer};
//!
//! let mut scratch = Vec::new();
//! DefaultSerde.serialize_into("orders", &42i32, &mut scratch)?;
//! DefaultSerde.serialize_into("orders", "id-7", &mut scratch)?;
//! assert_eq!(scratch, b"\0\0\0\x2aid-7");
//!
//! let n: Option<i32> = DefaultSerde.deserialize("orders", Some(&scratch[..4]))?;
//! assert_eq!(n, Some(42));
//! # Ok::<(), kafkit::serde::SerdeError>(())
//! ```

use std::sync::Arc;

use bytes::Bytes;

/// Why a key or value could not be serialized or deserialized.
///
/// ```
/// use kafkit::serde::{DefaultSerde, Deserializer, SerdeError};
///
/// let err = Deserializer::<i32>::deserialize(&DefaultSerde, "t", Some(&[0, 1][..])).unwrap_err();
/// assert!(matches!(err, SerdeError::WrongSize { expected: 4, actual: 2, .. }));
/// ```
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum SerdeError {
    /// A fixed-size type got the wrong number of bytes (Java: "Size of data received by
    /// IntegerDeserializer is not 4").
    #[error(
        "size of data received by the {type_name} deserializer is not {expected} (got {actual} bytes)"
    )]
    WrongSize {
        /// The Rust type being deserialized.
        type_name: &'static str,
        /// The size that type needs.
        expected: usize,
        /// The size received.
        actual: usize,
    },
    /// String data that is not valid UTF-8.
    #[error("data is not valid UTF-8: {0}")]
    InvalidUtf8(#[from] std::str::Utf8Error),
    /// A boolean byte other than `0x00` or `0x01`.
    #[error("unexpected byte {0:#04x} for a boolean (expected 0x00 or 0x01)")]
    InvalidBool(u8),
    /// Non-null data given to the `()` deserializer (Java's `VoidDeserializer`).
    #[error("data should be null for a void deserializer, got {0} bytes")]
    NotNull(usize),
    /// JSON that could not be written or read.
    #[cfg(feature = "json")]
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A failure in a user-defined serializer or deserializer.
    #[error("{0}")]
    Custom(Box<dyn std::error::Error + Send + Sync>),
}

impl SerdeError {
    /// Wrap the error of a user-defined serializer or deserializer.
    ///
    /// ```
    /// use kafkit::serde::SerdeError;
    /// let err = SerdeError::custom("schema 7 unknown");
    /// assert_eq!(err.to_string(), "schema 7 unknown");
    /// ```
    pub fn custom(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        SerdeError::Custom(error.into())
    }
}

/// What a serializer produced.
///
/// ```
/// use kafkit::serde::{DefaultSerde, Serialized, Serializer};
/// let mut out = Vec::new();
/// assert_eq!(DefaultSerde.serialize_into("t", &(), &mut out)?, Serialized::Null);
/// assert_eq!(DefaultSerde.serialize_into("t", "", &mut out)?, Serialized::Value);
/// # Ok::<(), kafkit::serde::SerdeError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Serialized {
    /// Kafka null (length -1 on the wire); nothing was appended.
    Null,
    /// The bytes appended to the buffer (possibly none: an empty, non-null value).
    Value,
}

/// Turns a `T` into the bytes of a record key or value (Java's `Serializer<T>`).
///
/// Implementations are plain values (often unit structs) that the producer keeps for its
/// lifetime; implement it for your own formats, or implement `Serializer<YourType>` for
/// [`DefaultSerde`] (allowed by the orphan rules) to extend the default.
///
/// ```
/// use kafkit::serde::{SerdeError, Serialized, Serializer};
///
/// /// Writes a temperature as its decimal text.
/// struct Celsius;
/// impl Serializer<f64> for Celsius {
///     fn serialize_into(&self, _topic: &str, data: &f64, out: &mut Vec<u8>)
///         -> Result<Serialized, SerdeError> {
///         out.extend_from_slice(format!("{data:.1}").as_bytes());
///         Ok(Serialized::Value)
///     }
/// }
///
/// assert_eq!(Celsius.serialize("temps", &21.25)?.as_deref(), Some(&b"21.2"[..]));
/// # Ok::<(), SerdeError>(())
/// ```
pub trait Serializer<T: ?Sized> {
    /// Append the serialized form of `data` to `out`, or return [`Serialized::Null`] having
    /// appended nothing. Bytes already in `out` must be left alone; on error `out` should be as
    /// it was (the built-ins guarantee it).
    fn serialize_into(
        &self,
        topic: &str,
        data: &T,
        out: &mut Vec<u8>,
    ) -> Result<Serialized, SerdeError>;

    /// The serialized form of `data` as its own buffer; `None` is Kafka null.
    fn serialize(&self, topic: &str, data: &T) -> Result<Option<Bytes>, SerdeError> {
        let mut out = Vec::new();
        Ok(match self.serialize_into(topic, data, &mut out)? {
            Serialized::Null => None,
            Serialized::Value => Some(Bytes::from(out)),
        })
    }
}

/// Turns the bytes of a record key or value back into a `T` (Java's `Deserializer<T>`).
///
/// ```
/// use bytes::Bytes;
/// use kafkit::serde::{DefaultSerde, Deserializer};
///
/// let name: Option<String> = DefaultSerde.deserialize("users", Some(b"ada"))?;
/// assert_eq!(name.as_deref(), Some("ada"));
///
/// // Null stays null.
/// let none: Option<String> = DefaultSerde.deserialize("users", None)?;
/// assert_eq!(none, None);
///
/// // The Bytes deserializer shares the buffer instead of copying it.
/// let raw = Bytes::from_static(b"payload");
/// let same: Option<Bytes> = DefaultSerde.deserialize_bytes("users", Some(&raw))?;
/// assert_eq!(same.unwrap().as_ptr(), raw.as_ptr());
/// # Ok::<(), kafkit::serde::SerdeError>(())
/// ```
pub trait Deserializer<T> {
    /// Decode `data` (`None` is Kafka null). Built-ins map null to `Ok(None)`.
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Option<T>, SerdeError>;

    /// Decode data held in a [`Bytes`]; the default calls [`deserialize`](Self::deserialize).
    /// Override it when `T` can share the buffer (as `Bytes` does).
    fn deserialize_bytes(
        &self,
        topic: &str,
        data: Option<&Bytes>,
    ) -> Result<Option<T>, SerdeError> {
        self.deserialize(topic, data.map(|b| &b[..]))
    }
}

macro_rules! forward_serde_impls {
    ($($ptr:ty),*) => {$(
        impl<T: ?Sized, S: Serializer<T> + ?Sized> Serializer<T> for $ptr {
            fn serialize_into(
                &self,
                topic: &str,
                data: &T,
                out: &mut Vec<u8>,
            ) -> Result<Serialized, SerdeError> {
                (**self).serialize_into(topic, data, out)
            }
            fn serialize(&self, topic: &str, data: &T) -> Result<Option<Bytes>, SerdeError> {
                (**self).serialize(topic, data)
            }
        }

        impl<T, S: Deserializer<T> + ?Sized> Deserializer<T> for $ptr {
            fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Option<T>, SerdeError> {
                (**self).deserialize(topic, data)
            }
            fn deserialize_bytes(
                &self,
                topic: &str,
                data: Option<&Bytes>,
            ) -> Result<Option<T>, SerdeError> {
                (**self).deserialize_bytes(topic, data)
            }
        }
    )*};
}

forward_serde_impls!(&S, Box<S>, Arc<S>);

/// The built-in formats of Java's serializers, for the standard Rust types (see the
/// [module table](self#built-in-formats-defaultserde)).
///
/// One value serves every type, so a typed producer of `String` keys and `i64` values needs
/// no configuration; references (`&str`, `&[u8]`, `&T`) serialize as what they point to.
///
/// ```
/// use kafkit::serde::{DefaultSerde, Serializer};
///
/// let key = DefaultSerde.serialize("t", &7i64)?;
/// assert_eq!(key.as_deref(), Some(&[0, 0, 0, 0, 0, 0, 0, 7][..]));
/// let value = DefaultSerde.serialize("t", &1.0f32)?;
/// assert_eq!(value.as_deref(), Some(&[0x3f, 0x80, 0, 0][..]));
/// assert_eq!(DefaultSerde.serialize("t", &())?, None); // VoidSerializer: always null
/// # Ok::<(), kafkit::serde::SerdeError>(())
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct DefaultSerde;

impl<T: ?Sized> Serializer<&T> for DefaultSerde
where
    DefaultSerde: Serializer<T>,
{
    fn serialize_into(
        &self,
        topic: &str,
        data: &&T,
        out: &mut Vec<u8>,
    ) -> Result<Serialized, SerdeError> {
        self.serialize_into(topic, *data, out)
    }
    fn serialize(&self, topic: &str, data: &&T) -> Result<Option<Bytes>, SerdeError> {
        self.serialize(topic, *data)
    }
}

macro_rules! raw_bytes_serializer {
    ($($ty:ty),*) => {$(
        impl Serializer<$ty> for DefaultSerde {
            fn serialize_into(
                &self,
                _topic: &str,
                data: &$ty,
                out: &mut Vec<u8>,
            ) -> Result<Serialized, SerdeError> {
                let bytes: &[u8] = data.as_ref();
                out.extend_from_slice(bytes);
                Ok(Serialized::Value)
            }
        }
    )*};
}

raw_bytes_serializer!(str, String, [u8], Vec<u8>);

impl Serializer<Bytes> for DefaultSerde {
    fn serialize_into(
        &self,
        _topic: &str,
        data: &Bytes,
        out: &mut Vec<u8>,
    ) -> Result<Serialized, SerdeError> {
        out.extend_from_slice(data);
        Ok(Serialized::Value)
    }
    /// Shares `data` instead of copying it.
    fn serialize(&self, _topic: &str, data: &Bytes) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(data.clone()))
    }
}

impl Serializer<()> for DefaultSerde {
    fn serialize_into(
        &self,
        _topic: &str,
        _data: &(),
        _out: &mut Vec<u8>,
    ) -> Result<Serialized, SerdeError> {
        Ok(Serialized::Null)
    }
}

impl Serializer<bool> for DefaultSerde {
    fn serialize_into(
        &self,
        _topic: &str,
        data: &bool,
        out: &mut Vec<u8>,
    ) -> Result<Serialized, SerdeError> {
        out.push(u8::from(*data));
        Ok(Serialized::Value)
    }
}

macro_rules! big_endian_serde {
    ($($ty:ty),*) => {$(
        impl Serializer<$ty> for DefaultSerde {
            fn serialize_into(
                &self,
                _topic: &str,
                data: &$ty,
                out: &mut Vec<u8>,
            ) -> Result<Serialized, SerdeError> {
                out.extend_from_slice(&data.to_be_bytes());
                Ok(Serialized::Value)
            }
        }

        impl Deserializer<$ty> for DefaultSerde {
            fn deserialize(
                &self,
                _topic: &str,
                data: Option<&[u8]>,
            ) -> Result<Option<$ty>, SerdeError> {
                let Some(data) = data else { return Ok(None) };
                let array = <[u8; size_of::<$ty>()]>::try_from(data).map_err(|_| {
                    SerdeError::WrongSize {
                        type_name: stringify!($ty),
                        expected: size_of::<$ty>(),
                        actual: data.len(),
                    }
                })?;
                Ok(Some(<$ty>::from_be_bytes(array)))
            }
        }
    )*};
}

big_endian_serde!(i16, i32, i64, f32, f64);

impl Deserializer<String> for DefaultSerde {
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<String>, SerdeError> {
        data.map(|d| Ok(std::str::from_utf8(d)?.to_owned()))
            .transpose()
    }
}

impl Deserializer<Vec<u8>> for DefaultSerde {
    fn deserialize(
        &self,
        _topic: &str,
        data: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, SerdeError> {
        Ok(data.map(<[u8]>::to_vec))
    }
}

impl Deserializer<Bytes> for DefaultSerde {
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<Bytes>, SerdeError> {
        Ok(data.map(Bytes::copy_from_slice))
    }
    /// Shares the buffer instead of copying it.
    fn deserialize_bytes(
        &self,
        _topic: &str,
        data: Option<&Bytes>,
    ) -> Result<Option<Bytes>, SerdeError> {
        Ok(data.cloned())
    }
}

impl Deserializer<()> for DefaultSerde {
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<()>, SerdeError> {
        match data {
            None => Ok(None),
            Some(d) => Err(SerdeError::NotNull(d.len())),
        }
    }
}

impl Deserializer<bool> for DefaultSerde {
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<bool>, SerdeError> {
        match data {
            None => Ok(None),
            Some([0]) => Ok(Some(false)),
            Some([1]) => Ok(Some(true)),
            Some([other]) => Err(SerdeError::InvalidBool(*other)),
            Some(d) => Err(SerdeError::WrongSize {
                type_name: "bool",
                expected: 1,
                actual: d.len(),
            }),
        }
    }
}

#[cfg(feature = "json")]
pub use json::{Json, JsonSerde};

#[cfg(feature = "json")]
mod json {
    use super::{DefaultSerde, Deserializer, SerdeError, Serialized, Serializer};

    /// A value carried as JSON (serde), for use with [`DefaultSerde`]: a typed producer of
    /// `Json<Order>` values writes each order as JSON text (feature `json`).
    ///
    /// ```
    /// use kafkit::serde::{DefaultSerde, Deserializer, Json, Serializer};
    ///
    /// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    /// struct Order { id: u32, item: String }
    ///
    /// let order = Json(Order { id: 7, item: "tea".into() });
    /// let bytes = DefaultSerde.serialize("orders", &order)?.unwrap();
    /// assert_eq!(&bytes[..], br#"{"id":7,"item":"tea"}"#);
    ///
    /// let back: Option<Json<Order>> = DefaultSerde.deserialize("orders", Some(&bytes[..]))?;
    /// assert_eq!(back, Some(order));
    /// # Ok::<(), kafkit::serde::SerdeError>(())
    /// ```
    #[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct Json<T>(pub T);

    impl<T> Json<T> {
        /// The wrapped value.
        ///
        /// ```
        /// assert_eq!(kafkit::serde::Json(3).into_inner(), 3);
        /// ```
        pub fn into_inner(self) -> T {
            self.0
        }
    }

    impl<T> From<T> for Json<T> {
        fn from(value: T) -> Self {
            Json(value)
        }
    }

    impl<T> std::ops::Deref for Json<T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.0
        }
    }

    impl<T> std::ops::DerefMut for Json<T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.0
        }
    }

    /// Serde JSON for any `T: Serialize` / `DeserializeOwned`, without the [`Json`] wrapper
    /// (feature `json`). Null data deserializes to `None`; the JSON text `null` is a value.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use kafkit::serde::{Deserializer, JsonSerde, Serializer};
    ///
    /// let tags = BTreeMap::from([("env", "prod")]);
    /// let bytes = JsonSerde.serialize("t", &tags)?.unwrap();
    /// assert_eq!(&bytes[..], br#"{"env":"prod"}"#);
    /// let back: Option<BTreeMap<String, String>> = JsonSerde.deserialize("t", Some(&bytes[..]))?;
    /// assert_eq!(back.unwrap()["env"], "prod");
    /// # Ok::<(), kafkit::serde::SerdeError>(())
    /// ```
    #[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
    pub struct JsonSerde;

    impl<T: serde::Serialize + ?Sized> Serializer<T> for JsonSerde {
        fn serialize_into(
            &self,
            _topic: &str,
            data: &T,
            out: &mut Vec<u8>,
        ) -> Result<Serialized, SerdeError> {
            let start = out.len();
            serde_json::to_writer(&mut *out, data).map_err(|e| {
                out.truncate(start);
                SerdeError::Json(e)
            })?;
            Ok(Serialized::Value)
        }
    }

    impl<T: serde::de::DeserializeOwned> Deserializer<T> for JsonSerde {
        fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Option<T>, SerdeError> {
            data.map(|d| serde_json::from_slice(d).map_err(SerdeError::Json))
                .transpose()
        }
    }

    impl<T: serde::Serialize> Serializer<Json<T>> for DefaultSerde {
        fn serialize_into(
            &self,
            topic: &str,
            data: &Json<T>,
            out: &mut Vec<u8>,
        ) -> Result<Serialized, SerdeError> {
            JsonSerde.serialize_into(topic, &data.0, out)
        }
    }

    impl<T: serde::de::DeserializeOwned> Deserializer<Json<T>> for DefaultSerde {
        fn deserialize(
            &self,
            topic: &str,
            data: Option<&[u8]>,
        ) -> Result<Option<Json<T>>, SerdeError> {
            Ok(JsonSerde.deserialize(topic, data)?.map(Json))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ser<T: ?Sized>(data: &T) -> Option<Vec<u8>>
    where
        DefaultSerde: Serializer<T>,
    {
        DefaultSerde
            .serialize("t", data)
            .expect("serializes")
            .map(|b| b.to_vec())
    }

    fn de<T>(data: &[u8]) -> Result<Option<T>, SerdeError>
    where
        DefaultSerde: Deserializer<T>,
    {
        DefaultSerde.deserialize("t", Some(data))
    }

    #[test]
    fn integers_are_big_endian_like_java() {
        // Java: ShortSerializer(-2) = ff fe; IntegerSerializer(0x01020304) = 01 02 03 04;
        // LongSerializer(-1) = ff*8.
        assert_eq!(ser(&-2i16), Some(vec![0xff, 0xfe]));
        assert_eq!(ser(&0x0102_0304i32), Some(vec![1, 2, 3, 4]));
        assert_eq!(ser(&i32::MIN), Some(vec![0x80, 0, 0, 0]));
        assert_eq!(ser(&-1i64), Some(vec![0xff; 8]));
        assert_eq!(
            ser(&0x0102_0304_0506_0708i64),
            Some(vec![1, 2, 3, 4, 5, 6, 7, 8])
        );
        assert_eq!(de::<i16>(&[0xff, 0xfe]).unwrap(), Some(-2));
        assert_eq!(de::<i32>(&[0x80, 0, 0, 0]).unwrap(), Some(i32::MIN));
        assert_eq!(de::<i64>(&[0xff; 8]).unwrap(), Some(-1));
    }

    #[test]
    fn floats_are_raw_ieee_bits_big_endian() {
        assert_eq!(ser(&1.0f32), Some(vec![0x3f, 0x80, 0, 0]));
        assert_eq!(ser(&-2.5f64), Some(vec![0xc0, 0x04, 0, 0, 0, 0, 0, 0]));
        // A NaN with a payload survives the round trip bit for bit (floatToRawIntBits).
        let nan = f32::from_bits(0x7fc0_1234);
        let bytes = ser(&nan).unwrap();
        assert_eq!(bytes, vec![0x7f, 0xc0, 0x12, 0x34]);
        assert_eq!(de::<f32>(&bytes).unwrap().unwrap().to_bits(), 0x7fc0_1234);
        assert_eq!(
            de::<f64>(&[0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18]).unwrap(),
            Some(std::f64::consts::PI)
        );
    }

    #[test]
    fn wrong_size_is_an_error_for_every_fixed_size_type() {
        for (len, expected) in [(0usize, 2usize), (1, 2), (3, 2)] {
            let err = de::<i16>(&vec![0; len]).unwrap_err();
            assert!(
                matches!(err, SerdeError::WrongSize { type_name: "i16", expected: e, actual } if e == expected && actual == len),
                "{err}"
            );
        }
        assert!(matches!(
            de::<i32>(&[0; 8]),
            Err(SerdeError::WrongSize {
                expected: 4,
                actual: 8,
                ..
            })
        ));
        assert!(matches!(
            de::<i64>(&[0; 4]),
            Err(SerdeError::WrongSize { expected: 8, .. })
        ));
        assert!(matches!(
            de::<f32>(&[0; 5]),
            Err(SerdeError::WrongSize { expected: 4, .. })
        ));
        assert!(matches!(
            de::<f64>(&[]),
            Err(SerdeError::WrongSize { expected: 8, .. })
        ));
        assert!(matches!(
            de::<bool>(&[1, 0]),
            Err(SerdeError::WrongSize { expected: 1, .. })
        ));
        assert_eq!(
            de::<i32>(&[1, 2, 3]).unwrap_err().to_string(),
            "size of data received by the i32 deserializer is not 4 (got 3 bytes)"
        );
    }

    #[test]
    fn null_deserializes_to_none_for_every_type() {
        fn null<T: std::fmt::Debug>()
        where
            DefaultSerde: Deserializer<T>,
        {
            assert!(DefaultSerde.deserialize("t", None).unwrap().is_none());
            assert!(DefaultSerde.deserialize_bytes("t", None).unwrap().is_none());
        }
        null::<String>();
        null::<Vec<u8>>();
        null::<Bytes>();
        null::<i16>();
        null::<i32>();
        null::<i64>();
        null::<f32>();
        null::<f64>();
        null::<bool>();
        null::<()>();
    }

    #[test]
    fn strings_are_utf8_and_invalid_utf8_is_an_error() {
        assert_eq!(ser("héllo"), Some("héllo".as_bytes().to_vec()));
        assert_eq!(ser(&String::from("x")), Some(b"x".to_vec()));
        assert_eq!(ser(&"ref"), Some(b"ref".to_vec()));
        assert_eq!(ser(""), Some(vec![])); // empty, not null
        assert_eq!(
            de::<String>("héllo".as_bytes()).unwrap().as_deref(),
            Some("héllo")
        );
        assert!(matches!(
            de::<String>(&[0x61, 0xff]),
            Err(SerdeError::InvalidUtf8(_))
        ));
    }

    #[test]
    fn raw_bytes_pass_through_and_bytes_are_shared() {
        let data = Bytes::from_static(b"\x00\xffraw");
        assert_eq!(ser(&data[..]), Some(data.to_vec()));
        assert_eq!(ser(&&data[..]), Some(data.to_vec()));
        assert_eq!(ser(&data.to_vec()), Some(data.to_vec()));
        assert_eq!(ser(&data), Some(data.to_vec()));
        let shared = DefaultSerde.serialize("t", &data).unwrap().unwrap();
        assert_eq!(shared.as_ptr(), data.as_ptr());
        let back: Bytes = DefaultSerde
            .deserialize_bytes("t", Some(&data))
            .unwrap()
            .unwrap();
        assert_eq!(back.as_ptr(), data.as_ptr());
        assert_eq!(de::<Vec<u8>>(&data).unwrap(), Some(data.to_vec()));
        assert_eq!(de::<Bytes>(&data).unwrap(), Some(data.clone()));
    }

    #[test]
    fn unit_is_always_null_and_rejects_data() {
        let mut out = b"keep".to_vec();
        assert_eq!(
            DefaultSerde.serialize_into("t", &(), &mut out).unwrap(),
            Serialized::Null
        );
        assert_eq!(out, b"keep");
        assert_eq!(DefaultSerde.serialize("t", &()).unwrap(), None);
        assert!(matches!(de::<()>(b"x"), Err(SerdeError::NotNull(1))));
        assert!(matches!(de::<()>(b""), Err(SerdeError::NotNull(0))));
    }

    #[test]
    fn booleans_match_java_boolean_serde() {
        assert_eq!(ser(&true), Some(vec![1]));
        assert_eq!(ser(&false), Some(vec![0]));
        assert_eq!(de::<bool>(&[1]).unwrap(), Some(true));
        assert_eq!(de::<bool>(&[0]).unwrap(), Some(false));
        assert!(matches!(de::<bool>(&[2]), Err(SerdeError::InvalidBool(2))));
    }

    #[test]
    fn serialize_into_appends_after_existing_bytes() {
        let mut out = b"prefix".to_vec();
        DefaultSerde.serialize_into("t", &1i16, &mut out).unwrap();
        DefaultSerde.serialize_into("t", "s", &mut out).unwrap();
        DefaultSerde
            .serialize_into("t", &Bytes::from_static(b"b"), &mut out)
            .unwrap();
        assert_eq!(out, b"prefix\x00\x01sb");
    }

    #[test]
    fn serializers_work_through_references_boxes_and_arcs() {
        let boxed: Box<dyn Serializer<i32>> = Box::new(DefaultSerde);
        assert_eq!(
            boxed.serialize("t", &1).unwrap().as_deref(),
            Some(&[0, 0, 0, 1][..])
        );
        let shared: Arc<dyn Deserializer<i32> + Send + Sync> = Arc::new(DefaultSerde);
        assert_eq!(
            shared.deserialize("t", Some(&[0, 0, 0, 9])).unwrap(),
            Some(9)
        );
        let by_ref = &DefaultSerde;
        assert_eq!(
            Serializer::<str>::serialize(&by_ref, "t", "r")
                .unwrap()
                .as_deref(),
            Some(&b"r"[..])
        );
    }

    #[test]
    fn user_types_can_extend_default_serde() {
        struct Celsius(i16);
        impl Serializer<Celsius> for DefaultSerde {
            fn serialize_into(
                &self,
                topic: &str,
                data: &Celsius,
                out: &mut Vec<u8>,
            ) -> Result<Serialized, SerdeError> {
                self.serialize_into(topic, &data.0, out)
            }
        }
        assert_eq!(ser(&Celsius(-1)), Some(vec![0xff, 0xff]));
        let err = SerdeError::custom(std::io::Error::other("boom"));
        assert_eq!(err.to_string(), "boom");
    }

    #[cfg(feature = "json")]
    mod json {
        use super::*;
        use std::collections::BTreeMap;

        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        struct Event {
            id: u64,
            tags: Vec<String>,
            note: Option<String>,
        }

        #[test]
        fn json_round_trip_and_wrapper() {
            let event = Event {
                id: 1,
                tags: vec!["a".into()],
                note: None,
            };
            let bytes = JsonSerde.serialize("t", &event).unwrap().unwrap();
            assert_eq!(&bytes[..], br#"{"id":1,"tags":["a"],"note":null}"#);
            let back: Event = JsonSerde.deserialize("t", Some(&bytes)).unwrap().unwrap();
            assert_eq!(back, event);
            let wrapped = Json(event);
            assert_eq!(ser(&wrapped).unwrap(), bytes.to_vec());
            let back: Json<Event> = de(&bytes).unwrap().unwrap();
            assert_eq!(back, wrapped);
            assert_eq!(back.id, 1); // Deref
        }

        #[test]
        fn json_null_and_errors() {
            let none: Option<Json<Event>> = DefaultSerde.deserialize("t", None).unwrap();
            assert!(none.is_none());
            // The JSON text `null` is a present value.
            let inner: Option<Option<u8>> = JsonSerde.deserialize("t", Some(b"null")).unwrap();
            assert_eq!(inner, Some(None));
            let err = de::<Json<Event>>(b"{\"id\":").unwrap_err();
            assert!(matches!(err, SerdeError::Json(_)), "{err}");

            // A map with non-string keys cannot be JSON; `out` is left as it was.
            let bad = BTreeMap::from([((1u8, 2u8), 3u8)]);
            let mut out = b"keep".to_vec();
            let err = JsonSerde.serialize_into("t", &bad, &mut out).unwrap_err();
            assert!(matches!(err, SerdeError::Json(_)));
            assert_eq!(out, b"keep");
        }
    }
}
