//! BODY and BODYSTRUCTURE (RFC 3501 §7.4.2): the MIME tree with each part's type,
//! parameters, encoding and size in bytes as stored, and, for BODYSTRUCTURE, the extension
//! data (MD5, disposition, language, location).

use super::envelope::{envelope, nstring};
use super::{part_body, part_mime, raw_header_value};
use imap_types::body::{
    BasicFields, Body, BodyStructure, Disposition, Language, Location, MultiPartExtensionData,
    SinglePartExtensionData, SpecificFields,
};
use imap_types::core::{IString, NString, Vec1};
use mail_parser::{ContentType, HeaderName, HeaderValue, Message, MessagePart, PartType};

/// Deeper MIME trees are cut off here: each level costs stack, and no real mail nests so far.
const MAX_DEPTH: usize = 32;

pub fn body_structure(message: &Message<'_>, extensible: bool) -> BodyStructure<'static> {
    part_structure(message, 0, extensible, 0)
}

fn istring(text: &str) -> IString<'static> {
    // Only a NUL makes a string unsendable; an empty quoted string is always valid.
    IString::try_from(text.replace('\0', ""))
        .unwrap_or_else(|_| IString::from(imap_types::core::Quoted::unvalidated("")))
}

fn content_type<'a>(
    part: &'a MessagePart<'a>,
    name: HeaderName<'_>,
) -> Option<&'a ContentType<'a>> {
    part.headers
        .iter()
        .find(|h| h.name == name)
        .and_then(|h| match &h.value {
            HeaderValue::ContentType(ct) => Some(ct),
            _ => None,
        })
}

fn parameters(ct: Option<&ContentType<'_>>) -> Vec<(IString<'static>, IString<'static>)> {
    ct.and_then(|ct| ct.attributes.as_ref())
        .map(|attributes| {
            attributes
                .iter()
                .map(|a| (istring(&a.name.to_ascii_uppercase()), istring(&a.value)))
                .collect()
        })
        .unwrap_or_default()
}

fn lines(body: &[u8]) -> u32 {
    let newlines = body.iter().filter(|&&b| b == b'\n').count();
    let unterminated = usize::from(!body.is_empty() && !body.ends_with(b"\n"));
    u32::try_from(newlines + unterminated).unwrap_or(u32::MAX)
}

fn part_structure(
    message: &Message<'_>,
    index: usize,
    extensible: bool,
    depth: usize,
) -> BodyStructure<'static> {
    let Some(part) = message.parts.get(index) else {
        return text_plain_empty();
    };
    let ct = content_type(part, HeaderName::ContentType);
    let disposition = content_type(part, HeaderName::ContentDisposition);
    let mime = part_mime(message, index);
    if let PartType::Multipart(children) = &part.body {
        let bodies: Vec<BodyStructure<'static>> = if depth >= MAX_DEPTH {
            Vec::new()
        } else {
            children
                .iter()
                .map(|&child| part_structure(message, child as usize, extensible, depth + 1))
                .collect()
        };
        let subtype = ct
            .and_then(|ct| ct.c_subtype.as_deref())
            .unwrap_or("mixed")
            .to_ascii_uppercase();
        let bodies = Vec1::try_from(bodies).unwrap_or_else(|_| Vec1::from(text_plain_empty()));
        return BodyStructure::Multi {
            bodies,
            subtype: istring(&subtype),
            extension_data: extensible.then(|| MultiPartExtensionData {
                parameter_list: parameters(ct),
                tail: Some(disposition_tail(disposition, mime)),
            }),
        };
    }
    let body = part_body(message, index);
    let (main, sub) = match ct {
        Some(ct) => (
            ct.c_type.to_ascii_uppercase(),
            ct.c_subtype.as_deref().unwrap_or("").to_ascii_uppercase(),
        ),
        None => ("TEXT".to_string(), "PLAIN".to_string()),
    };
    let mut parameter_list = parameters(ct);
    if ct.is_none() {
        parameter_list.push((istring("CHARSET"), istring("US-ASCII")));
    }
    let encoding = raw_header_value(mime, "Content-Transfer-Encoding")
        .map(|e| String::from_utf8_lossy(&e).to_ascii_uppercase())
        .unwrap_or_else(|| "7BIT".to_string());
    let basic = BasicFields {
        parameter_list,
        id: nstring(raw_header_value(mime, "Content-ID")),
        description: nstring(raw_header_value(mime, "Content-Description")),
        content_transfer_encoding: istring(&encoding),
        size: u32::try_from(body.len()).unwrap_or(u32::MAX),
    };
    let specific = match &part.body {
        PartType::Message(inner) if depth < MAX_DEPTH => SpecificFields::Message {
            envelope: Box::new(envelope(inner)),
            body_structure: Box::new(part_structure(inner, 0, extensible, depth + 1)),
            number_of_lines: lines(body),
        },
        _ if main == "TEXT" => SpecificFields::Text {
            subtype: istring(&sub),
            number_of_lines: lines(body),
        },
        _ => SpecificFields::Basic {
            r#type: istring(&main),
            subtype: istring(&sub),
        },
    };
    BodyStructure::Single {
        body: Body { basic, specific },
        extension_data: extensible.then(|| SinglePartExtensionData {
            md5: nstring(raw_header_value(mime, "Content-MD5")),
            tail: Some(disposition_tail(disposition, mime)),
        }),
    }
}

fn disposition_tail(disposition: Option<&ContentType<'_>>, mime: &[u8]) -> Disposition<'static> {
    Disposition {
        disposition: disposition
            .map(|d| (istring(&d.c_type.to_ascii_uppercase()), parameters(Some(d)))),
        tail: Some(Language {
            language: raw_header_value(mime, "Content-Language")
                .map(|l| {
                    String::from_utf8_lossy(&l)
                        .split(',')
                        .map(|tag| istring(tag.trim()))
                        .collect()
                })
                .unwrap_or_default(),
            tail: Some(Location {
                location: nstring(raw_header_value(mime, "Content-Location")),
                extensions: Vec::new(),
            }),
        }),
    }
}

fn text_plain_empty() -> BodyStructure<'static> {
    BodyStructure::Single {
        body: Body {
            basic: BasicFields {
                parameter_list: Vec::new(),
                id: NString(None),
                description: NString(None),
                content_transfer_encoding: istring("7BIT"),
                size: 0,
            },
            specific: SpecificFields::Text {
                subtype: istring("PLAIN"),
                number_of_lines: 0,
            },
        },
        extension_data: None,
    }
}
