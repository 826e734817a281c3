//! Command syntax imap-codec does not read: LIST-EXTENDED (RFC 5258) with LIST-STATUS
//! (RFC 5819) and SPECIAL-USE (RFC 6154) options, ESEARCH's `SEARCH RETURN (…)`
//! (RFC 4731), MULTIAPPEND's several messages in one APPEND (RFC 3502) and CATENATE's
//! messages made of text and URLs (RFC 4469). Only the extended parts are read here; what is left is RFC 3501 syntax, handed
//! to imap-codec as a plain command, so mailbox names, patterns, literals and search keys are
//! parsed in one place as everywhere else.

use super::syntax::Cursor;
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
    /// The command's sequence set was `$` and the saved search result is empty
    /// (`searchres`): it is answered OK and touches nothing.
    NothingSaved,
    /// Every message of an APPEND with several (MULTIAPPEND) or with a CATENATE list; the
    /// plain command then carries only the mailbox.
    Append(Vec<AppendMessage>),
}

/// One message of an APPEND: its flags and date as imap-codec reads them, and its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<imap_types::flag::Flag<'static>>,
    pub date: Option<imap_types::datetime::DateTime>,
    pub data: AppendData,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendData {
    Literal(imap_types::extensions::binary::LiteralOrLiteral8<'static>),
    Catenate(Vec<super::catenate::CatPart>),
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
    /// RFC 5182: keep the result as `$` for later commands.
    pub save: bool,
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
    if name.eq_ignore_ascii_case(b"APPEND") {
        return append(tag, &mut at);
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

/// `APPEND mailbox 1*([SP flags] [SP date] SP (literal / CATENATE (…)))`: one message
/// with a literal is left to imap-codec; otherwise each message's flags and date are read by
/// imap-codec as an APPEND of its own, and CATENATE lists here.
fn append(
    tag: &[u8],
    at: &mut Cursor<'_>,
) -> Result<Option<(Command<'static>, Extension)>, SyntaxError> {
    if !at.space() {
        return Ok(None);
    }
    let Some(mailbox) = at.string() else {
        return Ok(None);
    };
    // Each message: the bytes of its flags and date, and its content.
    let mut pieces: Vec<(&[u8], Piece<'_>)> = Vec::new();
    loop {
        if !at.space() {
            return Ok(None);
        }
        let start = at.at;
        if at.peek() == Some(b'(') {
            at.group().ok_or(SyntaxError("bad APPEND flags"))?;
            if !at.space() {
                return Ok(None);
            }
        }
        if at.peek() == Some(b'"') {
            at.string().ok_or(SyntaxError("bad APPEND date"))?;
            if !at.space() {
                return Ok(None);
            }
        }
        let options = &at.bytes[start..at.at];
        let content_start = at.at;
        let mark = at.at;
        if at
            .atom()
            .is_some_and(|word| word.eq_ignore_ascii_case(b"CATENATE"))
        {
            if !at.space() {
                return Err(SyntaxError("CATENATE needs its parts"));
            }
            let group = at.group().ok_or(SyntaxError("bad CATENATE parts"))?;
            pieces.push((options, Piece::Catenate(cat_parts(group)?)));
        } else {
            at.at = mark;
            if at.peek() == Some(b'~') {
                at.at += 1;
            }
            if at.peek() != Some(b'{') || at.string().is_none() {
                // Something imap-codec will refuse, and say why.
                return Ok(None);
            }
            pieces.push((options, Piece::Literal(&at.bytes[content_start..at.at])));
        }
        if at.at_line_end() {
            break;
        }
    }
    if let [(_, Piece::Literal(_))] = pieces.as_slice() {
        return Ok(None);
    }
    let mut plain = Vec::new();
    let mut messages = Vec::with_capacity(pieces.len());
    let mut first = None;
    for (options, piece) in pieces {
        plain.clear();
        plain.extend_from_slice(tag);
        plain.extend_from_slice(b" APPEND ");
        plain.extend_from_slice(mailbox);
        plain.push(b' ');
        plain.extend_from_slice(options);
        match &piece {
            Piece::Literal(literal) => plain.extend_from_slice(literal),
            // The content is read here; a one-byte literal stands in for it.
            Piece::Catenate(_) => plain.extend_from_slice(b"{1+}\r\n."),
        }
        plain.extend_from_slice(b"\r\n");
        let command = decode(&plain)?;
        let CommandBody::Append {
            mailbox,
            flags,
            date,
            message,
        } = command.body
        else {
            return Err(SyntaxError("bad APPEND"));
        };
        first.get_or_insert((command.tag, mailbox));
        let data = match piece {
            Piece::Literal(_) => AppendData::Literal(message),
            Piece::Catenate(parts) => AppendData::Catenate(parts),
        };
        messages.push(AppendMessage { flags, date, data });
    }
    let Some((tag, mailbox)) = first else {
        return Err(SyntaxError("APPEND needs a message"));
    };
    let command = Command {
        tag,
        body: CommandBody::Append {
            mailbox,
            flags: Vec::new(),
            date: None,
            message: imap_types::extensions::binary::LiteralOrLiteral8::Literal(
                imap_types::core::Literal::try_from(b".".as_slice())
                    .map_err(|_| SyntaxError("bad APPEND"))?
                    .into_static(),
            ),
        },
    };
    Ok(Some((command, Extension::Append(messages))))
}

/// A message's content as written: a literal, or CATENATE's parts.
enum Piece<'a> {
    Literal(&'a [u8]),
    Catenate(Vec<super::catenate::CatPart>),
}

/// `TEXT literal` and `URL astring`, space-separated (RFC 4469 §5).
fn cat_parts(group: &[u8]) -> Result<Vec<super::catenate::CatPart>, SyntaxError> {
    use super::catenate::CatPart;
    let mut at = Cursor {
        bytes: group,
        at: 0,
    };
    let mut parts = Vec::new();
    while !at.done() {
        let kind = at.atom().ok_or(SyntaxError("bad CATENATE part"))?;
        if !at.space() {
            return Err(SyntaxError("bad CATENATE part"));
        }
        if kind.eq_ignore_ascii_case(b"TEXT") {
            if at.peek() == Some(b'~') {
                at.at += 1;
            }
            if at.peek() != Some(b'{') {
                return Err(SyntaxError("CATENATE TEXT takes a literal"));
            }
            let literal = at.string().ok_or(SyntaxError("bad CATENATE literal"))?;
            parts.push(CatPart::Text(literal_data(literal).to_vec()));
        } else if kind.eq_ignore_ascii_case(b"URL") {
            let url = at.string().ok_or(SyntaxError("bad CATENATE URL"))?;
            let url = match url.first() {
                Some(b'{') => literal_data(url).to_vec(),
                Some(b'"') => unquoted(url),
                _ => url.to_vec(),
            };
            let url = String::from_utf8(url).map_err(|_| SyntaxError("bad CATENATE URL"))?;
            parts.push(CatPart::Url(url));
        } else {
            return Err(SyntaxError("CATENATE parts are TEXT or URL"));
        }
        if !at.done() && !at.space() {
            return Err(SyntaxError("bad CATENATE parts"));
        }
    }
    if parts.is_empty() {
        return Err(SyntaxError("CATENATE needs a part"));
    }
    Ok(parts)
}

/// The data of a literal as `Cursor::string` returns it (`{n}` CRLF data).
fn literal_data(literal: &[u8]) -> &[u8] {
    match literal.windows(2).position(|w| w == b"\r\n") {
        Some(at) => &literal[at + 2..],
        None => &[],
    }
}

/// A quoted string's content, its `\\` escapes undone.
fn unquoted(quoted: &[u8]) -> Vec<u8> {
    let inner = &quoted[1..quoted.len().saturating_sub(1).max(1)];
    let mut out = Vec::with_capacity(inner.len());
    let mut escaped = false;
    for &b in inner {
        if b == b'\\' && !escaped {
            escaped = true;
        } else {
            out.push(b);
            escaped = false;
        }
    }
    out
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
            b"SAVE" => returns.save = true,
            _ => return Err(SyntaxError("unknown SEARCH return option")),
        }
    }
    if !(returns.min || returns.max || returns.all || returns.count || returns.save) {
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

/// Parses a plain (RFC 3501 syntax) command held whole in memory.
pub fn decode(plain: &[u8]) -> Result<Command<'static>, SyntaxError> {
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
    fn multiappend_messages_are_read_each_with_its_flags_and_date() {
        assert_eq!(check("a APPEND INBOX (\\Seen) {3+}\r\nabc\r\n"), None);
        let (body, extension) = check(
            "a APPEND \"Sent Items\" (\\Seen) {3+}\r\nabc \"01-Dec-2026 10:00:00 +0000\" ~{2+}\r\nde (\\Draft) {1}\r\nf\r\n",
        )
        .expect("multiappend");
        assert!(body.contains("Sent Items"), "{body}");
        let Extension::Append(all) = extension else {
            panic!("not MULTIAPPEND");
        };
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].flags, [imap_types::flag::Flag::Seen]);
        assert!(all[1].date.is_some() && all[1].flags.is_empty());
        assert_eq!(all[2].flags, [imap_types::flag::Flag::Draft]);
    }

    #[test]
    fn catenate_parts_are_read_in_order() {
        use crate::imap::catenate::CatPart;
        let (_, extension) = check(
            "a APPEND Drafts (\\Draft) CATENATE (TEXT {5+}\r\nhead\n URL \"/INBOX/;UID=2/;SECTION=1\" TEXT ~{1}\r\n\0) {1+}\r\nx\r\n",
        )
        .expect("catenate");
        let Extension::Append(all) = extension else {
            panic!("not CATENATE");
        };
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0].data,
            AppendData::Catenate(vec![
                CatPart::Text(b"head\n".to_vec()),
                CatPart::Url("/INBOX/;UID=2/;SECTION=1".into()),
                CatPart::Text(b"\0".to_vec()),
            ])
        );
        assert_eq!(all[0].flags, [imap_types::flag::Flag::Draft]);
        assert!(matches!(all[1].data, AppendData::Literal(_)));
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
            "a APPEND INBOX {1+}\r\na (\\Bogus-Flag {1+}\r\nb\r\n",
            "a APPEND INBOX {1+}\r\na \"not a date\" {1+}\r\nb\r\n",
            "a APPEND INBOX CATENATE ()\r\n",
            "a APPEND INBOX CATENATE (TEXT \"quoted\")\r\n",
            "a APPEND INBOX CATENATE (URL)\r\n",
            "a APPEND INBOX CATENATE (BODY {1+}\r\nx)\r\n",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
