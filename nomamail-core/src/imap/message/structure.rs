//! BODY and BODYSTRUCTURE (RFC 3501 §7.4.2) on the wire, from a summary's MIME tree; for
//! BODYSTRUCTURE with the extension data (MD5, disposition, language, location).

use super::envelope::{nstring, to_imap as envelope};
use crate::summary::{Part, PartKind};
use imap_types::body::{
    BasicFields, Body, BodyStructure, Disposition, Language, Location, MultiPartExtensionData,
    SinglePartExtensionData, SpecificFields,
};
use imap_types::core::{IString, Vec1};

pub fn to_imap(part: &Part, extensible: bool) -> BodyStructure<'static> {
    match &part.kind {
        PartKind::Multipart(children) => {
            let bodies: Vec<BodyStructure<'static>> = children
                .iter()
                .map(|child| to_imap(child, extensible))
                .collect();
            let bodies = Vec1::try_from(bodies).unwrap_or_else(|_| Vec1::from(empty_text()));
            BodyStructure::Multi {
                bodies,
                subtype: istring(&part.media_subtype),
                extension_data: extensible.then(|| MultiPartExtensionData {
                    parameter_list: parameters(&part.params),
                    tail: Some(disposition_tail(part)),
                }),
            }
        }
        kind => {
            let basic = BasicFields {
                parameter_list: parameters(&part.params),
                id: nstring(part.id.clone()),
                description: nstring(part.description.clone()),
                content_transfer_encoding: istring(&part.encoding),
                size: part.body.len(),
            };
            let specific = match kind {
                PartKind::Message {
                    envelope: inner_envelope,
                    inner,
                } => SpecificFields::Message {
                    envelope: Box::new(envelope(inner_envelope)),
                    body_structure: Box::new(to_imap(inner, extensible)),
                    number_of_lines: part.lines,
                },
                _ if part.media_type == "TEXT" => SpecificFields::Text {
                    subtype: istring(&part.media_subtype),
                    number_of_lines: part.lines,
                },
                _ => SpecificFields::Basic {
                    r#type: istring(&part.media_type),
                    subtype: istring(&part.media_subtype),
                },
            };
            BodyStructure::Single {
                body: Body { basic, specific },
                extension_data: extensible.then(|| SinglePartExtensionData {
                    md5: nstring(part.md5.clone()),
                    tail: Some(disposition_tail(part)),
                }),
            }
        }
    }
}

fn istring(text: &str) -> IString<'static> {
    // Only a NUL makes a string unsendable; an empty quoted string is always valid.
    IString::try_from(text.replace('\0', ""))
        .unwrap_or_else(|_| IString::from(imap_types::core::Quoted::unvalidated("")))
}

fn parameters(params: &[(String, String)]) -> Vec<(IString<'static>, IString<'static>)> {
    params
        .iter()
        .map(|(name, value)| (istring(name), istring(value)))
        .collect()
}

fn disposition_tail(part: &Part) -> Disposition<'static> {
    Disposition {
        disposition: part
            .disposition
            .as_ref()
            .map(|(kind, params)| (istring(kind), parameters(params))),
        tail: Some(Language {
            language: part.language.iter().map(|tag| istring(tag)).collect(),
            tail: Some(Location {
                location: nstring(part.location.clone()),
                extensions: Vec::new(),
            }),
        }),
    }
}

fn empty_text() -> BodyStructure<'static> {
    BodyStructure::Single {
        body: Body {
            basic: BasicFields {
                parameter_list: Vec::new(),
                id: imap_types::core::NString(None),
                description: imap_types::core::NString(None),
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
