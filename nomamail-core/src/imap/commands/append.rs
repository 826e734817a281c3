//! APPEND, with MULTIAPPEND's several messages stored all or none (RFC 3502), CATENATE's
//! messages put together from text and URLs of stored messages (RFC 4469), and UIDPLUS's
//! APPENDUID. The messages are durable before OK is sent.

use super::{existing_mailbox, flag_names};
use crate::imap::catenate::{self, CatPart};
use crate::imap::extended::{AppendData, AppendMessage};
use crate::imap::mailstores::Mailstore;
use crate::imap::message;
use crate::imap::reply::{Outcome, code};
use crate::imap::seqset;
use crate::imap::state::Session;
use crate::imap::wire;
use crate::replica::NewMessage;
use imap_types::extensions::binary::LiteralOrLiteral8;
use imap_types::mailbox::Mailbox;
use imap_types::response::{Code, CodeOther};
use std::num::NonZeroU32;

pub fn run(session: &mut Session, mailbox: Mailbox<'_>, messages: Vec<AppendMessage>) -> Outcome {
    let store = match super::authenticated(session) {
        Ok(store) => store,
        Err(outcome) => return outcome,
    };
    let info = match existing_mailbox(&store, &mailbox) {
        Ok(info) => info,
        Err(Outcome::No { .. }) => {
            return Outcome::no_with(Code::TryCreate, "no such mailbox; create it first");
        }
        Err(outcome) => return outcome,
    };
    let mut flags = Vec::with_capacity(messages.len());
    let mut contents: Vec<std::borrow::Cow<'_, [u8]>> = Vec::with_capacity(messages.len());
    let mut total = 0u64;
    for message in &messages {
        match flag_names(&message.flags) {
            Ok(names) => flags.push(names),
            Err(outcome) => return outcome,
        }
        contents.push(match &message.data {
            AppendData::Literal(literal) => std::borrow::Cow::Borrowed(bytes(literal)),
            AppendData::Catenate(parts) => match catenated(&store, parts) {
                Ok(bytes) => std::borrow::Cow::Owned(bytes),
                Err(outcome) => return outcome,
            },
        });
    }
    for bytes in &contents {
        if bytes.is_empty() {
            return Outcome::no_with(code("CANNOT"), "empty message");
        }
        total += bytes.len() as u64;
    }
    if let Err(outcome) =
        super::quota::refuse_if_over(session.shared.config.quota_kib, &store, total)
    {
        return outcome;
    }
    let now = chrono::Utc::now().timestamp();
    let new: Vec<NewMessage<'_>> = messages
        .iter()
        .zip(&flags)
        .zip(&contents)
        .map(|((message, flags), content)| {
            let (internal_date, date_offset_minutes) = match &message.date {
                Some(date) => wire::from_date_time(date),
                None => (now, 0),
            };
            NewMessage {
                bytes: content,
                flags,
                internal_date,
                date_offset_minutes,
            }
        })
        .collect();
    let appended = match store.write(|r| r.append_all(info.id, &new)) {
        Ok(appended) => appended,
        Err(error) => return error.into(),
    };
    let uids: Vec<u32> = appended.iter().map(|a| a.uid).collect();
    let uid_validity = appended
        .first()
        .and_then(|a| NonZeroU32::new(a.uidvalidity));
    match (uid_validity, uids.as_slice()) {
        (Some(uid_validity), &[uid]) => match NonZeroU32::new(uid) {
            Some(uid) => {
                Outcome::ok_with(Code::AppendUid { uid_validity, uid }, "APPEND completed")
            }
            None => Outcome::ok("APPEND completed"),
        },
        // RFC 4315: for MULTIAPPEND, the UIDs as a set, in the order of the messages.
        (Some(uid_validity), uids) if !uids.is_empty() && !uids.contains(&0) => {
            let text = format!("APPENDUID {uid_validity} {}", seqset::compact(uids));
            Outcome::ok_with(
                Code::Other(CodeOther::unvalidated(text.into_bytes())),
                "APPEND completed",
            )
        }
        _ => Outcome::ok("APPEND completed"),
    }
}

fn bytes<'a>(message: &'a LiteralOrLiteral8<'_>) -> &'a [u8] {
    match message {
        LiteralOrLiteral8::Literal(literal) => literal.data(),
        LiteralOrLiteral8::Literal8(literal) => literal.data.as_ref(),
    }
}

/// A CATENATE message: its text parts and what its URLs name, in order.
fn catenated(store: &Mailstore, parts: &[CatPart]) -> Result<Vec<u8>, Outcome> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            CatPart::Text(text) => out.extend_from_slice(text),
            CatPart::Url(url) => out.extend_from_slice(&url_content(store, url)?),
        }
        if out.len() > crate::replica::MAX_MESSAGE_BYTES {
            return Err(Outcome::no_with(
                Code::TooBig,
                "the catenated message is larger than this server takes",
            ));
        }
    }
    Ok(out)
}

/// The bytes an IMAP URL names on this account; `NO [BADURL url]` when it names nothing.
fn url_content(store: &Mailstore, url: &str) -> Result<Vec<u8>, Outcome> {
    let bad = |why: &str| {
        // The URL goes back in the response code only when it is plain text without `]`.
        let code_text = if url.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b']') {
            format!("BADURL {url}")
        } else {
            "BADURL".to_string()
        };
        Outcome::no_with(
            Code::Other(CodeOther::unvalidated(code_text.into_bytes())),
            why.to_string(),
        )
    };
    let Some(named) = catenate::parse_url(url) else {
        return Err(bad(
            "only URLs of this server's messages, from /mailbox, are taken",
        ));
    };
    let found = store.read(|r| -> crate::Result<Option<Vec<u8>>> {
        let Some(mailbox) = r.mailbox(&named.mailbox)? else {
            return Ok(None);
        };
        if named.uidvalidity.is_some_and(|v| v != mailbox.uidvalidity) {
            return Ok(None);
        }
        let Some(entry) = r
            .entries_in_uid_range(mailbox.id, named.uid, named.uid)?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let raw = r.blob(entry.blob)?;
        let bytes = match &named.section {
            None => raw,
            Some(section) => {
                let Some(summary) = r.summary(entry.blob)? else {
                    return Ok(None);
                };
                match message::section_bytes(&summary, &raw, section) {
                    Some(bytes) => bytes,
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(match named.partial {
            None => bytes,
            Some((offset, length)) => {
                let from = (offset as usize).min(bytes.len());
                let to = match length {
                    Some(length) => from.saturating_add(length as usize).min(bytes.len()),
                    None => bytes.len(),
                };
                bytes[from..to].to_vec()
            }
        }))
    });
    match found {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(bad("the URL names no message or part here")),
        Err(crate::Error::BlobMissing(_)) => Err(Outcome::no_with(
            code("UNAVAILABLE"),
            "the message the URL names has not reached this replica yet; try again later",
        )),
        Err(error) => Err(error.into()),
    }
}
