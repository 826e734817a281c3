//! `SyncHost`: one server's side of sync mail with its paired servers. `receive` checks a
//! sync mail completely (paired sender, seal, the facts inside the seal against the headers,
//! replay) before anything of it is applied; `fill_outbox` asks every account's replica for
//! what each peer lacks and queues it as sealed mails. Moving the mails (SMTP out, the
//! listener or a mailbox poller in) is the transports' job.

use super::letter::{Letter, LetterError};
use super::mime::{self, Addressing, SyncMailError};
use super::seal::{HostKey, PeerKey, SealError};
use super::state::{Peer, StateError, SyncState};
use crate::accounts::{AccountError, Adopted};
use crate::ids::ReplicaId;
use crate::imap::Mailstores;
use crate::imap::mailstores::lock;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct MailSyncConfig {
    /// This server's name, shown in the mails it sends.
    pub name: String,
    /// The address this server's sync mail arrives at.
    pub address: String,
    /// No sync mail is larger; a bigger bundle is split across several.
    pub max_mail_bytes: usize,
    /// How often to say hello for an account the peer has not answered for yet.
    pub hello_every_ms: u64,
    /// Unacknowledged changes are resent after this long while the peer is heard from...
    pub retransmit_after_ms: u64,
    /// ...and the delay doubles while it is silent, up to this.
    pub retransmit_max_ms: u64,
    /// Mails made per account and peer in one round, so one big account does not starve
    /// the others.
    pub max_mails_per_round: usize,
    /// Accounts one paired server may make here in a day; mail for more waits (a temporary
    /// refusal, offered again), so a peer gone bad cannot fill the disk with accounts.
    pub max_new_accounts_per_day: u32,
}

impl Default for MailSyncConfig {
    fn default() -> Self {
        MailSyncConfig {
            name: "nomamail".into(),
            address: "sync@localhost".into(),
            max_mail_bytes: 10 << 20,
            hello_every_ms: 10 * 60 * 1000,
            retransmit_after_ms: 10 * 60 * 1000,
            retransmit_max_ms: 24 * 3600 * 1000,
            max_mails_per_round: 16,
            max_new_accounts_per_day: 1000,
        }
    }
}

