//! Wall-clock time for the edges that need it (accounts, delivery, daemons). The sync core
//! never reads it: `outgoing` and `incoming` take the time as a parameter, and judge stored
//! times with `waited`, which no clock step can make wait for ever.

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether `wait_ms` has passed since `since_ms`. A `since` later than `now` means the wall
/// clock was stepped back after it was stored (or it was stored by a clock running ahead):
/// that wait is over at once, rather than when the clock catches up, maybe days later. A
/// clock stepped forward only ends waits early; nothing waits longer for either step.
pub fn waited(since_ms: u64, now_ms: u64, wait_ms: u64) -> bool {
    since_ms > now_ms || now_ms - since_ms >= wait_ms
}

#[cfg(test)]
mod tests {
    use super::waited;

    #[test]
    fn a_wait_ends_after_its_time_or_at_once_when_the_clock_went_back() {
        assert!(!waited(1_000, 1_500, 1_000));
        assert!(waited(1_000, 2_000, 1_000));
        assert!(
            waited(1_000_000, 5, 1_000),
            "stored ahead of now: the clock stepped back"
        );
    }
}
