//! Delivery on this server: sync mail goes to the sync host (never to a user), other mail
//! into the INBOX of the user the recipient's local part names, with Return-Path,
//! Delivered-To and Received headers in front, through `Mailstore::write` so IMAP sessions
//! and IDLE see it at once.

use super::{Delivery, Envelope, Refusal};
use crate::imap::Mailstores;
use crate::mailsync::{Rejection, SyncHost, is_sync_mail};
use crate::replica::INBOX_ID;
use std::sync::Arc;

pub struct LocalDelivery {
    stores: Arc<Mailstores>,
    sync: Option<Arc<SyncHost>>,
    hostname: String,
    /// Domains mail is taken for; empty means any (the listener never relays, so a wrong
    /// domain only files mail for a local user whose name matches).
    domains: Vec<String>,
}

impl LocalDelivery {
    pub fn new(
        stores: Arc<Mailstores>,
        sync: Option<Arc<SyncHost>>,
        hostname: String,
        domains: Vec<String>,
    ) -> LocalDelivery {
        LocalDelivery {
            stores,
            sync,
            hostname,
            domains: domains
                .into_iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
        }
    }

    fn is_sync_address(&self, address: &str) -> bool {
        self.sync
            .as_ref()
            .is_some_and(|sync| sync.config().address.eq_ignore_ascii_case(address))
    }

    /// The local user an address names, if it is one of ours.
    fn user_of(&self, address: &str) -> Result<String, Refusal> {
        let (local, domain) = match address.rsplit_once('@') {
            Some((local, domain)) => (local, Some(domain.to_ascii_lowercase())),
            None => (address, None),
        };
        if let Some(domain) = &domain
            && !self.domains.is_empty()
            && !self.domains.contains(domain)
        {
            return Err(Refusal::permanent("5.7.1", "relaying denied"));
        }
        let user = self.stores.accounts(|accounts| accounts.get(local));
        match user {
            Ok(Some(info)) => Ok(info.user),
            Ok(None) => Err(Refusal::permanent("5.1.1", "no such user here")),
            Err(e) => Err(Refusal::temporary(format!("accounts: {e}"))),
        }
    }

    fn deliver_sync(&self, message: &[u8]) -> Result<(), Refusal> {
        let Some(sync) = &self.sync else {
            return Err(Refusal::permanent(
                "5.7.1",
                "sync mail is not taken on this server",
            ));
        };
        match sync.receive(message, crate::wallclock::now_ms()) {
            Ok(accepted) => {
                tracing::info!(
                    peer = accepted.peer,
                    account = accepted.account,
                    seq = accepted.seq,
                    applied = accepted.applied,
                    "sync mail applied"
                );
                Ok(())
            }
            // A second copy of an applied mail: the MTA may deliver twice; nothing to undo.
            Err(Rejection::Replayed { .. }) => Ok(()),
            Err(rejection) if rejection.is_temporary() => {
                Err(Refusal::temporary(rejection.to_string()))
            }
            Err(rejection) => Err(Refusal::permanent("5.7.1", rejection.to_string())),
        }
    }

    fn deliver_to_inbox(
        &self,
        envelope: &Envelope,
        recipient: &str,
        message: &[u8],
    ) -> Result<(), Refusal> {
        let user = self.user_of(recipient)?;
        let store = self
            .stores
            .open(&user)
            .map_err(|e| Refusal::temporary(format!("mail store: {e}")))?;
        if store.read(|replica| replica.relearning()) {
            // New mail would take UIDs the other servers may have given to other messages.
            return Err(Refusal::temporary(format!(
                "the mailbox of {user} was restored from a backup or made anew, and is catching up with \
                 the other servers; try again later"
            )));
        }
        let now = chrono::Utc::now();
        let protocol = if envelope.lmtp { "LMTP" } else { "ESMTP" };
        let trace = format!(
            "Return-Path: <{from}>\r\nDelivered-To: {user}\r\nReceived: from {helo} ([{ip}])\r\n\tby {host} (NomaMail) with {protocol}\r\n\tfor <{recipient}>; {date}\r\n",
            from = envelope.from,
            helo = sanitize(&envelope.helo),
            ip = envelope.peer.ip(),
            host = self.hostname,
            date = now.to_rfc2822(),
        );
        let mut stored = Vec::with_capacity(trace.len() + message.len());
        stored.extend_from_slice(trace.as_bytes());
        stored.extend_from_slice(message);
        store
            .write(|replica| replica.append(INBOX_ID, &stored, &[], now.timestamp(), 0))
            .map(drop)
            .map_err(|e| match e {
                crate::Error::MessageTooLarge(n) => Refusal {
                    code: 552,
                    status: "5.3.4",
                    text: format!("message too large ({n} bytes)"),
                },
                other => Refusal::temporary(format!("mail store: {other}")),
            })
    }
}

/// A HELO name goes into a header: keep it to one printable line.
fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect()
}

impl Delivery for LocalDelivery {
    fn recipient(&self, address: &str) -> Result<(), Refusal> {
        if self.is_sync_address(address) {
            return Ok(());
        }
        self.user_of(address).map(drop)
    }

    fn deliver(&self, envelope: &Envelope, message: &[u8]) -> Vec<Result<(), Refusal>> {
        if is_sync_mail(message) {
            // Applied once, whatever the recipients: sync mail is never a user's mail.
            let outcome = self.deliver_sync(message);
            return vec![outcome; envelope.recipients.len()];
        }
        envelope
            .recipients
            .iter()
            .map(|recipient| {
                if self.is_sync_address(recipient) {
                    Err(Refusal::permanent(
                        "5.7.1",
                        "only sync mail is taken at this address",
                    ))
                } else {
                    self.deliver_to_inbox(envelope, recipient, message)
                }
            })
            .collect()
    }
}
