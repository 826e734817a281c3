//! LIST and LSUB with `*` and `%` wildcards, CHILDREN and SPECIAL-USE attributes. A name
//! with children but no mailbox of its own (after a DELETE of the parent) is listed as
//! `\Noselect`, so clients can still walk down to the children.

use crate::imap::extended::ListOptions;
use crate::imap::reply::{Outcome, Replies};
use crate::imap::state::Session;
use crate::imap::wire;
use crate::names;
use imap_types::core::{Atom, QuotedChar};
use imap_types::flag::FlagNameAttribute;
use imap_types::mailbox::{ListMailbox, Mailbox};
use imap_types::response::Data;
use std::collections::BTreeMap;

struct Listed {
    exists: bool,
    subscribed: bool,
    special_use: Option<String>,
    has_children: bool,
}

pub fn run(
    session: &mut Session,
    reference: Mailbox<'_>,
    pattern: ListMailbox<'_>,
    subscribed_only: bool,
    out: &mut Replies,
) -> Outcome {
    let kind = if subscribed_only {
        Kind::Lsub
    } else {
        Kind::List
    };
    list(
        session,
        reference,
        &[pattern],
        kind,
        &ListOptions::default(),
        out,
    )
}

/// LIST-EXTENDED (RFC 5258): several patterns, selection and return options, LIST-STATUS.
pub fn run_extended(
    session: &mut Session,
    reference: Mailbox<'_>,
    pattern: ListMailbox<'_>,
    options: ListOptions,
    out: &mut Replies,
) -> Outcome {
    let mut patterns = vec![pattern];
    patterns.extend(options.more_patterns.iter().cloned());
    list(session, reference, &patterns, Kind::List, &options, out)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Lsub,
}

fn decode_pattern(pattern: &ListMailbox<'_>) -> Option<String> {
    match pattern {
        ListMailbox::Token(token) => wire::decode_name(token.as_ref()),
        ListMailbox::String(string) => wire::decode_name(string.as_ref()),
    }
}

