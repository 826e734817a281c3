//! RFC 3516 BINARY: a part's content with its Content-Transfer-Encoding undone, from the
//! summary's offsets. A leaf part is decoded. A part that holds others (the whole message,
//! a multipart, an attached message) comes back as its bytes with every encoded leaf inside
//! decoded and its `Content-Transfer-Encoding` field made `binary`, as Dovecot answers, so
//! the client gets one consistent message without any transfer encoding.

use crate::summary::{Part, PartKind, Span, Summary, header};
use mail_parser::decoders::{base64::base64_decode, quoted_printable::quoted_printable_decode};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    /// RFC 3516 §4.3: `NO [UNKNOWN-CTE]`.
    #[error("unknown Content-Transfer-Encoding {0:?}")]
    UnknownEncoding(String),
    /// The content does not decode under the encoding it names.
    #[error("invalid {0} data in MIME part")]
    Undecodable(&'static str),
}

/// The decoded section: its bytes, and whether any decoding happened (the answer is then
/// sent as a literal8, as it may hold any octet).
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub bytes: Vec<u8>,
    pub decoded: bool,
}

/// `path` empty: the whole message. A part number the message does not have gives an empty
/// section, as BODY[] does.
pub fn section(summary: &Summary, raw: &[u8], path: &[u32]) -> Result<Decoded, BinaryError> {
    if path.is_empty() {
        let whole = Span {
            start: 0,
            end: u32::try_from(raw.len()).unwrap_or(u32::MAX),
        };
        return rewrite(&summary.root, raw, whole, true);
    }
    let Some(part) = summary.part(path) else {
        return Ok(Decoded {
            bytes: Vec::new(),
            decoded: false,
        });
    };
    match &part.kind {
        PartKind::Single => leaf(part, raw),
        PartKind::Message { .. } if !is_identity(&part.encoding) => leaf(part, raw),
        PartKind::Message { inner, .. } => rewrite(inner, raw, part.body, true),
        PartKind::Multipart(_) => rewrite(part, raw, part.body, false),
    }
}

fn is_identity(encoding: &str) -> bool {
    let encoding = encoding.trim();
    ["7BIT", "8BIT", "BINARY", ""]
        .iter()
        .any(|e| encoding.eq_ignore_ascii_case(e))
}

fn decode(encoding: &str, content: &[u8]) -> Result<Option<Vec<u8>>, BinaryError> {
    let encoding = encoding.trim();
    if is_identity(encoding) {
        Ok(None)
    } else if encoding.eq_ignore_ascii_case("BASE64") {
        base64_decode(content)
            .map(Some)
            .ok_or(BinaryError::Undecodable("base64"))
    } else if encoding.eq_ignore_ascii_case("QUOTED-PRINTABLE") {
        quoted_printable_decode(content)
            .map(Some)
            .ok_or(BinaryError::Undecodable("quoted-printable"))
    } else {
        Err(BinaryError::UnknownEncoding(encoding.to_string()))
    }
}

fn leaf(part: &Part, raw: &[u8]) -> Result<Decoded, BinaryError> {
    let content = part.body.of(raw);
    Ok(match decode(&part.encoding, content)? {
        Some(bytes) => Decoded {
            bytes,
            decoded: true,
        },
        None => Decoded {
            bytes: content.to_vec(),
            decoded: false,
        },
    })
}

/// The bytes of `span` with each encoded leaf under `node` decoded in place. `own_header`:
/// the node's header lies inside `span` (a message, not a multipart's content).
fn rewrite(node: &Part, raw: &[u8], span: Span, own_header: bool) -> Result<Decoded, BinaryError> {
    let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    collect(node, raw, own_header, &mut edits)?;
    edits.sort_by_key(|(start, _, _)| *start);
    let (start, end) = (span.start as usize, (span.end as usize).min(raw.len()));
    let mut bytes = Vec::with_capacity(end.saturating_sub(start));
    let mut at = start;
    for (from, to, replacement) in &edits {
        if *from < at || *to > end {
            continue;
        }
        bytes.extend_from_slice(&raw[at..*from]);
        bytes.extend_from_slice(replacement);
        at = *to;
    }
    bytes.extend_from_slice(&raw[at.min(end)..end]);
    Ok(Decoded {
        bytes,
        decoded: !edits.is_empty(),
    })
}

