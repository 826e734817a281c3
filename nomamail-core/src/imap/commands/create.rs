//! CREATE: also creates missing parents, so `a/b/c` never leaves `a` unselectable.

use crate::imap::reply::Outcome;
use crate::imap::state::Session;
use crate::imap::wire;
use imap_types::mailbox::Mailbox;

pub fn run(session: &mut Session, mailbox: Mailbox<'_>) -> Outcome {
    let store = match super::authenticated(session) {
        Ok(store) => store,
        Err(outcome) => return outcome,
    };
    let Some(name) = wire::mailbox_name(&mailbox) else {
        return Outcome::no_with(
            crate::imap::reply::code("CANNOT"),
            "mailbox name is not valid modified UTF-7",
        );
    };
    // RFC 3501: a trailing separator only says the client means to create children.
    let name = name.trim_end_matches('/');
    if name.is_empty() {
        return Outcome::bad("empty mailbox name");
    }
    let created = store.write(|r| {
        let mut parent = String::new();
        let parts: Vec<&str> = name.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            if r.mailbox(&parent)?.is_none() {
                r.create_mailbox(&parent)?;
            }
        }
        r.create_mailbox(name)
    });
    match created {
        Ok(_) => Outcome::ok("CREATE completed"),
        Err(error) => error.into(),
    }
}
