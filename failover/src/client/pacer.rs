//! The client's side of ARC's request rate: a token bucket per cluster endpoint for mutating
//! calls. ARC takes about 3 updates per second per endpoint and answers more with a
//! ThrottlingException; pacing here spreads a split shift over the endpoints instead of
//! learning the limit from 429s, one endpoint at a time.
//!
//! The model (a bucket of `rate` calls, refilled at `rate` per second) is the one the local
//! cluster enforces, run a little slower here ([`super::ClientConfig`]'s 2.5 per second, in
//! bursts of 2, against ARC's 3): the endpoint counts calls when they arrive, not when they
//! leave, and network jitter must not make two calls look closer than allowed. Real ARC
//! documents only "about 3 per second": if an endpoint throttles anyway, the attempt is
//! retryable and the call moves on to the next endpoint.

use std::sync::Mutex;

use tokio::time::{Duration, Instant};

/// Per-endpoint buckets, shared by every call of one client.
#[derive(Debug)]
pub(super) struct Pacer {
    rate: f64,
    buckets: Mutex<Vec<Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Pacer {
    /// `endpoints` full buckets of `rate` calls per second, in bursts of its whole part (at
    /// least one).
    pub(super) fn new(endpoints: usize, rate: f64) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            f64::MAX
        };
        let full = Bucket {
            tokens: burst(rate),
            at: Instant::now(),
        };
        Self {
            rate,
            buckets: Mutex::new(vec![full; endpoints]),
        }
    }

    /// Takes a token of endpoint `index` now, or says when the next one is due.
    pub(super) fn take(&self, index: usize) -> Result<(), Instant> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = &mut buckets[index];
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(burst(self.rate));
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate;
            Err(now + Duration::from_secs_f64(wait))
        }
    }
}

fn burst(rate: f64) -> f64 {
    rate.floor().max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_endpoint_takes_its_burst_then_its_rate() {
        let pacer = Pacer::new(2, 2.5);
        for _ in 0..2 {
            assert!(pacer.take(0).is_ok());
        }
        let wait = pacer.take(0).unwrap_err() - Instant::now();
        assert!(
            wait > Duration::from_millis(370) && wait <= Duration::from_millis(400),
            "{wait:?}"
        );
        // The other endpoint's bucket is its own.
        assert!(pacer.take(1).is_ok());
        tokio::time::sleep(Duration::from_millis(410)).await;
        assert!(pacer.take(0).is_ok());
        assert!(pacer.take(0).is_err());
    }

    #[test]
    fn a_rate_of_zero_means_unpaced() {
        let pacer = Pacer::new(1, 0.0);
        for _ in 0..1000 {
            assert!(pacer.take(0).is_ok());
        }
    }
}
