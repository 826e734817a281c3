//! Message summaries: what IMAP reads out of a message without its bytes — size, ENVELOPE,
//! the MIME tree with each part's offsets, size and lines, and the decoded header fields that
//! SEARCH and SORT compare.
//!
//! A summary is a function of the message bytes only (`Summary::of`), so every replica that
//! holds a body computes the same one, and it can travel ahead of the body on a slow link:
//! a client can list a message (FETCH ENVELOPE, BODYSTRUCTURE, header SEARCH) before its body
//! has arrived. It is a wire type: serde structs of plain data, no IMAP library types, encoded
//! by `encode`/`decode` with a version so a replica never misreads one from another build.
//! Offsets are absolute within the message bytes, so any section is a slice of the body.

mod build;
pub mod casemap;
pub mod header;
pub mod subject;
pub mod text;

use serde::{Deserialize, Serialize};

/// Bumped whenever `Summary::of` would give a different answer for the same bytes; stored
/// summaries of another version are computed again.
pub const SUMMARY_VERSION: u32 = 2;

/// A byte range `[start, end)` of the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn of<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        let end = (self.end as usize).min(raw.len());
        let start = (self.start as usize).min(end);
        &raw[start..end]
    }

    pub fn len(&self) -> u32 {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub version: u32,
    pub size: u64,
    pub envelope: Envelope,
    /// The message itself as a part: its header block and text, its MIME tree.
    pub root: Part,
    pub fields: SearchFields,
}

/// RFC 3501's ENVELOPE: strings as they stand in the header (encoded words left encoded),
/// `None` where the header has no such field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub date: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<Vec<u8>>,
    pub message_id: Option<Vec<u8>>,
}

/// One address, or a group's start (`mailbox` the group name, no host) or end (all `None`)
/// marker, as RFC 3501 lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    pub adl: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

/// One MIME part. For the root, `header` is the message header and `body` its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The part's own header block, blank line included (BODY[n.MIME]).
    pub header: Span,
    /// The content, still in its transfer encoding (BODY[n]).
    pub body: Span,
    /// Upper case, as BODYSTRUCTURE sends it (`TEXT`, `PLAIN`).
    pub media_type: String,
    pub media_subtype: String,
    /// Content-Type parameters, names upper case.
    pub params: Vec<(String, String)>,
    pub id: Option<Vec<u8>>,
    pub description: Option<Vec<u8>>,
    pub encoding: String,
    pub md5: Option<Vec<u8>>,
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Vec<String>,
    pub location: Option<Vec<u8>>,
    /// Lines of the content (text and message parts report them).
    pub lines: u32,
    pub kind: PartKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartKind {
    Single,
    Multipart(Vec<Part>),
    /// message/rfc822: the message inside, its root a part of its own.
    Message {
        envelope: Box<Envelope>,
        inner: Box<Part>,
    },
}

/// Header fields as people search and sort them: encoded words decoded, addresses as
/// `Name <address>` lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchFields {
    pub subject: String,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    /// The Date field: seconds since the epoch (UTC) and the zone it was written in, minutes.
    pub sent: Option<(i64, i16)>,
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The first address of From, To and Cc, as SORT (RFC 5256, RFC 5957) compares them.
    pub first_from: FirstAddress,
    pub first_to: FirstAddress,
    pub first_cc: FirstAddress,
}

/// The first real address of a field (group markers skipped).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstAddress {
    /// The local part (RFC 3501's addr-mailbox): SORT FROM, TO and CC.
    pub mailbox: String,
    /// The decoded display name, or the address where there is none: SORT DISPLAYFROM and
    /// DISPLAYTO.
    pub display: String,
}

/// The search fields of a mailbox's messages, looked up once per message per search: a
/// fast hash (randomly seeded per map, as the standard one is) instead of SipHash, which
/// was a tenth of a SUBJECT search.
pub type TextsById = std::collections::HashMap<
    crate::ids::EntryId,
    std::sync::Arc<SearchText>,
    foldhash::fast::RandomState,
