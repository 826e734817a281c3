//! ID (RFC 2971): the server names itself; what the client says is not needed.

use crate::imap::reply::{Outcome, Replies};
use imap_types::core::{IString, NString};
use imap_types::response::Data;

pub fn run(_client: Option<Vec<(IString<'_>, NString<'_>)>>, out: &mut Replies) -> Outcome {
    let parameters = [("name", "NomaMail"), ("version", env!("CARGO_PKG_VERSION"))]
        .into_iter()
        .filter_map(|(key, value)| {
            Some((IString::try_from(key).ok()?, NString::try_from(value).ok()?))
        })
        .collect();
    out.data(Data::Id {
        parameters: Some(parameters),
    });
    Outcome::ok("ID completed")
}
