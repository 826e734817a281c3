//! SUBSCRIBE and UNSUBSCRIBE.

use super::existing_mailbox;
use crate::imap::reply::Outcome;
use crate::imap::session::Session;
use imap_types::mailbox::Mailbox;

pub fn run(session: &mut Session, mailbox: Mailbox<'_>, subscribe: bool) -> Outcome {
    let store = match super::authenticated(session) {
        Ok(store) => store,
        Err(outcome) => return outcome,
    };
    let info = match existing_mailbox(&store, &mailbox) {
        Ok(info) => info,
        Err(outcome) => return outcome,
    };
    match store.write(|r| r.set_subscribed(info.id, subscribe)) {
        Ok(()) => Outcome::ok("completed"),
        Err(error) => error.into(),
    }
}
