//! ENABLE (RFC 5161): CONDSTORE adds MODSEQ to FETCH responses; QRESYNC (which implies
//! CONDSTORE) turns EXPUNGE into VANISHED and allows SELECT's QRESYNC parameter.

use crate::imap::reply::{Outcome, Replies};
use crate::imap::state::Session;
use imap_types::core::Vec1;
use imap_types::extensions::enable::CapabilityEnable;
use imap_types::response::Data;

pub fn run(session: &mut Session, asked: Vec1<CapabilityEnable<'_>>, out: &mut Replies) -> Outcome {
    let mut enabled = Vec::new();
    for capability in asked.into_inner() {
        let qresync = capability.to_string().eq_ignore_ascii_case("QRESYNC");
        if capability == CapabilityEnable::CondStore && !session.condstore {
            session.condstore = true;
            enabled.push(capability);
        } else if qresync && !session.qresync {
            session.qresync = true;
            session.condstore = true;
            enabled.push(capability);
        }
    }
    out.data(Data::Enabled {
        capabilities: enabled,
    });
    Outcome::ok("ENABLE completed")
}
