//! AUTHENTICATE PLAIN (RFC 4616), with the initial response in the command (SASL-IR) or
//! after a continuation, which the connection asks for.

use super::login;
use crate::imap::reply::{Outcome, code};
use crate::imap::state::{Reply, Session};
use imap_types::auth::AuthMechanism;
use imap_types::secret::Secret;
use std::borrow::Cow;

pub fn run(
    session: &mut Session,
    mechanism: AuthMechanism<'_>,
    response: Option<Secret<Cow<'_, [u8]>>>,
    reply: &mut Reply,
) -> Outcome {
    if session.store().is_some() {
        return Outcome::bad("already logged in");
    }
    if mechanism != AuthMechanism::Plain {
        return Outcome::no("only PLAIN is offered");
    }
    if !session.may_send_password() {
        return Outcome::no_with(
            code("PRIVACYREQUIRED"),
            "use STARTTLS before sending a password",
        );
    }
    let Some(response) = response else {
        return Outcome::bad("PLAIN needs a response");
    };
    let mut parts = response.declassify().split(|&b| b == 0);
    let (Some(authorize_as), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Outcome::bad("malformed PLAIN response");
    };
    if !authorize_as.is_empty() && authorize_as != user {
        return Outcome::no_with(code("AUTHORIZATIONFAILED"), "cannot act as another user");
    }
    let (Ok(user), Ok(password)) = (std::str::from_utf8(user), std::str::from_utf8(password))
    else {
        return Outcome::bad("user name and password must be UTF-8");
    };
    login::log_in(session, user, password, reply)
}
