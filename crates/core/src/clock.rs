//! Time, as the engine sees it: a monotonic clock for its timers (the pinUvAuthToken's
//! 30-second and 10-minute limits, CTAP 2.1 §6.5.2.2; getNextAssertion's 30-second window,
//! §6.3) and wall-clock seconds for what it records. A trait, so that tests drive time
//! instead of sleeping (the testkit's manual clock).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub trait Clock {
    /// Monotonic time since an arbitrary start; never goes back.
    fn now(&self) -> Duration;
    /// Seconds since the Unix epoch, for timestamps in the store.
    fn unix_secs(&self) -> i64;
}

/// The system's clocks.
#[derive(Debug, Clone)]
pub struct SystemClock {
    start: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn unix_secs(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}
