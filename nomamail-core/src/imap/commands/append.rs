//! APPEND, with MULTIAPPEND's several messages stored all or none (RFC 3502) and UIDPLUS's
//! APPENDUID. The messages are durable before OK is sent.

use super::{existing_mailbox, flag_names};
use crate::imap::extended::AppendMessage;
use crate::imap::reply::{Outcome, code};
use crate::imap::seqset;
use crate::imap::session::Session;
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
    let mut total = 0u64;
    for message in &messages {
        match flag_names(&message.flags) {
            Ok(names) => flags.push(names),
            Err(outcome) => return outcome,
        }
        let bytes = bytes(&message.message);
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
        .map(|(message, flags)| {
            let (internal_date, date_offset_minutes) = match &message.date {
                Some(date) => wire::from_date_time(date),
                None => (now, 0),
            };
            NewMessage {
                bytes: bytes(&message.message),
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
