//! SEARCH and UID SEARCH with every RFC 3501 key and CONDSTORE's MODSEQ. Text keys compare
//! case-insensitively against decoded content: header values with encoded words decoded,
//! bodies with their transfer encoding and charset undone (mail-parser does both).
//!
//! BODY and TEXT are answered from the store's full-text index (`Replica::text_search`),
//! looked up once per search string before the messages are walked; only a message too large
//! for the index, or a string the index cannot take, is read and parsed.

use super::entries_at;
use crate::TextScope;
use crate::ids::BlobHash;
use crate::imap::extended::SearchReturn;
use crate::imap::message;
use crate::imap::reply::{Outcome, Replies};
use crate::imap::seqset;
use crate::imap::state::Session;
use crate::imap::view::{Known, SelectedView};
use crate::summary::SearchText;
use crate::summary::header::header_text;
use chrono::{FixedOffset, NaiveDate, TimeZone};
use imap_types::core::{AString, Charset, Vec1};
use imap_types::response::{Code, Data};
use imap_types::search::SearchKey;
use mail_parser::{Message, PartType};
use std::collections::{HashMap, HashSet};
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
    let found = match answer(session, charset, criteria) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let numbers = found
        .numbers(by_uid)
        .into_iter()
        .filter_map(NonZeroU32::new)
        .collect();
    out.data(Data::Search(numbers, found.modseq));
    Outcome::ok("SEARCH completed")
}

/// What SEARCH and its ESEARCH form share: the charset check, then the search.
fn answer(
    session: &mut Session,
    charset: Option<Charset<'_>>,
    criteria: Vec1<SearchKey<'_>>,
) -> Result<Found, Outcome> {
    check_charset(charset.as_ref())?;
    matching(session, criteria, false)
}

/// SEARCH RETURN (RFC 4731 ESEARCH): the answer as one `* ESEARCH` line, correlated with
/// the command by its tag, carrying only what the client asked for.
pub fn run_esearch(
    session: &mut Session,
    tag: &imap_types::core::Tag<'_>,
    charset: Option<Charset<'_>>,
    criteria: Vec1<SearchKey<'_>>,
    by_uid: bool,
    returns: &SearchReturn,
    out: &mut Replies,
) -> Outcome {
    let found = match answer(session, charset, criteria) {
        Ok(found) => found,
        Err(outcome) => {
            // RFC 5182 §2.1: a failed SAVE leaves `$` empty.
            if returns.save {
                save(session, Vec::new());
            }
            return outcome;
        }
    };
    if returns.save {
        let uids: Vec<u32> = found.messages.iter().map(|(_, entry)| entry.uid).collect();
        // With only MIN and/or MAX asked for, only those are kept (RFC 5182 §2.4).
        let kept = if returns.all || returns.count || !(returns.min || returns.max) {
            uids
        } else {
            let ends = [
                returns.min.then(|| uids.first().copied()).flatten(),
                returns.max.then(|| uids.last().copied()).flatten(),
            ];
            let mut kept: Vec<u32> = ends.into_iter().flatten().collect();
            kept.dedup();
            kept
        };
        save(session, kept);
    }
    // SAVE alone asks for no answer.
    if returns.min || returns.max || returns.all || returns.count {
        let numbers = found.numbers(by_uid);
        out.raw(&esearch_line(
            tag.inner(),
            by_uid,
            returns,
            &numbers,
            found.modseq,
        ));
    }
    Outcome::ok("SEARCH completed")
}

fn save(session: &mut Session, uids: Vec<u32>) {
    if let crate::imap::state::State::Selected { selected, .. } = &mut session.state {
        selected.saved = uids;
    }
}

fn esearch_line(
    tag: &str,
    by_uid: bool,
    returns: &SearchReturn,
    numbers: &[u32],
    modseq: Option<NonZeroU64>,
) -> Vec<u8> {
    use std::fmt::Write;
    let mut line = format!("* ESEARCH (TAG \"{tag}\")");
    if by_uid {
        line.push_str(" UID");
    }
    if let (true, Some(min)) = (returns.min, numbers.iter().min()) {
        let _ = write!(line, " MIN {min}");
    }
    if let (true, Some(max)) = (returns.max, numbers.iter().max()) {
        let _ = write!(line, " MAX {max}");
    }
    if returns.all && !numbers.is_empty() {
        let _ = write!(line, " ALL {}", seqset::compact(numbers));
    }
    if returns.count {
        let _ = write!(line, " COUNT {}", numbers.len());
    }
    if let Some(modseq) = modseq.filter(|_| !numbers.is_empty()) {
        let _ = write!(line, " MODSEQ {modseq}");
    }
    line.push_str("\r\n");
    line.into_bytes()
}

