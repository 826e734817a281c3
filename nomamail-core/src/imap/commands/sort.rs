//! SORT and UID SORT (RFC 5256), with SORT=DISPLAY's DISPLAYFROM and DISPLAYTO (RFC 5957):
//! a search, then its matches ordered by the keys from the message summaries. Messages that
//! compare equal on every key keep mailbox order, whatever REVERSE says.

use super::search::{self, Found};
use crate::imap::reply::{Outcome, Replies};
use crate::imap::state::Session;
use crate::imap::view::Known;
use crate::summary::SearchText;
use crate::summary::casemap::casemap;
use imap_types::core::{Charset, Vec1};
use imap_types::extensions::sort::{SortCriterion, SortKey};
use imap_types::response::Data;
use imap_types::search::SearchKey;
use std::borrow::Cow;
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

/// One sort key of one message, computed once rather than at every comparison: strings in
/// i;unicode-casemap form.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Value<'a> {
    Number(i64),
    Text(Cow<'a, str>),
}

fn value<'a>(key: &SortKey, entry: &Known, text: &'a SearchText) -> Value<'a> {
    match key {
        SortKey::Arrival => Value::Number(entry.internal_date),
        SortKey::Date => Value::Number(sent_date(text.sent, entry)),
        SortKey::Size => Value::Number(i64::try_from(entry.size).unwrap_or(i64::MAX)),
        SortKey::Subject => Value::Text(Cow::Borrowed(text.sort_subject())),
        SortKey::From => Value::Text(Cow::Owned(casemap(&text.from_mailbox))),
        SortKey::To => Value::Text(Cow::Owned(casemap(&text.to_mailbox))),
        SortKey::Cc => Value::Text(Cow::Owned(casemap(&text.cc_mailbox))),
        SortKey::DisplayFrom => Value::Text(Cow::Owned(casemap(&text.from_display))),
        SortKey::DisplayTo => Value::Text(Cow::Owned(casemap(&text.to_display))),
    }
}

fn sorted<'a>(found: &'a Found, criteria: &[SortCriterion]) -> Vec<(u32, &'a Known)> {
    let empty = SearchText::default();
    let mut rows: Vec<(u32, &Known, Vec<Value>)> = found
        .messages
        .iter()
        .map(|(seq, entry)| {
            let text = found.texts.get(&entry.id).map_or(&empty, |t| &**t);
            let values = criteria
                .iter()
                .map(|c| value(&c.key, entry, text))
                .collect();
            (*seq, entry, values)
        })
        .collect();
    rows.sort_by(|a, b| {
        criteria
            .iter()
            .zip(a.2.iter().zip(&b.2))
            .map(|(c, (x, y))| if c.reverse { y.cmp(x) } else { x.cmp(y) })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then(a.0.cmp(&b.0))
    });
    rows.into_iter()
        .map(|(seq, entry, _)| (seq, entry))
        .collect()
}

/// RFC 5256 §2.2: the Date field, in UTC; the internal date where there is none.
pub fn sent_date(sent: Option<(i64, i16)>, entry: &Known) -> i64 {
    sent.map_or(entry.internal_date, |(seconds, _)| seconds)
}
