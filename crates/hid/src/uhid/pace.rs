//! Our replies through uhid, paced as a USB bus would pace them.
//!
//! hidraw keeps at most 64 input reports for each open file and drops the rest for a
//! reader that has not caught up; every reader gets every report (all channels). A USB key
//! cannot outrun its readers: its interrupt endpoint delivers one report per polling
//! interval (1 ms at full speed). A virtual device can write a 129-report reply at once, and
//! with several clients open each one's queue fills with the others' replies too. So
//! replies go out as from a token bucket: a burst of up to [`BURST`] reports at once — every
//! reply of a sign-in is far shorter, and pays nothing — then one per [`INTERVAL`], the
//! rate clients are built for (docs/DESIGN.md "The uhid transport").

use std::time::{Duration, Instant};

/// Reports that may go out at once: half of hidraw's per-reader queue.
pub(crate) const BURST: u32 = 32;
/// One more report may go out per interval: a full-speed USB interrupt endpoint's rate.
pub(crate) const INTERVAL: Duration = Duration::from_millis(1);

#[derive(Debug)]
pub(crate) struct Pacer {
    tokens: u32,
    /// When the tokens were last counted.
    at: Instant,
}

impl Pacer {
    pub(crate) fn new(now: Instant) -> Self {
        Pacer {
            tokens: BURST,
            at: now,
        }
    }

    /// How long to wait at `now` before the next report may go out; the report is counted
    /// as sent.
    pub(crate) fn next(&mut self, now: Instant) -> Duration {
        let earned = now.saturating_duration_since(self.at).as_micros() / INTERVAL.as_micros();
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(earned).min(BURST);
            self.at += INTERVAL * earned.min(BURST);
            if self.tokens == BURST {
                self.at = now;
            }
        }
        if self.tokens > 0 {
            self.tokens -= 1;
            return Duration::ZERO;
        }
        // The next token comes one interval after the last count.
        let wait = (self.at + INTERVAL).saturating_duration_since(now);
        self.at += INTERVAL;
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_reply_goes_at_once_and_a_long_one_at_the_bus_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0);
        // A burst of BURST reports: no wait.
        for _ in 0..BURST {
            assert_eq!(p.next(t0), Duration::ZERO);
        }
        // The next ones: one interval apart, counted from when each may go.
        let mut now = t0;
        for _ in 0..5 {
            let wait = p.next(now);
            assert!(wait > Duration::ZERO && wait <= INTERVAL, "{wait:?}");
            now += wait;
        }
        assert_eq!(now - t0, INTERVAL * 5);
        // After a pause the bucket fills again, up to BURST and no more.
        let later = now + INTERVAL * 1000;
        for _ in 0..BURST {
            assert_eq!(p.next(later), Duration::ZERO);
        }
        assert!(p.next(later) > Duration::ZERO);
    }

    #[test]
    fn a_129_report_message_takes_about_97_intervals() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0);
        let mut now = t0;
        for _ in 0..129 {
            now += p.next(now);
        }
        assert_eq!(now - t0, INTERVAL * (129 - BURST));
    }
}
