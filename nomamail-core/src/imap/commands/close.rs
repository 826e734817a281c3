//! CLOSE (expunges `\Deleted` messages silently) and UNSELECT (RFC 3691, does not).

use crate::imap::reply::Outcome;
use crate::imap::session::{Session, State};

pub fn run(session: &mut Session, expunge: bool) -> Outcome {
    let State::Selected { store, selected } = &session.state else {
        return Outcome::bad("no mailbox selected");
    };
    let store = store.clone();
    if expunge && !selected.read_only {
        let mailbox = selected.mailbox;
        let removed = store.write(|r| {
            let deleted: Vec<_> = r
                .entries(mailbox)?
                .into_iter()
                .filter(|e| e.flags.iter().any(|f| f == "\\Deleted"))
                .map(|e| e.id)
                .collect();
            r.expunge(&deleted)
        });
        if let Err(error) = removed {
            return error.into();
        }
    }
    session.state = State::Authenticated { store };
    Outcome::ok(if expunge {
        "CLOSE completed"
    } else {
        "UNSELECT completed"
    })
}
