//! SORT and UID SORT (RFC 5256), with SORT=DISPLAY's DISPLAYFROM and DISPLAYTO (RFC 5957):
//! a search, then its matches ordered by the keys from the message summaries. Messages that
//! compare equal on every key keep mailbox order, whatever REVERSE says.

use super::search::{self, Found};
use crate::EntryInfo;
use crate::imap::reply::{Outcome, Replies};
use crate::imap::session::Session;
use crate::summary::SearchText;
use crate::summary::casemap::casemap;
use crate::summary::subject::base_subject;
use imap_types::core::{Charset, Vec1};
use imap_types::extensions::sort::{SortCriterion, SortKey};
use imap_types::response::Data;
use imap_types::search::SearchKey;
use std::cmp::Ordering;
use std::num::NonZeroU32;

pub fn run(
    session: &mut Session,
    criteria: Vec1<SortCriterion>,
    charset: Charset<'_>,
    search_criteria: Vec1<SearchKey<'_>>,
    by_uid: bool,
    out: &mut Replies,
) -> Outcome {
    if let Err(outcome) = search::check_charset(Some(&charset)) {
        return outcome;
    }
    let found = match search::matching(session, search_criteria, true) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let numbers = sorted(&found, criteria.as_ref())
        .into_iter()
        .filter_map(|(seq, entry)| NonZeroU32::new(if by_uid { entry.uid } else { seq }))
        .collect();
    out.data(Data::Sort(numbers, found.modseq));
    Outcome::ok("SORT completed")
}

/// One message's sort keys, computed once rather than at every comparison; strings in
/// i;unicode-casemap form.
struct Keys {
    subject: String,
    date: i64,
    from: String,
    to: String,
    cc: String,
    display_from: String,
    display_to: String,
}

fn sorted<'a>(found: &'a Found, criteria: &[SortCriterion]) -> Vec<(u32, &'a EntryInfo)> {
    let empty = SearchText::default();
    let mut rows: Vec<(u32, &EntryInfo, Keys)> = found
        .messages
        .iter()
        .map(|(seq, entry)| {
            let text = found.texts.get(&entry.id).unwrap_or(&empty);
            let keys = Keys {
                subject: casemap(&base_subject(&text.subject).text),
                date: sent_date(text.sent, entry),
                from: casemap(&text.from_mailbox),
                to: casemap(&text.to_mailbox),
                cc: casemap(&text.cc_mailbox),
                display_from: casemap(&text.from_display),
                display_to: casemap(&text.to_display),
            };
            (*seq, entry, keys)
        })
        .collect();
    rows.sort_by(|a, b| {
        criteria
            .iter()
            .map(|c| {
                let order = compare(&c.key, (a.1, &a.2), (b.1, &b.2));
                if c.reverse { order.reverse() } else { order }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then(a.0.cmp(&b.0))
    });
    rows.into_iter()
        .map(|(seq, entry, ..)| (seq, entry))
        .collect()
}

/// RFC 5256 §2.2: the Date field, in UTC; the internal date where there is none.
pub fn sent_date(sent: Option<(i64, i16)>, entry: &EntryInfo) -> i64 {
    sent.map_or(entry.internal_date, |(seconds, _)| seconds)
}

type Row<'a> = (&'a EntryInfo, &'a Keys);

fn compare(key: &SortKey, a: Row<'_>, b: Row<'_>) -> Ordering {
    match key {
        SortKey::Arrival => a.0.internal_date.cmp(&b.0.internal_date),
        SortKey::Date => a.1.date.cmp(&b.1.date),
        SortKey::Size => a.0.size.cmp(&b.0.size),
        SortKey::Subject => a.1.subject.cmp(&b.1.subject),
        SortKey::From => a.1.from.cmp(&b.1.from),
        SortKey::To => a.1.to.cmp(&b.1.to),
        SortKey::Cc => a.1.cc.cmp(&b.1.cc),
        SortKey::DisplayFrom => a.1.display_from.cmp(&b.1.display_from),
        SortKey::DisplayTo => a.1.display_to.cmp(&b.1.display_to),
    }
}
