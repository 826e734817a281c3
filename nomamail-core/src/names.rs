//! Mailbox names as the engine keeps them: UTF-8, hierarchy separator `/`, INBOX
//! case-insensitive (RFC 3501 5.1). The IMAP layer converts to modified UTF-7 on the wire.

pub const SEPARATOR: char = '/';
pub const MAX_NAME_BYTES: usize = 1024;

pub fn is_valid_mailbox_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && !name.starts_with(SEPARATOR)
        && !name.ends_with(SEPARATOR)
        && !name.contains("//")
        && !name.chars().any(|c| c.is_control() || c == '*' || c == '%')
}

/// The form names are compared in: INBOX in any case is INBOX.
pub fn normalize(name: &str) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else if name.len() > 6 && name.as_bytes()[..6].eq_ignore_ascii_case(b"INBOX/") {
        // The first six bytes are ASCII here, so byte 5 is a character boundary.
        format!("INBOX{}", &name[5..])
    } else {
        name.to_string()
    }
}

/// Whether `name` lies below `parent` in the hierarchy.
pub fn is_below(name: &str, parent: &str) -> bool {
    name.len() > parent.len() + 1
        && name.starts_with(parent)
        && name[parent.len()..].starts_with(SEPARATOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_answers() {
        for ok in ["INBOX", "Work/2026", "Données", "a b"] {
            assert!(is_valid_mailbox_name(ok), "{ok}");
        }
        for bad in ["", "/x", "x/", "a//b", "a*", "a%", "a\nb"] {
            assert!(!is_valid_mailbox_name(bad), "{bad:?}");
        }
        assert_eq!(normalize("inbox"), "INBOX");
        assert_eq!(normalize("Inbox/Sub"), "INBOX/Sub");
        assert_eq!(normalize("Inboxes"), "Inboxes");
        assert_eq!(normalize("Work – Projects"), "Work – Projects");
        assert_eq!(normalize("aÄÄÄ"), "aÄÄÄ");
        assert!(is_below("a/b", "a") && !is_below("ab", "a") && !is_below("a", "a"));
    }
}
