//! LOGIN, and the password check AUTHENTICATE PLAIN shares with it.

use super::capability;
use crate::accounts::Password;
use crate::imap::reply::{Outcome, code};
use crate::imap::state::{Reply, Session, State};
use imap_types::core::AString;
use imap_types::response::Code;
use imap_types::secret::Secret;

pub fn run(
    session: &mut Session,
    user: AString<'_>,
    password: Secret<AString<'_>>,
    reply: &mut Reply,
) -> Outcome {
    if session.store().is_some() {
        return Outcome::bad("already logged in");
    }
    if !session.may_send_password() {
        return Outcome::no_with(
            code("PRIVACYREQUIRED"),
            "use STARTTLS before sending a password",
        );
    }
    let (Ok(user), Ok(password)) = (
        std::str::from_utf8(user.as_ref()),
        std::str::from_utf8(password.declassify().as_ref()),
    ) else {
        tracing::warn!(
            "imap login failed: user=\"(not UTF-8)\" rip={}",
            session.peer.ip()
        );
        reply.delay = Some(
            session
                .shared
                .throttle
                .failed(session.peer.ip(), "(not UTF-8)"),
        );
        return failed();
    };
    log_in(session, user, password, reply)
}

pub fn log_in(session: &mut Session, user: &str, password: &str, reply: &mut Reply) -> Outcome {
    match session
        .shared
        .stores
        .authenticate(user, &Password::new(password))
    {
        Ok(Some(store)) if store.read(|replica| replica.relearning()) => {
            tracing::warn!("imap login held back, the store is relearning: user={user:?}");
            Outcome::no_with(
                code("UNAVAILABLE"),
                "this mailbox was restored from a backup or made anew, and is catching up with the other \
                 servers; try again in a few minutes",
            )
        }
        Ok(Some(store)) => {
            // One line per outcome, with the address: what an admin greps and fail2ban
            // matches (the README gives the filter).
            tracing::info!("imap login ok: user={user:?} rip={}", session.peer.ip());
            session.shared.throttle.succeeded(session.peer.ip(), user);
            session.state = State::Authenticated { store };
            Outcome::ok_with(Code::Capability(capability::list(session)), "logged in")
        }
        Ok(None) => {
            tracing::warn!("imap login failed: user={user:?} rip={}", session.peer.ip());
            reply.delay = Some(session.shared.throttle.failed(session.peer.ip(), user));
            failed()
        }
        Err(_) => Outcome::no_with(code("UNAVAILABLE"), "the account cannot be opened now"),
    }
}

/// The user name a command would check a password for (LOGIN, AUTHENTICATE PLAIN with its
/// response), so the connection can hold the check back by that name's penalty.
pub fn user_of(body: &imap_types::command::CommandBody<'_>) -> Option<String> {
    use imap_types::command::CommandBody as C;
    match body {
        C::Login { username, .. } => Some(String::from_utf8_lossy(username.as_ref()).into_owned()),
        C::Authenticate {
            initial_response: Some(response),
            ..
        } => {
            let user = response.declassify().split(|&b| b == 0).nth(1)?;
            Some(String::from_utf8_lossy(user).into_owned())
        }
        _ => None,
    }
}

fn failed() -> Outcome {
    Outcome::no_with(code("AUTHENTICATIONFAILED"), "wrong user name or password")
}
