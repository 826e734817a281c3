//! QUOTA (RFC 9208): one quota root per account, `""`, with the STORAGE resource — the
//! account's messages in KiB, every copy counted, as RFC 9208 §5.1 counts them — against the
//! limit the server is configured with. Without a limit there is no quota and QUOTA is not
//! offered. APPEND and COPY over the limit get `NO [OVERQUOTA]`; mail arriving by delivery or
//! sync is never refused for it (another replica already took it).

use crate::imap::Mailstore;
use crate::imap::reply::{Outcome, Replies, code};
use crate::imap::state::Session;
use imap_types::core::{AString, Vec1};
use imap_types::extensions::quota::{QuotaGet, Resource};
use imap_types::mailbox::Mailbox;
use imap_types::response::{Code, Data};

/// The account's storage in use, KiB (rounded up).
fn used_kib(store: &Mailstore) -> Result<u64, Outcome> {
    let bytes = store.read(|r| r.storage_used())?;
    Ok(bytes.div_ceil(1024))
}

/// `NO [OVERQUOTA]` when `adding` more bytes would pass the limit.
pub fn refuse_if_over(limit: Option<u64>, store: &Mailstore, adding: u64) -> Result<(), Outcome> {
    let Some(limit) = limit else {
        return Ok(());
    };
    if used_kib(store)?.saturating_add(adding.div_ceil(1024)) > limit {
        return Err(Outcome::no_with(
            Code::OverQuota,
            format!("the account's storage limit of {limit} KiB would be passed"),
        ));
    }
    Ok(())
}

pub fn get_quota_root(session: &Session, mailbox: Mailbox<'_>, out: &mut Replies) -> Outcome {
    let (store, info) = match super::authenticated_mailbox(session, &mailbox) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let root = AString::try_from("").ok();
    let roots = match (session.shared.config.quota_kib, &root) {
        (Some(_), Some(root)) => vec![root.clone()],
        _ => Vec::new(),
    };
    out.data(Data::QuotaRoot {
        mailbox: crate::imap::wire::mailbox(&info.name),
        roots,
    });
    if roots_report(session, &store, out).is_err() {
        return Outcome::no("could not read the account's size");
    }
    Outcome::ok("GETQUOTAROOT completed")
}

pub fn get_quota(session: &Session, root: AString<'_>, out: &mut Replies) -> Outcome {
    let store = match super::authenticated(session) {
        Ok(store) => store,
        Err(outcome) => return outcome,
    };
    if !root.as_ref().is_empty() || session.shared.config.quota_kib.is_none() {
        return Outcome::no_with(code("NONEXISTENT"), "no such quota root");
    }
    match roots_report(session, &store, out) {
        Ok(()) => Outcome::ok("GETQUOTA completed"),
        Err(outcome) => outcome,
    }
}

/// The `* QUOTA` response for the account's root, when it has a limit.
fn roots_report(session: &Session, store: &Mailstore, out: &mut Replies) -> Result<(), Outcome> {
    let Some(limit) = session.shared.config.quota_kib else {
        return Ok(());
    };
    let usage = used_kib(store)?;
    if let Ok(root) = AString::try_from("") {
        out.data(Data::Quota {
            root,
            quotas: Vec1::from(QuotaGet::new(Resource::Storage, usage, limit)),
        });
    }
    Ok(())
}
