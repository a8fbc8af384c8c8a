//! Serializers and deserializers (in progress).
