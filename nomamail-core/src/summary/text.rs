//! The decoded text SEARCH BODY and TEXT compare, as the full-text index keeps it: every text
//! part of the message and of the messages attached to it (transfer encoding and charset
//! undone), and the root header values with encoded words decoded — all in lower case.
//!
//! Parts are joined by `PART_SEPARATOR`, a control character no search string holds (a
//! search for one is answered without the index), so a match never straddles two parts.

use super::MAX_DEPTH;
use super::header::header_text;
use mail_parser::{Message, MessageParser, PartType};

pub const PART_SEPARATOR: char = '\u{1f}';

/// Text beyond this size (body and header together) is not indexed: such a message is
/// searched by reading it, so one huge log file does not bloat every store that holds it.
pub const MAX_INDEXED: usize = 1 << 20;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchableText {
    pub body: String,
    pub head: String,
}

impl SearchableText {
    pub fn of(raw: &[u8]) -> SearchableText {
        MessageParser::default()
            .parse(raw)
            .map(|m| Self::of_message(&m))
            .unwrap_or_default()
    }

    pub fn of_message(message: &Message<'_>) -> SearchableText {
        let mut body = String::new();
        push_text_parts(message, &mut body, 0);
        let mut head = String::new();
        if let Some(root) = message.parts.first() {
            for header in &root.headers {
                push_part(&mut head, &header_text(&header.value).to_lowercase());
            }
        }
        SearchableText { body, head }
    }

    pub fn len(&self) -> usize {
        self.body.len() + self.head.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn push_part(out: &mut String, part: &str) {
    if !out.is_empty() {
        out.push(PART_SEPARATOR);
    }
    out.push_str(part);
}

fn push_text_parts(message: &Message<'_>, out: &mut String, depth: usize) {
    for part in &message.parts {
        match &part.body {
            PartType::Text(text) | PartType::Html(text) => push_part(out, &text.to_lowercase()),
            PartType::Message(inner) if depth < MAX_DEPTH => {
                push_text_parts(inner, out, depth + 1);
            }
            _ => {}
        }
    }
}

/// Whether a needle can be looked for in a `SearchableText`: one holding the separator could
/// match across two parts there.
pub fn searchable(needle: &str) -> bool {
    !needle.contains(PART_SEPARATOR)
}
