//! Wall-clock time for the edges that need it (accounts, delivery, daemons). The sync core
//! never reads it: `outgoing` and `incoming` take the time as a parameter.

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