/// Why a sync mail was refused. Nothing of a refused mail is applied.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("{0}")]
    Malformed(#[from] SyncMailError),
    #[error("sender key {0} is not a paired peer")]
    Unpaired(PeerKey),
    #[error("from {peer}: {source}")]
    BadSeal { peer: String, source: SealError },
    #[error("from {peer}: sealed contents unreadable: {source}")]
    BadLetter { peer: String, source: LetterError },
    #[error("from {peer}: headers do not match the sealed contents ({what})")]
    Tampered { peer: String, what: &'static str },
    #[error("from {peer}: mail sealed before the pairing (an old mail replayed, or clocks apart)")]
    BeforePairing { peer: String },
    #[error("from {peer}: mail #{seq} was already applied (replay)")]
    Replayed { peer: String, seq: u64 },
    #[error("from {peer}: the letter names replica {replica}, which that host has since replaced")]
    ReplacedReplica { peer: String, replica: ReplicaId },
    #[error("from {peer}: account: {source}")]
    Account { peer: String, source: AccountError },
    #[error("from {peer}: the pairing does not carry account {user}")]
    NotCarried { peer: String, user: String },
    #[error("from {peer}: the engine refused the bundle: {source}")]
    Engine { peer: String, source: crate::Error },
    #[error("sync state: {0}")]
    State(#[from] StateError),
}

impl Rejection {
    /// Trouble on this side (the sync state, a store, the disk): the mail should be offered
    /// again later, not bounced or thrown away.
    pub fn is_temporary(&self) -> bool {
        match self {
            Rejection::State(_) => true,
            Rejection::Engine { source, .. } => {
                matches!(
                    source,
                    crate::Error::Store(_) | crate::Error::Io(_) | crate::Error::Locked(_)
                )
            }
            Rejection::Account { source, .. } => matches!(
                source,
                AccountError::Store(_)
                    | AccountError::Io { .. }
                    | AccountError::Replica { .. }
                    | AccountError::TooManyNewAccounts { .. }
            ),
            _ => false,
        }
    }

    /// The paired peer it came from, if the mail got that far.
    fn peer(&self) -> Option<&str> {
        match self {
            Rejection::Malformed(_) | Rejection::Unpaired(_) | Rejection::State(_) => None,
            Rejection::BadSeal { peer, .. }
            | Rejection::BadLetter { peer, .. }
            | Rejection::Tampered { peer, .. }
            | Rejection::Replayed { peer, .. }
            | Rejection::BeforePairing { peer }
            | Rejection::ReplacedReplica { peer, .. }
            | Rejection::Account { peer, .. }
            | Rejection::NotCarried { peer, .. }
            | Rejection::Engine { peer, .. } => Some(peer),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OutgoingError {
    #[error("sync state: {0}")]
    State(#[from] StateError),
    #[error("accounts: {0}")]
    Account(#[from] AccountError),
    #[error("account {user}: {source}")]
    Engine { user: String, source: crate::Error },
    #[error("sealing: {0}")]
    Seal(#[from] SealError),
}

/// A mail that was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub peer: String,
    pub account: String,
    pub seq: u64,
    pub hello: bool,
    pub applied: usize,
    pub new_conflicts: usize,
    /// Item states of the bundle set aside (see `Replica::quarantined`); the rest applied.
    pub quarantined: usize,
    pub account_created: bool,
}

pub struct SyncHost {
    key: HostKey,
    state: Mutex<SyncState>,
    stores: Arc<Mailstores>,
    config: MailSyncConfig,
}

/// The retransmission delay after `silence_ms` without word from the peer: the base delay,
/// doubled for every doubling of the silence beyond it, capped.
pub fn retransmit_delay(base_ms: u64, max_ms: u64, silence_ms: u64) -> u64 {
    let base = base_ms.max(1);
    let mut delay = base;
    while delay < max_ms && silence_ms >= delay.saturating_mul(2) {
        delay = delay.saturating_mul(2);
    }
    delay.min(max_ms.max(base))
}

impl SyncHost {
    pub fn new(
        key: HostKey,
        state: SyncState,
        stores: Arc<Mailstores>,
        config: MailSyncConfig,
    ) -> SyncHost {
        let paired = state.peers().is_ok_and(|peers| !peers.is_empty());
        stores.accounts(|accounts| accounts.set_paired(paired));
        SyncHost {
            key,
            state: Mutex::new(state),
            stores,
            config,
        }
    }

    pub fn public_key(&self) -> PeerKey {
        self.key.public()
    }

    pub fn config(&self) -> &MailSyncConfig {
        &self.config
    }

    /// Runs `f` on the sync state (peers, outbox, rejects).
    pub fn state<T>(&self, f: impl FnOnce(&mut SyncState) -> T) -> T {
        f(&mut lock(&self.state))
    }

    /// Checks and applies one sync mail; a refusal is counted and logged in the state.
    pub fn receive(&self, raw: &[u8], now_ms: u64) -> Result<Accepted, Rejection> {
        let mut state = lock(&self.state);
        let outcome = self.check_and_apply(&mut state, raw, now_ms);
        if let Err(rejection) = &outcome {
            if matches!(rejection, Rejection::Replayed { .. }) {
                // Mostly an MTA delivering twice: harmless, but counted like any refusal.
                tracing::info!(%rejection, "sync mail refused");
            } else {
                tracing::warn!(%rejection, "sync mail refused");
            }
            state.reject(rejection.peer(), &rejection.to_string(), now_ms)?;
        }
        outcome
    }

    fn check_and_apply(
        &self,
        state: &mut SyncState,
        raw: &[u8],
        now_ms: u64,
    ) -> Result<Accepted, Rejection> {
        let mail = mime::parse(raw)?;
        let record = state
            .peer_by_key(&mail.sender)?
            .ok_or(Rejection::Unpaired(mail.sender))?;
        let carried = |user: &str| record.carries(user);
        let (peer, paired_ms) = (record.peer.name.clone(), record.paired_ms);
        let opened = self
            .key
            .open(&mail.sender, &mail.sealed)
            .map_err(|source| Rejection::BadSeal {
                peer: peer.clone(),
                source,
            })?;
        let letter = Letter::decode(&opened).map_err(|source| Rejection::BadLetter {
            peer: peer.clone(),
            source,
        })?;
        let tampered = |what| Rejection::Tampered {
            peer: peer.clone(),
            what,
        };
        if letter.from != mail.sender.0 {
            return Err(tampered("sender"));
        }
        if letter.to != self.key.public().0 {
            return Err(tampered("recipient"));
        }
        if letter.account.user != mail.account {
            return Err(tampered("account"));
        }
        if letter.seq != mail.seq {
            return Err(tampered("sequence number"));
        }
        if letter.sent_ms < paired_ms {
            return Err(Rejection::BeforePairing { peer });
        }
        if state.seen(&peer)?.contains(letter.seq) {
            return Err(Rejection::Replayed {
                peer,
                seq: letter.seq,
            });
        }
        if !carried(&letter.account.user) {
            return Err(Rejection::NotCarried {
                peer,
                user: letter.account.user.clone(),
            });
        }
        let adopted = self
            .stores
            .accounts(|accounts| {
                accounts.adopt(
                    &letter.account,
                    letter.replica,
                    &mail.sender.0,
                    now_ms,
                    self.config.max_new_accounts_per_day,
                )
            })
            .map_err(|source| Rejection::Account {
                peer: peer.clone(),
                source,
            })?;
        let user = &letter.account.user;
        match adopted {
            Adopted::Created => {
                tracing::warn!(peer = %peer, user = %user, "account made here for the paired server")
            }
            Adopted::PasswordChanged => {
                tracing::warn!(peer = %peer, user = %user, "password changed by the paired server")
            }
            Adopted::PasswordRefused(why) => {
                tracing::warn!(peer = %peer, user = %user, why, "the paired server's password for the account was not taken")
            }
            Adopted::Unchanged => {}
        }
        let store = self
            .stores
            .open(user)
            .map_err(|source| Rejection::Account {
                peer: peer.clone(),
                source,
            })?;
        let engine = |source| Rejection::Engine {
            peer: peer.clone(),
            source,
        };
        match state.peer_replica_since(&peer, user)? {
            // A store made afresh here knows none of its peers, though the sync state does.
            Some((known, _)) if known == letter.replica => {
                store
                    .read(|replica| replica.add_peer(letter.replica))
                    .map_err(engine)?;
            }
            // Written before the peer replaced that replica: what it carries is the lost
            // store's, and its acknowledgements speak of a sequence no one continues.
            Some((_, since)) if letter.seq < since => {
                return Err(Rejection::ReplacedReplica {
                    peer,
                    replica: letter.replica,
                });
            }
            earlier => {
                store
                    .write(|replica| {
                        replica.add_peer(letter.replica)?;
                        // One replica per account and host: the one it replaced is gone
                        // (its store was lost or made anew), so nothing waits for it.
                        if let Some((replaced, _)) = earlier {
                            replica.forget_peer(replaced)?;
                        }
                        Ok(())
                    })
                    .map_err(engine)?;
                state.set_peer_replica(&peer, user, letter.replica, letter.seq)?;
            }
        }
        let report = match &letter.bundle {
            None => None,
            Some(bundle) => Some(
                store
                    .write(|replica| replica.incoming(letter.replica, bundle, now_ms))
                    .map_err(engine)?,
            ),
        };
        if let Some(fresh) = report.as_ref().and_then(|r| r.reincarnated_as) {
            tracing::warn!(
                peer = %peer,
                user = %user,
                new = %fresh,
                "the peer knows changes of this account's store that the store lacks (it was \
                 rolled back: a snapshot or a backup restored over it); it goes on under a new \
                 replica id and relearns from the peers"
            );
            self.stores
                .accounts(|accounts| accounts.record_replica(user, fresh))
                .map_err(|source| Rejection::Account {
                    peer: peer.clone(),
                    source,
                })?;
        }
        if let Some(report) = report.as_ref() {
            if !report.forgotten.is_empty() {
                tracing::warn!(
                    peer = %peer,
                    user = %user,
                    messages = report.forgotten.len(),
                    "messages this store still held were expunged before it was restored; \
                     the peer had forgotten them, and so does this store now"
                );
            }
            if report.relearned {
                tracing::info!(
                    peer = %peer,
                    user = %user,
                    "the restored store has caught up with its peers; it serves clients again"
                );
            }
        }
        for (item, reason) in report.iter().flat_map(|r| &r.quarantined) {
            tracing::warn!(
                peer = %peer,
                user = %user,
                item = %item,
                reason = %reason,
                "a sync mail's item was set aside, the rest applied"
            );
        }
        state.record_received(&peer, letter.seq, now_ms)?;
        Ok(Accepted {
            peer,
            account: user.clone(),
            seq: letter.seq,
            hello: letter.bundle.is_none(),
            applied: report.as_ref().map_or(0, |r| r.applied),
            new_conflicts: report.as_ref().map_or(0, |r| r.new_conflicts.len()),
            quarantined: report.as_ref().map_or(0, |r| r.quarantined.len()),
            account_created: adopted == Adopted::Created,
        })
    }

    /// Queues, sealed, what every peer lacks of every account. Returns the mails queued.
    pub fn fill_outbox(&self, now_ms: u64) -> Result<usize, OutgoingError> {
        let mut state = lock(&self.state);
        let peers = state.peers()?;
        // Pairings change while the daemon runs (`pair add` writes the state directly).
        self.stores
            .accounts(|accounts| accounts.set_paired(!peers.is_empty()));
        let users = self.stores.accounts(|accounts| accounts.list())?;
        let mut queued = 0;
        for record in &peers {
            let peer = &record.peer;
            let silence = now_ms.saturating_sub(record.last_contact_ms.unwrap_or(0));
            let delay = retransmit_delay(
                self.config.retransmit_after_ms,
                self.config.retransmit_max_ms,
                silence,
            );
            for user in users.iter().filter(|u| record.carries(&u.user)) {
                // One account in trouble must not stop the others' sync.
                match self.fill_account(&mut state, peer, user, delay, now_ms) {
                    Ok(n) => queued += n,
                    Err(error) => {
                        tracing::error!(%error, user = user.user, peer = peer.name, "no sync mail made");
                    }
                }
            }
        }
        Ok(queued)
    }

    fn fill_account(
        &self,
        state: &mut SyncState,
        peer: &Peer,
        user: &crate::accounts::AccountInfo,
        delay: u64,
        now_ms: u64,
    ) -> Result<usize, OutgoingError> {
        let card = self.stores.accounts(|a| a.card(&user.user))?;
        // The store's own id, not the one listed before it was opened: opening a store that
        // proves a copy gives it a new one, and a letter must name the replica it carries.
        let store = self.stores.open(&user.user)?;
        let me = store.read(|replica| replica.id());
        let Some(their_replica) = state.peer_replica(&peer.name, &user.user)? else {
            let hello_due = state
                .last_hello(&peer.name, &user.user)?
                .is_none_or(|at| crate::wallclock::waited(at, now_ms, self.config.hello_every_ms));
            if !hello_due {
                return Ok(0);
            }
            self.queue(state, peer, &card, me, None, now_ms)?;
            state.set_last_hello(&peer.name, &user.user, now_ms)?;
            return Ok(1);
        };
        let relearning = store
            .read(|replica| replica.add_peer(their_replica))
            .map_err(|source| OutgoingError::Engine {
                user: user.user.clone(),
                source,
            })?;
        if relearning {
            // This store was made afresh under a new replica: the peer must hear of it now,
            // or it keeps writing to the replica that was lost.
            self.queue(state, peer, &card, me, None, now_ms)?;
            state.set_last_hello(&peer.name, &user.user, now_ms)?;
            return Ok(1);
        }
        let budget = mime::sealed_budget(self.config.max_mail_bytes)
            .saturating_sub(LETTER_OVERHEAD + card.password_hash.len());
        let mut bundles = Vec::new();
        // Building a bundle changes only sync bookkeeping, nothing a client sees, so it goes
        // through `read` and wakes no session.
        store.read(|replica| {
            replica.set_retransmit_after(delay);
            while bundles.len() < self.config.max_mails_per_round {
                match replica.outgoing(their_replica, now_ms, budget) {
                    Ok(Some(bundle)) => bundles.push(bundle),
                    Ok(None) => break,
                    Err(source) => {
                        return Err(OutgoingError::Engine {
                            user: user.user.clone(),
                            source,
                        });
                    }
                }
            }
            Ok(())
        })?;
        let made = bundles.len();
        for bundle in bundles {
            self.queue(state, peer, &card, me, Some(bundle), now_ms)?;
        }
        Ok(made)
    }

    fn queue(
        &self,
        state: &mut SyncState,
        peer: &Peer,
        card: &crate::accounts::AccountCard,
        replica: ReplicaId,
        bundle: Option<Vec<u8>>,
        now_ms: u64,
    ) -> Result<(), OutgoingError> {
        let seq = state.take_seq(&peer.name)?;
        let letter = Letter::new(
            self.key.public(),
            peer.key,
            seq,
            now_ms,
            card.clone(),
            replica,
            bundle,
        );
        let sealed = self.key.seal(&peer.key, &letter.encode())?;
        let mail = mime::build(
            &Addressing {
                from_name: &self.config.name,
                from_address: &self.config.address,
                to_address: &peer.address,
            },
            self.key.public(),
            &card.user,
            seq,
            now_ms,
            &sealed,
        );
        state.enqueue(peer, &mail, now_ms)?;
        Ok(())
    }
}

/// Letter fields around the bundle (keys, numbers, user name, CBOR framing), seal nonce and
/// tag; the password hash is counted separately.
const LETTER_OVERHEAD: usize = 512;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retransmission_delay_doubles_with_the_silence_and_is_capped() {
        assert_eq!(retransmit_delay(100, 10_000, 0), 100);
        assert_eq!(retransmit_delay(100, 10_000, 199), 100);
        assert_eq!(retransmit_delay(100, 10_000, 200), 200);
        assert_eq!(retransmit_delay(100, 10_000, 1_000), 800);
        assert_eq!(retransmit_delay(100, 10_000, u64::MAX), 10_000);
        assert_eq!(retransmit_delay(100, 50, 0), 100, "the base is a floor");
    }
}
