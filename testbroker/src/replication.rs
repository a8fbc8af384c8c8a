//! Replication rules as plain functions of state, so tests can drive them without sockets:
//! how a leader tracks its followers, where the high watermark goes, who drops out of or rejoins
//! the ISR, and where a follower must truncate (KIP-101 / KIP-279).
//!
//! The broker calls these with the replica lock held and acts on the answers (asking the
//! controller to change the ISR, moving the high watermark, truncating the log); nothing here
//! does I/O or reads a clock.

use std::collections::BTreeMap;

use crate::log::epoch_cache::{UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};

/// What a leader knows about one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The follower's log end offset, learned from the offset it last fetched from.
    pub log_end_offset: i64,
    /// When the follower was last known to be caught up to the leader's log end offset.
    pub last_caught_up_ms: i64,
    /// When the follower last fetched.
    pub last_fetch_ms: i64,
}

/// Leader-side replication state of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderProgress {
    /// Progress of each follower replica, by broker id.
    pub followers: BTreeMap<i32, FollowerProgress>,
    /// The leader's log end offset when it answered each follower's previous fetch, by broker
    /// id (Kafka's `lastFetchLeaderLogEndOffset`): a follower fetching from at least that
    /// offset has caught up to where the leader was then.
    pub last_fetch_leader_leo: BTreeMap<i32, i64>,
}

impl LeaderProgress {
    /// Progress for a new leadership: every follower starts unknown (log end offset -1) but is
    /// treated as caught up now, so it is not dropped from the ISR before it could fetch.
    pub fn new(followers: impl IntoIterator<Item = i32>, now_ms: i64) -> LeaderProgress {
        LeaderProgress {
            followers: followers
                .into_iter()
                .map(|id| {
                    (
                        id,
                        FollowerProgress {
                            log_end_offset: -1,
                            last_caught_up_ms: now_ms,
                            last_fetch_ms: now_ms,
                        },
                    )
                })
                .collect(),
            last_fetch_leader_leo: BTreeMap::new(),
        }
    }

    /// A follower fetched from `fetch_offset` while the leader's log ends at `leader_leo`.
    /// Records its log end offset and when it was last caught up, as Kafka's
    /// `Replica.updateFetchState`: caught up now if it reached the leader's end; caught up as of
    /// its previous fetch if it reached where the leader's log ended then.
    pub fn on_follower_fetch(
        &mut self,
        follower: i32,
        fetch_offset: i64,
        leader_leo: i64,
        now_ms: i64,
    ) {
        let previous_leader_leo = self.last_fetch_leader_leo.get(&follower).copied();
        let progress = self.followers.entry(follower).or_insert(FollowerProgress {
            log_end_offset: -1,
            last_caught_up_ms: now_ms,
            last_fetch_ms: now_ms,
        });
        progress.log_end_offset = fetch_offset;
        if fetch_offset >= leader_leo {
            progress.last_caught_up_ms = now_ms;
        } else if previous_leader_leo.is_some_and(|prev| fetch_offset >= prev) {
            progress.last_caught_up_ms = progress.last_caught_up_ms.max(progress.last_fetch_ms);
        }
        progress.last_fetch_ms = now_ms;
        self.last_fetch_leader_leo.insert(follower, leader_leo);
    }

    /// The high watermark: the smallest log end offset over the *maximal* ISR, i.e. the ISR
    /// (the leader included) plus the followers whose addition the leader has asked for but not
    /// yet seen in metadata (`pending`, KIP-497). Counting a pending follower matters: the
    /// controller may already have added it (and made it the preferred leader again) while this
    /// leader still holds the old ISR, so a record committed without it could be lost.
    /// Never below `current` (it only moves forward while this leader leads).
    pub fn high_watermark(
        &self,
        leader_id: i32,
        leader_leo: i64,
        isr: &[i32],
        pending: &[i32],
        current: i64,
    ) -> i64 {
        let min = isr
            .iter()
            .chain(pending)
            .map(|&id| {
                if id == leader_id {
                    leader_leo
                } else {
                    self.followers.get(&id).map_or(-1, |p| p.log_end_offset)
                }
            })
            .min()
            .unwrap_or(leader_leo);
        min.max(current)
    }

    /// ISR members that have not caught up within `lag_max_ms` (to be removed).
    pub fn lagging(&self, leader_id: i32, isr: &[i32], now_ms: i64, lag_max_ms: i64) -> Vec<i32> {
        isr.iter()
            .copied()
            .filter(|&id| id != leader_id)
            .filter(|id| {
                self.followers
                    .get(id)
                    .is_none_or(|p| now_ms - p.last_caught_up_ms > lag_max_ms)
            })
            .collect()
    }

