//! Slowing down password guessing: each failed login from an address doubles the delay
//! before that address hears the answer, up to a cap; a success clears it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(16);
/// Failures older than this are forgotten.
const MEMORY: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at once; beyond it the oldest are dropped, so a flood of addresses
/// cannot grow memory without bound.
const MAX_ADDRESSES: usize = 10_000;

#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Throttle {
    /// Records a failure and returns how long to wait before answering it.
    pub fn failed(&self, ip: IpAddr) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if failures.len() >= MAX_ADDRESSES {
            failures.retain(|_, (_, at)| now.duration_since(*at) < MEMORY);
            if failures.len() >= MAX_ADDRESSES {
                failures.clear();
            }
        }
        let entry = failures.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= MEMORY {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        let factor = 1u32 << (entry.0 - 1).min(6);
        (FIRST_DELAY * factor).min(MAX_DELAY)
    }

    pub fn succeeded(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_per_failure_and_resets_on_success() {
        let throttle = Throttle::default();
        let ip: IpAddr = [192, 0, 2, 1].into();
        let other: IpAddr = [192, 0, 2, 2].into();
        assert_eq!(throttle.failed(ip), Duration::from_millis(250));
        assert_eq!(throttle.failed(ip), Duration::from_millis(500));
        assert_eq!(throttle.failed(ip), Duration::from_secs(1));
        assert_eq!(throttle.failed(other), Duration::from_millis(250));
        for _ in 0..10 {
            throttle.failed(ip);
        }
        assert_eq!(throttle.failed(ip), MAX_DELAY);
        throttle.succeeded(ip);
        assert_eq!(throttle.failed(ip), Duration::from_millis(250));
    }
}