fn list(
    session: &mut Session,
    reference: Mailbox<'_>,
    patterns: &[ListMailbox<'_>],
    kind: Kind,
    options: &ListOptions,
    out: &mut Replies,
) -> Outcome {
    let done = if kind == Kind::Lsub {
        "LSUB completed"
    } else {
        "LIST completed"
    };
    let store = match super::authenticated(session) {
        Ok(store) => store,
        Err(outcome) => return outcome,
    };
    let raw_reference = match &reference {
        Mailbox::Inbox => "INBOX".to_string(),
        Mailbox::Other(other) => match wire::decode_name(other.inner().as_ref()) {
            Some(name) => name,
            // Matches no mailbox name: an empty answer, as for any pattern that matches none.
            None => return Outcome::ok("LIST completed: the reference is not modified UTF-7"),
        },
    };
    // Patterns that are not modified UTF-7 match no name.
    let raw_patterns: Vec<String> = patterns.iter().filter_map(decode_pattern).collect();
    if raw_patterns.is_empty() {
        return Outcome::ok("LIST completed: the pattern is not modified UTF-7");
    }
    if raw_patterns
        .iter()
        .any(|p| p.chars().count() > MAX_PATTERN_CHARS)
    {
        return Outcome::bad("pattern too long");
    }
    let delimiter = Some(QuotedChar::unvalidated('/'));
    if raw_patterns.len() == 1 && raw_patterns[0].is_empty() && kind == Kind::List {
        // RFC 3501: an empty pattern asks for the hierarchy delimiter.
        if let Ok(root) = imap_types::core::AString::try_from("") {
            out.data(Data::List {
                items: vec![FlagNameAttribute::Noselect],
                delimiter,
                mailbox: Mailbox::from(root),
            });
        }
        return Outcome::ok(done);
    }
    let full_patterns: Vec<String> = raw_patterns
        .into_iter()
        .map(|raw_pattern| {
            if raw_pattern.starts_with('/') || raw_reference.is_empty() {
                raw_pattern
            } else if raw_reference.ends_with('/') {
                format!("{raw_reference}{raw_pattern}")
            } else {
                format!("{raw_reference}/{raw_pattern}")
            }
        })
        .collect();
    let matching = |name: &str| full_patterns.iter().any(|p| matches(p, name));
    let mailboxes = match store.read(|r| r.mailboxes()) {
        Ok(mailboxes) => mailboxes,
        Err(error) => return error.into(),
    };
    let mut listed: BTreeMap<String, Listed> = BTreeMap::new();
    let mut infos = std::collections::HashMap::new();
    for mailbox in &mailboxes {
        let name = names::normalize(&mailbox.name);
        infos.insert(name.clone(), mailbox);
        let entry = listed.entry(name.clone()).or_insert(Listed {
            exists: false,
            subscribed: false,
            special_use: None,
            has_children: false,
        });
        entry.exists = true;
        entry.subscribed = mailbox.subscribed;
        entry.special_use.clone_from(&mailbox.special_use);
        let mut parent = name.as_str();
        while let Some(cut) = parent.rfind('/') {
            parent = &parent[..cut];
            listed
                .entry(parent.to_string())
                .or_insert(Listed {
                    exists: false,
                    subscribed: false,
                    special_use: None,
                    has_children: false,
                })
                .has_children = true;
        }
    }
    let subscribed: Vec<&str> = listed
        .iter()
        .filter(|(_, info)| info.subscribed)
        .map(|(name, _)| name.as_str())
        .collect();
    let has_subscribed_descendant = |name: &str| {
        subscribed.iter().any(|s| {
            s.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('/'))
        })
    };
    for (name, info) in &listed {
        if !matching(name) {
            continue;
        }
        // RFC 5258 RECURSIVEMATCH: a name whose descendant meets the selection is listed
        // with CHILDINFO, whether or not it meets the selection itself.
        let child_info = options.recursive && has_subscribed_descendant(name);
        if options.subscribed && !info.subscribed && !child_info {
            continue;
        }
        if options.special_use && info.special_use.is_none() {
            continue;
        }
        // RFC 3501 §6.3.9: an unsubscribed name whose subscribed descendant the `%` hides is
        // listed as \Noselect, so a client can walk down to it.
        let hides_a_subscription = || {
            subscribed.iter().any(|s| {
                s.strip_prefix(name.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
                    && !matching(s)
            })
        };
        let placeholder = kind == Kind::Lsub && !info.subscribed;
        if placeholder && !hides_a_subscription() {
            continue;
        }
        let mut items = Vec::new();
        if !info.exists {
            // RFC 5258 §3.4: \NonExistent implies \Noselect and says the name is free.
            if options.subscribed || options.return_subscribed {
                items.push(FlagNameAttribute::from(Atom::unvalidated("NonExistent")));
            } else {
                items.push(FlagNameAttribute::Noselect);
            }
        } else if placeholder {
            items.push(FlagNameAttribute::Noselect);
        }
        if (options.subscribed || options.return_subscribed) && info.subscribed {
            items.push(FlagNameAttribute::from(Atom::unvalidated("Subscribed")));
        }
        if kind == Kind::List {
            let children = if info.has_children {
                "HasChildren"
            } else {
                "HasNoChildren"
            };
            items.push(FlagNameAttribute::from(Atom::unvalidated(children)));
            if let Some(special) = info
                .special_use
                .as_deref()
                .and_then(|s| s.strip_prefix('\\'))
                && let Ok(atom) = Atom::try_from(special.to_string())
            {
                items.push(FlagNameAttribute::from(atom));
            }
        }
        let mailbox = wire::mailbox(name);
        let data = if kind == Kind::Lsub {
            Data::Lsub {
                items,
                delimiter,
                mailbox,
            }
        } else {
            Data::List {
                items,
                delimiter,
                mailbox,
            }
        };
        if child_info {
            let mut line = Replies::default();
            line.data(data);
            let line = line.take();
            out.raw(line.strip_suffix(b"\r\n").unwrap_or(&line));
            out.raw(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
        } else {
            out.data(data);
        }
        // RFC 5819: a STATUS for each selectable mailbox listed.
        if !options.status.is_empty()
            && let Some(mailbox) = infos.get(name)
        {
            let outcome = super::status::report(&store, mailbox, &options.status, out);
            if !outcome.is_ok() {
                return outcome;
            }
        }
    }
    Outcome::ok(done)
}

/// Longer patterns are refused: matching costs pattern length times name length.
pub const MAX_PATTERN_CHARS: usize = 1024;

/// IMAP LIST matching: `*` matches anything, `%` anything but the separator. INBOX matches
/// in any case.
pub fn matches(pattern: &str, name: &str) -> bool {
    let bytes = pattern.as_bytes();
    let inbox_prefix = bytes.len() >= 5
        && bytes[..5].eq_ignore_ascii_case(b"INBOX")
        && (bytes.len() == 5 || bytes[5] == b'/');
    // The first five bytes are ASCII when `inbox_prefix` holds, so 5 is a char boundary.
    let pattern: Vec<char> = if inbox_prefix {
        "INBOX".chars().chain(pattern[5..].chars()).collect()
    } else {
        pattern.chars().collect()
    };
    let name: Vec<char> = name.chars().collect();
    // matched[j]: the pattern from the current position on matches name[j..]. Filled from the
    // end of the pattern backwards; linear in pattern times name, whatever the wildcards.
    let mut next: Vec<bool> = (0..=name.len()).map(|j| j == name.len()).collect();
    for &p in pattern.iter().rev() {
        let mut here = vec![false; name.len() + 1];
        for j in (0..=name.len()).rev() {
            here[j] = match p {
                '*' => next[j] || (j < name.len() && here[j + 1]),
                '%' => next[j] || (j < name.len() && name[j] != '/' && here[j + 1]),
                c => j < name.len() && name[j] == c && next[j + 1],
            };
        }
        next = here;
    }
    next[0]
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcards() {
        assert!(matches("*", "a/b/c"));
        assert!(matches("%", "a"));
        assert!(!matches("%", "a/b"));
        assert!(matches("a/%", "a/b"));
        assert!(!matches("a/%", "a/b/c"));
        assert!(matches("a/*", "a/b/c"));
        assert!(matches("inbox", "INBOX"));
        assert!(matches("Inbox/%", "INBOX/x"));
        assert!(!matches("Sent", "sent"));
        assert!(matches("S%t", "Sent"));
        assert!(!matches(
            "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
            &"a".repeat(200)
        ));
        assert!(matches("%/%", "a/b") && !matches("%/%", "a/b/c") && matches("", ""));
    }
}
