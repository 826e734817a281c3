//! SEARCH and UID SEARCH with every RFC 3501 key and CONDSTORE's MODSEQ. Text keys compare
//! case-insensitively against decoded content: header values with encoded words decoded,
//! bodies with their transfer encoding and charset undone (mail-parser does both).

use super::entries_at;
use crate::EntryInfo;
use crate::imap::message;
use crate::imap::reply::{Outcome, Replies};
use crate::imap::seqset;
use crate::imap::session::Session;
use crate::imap::view::SelectedView;
use chrono::{FixedOffset, NaiveDate, TimeZone};
use imap_types::core::{AString, Charset, Vec1};
use imap_types::response::{Code, Data};
use imap_types::search::SearchKey;
use mail_parser::{HeaderValue, Message, PartType};
use std::num::{NonZeroU32, NonZeroU64};

/// Nesting deeper than this is refused, so a hostile query cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

pub fn run(
    session: &mut Session,
    charset: Option<Charset<'_>>,
    criteria: Vec1<SearchKey<'_>>,
    by_uid: bool,
    out: &mut Replies,
) -> Outcome {
    if let Some(charset) = &charset {
        let name = match charset {
            Charset::Atom(a) => a.inner().to_string(),
            Charset::Quoted(q) => q.inner().to_string(),
        };
        if !name.eq_ignore_ascii_case("UTF-8") && !name.eq_ignore_ascii_case("US-ASCII") {
            let allowed = ["US-ASCII", "UTF-8"]
                .into_iter()
                .filter_map(|c| Charset::try_from(c).ok())
                .collect();
            return Outcome::no_with(Code::BadCharset { allowed }, "only UTF-8 and US-ASCII");
        }
    }
    let key = SearchKey::And(criteria);
    if depth(&key) > MAX_DEPTH {
        return Outcome::bad("search too deeply nested");
    }
    let uses_modseq = mentions_modseq(&key);
    if uses_modseq {
        session.condstore = true;
    }
    let (store, selected) = match super::selected(session) {
        Ok(selected) => selected,
        Err(outcome) => return outcome,
    };
    let messages = match entries_at(&store, selected, (1..=selected.view.len()).collect()) {
        Ok(messages) => messages,
        Err(outcome) => return outcome,
    };
    let needs_body = reads_content(&key);
    let mut found = Vec::new();
    let mut highest_modseq = 0;
    for (seq, entry, _) in &messages {
        let raw = if needs_body {
            store.read(|r| r.blob(entry.blob)).ok()
        } else {
            None
        };
        let parsed = raw.as_deref().and_then(message::parse);
        let candidate = Candidate {
            seq: *seq,
            entry,
            store: &store,
            view: &selected.view,
            parsed: parsed.as_ref(),
        };
        if candidate.matches(&key) {
            found.push(if by_uid { entry.uid } else { *seq });
            highest_modseq = highest_modseq.max(entry.modseq);
        }
    }
    let numbers = found.into_iter().filter_map(NonZeroU32::new).collect();
    let modseq = if uses_modseq {
        NonZeroU64::new(store.wire_modseq(highest_modseq))
    } else {
        None
    };
    out.data(Data::Search(numbers, modseq));
    Outcome::ok("SEARCH completed")
}

fn depth(key: &SearchKey<'_>) -> usize {
    match key {
        SearchKey::And(keys) => 1 + keys.as_ref().iter().map(depth).max().unwrap_or(0),
        SearchKey::Not(k) => 1 + depth(k),
        SearchKey::Or(a, b) => 1 + depth(a).max(depth(b)),
        _ => 1,
    }
}

fn any(key: &SearchKey<'_>, test: &impl Fn(&SearchKey<'_>) -> bool) -> bool {
    test(key)
        || match key {
            SearchKey::And(keys) => keys.as_ref().iter().any(|k| any(k, test)),
            SearchKey::Not(k) => any(k, test),
            SearchKey::Or(a, b) => any(a, test) || any(b, test),
            _ => false,
        }
}

fn mentions_modseq(key: &SearchKey<'_>) -> bool {
    any(key, &|k| matches!(k, SearchKey::ModSequence { .. }))
}

fn reads_content(key: &SearchKey<'_>) -> bool {
    use SearchKey as K;
    any(key, &|k| {
        matches!(
            k,
            K::Bcc(_)
                | K::Body(_)
                | K::Cc(_)
                | K::From(_)
                | K::Header(..)
                | K::SentBefore(_)
                | K::SentOn(_)
                | K::SentSince(_)
                | K::Subject(_)
                | K::Text(_)
                | K::To(_)
        )
    })
}

struct Candidate<'a> {
    seq: u32,
    entry: &'a EntryInfo,
    /// Client MODSEQs are read through the store (see `imap::modseq`).
    store: &'a crate::imap::Mailstore,
    view: &'a SelectedView,
    parsed: Option<&'a Message<'a>>,
}

fn lower(text: &AString<'_>) -> String {
    String::from_utf8_lossy(text.as_ref()).to_lowercase()
}