>;

/// The search and sort fields in lower case, as SEARCH and SORT compare them
/// (case-insensitively).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchText {
    pub subject: String,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    pub sent: Option<(i64, i16)>,
    pub from_mailbox: String,
    pub to_mailbox: String,
    pub cc_mailbox: String,
    pub from_display: String,
    pub to_display: String,
    /// SORT SUBJECT's key (the base subject, casemapped), worked out the first time a sort
    /// asks for it: the text is cached with the body, so later sorts reuse it.
    pub sort_subject: std::sync::OnceLock<String>,
}

impl SearchText {
    pub fn sort_subject(&self) -> &str {
        self.sort_subject
            .get_or_init(|| casemap::casemap(&subject::base_subject(&self.subject).text))
    }
}

impl SearchFields {
    pub fn search_text(&self) -> SearchText {
        SearchText {
            subject: self.subject.to_lowercase(),
            from: self.from.to_lowercase(),
            to: self.to.to_lowercase(),
            cc: self.cc.to_lowercase(),
            bcc: self.bcc.to_lowercase(),
            sent: self.sent,
            from_mailbox: self.first_from.mailbox.to_lowercase(),
            to_mailbox: self.first_to.mailbox.to_lowercase(),
            cc_mailbox: self.first_cc.mailbox.to_lowercase(),
            from_display: self.first_from.display.to_lowercase(),
            to_display: self.first_to.display.to_lowercase(),
            sort_subject: Default::default(),
        }
    }
}

/// A summary could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("summary is not valid CBOR: {0}")]
    Decode(String),
    #[error("summary is of version {found}, this build reads {SUMMARY_VERSION}")]
    Version { found: u32 },
}

/// Nesting deeper than this is cut off: each level costs stack, and no real mail nests so far.
pub const MAX_DEPTH: usize = 32;

impl Summary {
    /// The summary of a message. Never fails: bytes that are not a message still have a size
    /// and a one-part structure.
    pub fn of(raw: &[u8]) -> Summary {
        build::summary(raw)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing plain structs into a Vec cannot fail.
        let _ = ciborium::into_writer(self, &mut out);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Summary, SummaryError> {
        let summary: Summary = ciborium::de::from_reader_with_recursion_limit(bytes, 256)
            .map_err(|e| SummaryError::Decode(e.to_string()))?;
        if summary.version != SUMMARY_VERSION {
            return Err(SummaryError::Version {
                found: summary.version,
            });
        }
        Ok(summary)
    }

    /// The header block of the message, blank line included.
    pub fn header(&self) -> Span {
        self.root.header
    }

    /// The part a section's part number leads to (RFC 3501 §6.4.5): numbers pick children of
    /// multiparts; a non-multipart has only part 1 (itself, as Dovecot reads `2.1` of a
    /// single part 2 too); after a message/rfc822 part, the next number applies to the
    /// message inside it.
    pub fn part(&self, path: &[u32]) -> Option<&Part> {
        let mut at = &self.root;
        let mut entered_message = true;
        for &n in path {
            if !entered_message && let PartKind::Message { inner, .. } = &at.kind {
                at = inner;
            }
            match &at.kind {
                PartKind::Multipart(children) => {
                    at = children.get((n as usize).checked_sub(1)?)?;
                }
                _ if n == 1 => {}
                _ => return None,
            }
            entered_message = false;
        }
        Some(at)
    }

    /// The message a section's HEADER or TEXT applies to: the whole message for no part
    /// number, else the message inside the message/rfc822 part the number names.
    pub fn message_at(&self, path: &[u32]) -> Option<&Part> {
        if path.is_empty() {
            return Some(&self.root);
        }
        match &self.part(path)?.kind {
            PartKind::Message { inner, .. } => Some(inner),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
