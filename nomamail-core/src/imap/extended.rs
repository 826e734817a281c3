//! Command syntax imap-codec does not read: LIST-EXTENDED (RFC 5258) with LIST-STATUS
//! (RFC 5819) and SPECIAL-USE (RFC 6154) options, and ESEARCH's `SEARCH RETURN (…)`
//! (RFC 4731). Only the extended parts are read here; what is left is RFC 3501 syntax, handed
//! to imap-codec as a plain command, so mailbox names, patterns, literals and search keys are
//! parsed in one place as everywhere else.

use bounded_static::IntoBoundedStatic;
use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_types::command::{Command, CommandBody};
use imap_types::mailbox::ListMailbox;
use imap_types::status::StatusDataItemName;

/// What the extended syntax adds to the plain command it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Extension {
    List(ListOptions),
    Search(SearchReturn),
}

/// RFC 5258 selection and return options, RFC 5819's STATUS, RFC 6154's SPECIAL-USE.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Selection: only subscribed names, existing or not.
    pub subscribed: bool,
    /// Selection: also the parents of matching names (with SUBSCRIBED).
    pub recursive: bool,
    /// Selection: only mailboxes with a special use.
    pub special_use: bool,
    /// Return: `\Subscribed` on subscribed names.
    pub return_subscribed: bool,
    /// Return: a STATUS response after each selectable mailbox.
    pub status: Vec<StatusDataItemName>,
    /// Every pattern after the first (the first is in the plain command).
    pub more_patterns: Vec<ListMailbox<'static>>,
}

/// RFC 4731 result options; none given means ALL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchReturn {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SyntaxError(pub &'static str);

/// Reads one complete command message. `Ok(None)`: not extended syntax, parse it as usual.
pub fn parse(message: &[u8]) -> Result<Option<(Command<'static>, Extension)>, SyntaxError> {
    let mut at = Cursor {
        bytes: message,
        at: 0,
    };
    let Some(tag) = at.atom() else {
        return Ok(None);
    };
    if !at.space() {
        return Ok(None);
    }
    let Some(name) = at.atom() else {
        return Ok(None);
    };
    if name.eq_ignore_ascii_case(b"LIST") {
        return list(tag, &mut at);
    }
    let (uid, name) = if name.eq_ignore_ascii_case(b"UID") {
        if !at.space() {
            return Ok(None);
        }
        (true, at.atom().unwrap_or_default())
    } else {
        (false, name)
    };
    if name.eq_ignore_ascii_case(b"SEARCH") {
        return search(tag, uid, &mut at);
    }
    Ok(None)
}

