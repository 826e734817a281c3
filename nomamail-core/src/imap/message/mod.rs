//! What FETCH reads out of a stored message, from its summary and its bytes, without parsing
//! it again: body sections by RFC 3501 part numbers (slices of the stored bytes at the
//! summary's offsets), header fields, and, in `envelope` and `structure`, the summary's
//! ENVELOPE and BODYSTRUCTURE as IMAP types, and in `binary` BINARY's decoded sections.

pub mod binary;
pub mod envelope;
pub mod structure;

use crate::summary::{Summary, header};
use imap_types::fetch::Section;
use mail_parser::{Message, MessageParser};

/// A full parse, for what summaries do not hold (body text, arbitrary header fields).
pub fn parse(raw: &[u8]) -> Option<Message<'_>> {
    MessageParser::default().parse(raw)
}

/// The header fields of `block` whose names are (or, with `keep` false, are not) in
/// `names`, compared without case; then the blank line, as BODY[HEADER.FIELDS] returns them.
pub fn header_fields(block: &[u8], names: &[&[u8]], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for field in header::header_fields_of(block) {
        let Some((name, _)) = header::split_field(field) else {
            continue;
        };
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) == keep {
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The bytes of a section; `None` for a part number the message does not have (RFC 3501
/// leaves this to the server; an empty string is what clients cope with best).
pub fn section_bytes(summary: &Summary, raw: &[u8], section: &Section<'_>) -> Option<Vec<u8>> {
    let numbers = |part: &Option<imap_types::fetch::Part>| -> Vec<u32> {
        part.as_ref()
            .map(|p| p.0.as_ref().iter().map(|n| n.get()).collect())
            .unwrap_or_default()
    };
    let names = |names: &imap_types::core::Vec1<imap_types::core::AString<'_>>| -> Vec<Vec<u8>> {
        names.as_ref().iter().map(|n| n.as_ref().to_vec()).collect()
    };
    let fields = |part: &Option<imap_types::fetch::Part>, wanted: Vec<Vec<u8>>, keep: bool| {
        let message = summary.message_at(&numbers(part))?;
        let wanted: Vec<&[u8]> = wanted.iter().map(Vec::as_slice).collect();
        Some(header_fields(message.header.of(raw), &wanted, keep))
    };
    Some(match section {
        Section::Header(part) => summary.message_at(&numbers(part))?.header.of(raw).to_vec(),
        Section::Text(part) => summary.message_at(&numbers(part))?.body.of(raw).to_vec(),
        Section::HeaderFields(part, wanted) => fields(part, names(wanted), true)?,
        Section::HeaderFieldsNot(part, wanted) => fields(part, names(wanted), false)?,
        Section::Part(path) => {
            let path: Vec<u32> = path.0.as_ref().iter().map(|n| n.get()).collect();
            summary.part(&path)?.body.of(raw).to_vec()
        }
        Section::Mime(path) => {
            let path: Vec<u32> = path.0.as_ref().iter().map(|n| n.get()).collect();
            summary.part(&path)?.header.of(raw).to_vec()
        }
    })
}

#[cfg(test)]
mod tests;