/// SEARCH, SORT and THREAD take UTF-8 and its subset US-ASCII (RFC 3501, RFC 5256).
pub fn check_charset(charset: Option<&Charset<'_>>) -> Result<(), Outcome> {
    let Some(charset) = charset else {
        return Ok(());
    };
    let name = match charset {
        Charset::Atom(a) => a.inner().to_string(),
        Charset::Quoted(q) => q.inner().to_string(),
    };
    if name.eq_ignore_ascii_case("UTF-8") || name.eq_ignore_ascii_case("US-ASCII") {
        return Ok(());
    }
    let allowed = ["US-ASCII", "UTF-8"]
        .into_iter()
        .filter_map(|c| Charset::try_from(c).ok())
        .collect();
    Err(Outcome::no_with(
        Code::BadCharset { allowed },
        "only UTF-8 and US-ASCII",
    ))
}

/// The messages a search matched, for SEARCH, SORT and THREAD to answer from.
pub struct Found {
    /// Ascending by sequence number.
    pub messages: Vec<(u32, Known)>,
    /// The search and sort fields of the matches, when asked for (and of every message the
    /// search had to compare them on).
    pub texts: crate::summary::TextsById,
    /// The highest modseq among the matches, when the criteria named MODSEQ (RFC 7162 §3.1.5).
    pub modseq: Option<NonZeroU64>,
}

impl Found {
    /// The matches as the client numbers them: UIDs, or sequence numbers.
    pub fn numbers(&self, by_uid: bool) -> Vec<u32> {
        self.messages
            .iter()
            .map(|(seq, entry)| if by_uid { entry.uid } else { *seq })
            .collect()
    }
}

pub fn matching(
    session: &mut Session,
    criteria: Vec1<SearchKey<'_>>,
    with_texts: bool,
) -> Result<Found, Outcome> {
    let key = SearchKey::And(criteria);
    if depth(&key) > MAX_DEPTH {
        return Err(Outcome::bad("search too deeply nested"));
    }
    let uses_modseq = mentions_modseq(&key);
    if uses_modseq {
        session.condstore = true;
    }
    let (store, selected) = super::selected(session)?;
    // While the view is as current as the store, it holds everything a search compares but
    // the message text: no entry is read.
    let read: Vec<(u32, Known)>;
    let messages: Vec<(u32, &Known)> =
        if store.version() == selected.seen_version && !selected.view.holds_expunges() {
            (1..).zip(selected.view.messages()).collect()
        } else {
            read = entries_at(&store, selected, (1..=selected.view.len()).collect())?
                .into_iter()
                .map(|(seq, entry, _)| (seq, Known::from(entry)))
                .collect();
            read.iter().map(|(seq, known)| (*seq, known)).collect()
        };
    let texts = if with_texts || compares_summary_fields(&key) {
        let mailbox = selected.mailbox;
        let bodies: Vec<_> = messages
            .iter()
            .map(|(_, entry)| (entry.id, entry.blob))
            .collect();
        store.read(|r| r.search_texts(mailbox, &bodies))?
    } else {
        Default::default()
    };
    let hits = TextHits::look_up(&store, &key)?;
    let reads_headers = reads_header_fields(&key);
    let mut found = Vec::new();
    let mut highest_modseq = 0;
    for &(seq, entry) in &messages {
        let raw = if reads_headers || hits.must_read(entry.blob) {
            store.read(|r| r.blob(entry.blob)).ok()
        } else {
            None
        };
        let parsed = raw.as_deref().and_then(message::parse);
        let candidate = Candidate {
            seq,
            entry,
            store: &store,
            view: &selected.view,
            recent: &selected.recent,
            text: texts.get(&entry.id).map(|t| &**t),
            hits: &hits,
            parsed: parsed.as_ref(),
        };
        if candidate.matches(&key) {
            found.push((seq, entry.clone()));
            highest_modseq = highest_modseq.max(entry.modseq);
        }
    }
    let modseq = if uses_modseq {
        NonZeroU64::new(store.wire_modseq(highest_modseq))
    } else {
        None
    };
    Ok(Found {
        messages: found,
        texts,
        modseq,
    })
}

