//! A fast, non-cryptographic hasher for the client's internal maps on the hot path (topic
//! names, topic-partitions), in the style of rustc's FxHash.
//!
//! Owns nothing else. Keys here come from the application and the cluster (topic names), not
//! from an attacker choosing collisions, so SipHash's DoS resistance buys nothing and costs a
//! measurable share of the produce path.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// FxHash-style hasher: rotate, xor, multiply per word.
#[derive(Default, Clone, Copy, Debug)]
pub struct FastHasher {
    hash: u64,
}

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_i32(&mut self, i: i32) {
        self.add(u64::from(i as u32));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Builds [`FastHasher`]s.
pub type FastBuildHasher = BuildHasherDefault<FastHasher>;

/// A `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, FastBuildHasher>;

/// A `HashSet` with [`FastHasher`].
pub type FastSet<K> = HashSet<K, FastBuildHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn equal_keys_hash_equal_and_close_keys_differ() {
        let b = FastBuildHasher::default();
        assert_eq!(b.hash_one("orders"), b.hash_one("orders"));
        assert_ne!(b.hash_one("orders-1"), b.hash_one("orders-2"));
        assert_ne!(b.hash_one(("t", 0i32)), b.hash_one(("t", 1i32)));
        // Length is part of a str's hash (its terminator), so a prefix differs.
        assert_ne!(b.hash_one("abcdefgh"), b.hash_one("abcdefgh\0"));
    }

    #[test]
    fn maps_work_with_it() {
        let mut m: FastMap<String, i32> = FastMap::default();
        for i in 0..1000 {
            m.insert(format!("topic-{i}"), i);
        }
        assert!((0..1000).all(|i| m[&format!("topic-{i}")] == i));
    }
}
