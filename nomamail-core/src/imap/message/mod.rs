//! What FETCH and SEARCH read out of a stored message: body sections by RFC 3501 part
//! numbers, header fields, the envelope and (in `structure`) the body structure. Parsing is
//! mail-parser's; section bytes are cut from the raw message by its part offsets, so they are
//! exactly what was stored.

pub mod envelope;
pub mod structure;

use mail_parser::{Message, MessageParser, PartType};
use std::num::NonZeroU32;

pub fn parse(raw: &[u8]) -> Option<Message<'_>> {
    MessageParser::default().parse(raw)
}

/// The message a part number path leads into and the index of the part in it, following
/// RFC 3501 §6.4.5: numbers pick children of multiparts; a non-multipart has only part 1;
/// a message/rfc822 part's further numbers apply to the message inside it.
pub fn locate<'m>(
    message: &'m Message<'m>,
    path: &[NonZeroU32],
) -> Option<(&'m Message<'m>, usize)> {
    let mut message = message;
    let mut part = 0usize;
    for (step, n) in path.iter().enumerate() {
        if step > 0
            && let PartType::Message(inner) = &message.parts.get(part)?.body
        {
            message = inner;
            part = 0;
        }
        match &message.parts.get(part)?.body {
            PartType::Multipart(children) => {
                part = *children.get(n.get() as usize - 1)? as usize;
            }
            _ if n.get() == 1 && (step == 0 || part == 0) => {}
            _ => return None,
        }
    }
    Some((message, part))
}

fn slice(raw: &[u8], start: u32, end: u32) -> &[u8] {
    let end = (end as usize).min(raw.len());
    let start = (start as usize).min(end);
    &raw[start..end]
}

/// The header block of a message's root part, blank line included.
pub fn header<'a>(message: &'a Message<'_>) -> &'a [u8] {
    match message.parts.first() {
        Some(root) => slice(&message.raw_message, root.offset_header, root.offset_body),
        None => &message.raw_message,
    }
}

/// Everything after the header block.
pub fn text<'a>(message: &'a Message<'_>) -> &'a [u8] {
    match message.parts.first() {
        Some(root) => slice(
            &message.raw_message,
            root.offset_body,
            root.offset_end.max(message.raw_message.len() as u32),
        ),
        None => &[],
    }
}

/// A part's content, still in its transfer encoding.
pub fn part_body<'a>(message: &'a Message<'a>, part: usize) -> &'a [u8] {
    match message.parts.get(part) {
        Some(p) => slice(&message.raw_message, p.offset_body, p.offset_end),
        None => &[],
    }
}

/// A part's own MIME header block.
pub fn part_mime<'a>(message: &'a Message<'a>, part: usize) -> &'a [u8] {
    match message.parts.get(part) {
        Some(p) => slice(&message.raw_message, p.offset_header, p.offset_body),
        None => &[],
    }
}

/// The message inside a message/rfc822 part, if the part is one.
pub fn inner_message<'a>(message: &'a Message<'a>, part: usize) -> Option<&'a Message<'a>> {
    match &message.parts.get(part)?.body {
        PartType::Message(inner) => Some(inner),
        _ => None,
    }
}

/// The fields of a header block, each with its continuation lines and line ends.
fn fields(block: &[u8]) -> Vec<&[u8]> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < block.len() {
        let line_end = block[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(block.len(), |p| i + p + 1);
        let line = &block[i..line_end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !matches!(line.first(), Some(b' ' | b'\t')) && i > start {
            fields.push(&block[start..i]);
            start = i;
        }
        i = line_end;
    }
    if i > start {
        fields.push(&block[start..i]);
    }
    fields
}

/// A field's name and raw value (everything after the colon), or `None` for a line that is
/// not a field.
fn split_field(field: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = field.iter().position(|&b| b == b':')?;
    Some((field[..colon].trim_ascii(), &field[colon + 1..]))
}

/// The header fields of `block` whose names are (or, with `keep` false, are not) in
/// `names`, compared without case; then the blank line, as BODY[HEADER.FIELDS] returns them.
pub fn header_fields(block: &[u8], names: &[&[u8]], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields(block) {
        let Some((name, _)) = split_field(field) else {
            continue;
        };
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) == keep {
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The raw value of the first header field called `name`, unfolded and trimmed.
pub fn raw_header_value(block: &[u8], name: &str) -> Option<Vec<u8>> {
    let value = fields(block).into_iter().find_map(|field| {
        let (field_name, value) = split_field(field)?;
        field_name
            .eq_ignore_ascii_case(name.as_bytes())
            .then_some(value)
    })?;
    let unfolded: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    Some(unfolded.trim_ascii().to_vec())
}

#[cfg(test)]
mod tests;
