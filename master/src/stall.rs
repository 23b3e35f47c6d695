//! Noticing that this process was not running for a while (frozen by SIGSTOP, a VM
//! paused, a machine swapping) before acting on what it knew from before.
//!
//! A leader frozen past its ZooKeeper session timeout has been replaced when it wakes,
//! but it does not know yet: its tasks wake together, and the driver may handle what
//! queued up meanwhile (agents that left it, timers that fired) before the ZooKeeper
//! client reads that the session is gone. So the driver asks [`StallWatch::stalled`]
//! before each step. After a stall, with ZooKeeper, it asks it (a round trip on the
//! election's session, within [`CHECK_LIMIT`]) whether its node still leads; without,
//! it lets the rest of the process catch up ([`SETTLE`]), during which a deposed term
//! is ended from outside. Then it goes on, or stops without a word to anyone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// How often the watch's own task notes that it ran.
const BEAT: Duration = Duration::from_millis(100);
/// A gap this long between beats (or since the last one) means the process, or at
/// least its runtime, did not run: ten beats missed.
pub const STALL: Duration = Duration::from_secs(1);
/// How long the driver waits after a stall for the rest of the process (the
/// ZooKeeper client above all) to catch up.
pub const SETTLE: Duration = Duration::from_secs(1);
/// How long the driver waits after a stall for ZooKeeper to say whether its term
/// stands: no answer by then counts as no.
pub const CHECK_LIMIT: Duration = Duration::from_secs(10);

/// A task beating every [`BEAT`]; stops when dropped.
pub struct StallWatch {
    origin: Instant,
    /// Milliseconds from `origin` to the last beat.
    last_beat: Arc<AtomicU64>,
    /// Gaps of a stall or more the beater found between its own beats: after a
    /// freeze it may run before the driver does, and its beat is fresh again.
    gaps: Arc<AtomicU64>,
    /// `gaps` when [`StallWatch::stalled`] last looked.
    gaps_seen: u64,
    beater: JoinHandle<()>,
}

impl StallWatch {
    /// Starts beating (on the current tokio runtime).
    pub fn start() -> StallWatch {
        let origin = Instant::now();
        let last_beat = Arc::new(AtomicU64::new(0));
        let gaps = Arc::new(AtomicU64::new(0));
        let (beats, gaps_found) = (last_beat.clone(), gaps.clone());
        let beater = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(BEAT);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let now = millis_since(origin);
                let gap = now.saturating_sub(beats.load(Ordering::SeqCst));
                // Counted before the fresh beat is stored, so whoever sees the
                // fresh beat sees the gap too.
                if Duration::from_millis(gap) >= STALL {
                    gaps_found.fetch_add(1, Ordering::SeqCst);
                }
                beats.store(now, Ordering::SeqCst);
            }
        });
        StallWatch {
            origin,
            last_beat,
            gaps,
            gaps_seen: 0,
            beater,
        }
    }

    /// Whether the process (or its runtime) did not run for a stall or more since
    /// the last call, or is only now waking from one: what it knows may be stale.
    pub fn stalled(&mut self) -> bool {
        let since = millis_since(self.origin).saturating_sub(self.last_beat.load(Ordering::SeqCst));
        let gaps = self.gaps.load(Ordering::SeqCst);
        let new_gap = gaps != self.gaps_seen;
        self.gaps_seen = gaps;
        new_gap || Duration::from_millis(since) >= STALL
    }
}

impl Drop for StallWatch {
    fn drop(&mut self) {
        self.beater.abort();
    }
}

fn millis_since(origin: Instant) -> u64 {
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat_now(watch: &StallWatch) {
        watch
            .last_beat
            .store(millis_since(watch.origin), Ordering::SeqCst);
    }

    #[tokio::test]
    async fn a_fresh_beat_is_no_stall_and_beats_that_stop_become_one() {
        let mut watch = StallWatch::start();
        // As if the runtime never got to the beater again.
        watch.beater.abort();
        beat_now(&watch);
        assert!(!watch.stalled());
        tokio::time::sleep(STALL + BEAT).await;
        assert!(watch.stalled());
        // A beat (the runtime ran it again) ends the stall.
        beat_now(&watch);
        assert!(!watch.stalled());
    }

    #[tokio::test]
    async fn a_gap_the_beater_found_is_reported_once_though_its_beat_is_fresh() {
        let mut watch = StallWatch::start();
        watch.beater.abort();
        beat_now(&watch);
        // The beater woke from a freeze before us: it counted the gap, then beat.
        watch.gaps.fetch_add(1, Ordering::SeqCst);
        beat_now(&watch);
        assert!(watch.stalled());
        assert!(!watch.stalled());
    }
}