impl Candidate<'_> {
    fn has(&self, flag: &str) -> bool {
        self.entry.flags.iter().any(|f| f == flag)
    }

    /// The internal date's calendar day in the zone it was given in (RFC 3501 ignores time
    /// and zone for these keys).
    fn internal_day(&self) -> Option<NaiveDate> {
        let zone = FixedOffset::east_opt(i32::from(self.entry.date_offset_minutes) * 60)?;
        Some(
            zone.timestamp_opt(self.entry.internal_date, 0)
                .single()?
                .date_naive(),
        )
    }

    fn sent_day(&self) -> Option<NaiveDate> {
        let date = self.parsed?.date()?;
        NaiveDate::from_ymd_opt(
            i32::from(date.year),
            u32::from(date.month),
            u32::from(date.day),
        )
    }

    /// Decoded text first; the raw value too, because decoding drops what users still type
    /// (the angle brackets of a Message-ID, say).
    fn header_contains(&self, name: &str, needle: &str) -> bool {
        let Some(parsed) = self.parsed else {
            return false;
        };
        let Some(root) = parsed.parts.first() else {
            return false;
        };
        root.headers
            .iter()
            .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .any(|h| {
                let raw = parsed
                    .raw_message
                    .get(h.offset_start as usize..h.offset_end as usize)
                    .unwrap_or_default();
                needle.is_empty()
                    || header_text(&h.value).to_lowercase().contains(needle)
                    || String::from_utf8_lossy(raw).to_lowercase().contains(needle)
            })
    }

    fn body_contains(&self, needle: &str) -> bool {
        let Some(parsed) = self.parsed else {
            return false;
        };
        parsed.parts.iter().any(|part| match &part.body {
            PartType::Text(text) | PartType::Html(text) => text.to_lowercase().contains(needle),
            _ => false,
        })
    }

    fn matches(&self, key: &SearchKey<'_>) -> bool {
        use SearchKey as K;
        let day = |f: fn(NaiveDate, NaiveDate) -> bool,
                   of: Option<NaiveDate>,
                   date: &imap_types::datetime::NaiveDate| {
            of.is_some_and(|d| f(d, *date.as_ref()))
        };
        match key {
            K::And(keys) => keys.as_ref().iter().all(|k| self.matches(k)),
            K::Or(a, b) => self.matches(a) || self.matches(b),
            K::Not(k) => !self.matches(k),
            K::All => true,
            K::SequenceSet(set) => {
                seqset::resolve(set, self.view, false).is_ok_and(|s| s.contains(&self.seq))
            }
            K::Uid(set) => {
                seqset::resolve(set, self.view, true).is_ok_and(|s| s.contains(&self.seq))
            }
            K::Answered => self.has("\\Answered"),
            K::Deleted => self.has("\\Deleted"),
            K::Draft => self.has("\\Draft"),
            K::Flagged => self.has("\\Flagged"),
            K::Seen => self.has("\\Seen"),
            K::Unanswered => !self.has("\\Answered"),
            K::Undeleted => !self.has("\\Deleted"),
            K::Undraft => !self.has("\\Draft"),
            K::Unflagged => !self.has("\\Flagged"),
            K::Unseen => !self.has("\\Seen"),
            K::Keyword(k) => self.has(k.inner()),
            K::Unkeyword(k) => !self.has(k.inner()),
            // \Recent is not kept: every session sees every message as not recent.
            K::Recent | K::New => false,
            K::Old => true,
            K::Larger(n) => self.entry.size > u64::from(*n),
            K::Smaller(n) => self.entry.size < u64::from(*n),
            K::Before(d) => day(|a, b| a < b, self.internal_day(), d),
            K::On(d) => day(|a, b| a == b, self.internal_day(), d),
            K::Since(d) => day(|a, b| a >= b, self.internal_day(), d),
            K::SentBefore(d) => day(|a, b| a < b, self.sent_day(), d),
            K::SentOn(d) => day(|a, b| a == b, self.sent_day(), d),
            K::SentSince(d) => day(|a, b| a >= b, self.sent_day(), d),
            K::From(s) => self.header_contains("From", &lower(s)),
            K::To(s) => self.header_contains("To", &lower(s)),
            K::Cc(s) => self.header_contains("Cc", &lower(s)),
            K::Bcc(s) => self.header_contains("Bcc", &lower(s)),
            K::Subject(s) => self.header_contains("Subject", &lower(s)),
            K::Header(name, s) => {
                self.header_contains(&String::from_utf8_lossy(name.as_ref()), &lower(s))
            }
            K::Body(s) => self.body_contains(&lower(s)),
            K::Text(s) => {
                let needle = lower(s);
                self.body_contains(&needle) || self.all_headers_contain(&needle)
            }
            K::ModSequence { modseq, .. } => self.entry.modseq >= self.store.local_modseq(*modseq),
        }
    }

    fn all_headers_contain(&self, needle: &str) -> bool {
        let Some(root) = self.parsed.and_then(|p| p.parts.first()) else {
            return false;
        };
        root.headers
            .iter()
            .any(|h| header_text(&h.value).to_lowercase().contains(needle))
    }
}

/// A parsed header value as text a user would search: decoded words, names and addresses.
fn header_text(value: &HeaderValue<'_>) -> String {
    match value {
        HeaderValue::Text(text) => text.to_string(),
        HeaderValue::TextList(list) => list.join(" "),
        HeaderValue::Address(address) => {
            let mut out = String::new();
            for addr in address.iter() {
                if let Some(name) = &addr.name {
                    out.push_str(name);
                    out.push(' ');
                }
                if let Some(email) = &addr.address {
                    out.push('<');
                    out.push_str(email);
                    out.push_str("> ");
                }
            }
            out
        }
        HeaderValue::DateTime(date) => date.to_rfc822(),
        HeaderValue::ContentType(ct) => {
            let mut out = ct.c_type.to_string();
            if let Some(sub) = &ct.c_subtype {
                out.push('/');
                out.push_str(sub);
            }
            out
        }
        HeaderValue::Received(_) | HeaderValue::Empty => String::new(),
    }
}