fn depth(key: &SearchKey<'_>) -> usize {
    match key {
        SearchKey::And(keys) => 1 + keys.as_ref().iter().map(depth).max().unwrap_or(0),
        SearchKey::Not(k) => 1 + depth(k),
        SearchKey::Or(a, b) => 1 + depth(a).max(depth(b)),
        _ => 1,
    }
}

fn any(key: &SearchKey<'_>, test: &mut impl FnMut(&SearchKey<'_>) -> bool) -> bool {
    test(key)
        || match key {
            SearchKey::And(keys) => keys.as_ref().iter().any(|k| any(k, test)),
            SearchKey::Not(k) => any(k, test),
            SearchKey::Or(a, b) => any(a, test) || any(b, test),
            _ => false,
        }
}

fn mentions_modseq(key: &SearchKey<'_>) -> bool {
    any(key, &mut |k| matches!(k, SearchKey::ModSequence { .. }))
}

/// Whether a search's keys compare summary fields: the address and subject fields, the
/// sent date.
fn compares_summary_fields(key: &SearchKey<'_>) -> bool {
    use SearchKey as K;
    any(key, &mut |k| {
        matches!(
            k,
            K::Bcc(_)
                | K::Cc(_)
                | K::From(_)
                | K::SentBefore(_)
                | K::SentOn(_)
                | K::SentSince(_)
                | K::Subject(_)
                | K::To(_)
        )
    })
}

/// Keys that need the message itself: header fields summaries do not keep.
fn reads_header_fields(key: &SearchKey<'_>) -> bool {
    any(key, &mut |k| matches!(k, SearchKey::Header(..)))
}

/// What the full-text index says for each BODY and TEXT string of one search.
#[derive(Default)]
struct TextHits {
    /// By scope and lower-case needle: the bodies that contain it, or `None` when the index
    /// cannot answer for that needle.
    found: HashMap<(TextScope, String), Option<HashSet<BlobHash>>>,
    /// Bodies the index left out (too large): these are read.
    unindexed: HashSet<BlobHash>,
}

impl TextHits {
    fn look_up(store: &crate::imap::Mailstore, key: &SearchKey<'_>) -> crate::Result<TextHits> {
        let mut wanted = Vec::new();
        collect_text_keys(key, &mut wanted, 0);
        if wanted.is_empty() {
            return Ok(TextHits::default());
        }
        store.read(|r| {
            let mut hits = TextHits {
                unindexed: r.unindexed_texts()?,
                ..TextHits::default()
            };
            for (scope, needle) in wanted {
                if hits.found.contains_key(&(scope, needle.clone())) || needle.is_empty() {
                    continue;
                }
                let found = r.text_search(&needle, scope)?;
                hits.found.insert((scope, needle), found);
            }
            Ok(hits)
        })
    }

    /// Whether a body must be read and parsed to answer the text keys.
    fn must_read(&self, blob: BlobHash) -> bool {
        !self.found.is_empty()
            && (self.unindexed.contains(&blob) || self.found.values().any(Option::is_none))
    }

    /// The index's answer, when it has one for this body and needle.
    fn answer(&self, scope: TextScope, needle: &str, blob: BlobHash) -> Option<bool> {
        if needle.is_empty() {
            return Some(true);
        }
        if self.unindexed.contains(&blob) {
            return None;
        }
        let found = self.found.get(&(scope, needle.to_string()))?.as_ref()?;
        Some(found.contains(&blob))
    }
}

fn collect_text_keys(key: &SearchKey<'_>, out: &mut Vec<(TextScope, String)>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match key {
        SearchKey::Body(s) => out.push((TextScope::Body, lower(s))),
        SearchKey::Text(s) => out.push((TextScope::BodyOrHeader, lower(s))),
        SearchKey::And(keys) => {
            for k in keys.as_ref() {
                collect_text_keys(k, out, depth + 1);
            }
        }
        SearchKey::Not(k) => collect_text_keys(k, out, depth + 1),
        SearchKey::Or(a, b) => {
            collect_text_keys(a, out, depth + 1);
            collect_text_keys(b, out, depth + 1);
        }
        _ => {}
    }
}