    /// Followers outside the ISR (and not already `pending` addition) that may rejoin: caught
    /// up to the high watermark and past the start of the leader's current epoch (Kafka's
    /// `isFollowerInSync`).
    pub fn ready_to_join(
        &self,
        isr: &[i32],
        pending: &[i32],
        high_watermark: i64,
        leader_epoch_start_offset: i64,
    ) -> Vec<i32> {
        self.followers
            .iter()
            .filter(|(id, _)| !isr.contains(id) && !pending.contains(id))
            .filter(|(_, p)| {
                p.log_end_offset >= high_watermark && p.log_end_offset >= leader_epoch_start_offset
            })
            .map(|(&id, _)| id)
            .collect()
    }
}

/// Where a follower truncates after asking the leader where an epoch ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TruncationDecision {
    /// Truncate the log to this offset (remove everything at or above it).
    pub truncate_to: i64,
    /// Whether the divergence point is final; if not, ask again with the epoch below.
    pub completed: bool,
}

/// KIP-101 / KIP-279: given the leader's answer `(leader_epoch, leader_end_offset)` to an
/// OffsetsForLeaderEpoch for the follower's epoch, and the follower's own
/// `end_offset_for_epoch` (its cache lookup for `leader_epoch`), decide where to truncate.
///
/// - The leader knows no such epoch: fall back to the follower's high watermark (the only
///   offset known to be committed).
/// - The follower has the epoch the leader answered with: truncate to the smaller end offset.
/// - The follower does not have it (its floor epoch is older): truncate to the smaller end
///   offset and ask again with that older epoch (the KIP-279 walk back through epochs).
pub fn truncation_point(
    leader_epoch: i32,
    leader_end_offset: i64,
    follower_end: (i32, i64),
    follower_log_end_offset: i64,
    follower_high_watermark: i64,
) -> TruncationDecision {
    if leader_end_offset == UNDEFINED_EPOCH_OFFSET {
        return TruncationDecision {
            truncate_to: follower_high_watermark.min(follower_log_end_offset),
            completed: true,
        };
    }
    if leader_epoch == UNDEFINED_EPOCH {
        return TruncationDecision {
            truncate_to: leader_end_offset.min(follower_log_end_offset),
            completed: true,
        };
    }
    let (follower_epoch, follower_end_offset) = follower_end;
    if follower_epoch == UNDEFINED_EPOCH {
        // The follower has nothing at or below that epoch: everything it has diverged.
        return TruncationDecision {
            truncate_to: leader_end_offset
                .min(follower_end_offset.max(0))
                .min(follower_log_end_offset),
            completed: true,
        };
    }
    let truncate_to = leader_end_offset
        .min(follower_end_offset)
        .min(follower_log_end_offset);
    TruncationDecision {
        truncate_to,
        completed: follower_epoch == leader_epoch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LeaderEpochCache;

    #[test]
    fn high_watermark_is_the_isr_minimum_and_never_moves_back() {
        let mut p = LeaderProgress::new([2, 3], 0);
        assert_eq!(
            p.high_watermark(1, 10, &[1, 2, 3], &[], 0),
            0,
            "followers unknown yet"
        );
        p.on_follower_fetch(2, 10, 10, 5);
        p.on_follower_fetch(3, 7, 10, 5);
        assert_eq!(p.high_watermark(1, 10, &[1, 2, 3], &[], 0), 7);
        assert_eq!(
            p.high_watermark(1, 10, &[1, 2], &[], 0),
            10,
            "an ISR without 3"
        );
        assert_eq!(
            p.high_watermark(1, 10, &[1, 2, 3], &[], 8),
            8,
            "never backwards"
        );
        assert_eq!(p.high_watermark(1, 10, &[1], &[], 0), 10);
    }

    #[test]
    fn a_follower_pending_isr_addition_holds_the_high_watermark_back() {
        let mut p = LeaderProgress::new([2, 3], 0);
        p.on_follower_fetch(2, 10, 10, 5);
        p.on_follower_fetch(3, 7, 10, 5);
        // 3 caught up to the high watermark 7 and was proposed for the ISR: until metadata shows
        // the outcome, a batch at 7..10 is committed only once 3 has it too.
        assert_eq!(p.high_watermark(1, 10, &[1, 2], &[3], 7), 7);
        assert_eq!(
            p.ready_to_join(&[1, 2], &[3], 7, 0),
            Vec::<i32>::new(),
            "asked once"
        );
        p.on_follower_fetch(3, 10, 10, 6);
        assert_eq!(p.high_watermark(1, 10, &[1, 2], &[3], 7), 10);
    }

    #[test]
    fn lagging_followers_leave_and_caught_up_ones_rejoin() {
        let mut p = LeaderProgress::new([2, 3], 1_000);
        p.on_follower_fetch(2, 50, 50, 1_500);
        p.on_follower_fetch(3, 20, 50, 1_500);
        // A 10 s lag limit: 2 caught up at 1.5 s, 3 not since the leadership began at 1 s.
        assert_eq!(p.lagging(1, &[1, 2, 3], 11_000, 10_000), Vec::<i32>::new());
        p.on_follower_fetch(2, 60, 60, 9_000);
        assert_eq!(p.lagging(1, &[1, 2, 3], 12_000, 10_000), vec![3]);
        // 3 reaches where the leader ended at its previous fetch (1.5 s): caught up as of then.
        p.on_follower_fetch(3, 50, 60, 12_500);
        assert_eq!(p.followers[&3].last_caught_up_ms, 1_500);
        assert_eq!(p.lagging(1, &[1, 2, 3], 13_000, 10_000), vec![3]);
        p.on_follower_fetch(3, 60, 60, 13_000);
        assert_eq!(p.lagging(1, &[1, 2, 3], 13_000, 10_000), Vec::<i32>::new());
        // Rejoin needs the high watermark and the leader epoch start.
        assert_eq!(p.ready_to_join(&[1, 2], &[], 65, 40), Vec::<i32>::new());
        assert_eq!(p.ready_to_join(&[1, 2], &[], 55, 40), vec![3]);
        assert_eq!(p.ready_to_join(&[1, 2], &[], 55, 70), Vec::<i32>::new());
    }

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut c = LeaderEpochCache::default();
        for &(e, s) in entries {
            c.assign(e, s);
        }
        c
    }

    /// KIP-101 scenario 1: a follower restarts with a log longer than the leader's HW; it must
    /// not truncate to its high watermark (losing committed data) but to the epoch end.
    #[test]
    fn kip101_restarted_follower_keeps_committed_data() {
        // Both have offsets 0..=1 in epoch 0; follower's HW is 1 (it had not learned HW=2).
        let leader = cache(&[(0, 0)]);
        let follower = cache(&[(0, 0)]);
        let (le, lo) = leader.end_offset_for(0, 2);
        let d = truncation_point(le, lo, follower.end_offset_for(le, 2), 2, 1);
        assert_eq!(
            d,
            TruncationDecision {
                truncate_to: 2,
                completed: true
            }
        );
    }

    /// KIP-101 scenario 2: logs diverged after two failovers; the follower truncates to where
    /// the shared epoch ends on the leader, then fetches the leader's records.
    #[test]
    fn kip101_diverged_logs_converge() {
        // Leader B: epoch 0 at 0, epoch 2 at 1. Follower A: epoch 0 at 0, epoch 1 at 1 (lost).
        let leader = cache(&[(0, 0), (2, 1)]);
        let follower = cache(&[(0, 0), (1, 1)]);
        // The follower asks for its latest epoch, 1; the leader's floor is 0, ending at 1.
        let (le, lo) = leader.end_offset_for(1, 2);
        assert_eq!((le, lo), (0, 1));
        let d = truncation_point(le, lo, follower.end_offset_for(le, 2), 2, 0);
        assert_eq!(
            d,
            TruncationDecision {
                truncate_to: 1,
                completed: true
            }
        );
    }

    /// KIP-279: a fast double failover leaves the follower with an epoch the leader never saw,
    /// and the leader with one the follower never saw; the follower walks back.
    #[test]
    fn kip279_walks_back_through_unknown_epochs() {
        // Leader: epochs 0@0, 2@5, 4@9. Follower: epochs 0@0, 1@5, 3@7 (both 1 and 3 unknown to the leader).
        let leader = cache(&[(0, 0), (2, 5), (4, 9)]);
        let follower = cache(&[(0, 0), (1, 5), (3, 7)]);
        let follower_leo = 10;
        // Round 1: ask for the follower's latest epoch 3: the leader's floor is 2, ending at 9.
        let (le, lo) = leader.end_offset_for(3, 12);
        assert_eq!((le, lo), (2, 9));
        // The follower does not have epoch 2: its floor is 1 (ending at 7). Not done.
        let d = truncation_point(
            le,
            lo,
            follower.end_offset_for(le, follower_leo),
            follower_leo,
            0,
        );
        assert_eq!(
            d,
            TruncationDecision {
                truncate_to: 7,
                completed: false
            }
        );
        // Round 2: ask for the follower's floor epoch 1: the leader's floor is 0, ending at 5.
        let (le, lo) = leader.end_offset_for(follower.floor_epoch(le).unwrap(), 12);
        assert_eq!((le, lo), (0, 5));
        let d = truncation_point(le, lo, follower.end_offset_for(le, 7), 7, 0);
        assert_eq!(
            d,
            TruncationDecision {
                truncate_to: 5,
                completed: true
            }
        );
    }

    #[test]
    fn unknown_epoch_falls_back_to_high_watermark() {
        let d = truncation_point(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET, (0, 10), 10, 4);
        assert_eq!(
            d,
            TruncationDecision {
                truncate_to: 4,
                completed: true
            }
        );
    }
}
