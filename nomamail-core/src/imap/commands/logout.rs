//! LOGOUT.

use crate::imap::reply::{Outcome, Replies};
use crate::imap::state::{Session, State};

pub fn run(session: &mut Session, out: &mut Replies) -> Outcome {
    out.bye("logging out");
    session.state = State::Logout;
    Outcome::ok("LOGOUT completed")
}
