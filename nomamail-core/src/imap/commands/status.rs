//! STATUS (RFC 3501 §6.3.10, with HIGHESTMODSEQ from RFC 7162).

use crate::MailboxInfo;
use crate::imap::Mailstore;
use crate::imap::reply::{Outcome, Replies};
use crate::imap::state::Session;
use crate::imap::wire;
use imap_types::mailbox::Mailbox;
use imap_types::response::Data;
use imap_types::status::{StatusDataItem, StatusDataItemName};
use std::borrow::Cow;
use std::num::NonZeroU32;

pub fn run(
    session: &mut Session,
    mailbox: Mailbox<'_>,
    names: &[StatusDataItemName],
    out: &mut Replies,
) -> Outcome {
    let (store, info) = match super::authenticated_mailbox(session, &mailbox) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let outcome = report(&store, &info, names, out);
    if outcome.is_ok() {
        Outcome::ok("STATUS completed")
    } else {
        outcome
    }
}

/// The STATUS response for one mailbox: for STATUS, and for LIST-STATUS after each LIST line.
pub fn report(
    store: &Mailstore,
    info: &MailboxInfo,
    names: &[StatusDataItemName],
    out: &mut Replies,
) -> Outcome {
    let read = store.read(|r| {
        let horizon = r.recent_horizon(info.id)?;
        Ok::<_, crate::Error>((r.mailbox_counts(info.id, horizon)?, r.highest_modseq()))
    });
    let (counts, highest_modseq) = match read {
        Ok(read) => read,
        Err(error) => return error.into(),
    };
    let small = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    let mut items = Vec::new();
    for name in names {
        items.push(match name {
            StatusDataItemName::Messages => StatusDataItem::Messages(small(counts.messages)),
            StatusDataItemName::Recent => StatusDataItem::Recent(small(counts.recent)),
            StatusDataItemName::UidNext => match NonZeroU32::new(info.uidnext) {
                Some(n) => StatusDataItem::UidNext(n),
                None => continue,
            },
            StatusDataItemName::UidValidity => match NonZeroU32::new(info.uidvalidity) {
                Some(v) => StatusDataItem::UidValidity(v),
                None => continue,
            },
            StatusDataItemName::Unseen => StatusDataItem::Unseen(small(counts.unseen)),
            StatusDataItemName::Deleted => StatusDataItem::Deleted(small(counts.deleted)),
            StatusDataItemName::DeletedStorage => {
                StatusDataItem::DeletedStorage(counts.deleted_bytes)
            }
            StatusDataItemName::HighestModSeq => {
                StatusDataItem::HighestModSeq(store.wire_modseq(highest_modseq))
            }
        });
    }
    out.data(Data::Status {
        mailbox: wire::mailbox(&info.name),
        items: Cow::Owned(items),
    });
    Outcome::ok("STATUS completed")
}