fn list(
    tag: &[u8],
    at: &mut Cursor<'_>,
) -> Result<Option<(Command<'static>, Extension)>, SyntaxError> {
    if !at.space() {
        return Ok(None);
    }
    let mut options = ListOptions::default();
    let selection = if at.peek() == Some(b'(') {
        Some(
            at.group()
                .ok_or(SyntaxError("bad LIST selection options"))?,
        )
    } else {
        None
    };
    if let Some(selection) = selection {
        for option in words(selection)? {
            match option.to_ascii_uppercase().as_slice() {
                b"SUBSCRIBED" => options.subscribed = true,
                b"RECURSIVEMATCH" => options.recursive = true,
                b"SPECIAL-USE" => options.special_use = true,
                // One server: every mailbox is local.
                b"REMOTE" => {}
                _ => return Err(SyntaxError("unknown LIST selection option")),
            }
        }
        if options.recursive && !options.subscribed {
            return Err(SyntaxError("RECURSIVEMATCH needs another selection option"));
        }
        if !at.space() {
            return Err(SyntaxError("LIST needs a reference and a pattern"));
        }
    }
    let reference = at.string().ok_or(SyntaxError("bad LIST reference"))?;
    if !at.space() {
        return if selection.is_some() {
            Err(SyntaxError("LIST needs a pattern"))
        } else {
            Ok(None)
        };
    }
    let patterns: Vec<&[u8]> = if at.peek() == Some(b'(') {
        let group = at.group().ok_or(SyntaxError("bad LIST patterns"))?;
        let mut inner = Cursor {
            bytes: group,
            at: 0,
        };
        let mut patterns = Vec::new();
        loop {
            patterns.push(inner.string().ok_or(SyntaxError("bad LIST pattern"))?);
            if inner.done() {
                break;
            }
            if !inner.space() {
                return Err(SyntaxError("bad LIST patterns"));
            }
        }
        patterns
    } else {
        vec![at.string().ok_or(SyntaxError("bad LIST pattern"))?]
    };
    let mut returns = false;
    if at.space() {
        let word = at.atom().unwrap_or_default();
        if !word.eq_ignore_ascii_case(b"RETURN") || !at.space() {
            return Err(SyntaxError("expected RETURN options"));
        }
        let group = at.group().ok_or(SyntaxError("bad RETURN options"))?;
        list_returns(tag, group, &mut options)?;
        returns = true;
    }
    if !at.at_line_end() {
        return Err(SyntaxError("unexpected data after LIST"));
    }
    if selection.is_none() && patterns.len() == 1 && !returns {
        // Plain RFC 3501 LIST.
        return Ok(None);
    }
    let mut plain = Vec::new();
    let mut parsed = Vec::new();
    for pattern in &patterns {
        plain.clear();
        plain.extend_from_slice(tag);
        plain.extend_from_slice(b" LIST ");
        plain.extend_from_slice(reference);
        plain.push(b' ');
        plain.extend_from_slice(pattern);
        plain.extend_from_slice(b"\r\n");
        match decode(&plain)?.body {
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => parsed.push((reference, mailbox_wildcard)),
            _ => return Err(SyntaxError("bad LIST")),
        }
    }
    let mut parsed = parsed.into_iter();
    let Some((reference, first)) = parsed.next() else {
        return Err(SyntaxError("LIST needs a pattern"));
    };
    options.more_patterns = parsed.map(|(_, pattern)| pattern).collect();
    let command = Command {
        tag: decode_tag(tag)?,
        body: CommandBody::List {
            reference,
            mailbox_wildcard: first,
        },
    };
    Ok(Some((command, Extension::List(options))))
}

fn list_returns(tag: &[u8], group: &[u8], options: &mut ListOptions) -> Result<(), SyntaxError> {
    let mut at = Cursor {
        bytes: group,
        at: 0,
    };
    while !at.done() {
        let word = at.atom().ok_or(SyntaxError("bad RETURN option"))?;
        match word.to_ascii_uppercase().as_slice() {
            b"SUBSCRIBED" => options.return_subscribed = true,
            // Always sent.
            b"CHILDREN" | b"SPECIAL-USE" => {}
            b"STATUS" => {
                if !at.space() {
                    return Err(SyntaxError("STATUS needs its items"));
                }
                let items = at.group().ok_or(SyntaxError("bad STATUS items"))?;
                let mut plain = tag.to_vec();
                plain.extend_from_slice(b" STATUS INBOX (");
                plain.extend_from_slice(items);
                plain.extend_from_slice(b")\r\n");
                match decode(&plain)?.body {
                    CommandBody::Status { item_names, .. } => {
                        options.status = item_names.into_owned();
                    }
                    _ => return Err(SyntaxError("bad STATUS items")),
                }
            }
            _ => return Err(SyntaxError("unknown LIST return option")),
        }
        if !at.done() && !at.space() {
            return Err(SyntaxError("bad RETURN options"));
        }
    }
    Ok(())
}

