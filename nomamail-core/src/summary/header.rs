//! Header blocks as IMAP reads them: fields with their continuation lines, raw values, and
//! parsed values as the text people search.

use mail_parser::HeaderValue;

/// A parsed header value as text a user would search: decoded words, names and addresses.
pub fn header_text(value: &HeaderValue<'_>) -> String {
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
            out.trim_end().to_string()
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

/// The fields of a header block, each with its continuation lines and line ends.
pub fn header_fields_of(block: &[u8]) -> Vec<&[u8]> {
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
pub fn split_field(field: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = field.iter().position(|&b| b == b':')?;
    Some((field[..colon].trim_ascii(), &field[colon + 1..]))
}

/// The raw value of the first header field called `name`, unfolded and trimmed.
pub fn raw_header_value(block: &[u8], name: &str) -> Option<Vec<u8>> {
    let value = header_fields_of(block).into_iter().find_map(|field| {
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
