//! RFC 5182 SEARCHRES: `$` names the messages the session's last `SEARCH RETURN (SAVE)`
//! found, wherever a sequence set may stand. imap-codec does not read `$`, so before a
//! command is parsed each `$` is written out as the set it stands for, taken from the session
//! at the moment the command runs (commands run one after another, so a pipelined `FETCH $`
//! sees the result of the SEARCH before it).
//!
//! As Dovecot does, `$` is accepted as a whole sequence set, not inside a longer one
//! (`1,$`). In search criteria it becomes `UID <set>`, since the saved result is a set of
//! messages whether the command counts by UID or by number; an empty result becomes a key
//! that matches nothing. A command whose whole set is an empty `$` is parsed as usual
//! (with a placeholder set) and answered OK without touching any message.

use super::seqset;
use super::syntax::Cursor;

/// A command with every `$` written out.
#[derive(Debug, PartialEq, Eq)]
pub struct Substituted {
    pub bytes: Vec<u8>,
    /// The command's own sequence set was `$` and nothing is saved: it must do nothing.
    pub nothing_saved: bool,
}

/// Commands whose first argument is a sequence set.
const SET_FIRST: &[&[u8]] = &[b"FETCH", b"STORE", b"COPY", b"MOVE", b"EXPUNGE"];
/// Commands whose arguments end in search criteria.
const SEARCHING: &[&[u8]] = &[b"SEARCH", b"SORT", b"THREAD"];

/// Search keys followed by one argument that is not a key (a `$` there is a string).
const ONE_ARGUMENT: &[&[u8]] = &[
    b"BCC",
    b"BEFORE",
    b"BODY",
    b"CC",
    b"CHARSET",
    b"FROM",
    b"KEYWORD",
    b"LARGER",
    b"ON",
    b"OLDER",
    b"SENTBEFORE",
    b"SENTON",
    b"SENTSINCE",
    b"SINCE",
    b"SMALLER",
    b"SUBJECT",
    b"TEXT",
    b"TO",
    b"UNKEYWORD",
    b"YOUNGER",
    b"EMAILID",
    b"THREADID",
];

/// `saved(by_uid)`: the saved messages still in the view, ascending, as UIDs or as sequence
/// numbers. `None`: the command names no `$` and is parsed as the client sent it.
pub fn substitute(message: &[u8], saved: &dyn Fn(bool) -> Vec<u32>) -> Option<Substituted> {
    let mut at = Cursor {
        bytes: message,
        at: 0,
    };
    at.atom()?;
    if !at.space() {
        return None;
    }
    let mut name = at.atom()?;
    let by_uid = name.eq_ignore_ascii_case(b"UID");
    if by_uid {
        if !at.space() {
            return None;
        }
        name = at.atom()?;
    }
    let is = |list: &[&[u8]]| list.iter().any(|n| name.eq_ignore_ascii_case(n));
    let mut edits = Vec::new();
    let mut nothing_saved = false;
    if is(SET_FIRST) {
        if !at.space() {
            return None;
        }
        let start = at.at;
        if at.atom()? != b"$" {
            return None;
        }
        let numbers = saved(by_uid);
        nothing_saved = numbers.is_empty();
        let set = if nothing_saved {
            "1".to_string()
        } else {
            seqset::compact(&numbers)
        };
        edits.push((start, at.at, set));
    } else if is(SEARCHING) {
        let mut uids = None;
        criteria(&mut at, &mut |range, uid_key_start| {
            let uids = uids.get_or_insert_with(|| saved(true));
            edits.push(match (uids.is_empty(), uid_key_start) {
                (true, Some(uid_start)) => (uid_start, range.1, "(NOT ALL)".to_string()),
                (true, None) => (range.0, range.1, "(NOT ALL)".to_string()),
                (false, Some(_)) => (range.0, range.1, seqset::compact(uids)),
                (false, None) => (range.0, range.1, format!("UID {}", seqset::compact(uids))),
            });
        });
        if edits.is_empty() {
            return None;
        }
    } else {
        return None;
    }
    let mut bytes = Vec::with_capacity(message.len() + 64);
    let mut from = 0;
    for (start, end, text) in edits {
        bytes.extend_from_slice(&message[from..start]);
        bytes.extend_from_slice(text.as_bytes());
        from = end;
    }
    bytes.extend_from_slice(&message[from..]);
    Some(Substituted {
        bytes,
        nothing_saved,
    })
}

