//! ENABLE (RFC 5161): CONDSTORE is the one extension here that changes responses.

use crate::imap::reply::{Outcome, Replies};
use crate::imap::session::Session;
use imap_types::core::Vec1;
use imap_types::extensions::enable::CapabilityEnable;
use imap_types::response::Data;

pub fn run(session: &mut Session, asked: Vec1<CapabilityEnable<'_>>, out: &mut Replies) -> Outcome {
    let mut enabled = Vec::new();
    for capability in asked.into_inner() {
        if capability == CapabilityEnable::CondStore && !session.condstore {
            session.condstore = true;
            enabled.push(CapabilityEnable::CondStore);
        }
    }
    out.data(Data::Enabled {
        capabilities: enabled,
    });
    Outcome::ok("ENABLE completed")
}
