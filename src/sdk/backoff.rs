//! The reconnect schedule: exponential backoff with jitter, a cap, and a
//! reset after a healthy stretch (the schedule of LaunchDarkly's
//! `eventsource-client`).
//!
//! The exponential ramp itself is `backon`'s [`ExponentialBuilder`]
//! (base, factor 2, cap, no attempt limit). `backon`'s own jitter does not
//! fit: it *adds* up to one delay (`[d, 2d)`, which overshoots the cap) and
//! its iterators cannot be reset. So the jitter is drawn here, from
//! `[d/2, d]`, and a reset simply starts a fresh ramp. Every delay is
//! therefore within `[base/2, cap]`.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// The delays between attempts to open the stream.
#[derive(Debug)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
    reset_after: Duration,
    ramp: ExponentialBackoff,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A schedule starting at `base`, doubling up to `cap`, that starts over
    /// once a connection has stayed healthy for `reset_after`.
    pub(crate) fn new(base: Duration, cap: Duration, reset_after: Duration) -> Backoff {
        Backoff::with_rng(base, cap, reset_after, fastrand::Rng::new())
    }

    /// [`Backoff::new`] with a given random source (for tests).
    pub(crate) fn with_rng(
        base: Duration,
        cap: Duration,
        reset_after: Duration,
        rng: fastrand::Rng,
    ) -> Backoff {
        let base = base.max(Duration::from_millis(1));
        let cap = cap.max(base);
        Backoff {
            base,
            cap,
            reset_after,
            ramp: ramp(base, cap),
            rng,
        }
    }

    /// The next delay: the ramp's next step `d`, drawn from `[d/2, d]`.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.ramp.next().unwrap_or(self.cap).min(self.cap);
        self.jitter(d)
    }

    /// A long delay, for answers that will not change soon (401/403): the
    /// cap, jittered. The ramp is left where it is.
    pub(crate) fn long_delay(&mut self) -> Duration {
        self.jitter(self.cap)
    }

    fn jitter(&mut self, d: Duration) -> Duration {
        let half = d / 2;
        half + half.mul_f64(self.rng.f64())
    }

    /// Records how long a connection stayed up; a healthy one (at least
    /// `reset_after`) starts the ramp over.
    pub(crate) fn connection_lasted(&mut self, up: Duration) {
        if up >= self.reset_after {
            self.reset();
        }
    }

    /// Starts the ramp over at `base`.
    pub(crate) fn reset(&mut self) {
        self.ramp = ramp(self.base, self.cap);
    }
}

fn ramp(base: Duration, cap: Duration) -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(base)
        .with_max_delay(cap)
        .with_factor(2.0)
        .without_max_times()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn delays_double_within_jitter_up_to_the_cap() {
        let mut b = Backoff::with_rng(S, 30 * S, 60 * S, fastrand::Rng::with_seed(7));
        let expected = [1u64, 2, 4, 8, 16, 30, 30, 30];
        for (i, &d) in expected.iter().enumerate() {
            let d = Duration::from_secs(d);
            let got = b.next_delay();
            assert!(
                got >= d / 2 && got <= d,
                "step {i}: {got:?} not in [{:?}, {d:?}]",
                d / 2
            );
        }
    }

    #[test]
    fn jitter_spreads_over_the_half_interval() {
        let mut lows = 0;
        let mut highs = 0;
        for seed in 0..200 {
            let mut b = Backoff::with_rng(S, 30 * S, 60 * S, fastrand::Rng::with_seed(seed));
            let d = b.next_delay();
            if d < Duration::from_millis(750) {
                lows += 1;
            } else {
                highs += 1;
            }
        }
        assert!(lows > 50 && highs > 50, "lows {lows}, highs {highs}");
    }

    #[test]
    fn a_healthy_minute_resets_the_ramp_and_a_short_one_does_not() {
        let mut b = Backoff::with_rng(S, 30 * S, 60 * S, fastrand::Rng::with_seed(1));
        for _ in 0..5 {
            b.next_delay();
        }
        b.connection_lasted(59 * S);
        assert!(
            b.next_delay() >= 15 * S,
            "a short connection keeps the ramp high"
        );
        b.connection_lasted(60 * S);
        assert!(
            b.next_delay() <= S,
            "a healthy minute starts over at the base"
        );
    }

    #[test]
    fn long_delays_sit_at_the_cap() {
        let mut b = Backoff::with_rng(S, 30 * S, 60 * S, fastrand::Rng::with_seed(3));
        for _ in 0..20 {
            let d = b.long_delay();
            assert!(d >= 15 * S && d <= 30 * S);
        }
        assert!(b.next_delay() <= S, "the ramp is untouched by long delays");
    }
}
