//! A per-source-address token bucket for `POST /v1/token`: every exchange costs the gateway
//! signature checks (and possibly a JWKS fetch) and an audit record, so one address must not
//! be able to make it do that without bound. Refused requests are counted, not audited one by
//! one (a flood of them must not become a flood of audit events).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked before idle ones are forgotten.
const MAX_TRACKED: usize = 10_000;
/// An address idle this long starts again with a full bucket.
const IDLE: Duration = Duration::from_secs(600);

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// `per_minute` requests per address per minute, in bursts of up to `per_minute`.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one request's worth for `source`: `Ok`, or `Err(wait)` until the next is allowed.
    pub fn take(&self, source: IpAddr) -> Result<(), Duration> {
        self.take_at(source, Instant::now())
    }

    fn take_at(&self, source: IpAddr, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, bucket| now.duration_since(bucket.updated) < IDLE);
        }
        let bucket = buckets.entry(source).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_address_gets_its_burst_then_one_request_per_interval_and_others_are_unaffected() {
        let limiter = RateLimiter::new(3);
        let start = Instant::now();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..3 {
            assert!(limiter.take_at(a, start).is_ok());
        }
        let wait = limiter.take_at(a, start).unwrap_err();
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            limiter.take_at(b, start).is_ok(),
            "another address has its own bucket"
        );
        assert!(limiter.take_at(a, start + Duration::from_secs(20)).is_ok());
        assert!(limiter.take_at(a, start + Duration::from_secs(21)).is_err());
    }
}
