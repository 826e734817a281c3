//! RENAME, with children. Renaming INBOX moves its messages into a new mailbox and leaves
//! INBOX empty, as RFC 3501 §6.3.5 says.

use crate::imap::reply::Outcome;
use crate::imap::state::Session;
use crate::imap::wire;
use crate::replica::INBOX_ID;
use imap_types::mailbox::Mailbox;

pub fn run(session: &mut Session, from: Mailbox<'_>, to: Mailbox<'_>) -> Outcome {
    let (store, info) = match super::authenticated_mailbox(session, &from) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let Some(new_name) = wire::mailbox_name(&to) else {
        return Outcome::no_with(
            crate::imap::reply::code("CANNOT"),
            "mailbox name is not valid modified UTF-7",
        );
    };
    let renamed = store.write(|r| {
        if info.id != INBOX_ID {
            return r.rename_mailbox(info.id, &new_name);
        }
        let target = r.create_mailbox(&new_name)?;
        let messages: Vec<_> = r.entries(INBOX_ID)?.into_iter().map(|e| e.id).collect();
        r.move_to(&messages, target).map(drop)
    });
    match renamed {
        Ok(()) => Outcome::ok("RENAME completed"),
        Err(error) => error.into(),
    }
}
