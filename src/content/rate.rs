//! A token bucket for download bandwidth: `take(n)` waits until `n` bytes fit the rate.
//! Shared by every transfer it is given to, so the cap holds for all of them together.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A download bandwidth cap in bytes per second, shared by the transfers it is given to.
#[derive(Debug)]
pub struct RateLimit {
    bytes_per_second: u64,
    /// (tokens available, when they were counted); std Mutex: never held across an await.
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// A limit of `bytes_per_second` (must be above zero), allowing a one-second burst.
    pub fn new(bytes_per_second: u64) -> RateLimit {
        RateLimit {
            bytes_per_second: bytes_per_second.max(1),
            state: Mutex::new((0.0, Instant::now())),
        }
    }

    /// How long to wait before `n` more bytes may pass, reserving them.
    pub fn reserve(&self, n: u64, now: Instant) -> Duration {
        let rate = self.bytes_per_second as f64;
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (tokens, since) = *state;
        let refilled = (tokens + now.saturating_duration_since(since).as_secs_f64() * rate).min(rate);
        let left = refilled - n as f64;
        *state = (left, now);
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / rate)
        }
    }

    /// Waits until `n` bytes may pass.
    pub async fn take(&self, n: u64) {
        let wait = self.reserve(n, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refills_at_the_rate() {
        let start = Instant::now();
        let limit = RateLimit::new(1000);
        // Empty at first: 500 bytes wait half a second.
        assert_eq!(limit.reserve(500, start), Duration::from_millis(500));
        // A second later the debt is paid and 500 tokens are back.
        assert_eq!(limit.reserve(500, start + Duration::from_secs(1)), Duration::ZERO);
        // Bursts are capped at one second's worth.
        assert_eq!(
            limit.reserve(1500, start + Duration::from_secs(10)),
            Duration::from_millis(500)
        );
    }
}
