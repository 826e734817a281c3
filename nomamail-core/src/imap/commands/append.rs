//! APPEND with UIDPLUS's APPENDUID. The message is durable before OK is sent.

use super::{existing_mailbox, flag_names};
use crate::imap::reply::{Outcome, code};
use crate::imap::session::Session;
use crate::imap::wire;
use imap_types::datetime::DateTime;
use imap_types::extensions::binary::LiteralOrLiteral8;
use imap_types::flag::Flag;
use imap_types::mailbox::Mailbox;
use imap_types::response::Code;
use std::num::NonZeroU32;

pub fn run(
    session: &mut Session,
    mailbox: Mailbox<'_>,
    flags: Vec<Flag<'_>>,
    date: Option<DateTime>,
    message: LiteralOrLiteral8<'_>,
) -> Outcome {
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
    let flags = match flag_names(&flags) {
        Ok(flags) => flags,
        Err(outcome) => return outcome,
    };
    let bytes = match &message {
        LiteralOrLiteral8::Literal(literal) => literal.data(),
        LiteralOrLiteral8::Literal8(literal) => literal.data.as_ref(),
    };
    if bytes.is_empty() {
        return Outcome::no_with(code("CANNOT"), "empty message");
    }
    if let Err(outcome) =
        super::quota::refuse_if_over(session.shared.config.quota_kib, &store, bytes.len() as u64)
    {
        return outcome;
    }
    let (seconds, offset) = match &date {
        Some(date) => wire::from_date_time(date),
        None => (chrono::Utc::now().timestamp(), 0),
    };
    match store.write(|r| r.append(info.id, bytes, &flags, seconds, offset)) {
        Ok(appended) => match (
            NonZeroU32::new(appended.uidvalidity),
            NonZeroU32::new(appended.uid),
        ) {
            (Some(uid_validity), Some(uid)) => {
                Outcome::ok_with(Code::AppendUid { uid_validity, uid }, "APPEND completed")
            }
            _ => Outcome::ok("APPEND completed"),
        },
        Err(error) => error.into(),
    }
}
