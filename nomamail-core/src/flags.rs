//! Message flags: the IMAP system flags and keywords, and the per-flag rule for a flag set on
//! one replica and cleared on another at the same time.

pub const SEEN: &str = "\\Seen";
pub const ANSWERED: &str = "\\Answered";
pub const FLAGGED: &str = "\\Flagged";
pub const DELETED: &str = "\\Deleted";
pub const DRAFT: &str = "\\Draft";
pub const SYSTEM_FLAGS: [&str; 5] = [SEEN, ANSWERED, FLAGGED, DELETED, DRAFT];

pub const MAX_FLAG_BYTES: usize = 128;
pub const MAX_FLAGS_PER_MESSAGE: usize = 256;

/// System flags in their canonical spelling, or an IMAP atom keyword. `\Recent` is a session
/// property and is never stored.
pub fn is_valid_flag(flag: &str) -> bool {
    if let Some(rest) = flag.strip_prefix('\\') {
        return SYSTEM_FLAGS.iter().any(|f| &f[1..] == rest);
    }
    !flag.is_empty()
        && flag.len() <= MAX_FLAG_BYTES
        && flag
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
}

/// The system flag with IMAP's case-insensitive match folded to its canonical spelling.
pub fn canonical(flag: &str) -> String {
    SYSTEM_FLAGS
        .iter()
        .find(|f| f.eq_ignore_ascii_case(flag))
        .map_or_else(|| flag.to_string(), |f| f.to_string())
}

/// Safe-side rule when one replica set a flag and another cleared it concurrently:
/// `\Deleted` cleared wins (nothing is expunged by accident); for every other flag the set
/// wins, so a mark the user made is not silently dropped.
pub fn concurrent_set_and_clear(flag: &str) -> bool {
    flag != DELETED
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_known_answers() {
        assert!(is_valid_flag("\\Seen") && is_valid_flag("$Forwarded") && is_valid_flag("Junk"));
        assert!(!is_valid_flag("\\Recent") && !is_valid_flag("\\Bogus") && !is_valid_flag("a b"));
        assert!(!is_valid_flag(""));
        assert_eq!(canonical("\\SEEN"), "\\Seen");
        assert_eq!(canonical("$Label1"), "$Label1");
        assert!(!concurrent_set_and_clear(DELETED) && concurrent_set_and_clear(SEEN));
    }
}
