//! NAMESPACE (RFC 2342): one personal namespace, no prefix, `/` as separator.

use crate::imap::reply::{Outcome, Replies};
use imap_types::core::{IString, QuotedChar};
use imap_types::extensions::namespace::Namespace;
use imap_types::response::Data;

pub fn run(out: &mut Replies) -> Outcome {
    let personal = IString::try_from("").map(|prefix| Namespace {
        prefix,
        delimiter: Some(QuotedChar::unvalidated('/')),
        extensions: Vec::new(),
    });
    out.data(Data::Namespace {
        personal: personal.into_iter().collect(),
        other: Vec::new(),
        shared: Vec::new(),
    });
    Outcome::ok("NAMESPACE completed")
}
