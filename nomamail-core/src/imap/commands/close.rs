//! CLOSE (expunges `\Deleted` messages silently) and UNSELECT (RFC 3691, does not).

use crate::imap::reply::Outcome;
use crate::imap::state::{Session, State};

pub fn run(session: &mut Session, expunge: bool) -> Outcome {
    let State::Selected { store, selected } = &session.state else {
        return Outcome::bad("no mailbox selected");
    };
    let store = store.clone();
    if expunge
        && !selected.read_only
        && let Err(error) = super::expunge_deleted(&store, selected.mailbox, None)
    {
        return error.into();
    }
    session.state = State::Authenticated { store };
    Outcome::ok(if expunge {
        "CLOSE completed"
    } else {
        "UNSELECT completed"
    })
}