fn search(
    tag: &[u8],
    uid: bool,
    at: &mut Cursor<'_>,
) -> Result<Option<(Command<'static>, Extension)>, SyntaxError> {
    if !at.space() {
        return Ok(None);
    }
    let mark = at.at;
    let word = at.atom().unwrap_or_default();
    if !word.eq_ignore_ascii_case(b"RETURN") {
        at.at = mark;
        return Ok(None);
    }
    if !at.space() {
        return Err(SyntaxError("RETURN needs its options"));
    }
    let group = at.group().ok_or(SyntaxError("bad RETURN options"))?;
    let mut returns = SearchReturn::default();
    for option in words(group)? {
        match option.to_ascii_uppercase().as_slice() {
            b"MIN" => returns.min = true,
            b"MAX" => returns.max = true,
            b"ALL" => returns.all = true,
            b"COUNT" => returns.count = true,
            _ => return Err(SyntaxError("unknown SEARCH return option")),
        }
    }
    if returns == SearchReturn::default() {
        returns.all = true;
    }
    if !at.space() {
        return Err(SyntaxError("SEARCH needs criteria"));
    }
    let mut plain = tag.to_vec();
    plain.extend_from_slice(if uid { b" UID SEARCH " } else { b" SEARCH " });
    plain.extend_from_slice(&at.bytes[at.at..]);
    let command = decode(&plain)?;
    if !matches!(command.body, CommandBody::Search { .. }) {
        return Err(SyntaxError("bad SEARCH"));
    }
    Ok(Some((command, Extension::Search(returns))))
}

fn decode(plain: &[u8]) -> Result<Command<'static>, SyntaxError> {
    match CommandCodec::default().decode(plain) {
        Ok((b"", command)) => Ok(command.into_static()),
        _ => Err(SyntaxError("could not parse the command")),
    }
}

fn decode_tag(tag: &[u8]) -> Result<imap_types::core::Tag<'static>, SyntaxError> {
    let text = std::str::from_utf8(tag).map_err(|_| SyntaxError("bad tag"))?;
    imap_types::core::Tag::try_from(text.to_string()).map_err(|_| SyntaxError("bad tag"))
}

/// The atoms of a parenthesised option list's inside.
fn words(group: &[u8]) -> Result<Vec<&[u8]>, SyntaxError> {
    let mut at = Cursor {
        bytes: group,
        at: 0,
    };
    let mut out = Vec::new();
    while !at.done() {
        out.push(at.atom().ok_or(SyntaxError("bad option"))?);
        if !at.done() && !at.space() {
            return Err(SyntaxError("bad option list"));
        }
    }
    Ok(out)
}