fn collect(
    node: &Part,
    raw: &[u8],
    own_header: bool,
    edits: &mut Vec<(usize, usize, Vec<u8>)>,
) -> Result<(), BinaryError> {
    match &node.kind {
        PartKind::Multipart(children) => {
            for child in children {
                collect(child, raw, true, edits)?;
            }
        }
        PartKind::Message { inner, .. } if is_identity(&node.encoding) => {
            collect(inner, raw, true, edits)?;
        }
        PartKind::Single | PartKind::Message { .. } => {
            let Some(decoded) = decode(&node.encoding, node.body.of(raw))? else {
                return Ok(());
            };
            if own_header && let Some((from, to)) = encoding_field(node.header, raw) {
                edits.push((from, to, b"Content-Transfer-Encoding: binary\r\n".to_vec()));
            }
            edits.push((node.body.start as usize, node.body.end as usize, decoded));
        }
    }
    Ok(())
}

/// Where the Content-Transfer-Encoding field lies in a header block, folded lines and
/// CRLF included.
fn encoding_field(header_span: Span, raw: &[u8]) -> Option<(usize, usize)> {
    let block = header_span.of(raw);
    let base = block.as_ptr() as usize;
    header::header_fields_of(block)
        .into_iter()
        .find_map(|field| {
            let (name, _) = header::split_field(field)?;
            if !name.eq_ignore_ascii_case(b"Content-Transfer-Encoding") {
                return None;
            }
            // Both slices point into `block`: the difference is the field's offset in it.
            let offset = field.as_ptr() as usize - base;
            let start = header_span.start as usize + offset;
            Some((start, start + field.len()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(message: &str, path: &[u32]) -> Result<(String, bool), BinaryError> {
        let summary = Summary::of(message.as_bytes());
        section(&summary, message.as_bytes(), path)
            .map(|d| (String::from_utf8_lossy(&d.bytes).into_owned(), d.decoded))
    }

    const MIXED: &str = "From: a@b\r\nSubject: mixed\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
        Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
        J=C3=B6rg=\r\n soft\r\n--b\r\nContent-Type: application/octet-stream\r\n\
        Content-Transfer-Encoding: base64\r\n\r\nAAECA2hlbGxvAA==\r\n--b\r\n\
        Content-Type: message/rfc822\r\n\r\nSubject: in\r\nContent-Transfer-Encoding: base64\r\n\r\n\
        aW5uZXI=\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n\
        begin\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n\
        !!!not base64***\r\n--b--\r\n";

    #[test]
    fn leaves_are_decoded_as_dovecot_decodes_them() {
        assert_eq!(decoded(MIXED, &[1]), Ok(("Jörg soft".into(), true)));
        assert_eq!(
            decoded(MIXED, &[2]),
            Ok(("\0\u{1}\u{2}\u{3}hello\0".into(), true))
        );
        assert_eq!(decoded(MIXED, &[3, 1]), Ok(("inner".into(), true)));
        assert_eq!(decoded(MIXED, &[9]), Ok((String::new(), false)));
        assert_eq!(
            decoded(MIXED, &[4]),
            Err(BinaryError::UnknownEncoding("X-UUENCODE".into()))
        );
        assert_eq!(
            decoded(MIXED, &[5]),
            Err(BinaryError::Undecodable("base64"))
        );
        // The whole message holds a part nobody can decode.
        assert!(matches!(
            decoded(MIXED, &[]),
            Err(BinaryError::UnknownEncoding(_))
        ));
    }

    #[test]
    fn a_message_comes_back_whole_with_its_encoded_leaves_decoded() {
        assert_eq!(
            decoded(MIXED, &[3]),
            Ok((
                "Subject: in\r\nContent-Transfer-Encoding: binary\r\n\r\ninner".into(),
                true
            ))
        );
        let top = "From: a@b\r\nSubject: top\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n";
        assert_eq!(
            decoded(top, &[]),
            Ok((
                "From: a@b\r\nSubject: top\r\nContent-Transfer-Encoding: binary\r\n\r\nhello world"
                    .into(),
                true
            ))
        );
        assert_eq!(decoded(top, &[1]), Ok(("hello world".into(), true)));
        let plain = "From: a@b\r\nSubject: plain\r\n\r\nplain text\r\n";
        assert_eq!(decoded(plain, &[1]), Ok(("plain text\r\n".into(), false)));
        assert_eq!(decoded(plain, &[]), Ok((plain.into(), false)));
    }
}