struct Candidate<'a> {
    seq: u32,
    entry: &'a Known,
    /// Client MODSEQs are read through the store (see `imap::modseq`).
    store: &'a crate::imap::Mailstore,
    view: &'a SelectedView,
    recent: &'a crate::imap::recent::Recent,
    /// The header fields SEARCH compares, lower case.
    text: Option<&'a SearchText>,
    hits: &'a TextHits,
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

    /// The Date field's calendar day in the zone it was written in.
    fn sent_day(&self) -> Option<NaiveDate> {
        let (seconds, offset) = self.text?.sent?;
        let zone = FixedOffset::east_opt(i32::from(offset) * 60)?;
        Some(zone.timestamp_opt(seconds, 0).single()?.date_naive())
    }

    /// A summary field, decoded (RFC 2047 words undone), compared without case: what the user
    /// reads, never the raw `=?utf-8?…?=` form.
    fn field_contains(&self, field: fn(&SearchText) -> &str, needle: &str) -> bool {
        self.text
            .is_some_and(|t| needle.is_empty() || field(t).contains(needle))
    }

    /// Any header field by name, as a person reads it: a value with encoded words decoded,
    /// any other as written (so `<id@host>` still matches a Message-ID).
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
                let raw = String::from_utf8_lossy(raw);
                let text = if raw.contains("=?") {
                    header_text(&h.value)
                } else {
                    raw.split_whitespace().collect::<Vec<_>>().join(" ")
                };
                needle.is_empty() || text.to_lowercase().contains(needle)
            })
    }

    /// The text parts, decoded, of the message and of every message attached to it.
    fn body_contains(&self, needle: &str) -> bool {
        self.parsed
            .is_some_and(|parsed| message_text_contains(parsed, needle, 0))
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
            K::Recent => self.recent.contains(self.entry.uid),
            K::New => self.recent.contains(self.entry.uid) && !self.has("\\Seen"),
            K::Old => !self.recent.contains(self.entry.uid),
            K::Larger(n) => self.entry.size > u64::from(*n),
            K::Smaller(n) => self.entry.size < u64::from(*n),
            K::Before(d) => day(|a, b| a < b, self.internal_day(), d),
            K::On(d) => day(|a, b| a == b, self.internal_day(), d),
            K::Since(d) => day(|a, b| a >= b, self.internal_day(), d),
            K::SentBefore(d) => day(|a, b| a < b, self.sent_day(), d),
            K::SentOn(d) => day(|a, b| a == b, self.sent_day(), d),
            K::SentSince(d) => day(|a, b| a >= b, self.sent_day(), d),
            K::From(s) => self.field_contains(|f| &f.from, &lower(s)),
            K::To(s) => self.field_contains(|f| &f.to, &lower(s)),
            K::Cc(s) => self.field_contains(|f| &f.cc, &lower(s)),
            K::Bcc(s) => self.field_contains(|f| &f.bcc, &lower(s)),
            K::Subject(s) => self.field_contains(|f| &f.subject, &lower(s)),
            K::Header(name, s) => {
                self.header_contains(&String::from_utf8_lossy(name.as_ref()), &lower(s))
            }
            K::Body(s) => {
                let needle = lower(s);
                self.hits
                    .answer(TextScope::Body, &needle, self.entry.blob)
                    .unwrap_or_else(|| self.body_contains(&needle))
            }
            K::Text(s) => {
                let needle = lower(s);
                self.hits
                    .answer(TextScope::BodyOrHeader, &needle, self.entry.blob)
                    .unwrap_or_else(|| {
                        self.body_contains(&needle) || self.all_headers_contain(&needle)
                    })
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

/// Whether a message's text parts, or those of messages attached to it, contain `needle`.
fn message_text_contains(message: &Message<'_>, needle: &str, depth: usize) -> bool {
    message.parts.iter().any(|part| match &part.body {
        PartType::Text(text) | PartType::Html(text) => text.to_lowercase().contains(needle),
        PartType::Message(inner) if depth < crate::summary::MAX_DEPTH => {
            message_text_contains(inner, needle, depth + 1)
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esearch_lines_carry_what_was_asked_for() {
        let all = SearchReturn {
            min: true,
            max: true,
            all: true,
            count: true,
            save: false,
        };
        let line = esearch_line("a1", true, &all, &[4, 1, 2, 3, 9, 10, 12], None);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "* ESEARCH (TAG \"a1\") UID MIN 1 MAX 12 ALL 1:4,9:10,12 COUNT 7\r\n"
        );
        let line = esearch_line("b", false, &all, &[], None);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "* ESEARCH (TAG \"b\") COUNT 0\r\n"
        );
    }
}