/// A read position in a command's bytes. Every method returns `None` (or false) without
/// moving when what it reads is not there.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn at_line_end(&self) -> bool {
        &self.bytes[self.at.min(self.bytes.len())..] == b"\r\n" || self.done()
    }

    fn space(&mut self) -> bool {
        if self.peek() == Some(b' ') {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Atom characters, and the wildcards and `]` a list-mailbox may hold.
    fn atom(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        while let Some(b) = self.peek() {
            if b <= b' ' || b >= 0x7f || matches!(b, b'(' | b')' | b'{' | b'"' | b'\\') {
                break;
            }
            self.at += 1;
        }
        (self.at > start).then(|| &self.bytes[start..self.at])
    }

    /// A quoted string, a literal (`{n}` or `{n+}`, CRLF, n bytes) or an atom, as written.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        match self.peek()? {
            b'"' => {
                self.at += 1;
                loop {
                    match self.peek() {
                        Some(b'"') => {
                            self.at += 1;
                            return Some(&self.bytes[start..self.at]);
                        }
                        Some(b'\\') => self.at += 2,
                        Some(b'\r' | b'\n') | None => {
                            self.at = start;
                            return None;
                        }
                        Some(_) => self.at += 1,
                    }
                }
            }
            b'{' => {
                let close = self.bytes[start..].iter().position(|&b| b == b'}')? + start;
                let digits = self.bytes[start + 1..close]
                    .strip_suffix(b"+")
                    .unwrap_or(&self.bytes[start + 1..close]);
                let length: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
                let data = close + 3;
                if self.bytes.get(close + 1..data) != Some(b"\r\n") {
                    return None;
                }
                let end = data.checked_add(length)?;
                if end > self.bytes.len() {
                    return None;
                }
                self.at = end;
                Some(&self.bytes[start..end])
            }
            _ => self.atom(),
        }
    }

    /// A parenthesised group, nested groups and quoted strings inside kept whole; returns its
    /// inside.
    fn group(&mut self) -> Option<&'a [u8]> {
        if self.peek() != Some(b'(') {
            return None;
        }
        let start = self.at;
        let mut depth = 0usize;
        let mut quoted = false;
        while let Some(b) = self.peek() {
            self.at += 1;
            match b {
                b'\\' if quoted => self.at += 1,
                b'"' => quoted = !quoted,
                b'(' if !quoted => depth += 1,
                b')' if !quoted => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&self.bytes[start + 1..self.at - 1]);
                    }
                }
                b'{' if !quoted => {
                    // A literal inside (a pattern list may hold one): skip its bytes whole.
                    self.at -= 1;
                    if self.string().is_none() {
                        break;
                    }
                }
                b'\r' | b'\n' => break,
                _ => {}
            }
        }
        self.at = start;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str) -> Option<(String, Extension)> {
        parse(input.as_bytes())
            .expect("parses")
            .map(|(command, extension)| (format!("{:?}", command.body), extension))
    }

    #[test]
    fn plain_commands_are_left_to_imap_codec() {
        assert_eq!(check("a LIST \"\" *\r\n"), None);
        assert_eq!(check("a SEARCH ALL\r\n"), None);
        assert_eq!(check("a UID SEARCH UNSEEN\r\n"), None);
        assert_eq!(check("a FETCH 1 FLAGS\r\n"), None);
    }

    #[test]
    fn list_extended_options_and_patterns_are_read() {
        let (body, extension) =
            check("a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX \"Work/*\" {3}\r\n%/%) RETURN (CHILDREN STATUS (MESSAGES UNSEEN))\r\n")
                .expect("extended");
        assert!(body.contains("INBOX"), "{body}");
        let Extension::List(options) = extension else {
            panic!("not LIST");
        };
        assert!(options.subscribed && options.recursive && !options.special_use);
        assert_eq!(
            options.status,
            [StatusDataItemName::Messages, StatusDataItemName::Unseen]
        );
        assert_eq!(options.more_patterns.len(), 2);
        let (_, extension) =
            check("a list \"\" % return (special-use subscribed)\r\n").expect("extended");
        assert!(matches!(extension, Extension::List(o) if o.return_subscribed));
    }

    #[test]
    fn esearch_return_options_are_read_and_default_to_all() {
        let (body, extension) =
            check("a UID SEARCH RETURN (MIN COUNT) UNSEEN FROM \"x\"\r\n").expect("esearch");
        assert!(body.contains("uid: true"), "{body}");
        assert_eq!(
            extension,
            Extension::Search(SearchReturn {
                min: true,
                count: true,
                ..SearchReturn::default()
            })
        );
        let (_, extension) = check("a SEARCH RETURN () ALL\r\n").expect("esearch");
        assert!(matches!(extension, Extension::Search(r) if r.all && !r.min));
    }

    #[test]
    fn malformed_extended_syntax_is_an_error_not_a_panic() {
        for bad in [
            "a LIST (SUBSCRIBED\r\n",
            "a LIST (BOGUS) \"\" *\r\n",
            "a LIST (RECURSIVEMATCH) \"\" *\r\n",
            "a LIST \"\" * RETURN (STATUS (NOPE))\r\n",
            "a LIST \"\" ({99}\r\nx) RETURN ()\r\n",
            "a SEARCH RETURN (NEWEST) ALL\r\n",
            "a SEARCH RETURN (MIN)\r\n",
            "a LIST () \"\" (\"open) RETURN ()\r\n",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