/// Walks search criteria (and whatever precedes them: RETURN options, a SORT order, a
/// THREAD algorithm, a charset) and calls `found` with the byte range of each `$` that
/// stands where a sequence set may, and for `UID $` also where `UID` starts.
fn criteria(at: &mut Cursor<'_>, found: &mut dyn FnMut((usize, usize), Option<usize>)) {
    // Tokens still to pass over as arguments of the key before them.
    let mut skip = 0usize;
    // Where a `UID` key began, when the next token is its set.
    let mut uid_key: Option<usize> = None;
    loop {
        while at.space() {}
        match at.peek() {
            None | Some(b'\r' | b'\n') => return,
            Some(b'(' | b')') => {
                at.at += 1;
                continue;
            }
            _ => {}
        }
        let start = at.at;
        let Some(token) = at.string() else {
            // Something the criteria parser will refuse; nothing to substitute past it.
            return;
        };
        let range = (start, at.at);
        if skip > 0 {
            skip -= 1;
            continue;
        }
        if let Some(uid_start) = uid_key.take() {
            if token == b"$" {
                found(range, Some(uid_start));
            }
            continue;
        }
        if token == b"$" {
            found(range, None);
            continue;
        }
        let upper = token.to_ascii_uppercase();
        if upper == b"UID" {
            uid_key = Some(start);
        } else if upper == b"HEADER" {
            skip = 2;
        } else if upper == b"MODSEQ" {
            // MODSEQ ["entry-name" entry-type-req] mod-sequence-valzer
            while at.space() {}
            skip = if at.peek() == Some(b'"') { 3 } else { 1 };
        } else if ONE_ARGUMENT.iter().any(|key| upper == *key) {
            skip = 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Saved: UIDs 4, 5, 6 and 9, at sequence numbers 2, 3, 4 and 7.
    fn saved(by_uid: bool) -> Vec<u32> {
        if by_uid {
            vec![4, 5, 6, 9]
        } else {
            vec![2, 3, 4, 7]
        }
    }

    fn nothing(_: bool) -> Vec<u32> {
        Vec::new()
    }

    fn rewrite(command: &str, saved: &dyn Fn(bool) -> Vec<u32>) -> Option<(String, bool)> {
        substitute(command.as_bytes(), saved)
            .map(|s| (String::from_utf8(s.bytes).expect("ascii"), s.nothing_saved))
    }

    #[test]
    fn a_commands_own_set_counts_as_the_command_does() {
        assert_eq!(
            rewrite("a FETCH $ (FLAGS)\r\n", &saved),
            Some(("a FETCH 2:4,7 (FLAGS)\r\n".into(), false))
        );
        assert_eq!(
            rewrite("a uid store $ +FLAGS (\\Seen)\r\n", &saved),
            Some(("a uid store 4:6,9 +FLAGS (\\Seen)\r\n".into(), false))
        );
        assert_eq!(
            rewrite("a UID MOVE $ Trash\r\n", &nothing),
            Some(("a UID MOVE 1 Trash\r\n".into(), true))
        );
        assert_eq!(rewrite("a FETCH 1:$ (FLAGS)\r\n", &saved), None);
        assert_eq!(rewrite("a FETCH 1 (FLAGS)\r\n", &saved), None);
    }

    #[test]
    fn in_criteria_dollar_is_the_saved_messages_by_uid() {
        assert_eq!(
            rewrite("a SEARCH $ UNSEEN\r\n", &saved),
            Some(("a SEARCH UID 4:6,9 UNSEEN\r\n".into(), false))
        );
        assert_eq!(
            rewrite("a UID SEARCH OR UID $ (1:3 $)\r\n", &saved),
            Some((
                "a UID SEARCH OR UID 4:6,9 (1:3 UID 4:6,9)\r\n".into(),
                false
            ))
        );
        assert_eq!(
            rewrite("a SEARCH RETURN (SAVE) NOT UID $\r\n", &nothing),
            Some(("a SEARCH RETURN (SAVE) NOT (NOT ALL)\r\n".into(), false))
        );
        assert_eq!(
            rewrite("a UID SORT (DATE) UTF-8 $\r\n", &saved),
            Some(("a UID SORT (DATE) UTF-8 UID 4:6,9\r\n".into(), false))
        );
    }

    #[test]
    fn a_dollar_that_is_a_string_argument_stays() {
        for command in [
            "a SEARCH SUBJECT $\r\n",
            "a SEARCH HEADER $ $\r\n",
            "a SEARCH KEYWORD $ TEXT \"$\"\r\n",
            "a SEARCH BODY {1}\r\n$\r\n",
            "a SEARCH MODSEQ \"/flags/$\" all 5\r\n",
            "a APPEND INBOX {1}\r\n$\r\n",
        ] {
            assert_eq!(rewrite(command, &saved), None, "{command:?}");
        }
        assert_eq!(
            rewrite("a SEARCH FROM $ $\r\n", &saved),
            Some(("a SEARCH FROM $ UID 4:6,9\r\n".into(), false))
        );
    }
}
