//! The sync protocol's two calls, sans-IO: `outgoing` makes the next bundle for a peer (or
//! nothing), `incoming` applies one. Time is a parameter; nothing here touches a socket.
//!
//! Sending: items are sent as their current state, in modseq order, as ranges `(base, high]`
//! of our sequence; a peer acknowledges the highest point below which it has every range.
//! What stays unacknowledged for `retransmit_after_ms` is sent again from the acknowledged
//! point. An acknowledgement with nothing else to carry may wait `ack_delay_ms` for data to
//! ride with (over mail, that saves a mail per change). Blobs follow as chunks: pushed once with their entries, and re-served from
//! wherever the peer says it stopped (its wants), so a resend resumes, never restarts.
//!
//! Receiving: one transaction; a bundle that fails to decode or to merge changes nothing.

use super::peers::{self, PeerState};
use super::{Replica, Tx, blobs, decode_state};
use crate::bundle::{Ack, Bundle, Chunk, Purged, SeqRange};
use crate::codec;
use crate::error::{Error, Result};
use crate::ids::{BlobHash, ItemId, ReplicaId};
use crate::item::ItemState;
use crate::wallclock::waited;
use rusqlite::params;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncSettings {
    /// Unacknowledged changes and unanswered wants are sent again after this long.
    pub retransmit_after_ms: u64,
    pub chunk_bytes: usize,
    pub max_wants_per_bundle: usize,
    /// How long the body of a purged message is kept in case a concurrent change to it
    /// arrives late from a replica several hops away.
    pub keep_expunged_bodies_ms: u64,
    /// An acknowledgement with nothing else to carry waits this long for data to ride
    /// along with (0: it goes at once). Over mail this halves the mails of one-way traffic;
    /// keep it well below the peer's `retransmit_after_ms`.
    pub ack_delay_ms: u64,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            retransmit_after_ms: 10 * 60 * 1000,
            chunk_bytes: 256 * 1024,
            max_wants_per_bundle: 512,
            keep_expunged_bodies_ms: 60 * 24 * 3600 * 1000,
            ack_delay_ms: 0,
        }
    }
}

/// What applying one bundle did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Item states that changed ours.
    pub applied: usize,
    /// Item states we already had, or older ones.
    pub unchanged: usize,
    /// Items we no longer know because we purged them: stale copies, not applied.
    pub stale: Vec<ItemId>,
    pub chunks_stored: usize,
    pub blobs_completed: usize,
    pub blobs_corrupt: usize,
    /// Conflict ids open after the bundle that were not open before it.
    pub new_conflicts: Vec<String>,
    /// Messages dropped because the peer had forgotten them after a removal that saw all of
    /// our copy (this store was behind it: restored from a backup).
    pub forgotten: Vec<ItemId>,
    /// Item states set aside instead of applied (see `quarantine`), with why.
    pub quarantined: Vec<(ItemId, String)>,
    /// The bundle showed this store older than what the peer knows of it, and it went on
    /// under this new id (the edge records it, and peers hear of it with the next bundle).
    pub reincarnated_as: Option<ReplicaId>,
    /// This bundle ended the store's relearning (see `Replica::relearning`).
    pub relearned: bool,
}

/// `items.origin` of a state kept for this replica only.
const SEND_TO_NO_ONE: ReplicaId = ReplicaId::GENESIS;

fn is_tombstone(item: &ItemState) -> bool {
    item.as_entry()
        .is_some_and(|e| crate::policy::entry_view(e).removed)
}

/// Bytes kept free in a bundle for its envelope, acknowledgement and CBOR framing.
const ENVELOPE_RESERVE: usize = 2048;
/// The smallest budget a transport may ask for: one item state must always fit.
pub const MIN_BUNDLE_BYTES: usize = 8192;

impl Replica {
    /// Make `peer` known, so bundles to and from it are accepted and tombstones wait for it.
    /// Returns whether it was new here (a store made afresh knows none of its peers).
    pub fn add_peer(&mut self, peer: ReplicaId) -> Result<bool> {
        if peer == self.me {
            return Err(Error::SelfPeer);
        }
        self.write(|tx| match peers::load(tx, peer) {
            Ok(_) => Ok(false),
            // It is told to come back under a new id instead (see `outgoing`).
            Err(Error::UnknownPeer(_)) if peers::is_forgotten(tx, peer)? => Ok(false),
            Err(Error::UnknownPeer(_)) => {
                peers::save(tx, peer, &PeerState::default())?;
                peers::peers_known(tx)?;
                Ok(true)
            }
            Err(e) => Err(e),
        })
    }

    /// Forgets `peer` (a replica that was replaced, or removed for good): nothing more is
    /// sent to it or taken from it, and tombstones no longer wait for its acknowledgement.
    /// Returns whether it was known.
    pub fn forget_peer(&mut self, peer: ReplicaId) -> Result<bool> {
        let known = self.write(|tx| {
            let known = peers::forget(tx, peer)?;
            // Forgetting is an admin's word on which peers count; a store made anew that
            // was waiting for a first one waits no more if none is left.
            peers::peers_known(tx)?;
            peers::end_relearning_if_caught_up(tx)?;
            Ok(known)
        })?;
        self.refresh_relearning()?;
        Ok(known)
    }

    /// Changes the retransmission delay from now on: transports back off while a peer is
    /// silent, so a link that is down for days is not flooded with resends.
    pub fn set_retransmit_after(&mut self, ms: u64) {
        self.settings.retransmit_after_ms = ms;
    }

    pub fn peers(&mut self) -> Result<Vec<super::PeerStatus>> {
        let tx = self.read_tx()?;
        peers::status(&tx)
    }

    /// The latest item states set aside because they could not be taken, newest first.
    pub fn quarantined(&mut self, limit: usize) -> Result<Vec<super::Quarantined>> {
        let tx = self.read_tx()?;
        super::quarantine::latest(&tx, limit)
    }

    /// The next bundle for `peer`, at most `max_bytes` long, or `None` when it needs nothing.
    pub fn outgoing(
        &mut self,
        peer: ReplicaId,
        now_ms: u64,
        max_bytes: usize,
    ) -> Result<Option<Vec<u8>>> {
        let settings = self.settings.clone();
        let me = self.me;
        let max_bytes = max_bytes.max(MIN_BUNDLE_BYTES);
        self.write(|tx| {
            super::maintain(tx, now_ms, settings.keep_expunged_bodies_ms)?;
            if peers::is_forgotten(tx, peer)? {
                let notice_due =
                    peers::take_forgotten_notice(tx, peer, now_ms, settings.retransmit_after_ms)?;
                return match notice_due {
                    true => Ok(Some(codec::encode(&forgotten_notice(me, peer))?)),
                    false => Ok(None),
                };
            }
            let mut ps = peers::load(tx, peer)?;
            let retransmit_due = |at: Option<u64>| {
                at.is_none_or(|t| waited(t, now_ms, settings.retransmit_after_ms))
            };
            // Counted from the oldest unacknowledged send, not the latest: a steady stream of
            // new changes must not put off resending a lost one.
            if ps.sent > ps.acked && retransmit_due(ps.unacked_since) {
                ps.sent = ps.acked;
                ps.unacked_since = None;
            }
            let mut budget = max_bytes.saturating_sub(ENVELOPE_RESERVE);
            loop {
                let (bundle, plan) = build(tx, me, peer, &ps, &settings, budget)?;
                let ack_ready = ps.ack_due
                    && ps
                        .ack_due_since
                        .is_none_or(|since| waited(since, now_ms, settings.ack_delay_ms));
                // Applying the peer's items moves our sequence without giving the peer
                // anything new: such a range is bookkeeping, and waits like a bare ack
                // (it goes with the ack once that is ready).
                let items_sent = plan.range_advanced && !bundle.items.is_empty();
                let empty_range = plan.range_advanced && bundle.items.is_empty();
                let worth_sending = items_sent
                    || !bundle.chunks.is_empty()
                    || ack_ready
                    || (empty_range && settings.ack_delay_ms == 0)
                    || !bundle.ack.purged.is_empty()
                    || (!bundle.ack.wants.is_empty() && retransmit_due(ps.last_wants_at));
                if !worth_sending {
                    return Ok(None);
                }
                let wire = codec::encode(&bundle)?;
                if wire.len() > max_bytes && budget > MIN_BUNDLE_BYTES / 2 {
                    budget /= 2;
                    continue;
                }
                commit_plan(tx, peer, &mut ps, &bundle, &plan, now_ms, wire.len())?;
                return Ok(Some(wire));
            }
        })
    }

    /// Apply one bundle that arrived from `peer`.
    pub fn incoming(&mut self, peer: ReplicaId, wire: &[u8], now_ms: u64) -> Result<Report> {
        let bundle = match codec::decode(wire) {
            Ok(b) => b,
            Err(e) => {
                self.count_rejection(peer)?;
                return Err(e.into());
            }
        };
        // A bundle to the id this store went on from (the peer has not heard of the new one
        // yet) still carries item states worth taking; its acknowledgement is of the old id's
        // sequence, which means nothing to the new one.
        let former_id = self.former_id()?;
        let to_former = bundle.to != self.me && Some(bundle.to) == former_id;
        if bundle.to != self.me && !to_former {
            self.count_rejection(peer)?;
            return Err(Error::WrongRecipient {
                to: bundle.to,
                me: self.me,
            });
        }
        if bundle.from != peer {
            self.count_rejection(peer)?;
            return Err(Error::WrongSender {
                claimed: bundle.from,
                peer,
            });
        }
        // The peer holds changes of ours this store never made: it is older than its own
        // history (rolled back in place, a VM snapshot, a backup over the same file), and
        // dots above its clock are taken. It goes on under its spare id, so no dot is used
        // twice, and offers everything to its peers again.
        // Or the peer forgot this replica (it was unpaired, or taken for replaced): what it
        // holds of ours it keeps, but it takes nothing more under this id.
        let forgotten_by_peer = bundle.forgotten && !to_former;
        let older_than_known = bundle.ack.through > self.clock && !to_former;
        let reincarnate_as = match (older_than_known || forgotten_by_peer, self.spare_id) {
            (true, Some(fresh)) => Some(fresh),
            _ => None,
        };
        let take_ack = !to_former && reincarnate_as.is_none();
        let settings = self.settings.clone();
        let me = self.me;
        let former = match reincarnate_as {
            Some(_) => Some(me),
            None => former_id,
        };
        let result = self.write(|tx| {
            let forgotten_here = peers::is_forgotten(tx, peer)?;
            if bundle.forgotten {
                // Heeded from a peer this store knows, or forgot in its turn (each side may
                // have forgotten the other; each must hear that it is to move).
                if !forgotten_here {
                    peers::load(tx, peer)?;
                }
                if let Some(fresh) = reincarnate_as {
                    reincarnate(tx, me, fresh)?;
                }
                return Ok(Report {
                    reincarnated_as: reincarnate_as,
                    ..Report::default()
                });
            }
            if forgotten_here {
                return Err(Error::ForgottenPeer(peer));
            }
            if let Some(fresh) = reincarnate_as {
                reincarnate(tx, me, fresh)?;
            }
            let mut report = apply(
                tx,
                &bundle,
                Receiving {
                    peer,
                    take_ack,
                    former,
                    wire_len: wire.len(),
                    now_ms,
                    retransmit_after_ms: settings.retransmit_after_ms,
                },
            )?;
            report.reincarnated_as = reincarnate_as;
            super::maintain(tx, now_ms, settings.keep_expunged_bodies_ms)?;
            Ok(report)
        });
        if matches!(
            result,
            Err(Error::Merge(_)) | Err(Error::AckFromTheFuture(_)) | Err(Error::ForgottenPeer(_))
        ) {
            self.count_rejection(peer)?;
        }
        if let (Ok(_), Some(fresh)) = (&result, reincarnate_as) {
            self.me = fresh;
            self.spare_id = None;
        }
        self.refresh_relearning()?;
        result
    }

    /// The id this store had before it last went on under a new one.
    fn former_id(&self) -> Result<Option<ReplicaId>> {
        Ok(super::meta_get(&self.conn, "former_replica_id")?.map(|v| ReplicaId(v as u64)))
    }

    fn count_rejection(&mut self, peer: ReplicaId) -> Result<()> {
        self.write(|tx| match peers::load(tx, peer) {
            Ok(mut ps) => {
                ps.rejected += 1;
                peers::save(tx, peer, &ps)
            }
            Err(Error::UnknownPeer(_)) => Ok(()),
            Err(e) => Err(e),
        })
    }
}

/// Tells `peer`, which this store forgot, to go on under a new id: it carries nothing else,
/// and no generation (the addressee applies nothing from it).
fn forgotten_notice(me: ReplicaId, peer: ReplicaId) -> Bundle {
    Bundle {
        from: me,
        to: peer,
        generation: 0,
        range: None,
        items: Vec::new(),
        chunks: Vec::new(),
        ack: Ack::default(),
        sender_clock: 0,
        forgotten: true,
    }
}

/// The store goes on under the id `fresh` instead of `former` (its file is a copy of
/// `former`'s). What each peer acknowledged was of `former`'s sequence, which the peers go on
/// knowing as `former`'s: to them `fresh` is new, so everything is offered to them again
/// (they drop what they have). What we received from each peer still holds.
pub(super) fn reincarnate(tx: &mut Tx<'_>, former: ReplicaId, fresh: ReplicaId) -> Result<()> {
    tx.sql
        .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('replica_id', ?1)")?
        .execute([fresh.0 as i64])?;
    tx.sql
        .prepare_cached(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('former_replica_id', ?1)",
        )?
        .execute([former.0 as i64])?;
    peers::start_relearning(tx)?;
    // With no peer to learn from there is nothing to wait for.
    peers::end_relearning_if_caught_up(tx)?;
    for (peer, mut ps) in peers::all(tx)? {
        ps.acked = 0;
        ps.sent = 0;
        ps.unacked_since = None;
        ps.last_wants_at = None;
        // The peer learns the new id from the first bundle, which carries this ack.
        ps.ack_due = true;
        ps.ack_due_since = None;
        peers::save(tx, peer, &ps)?;
    }
    tx.me = fresh;
    Ok(())
}

/// A blob's progress towards a peer: (hash, bytes it will have, total).
type Served = (BlobHash, u64, u64);

/// What building a bundle decided, applied to the peer state only if it is sent.
struct Plan {
    high: u64,
    range_advanced: bool,
    served: Vec<Served>,
    /// Blobs of the entries in this bundle: queued for the peer even if no byte of them fit.
    pushed: Vec<BlobHash>,
}

fn build(
    tx: &Tx<'_>,
    me: ReplicaId,
    peer: ReplicaId,
    ps: &PeerState,
    settings: &SyncSettings,
    budget: usize,
) -> Result<(Bundle, Plan)> {
    let mut used = 0usize;
    let mut items = Vec::new();
    let mut pushed = Vec::new();
    let mut high = ps.sent;
    {
        let mut stmt = tx.sql.prepare_cached(
            "SELECT id, modseq, origin, state FROM items WHERE modseq > ?1 ORDER BY modseq",
        )?;
        let mut rows = stmt.query([ps.sent as i64])?;
        let mut exhausted = true;
        while let Some(row) = rows.next()? {
            let modseq = row.get::<_, i64>(1)? as u64;
            let origin: Option<i64> = row.get(2)?;
            if origin == Some(peer.0 as i64) || origin == Some(SEND_TO_NO_ONE.0 as i64) {
                high = modseq;
                continue;
            }
            let state: Vec<u8> = row.get(3)?;
            if used + state.len() > budget && !items.is_empty() {
                exhausted = false;
                break;
            }
            let id_bytes: Vec<u8> = row.get(0)?;
            let id =
                ItemId::from_bytes(&id_bytes).ok_or_else(|| Error::Corrupt("item id".into()))?;
            let st: ItemState = decode_state(&state, id)?;
            if let Some(e) = st
                .as_entry()
                .filter(|e| !crate::policy::entry_view(e).removed)
            {
                pushed.push(e.blob);
            }
            used += state.len();
            items.push(st);
            high = modseq;
        }
        if exhausted {
            high = high.max(tx.clock);
        }
    }
    let range_advanced = high > ps.sent;
    let range = range_advanced.then_some(SeqRange {
        base: ps.sent,
        high,
    });

    let wants = blobs::wants(tx, settings.max_wants_per_bundle)?;
    used += wants.len() * 48;
    let (chunks, served) = serve_chunks(tx, peer, &pushed, settings, budget.saturating_sub(used))?;
    let bundle = Bundle {
        from: me,
        to: peer,
        generation: ps.generation + 1,
        range,
        items,
        chunks,
        sender_clock: tx.clock,
        ack: Ack {
            through: ps.received,
            wants,
            purged: ps
                .purged_to_tell
                .iter()
                .take(crate::codec::MAX_PURGED_PER_BUNDLE)
                .map(|(id, removal)| Purged {
                    id: *id,
                    removal: removal.clone(),
                })
                .collect(),
        },
        forgotten: false,
    };
    Ok((
        bundle,
        Plan {
            high,
            range_advanced,
            served,
            pushed,
        },
    ))
}

/// Chunks for the peer: blobs it asked for or that we push with new entries, resuming at the
/// offset each one reached, within `budget` bytes.
fn serve_chunks(
    tx: &Tx<'_>,
    peer: ReplicaId,
    pushing: &[BlobHash],
    settings: &SyncSettings,
    mut budget: usize,
) -> Result<(Vec<Chunk>, Vec<Served>)> {
    let mut queue: Vec<(BlobHash, u64)> = Vec::new();
    {
        let mut stmt = tx.sql.prepare_cached(
            "SELECT hash, have FROM peer_blobs WHERE peer = ?1 AND have < total ORDER BY rowid",
        )?;
        let mut rows = stmt.query([peer.0 as i64])?;
        while let Some(row) = rows.next()? {
            let hash: Vec<u8> = row.get(0)?;
            if let Ok(h) = <[u8; 32]>::try_from(hash.as_slice()) {
                queue.push((BlobHash(h), row.get::<_, i64>(1)? as u64));
            }
        }
    }
    for hash in pushing {
        if !queue.iter().any(|(h, _)| h == hash) && !known_to_peer(tx, peer, *hash)? {
            queue.push((*hash, 0));
        }
    }
    let mut chunks = Vec::new();
    let mut served = Vec::new();
    for (hash, mut have) in queue {
        if budget == 0 {
            break;
        }
        let Some(total) = blobs::len(tx, hash)? else {
            continue;
        };
        while have < total && budget > 0 {
            let take = (total - have)
                .min(settings.chunk_bytes as u64)
                .min(budget as u64);
            let Some(data) = blobs::read_range(&tx.sql, hash, have, take)? else {
                break;
            };
            if data.is_empty() {
                break;
            }
            budget = budget.saturating_sub(data.len() + 64);
            chunks.push(Chunk {
                hash,
                total,
                offset: have,
                data,
            });
            have += take;
        }
        served.push((hash, have, total));
    }
    Ok((chunks, served))
}

fn known_to_peer(tx: &Tx<'_>, peer: ReplicaId, hash: BlobHash) -> Result<bool> {
    Ok(tx
        .sql
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM peer_blobs WHERE peer = ?1 AND hash = ?2)")?
        .query_row(params![peer.0 as i64, hash.0], |r| r.get(0))?)
}

fn commit_plan(
    tx: &Tx<'_>,
    peer: ReplicaId,
    ps: &mut PeerState,
    bundle: &Bundle,
    plan: &Plan,
    now_ms: u64,
    wire_len: usize,
) -> Result<()> {
    for hash in &plan.pushed {
        if let Some(total) = blobs::len(tx, *hash)? {
            tx.sql
.prepare_cached("INSERT OR IGNORE INTO peer_blobs (peer, hash, have, total, served_at) VALUES (?1, ?2, 0, ?3, NULL)")?
.execute(params![peer.0 as i64, hash.0, total as i64],
            )?;
        }
    }
    for (hash, have, total) in &plan.served {
        tx.sql
.prepare_cached("INSERT INTO peer_blobs (peer, hash, have, total, served_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(peer, hash) DO UPDATE SET have = ?3, served_at = ?5")?
.execute(params![peer.0 as i64, hash.0, *have as i64, *total as i64, now_ms as i64],
        )?;
    }
    if plan.range_advanced {
        ps.sent = plan.high;
        ps.unacked_since.get_or_insert(now_ms);
    }
    if let Some(last) = bundle.ack.wants.last() {
        ps.last_wants_at = Some(now_ms);
        blobs::advance_wants_cursor(tx, last.hash)?;
    }
    ps.ack_due = false;
    ps.ack_due_since = None;
    // Told once: if the bundle is lost, the peer's copy comes again and is answered again.
    ps.purged_to_tell.drain(..bundle.ack.purged.len());
    ps.generation = bundle.generation;
    ps.bundles_out += 1;
    ps.bytes_out += wire_len as u64;
    peers::save(tx, peer, ps)
}

/// How a bundle is being taken: from whom, and what of it counts.
#[derive(Clone, Copy)]
struct Receiving {
    peer: ReplicaId,
    /// Whether its acknowledgement is of this store's present sequence.
    take_ack: bool,
    /// The id this store went on from, if any: a clash on one of its dots is ours to settle.
    former: Option<ReplicaId>,
    wire_len: usize,
    now_ms: u64,
    retransmit_after_ms: u64,
}

fn apply(tx: &mut Tx<'_>, bundle: &Bundle, receiving: Receiving) -> Result<Report> {
    let Receiving {
        peer,
        take_ack,
        former,
        wire_len,
        now_ms,
        retransmit_after_ms,
    } = receiving;
    let mut ps = peers::load(tx, peer)?;
    let conflicts_before = super::resolve::open_conflict_ids(tx)?;
    let mut report = Report::default();

    if take_ack {
        if bundle.ack.through > tx.clock {
            return Err(Error::AckFromTheFuture(bundle.ack.through));
        }
        if bundle.ack.through > ps.acked {
            ps.acked = bundle.ack.through;
            ps.unacked_since = (ps.sent > ps.acked).then_some(now_ms);
        }
        ps.sent = ps.sent.max(ps.acked);
    }
    take_wants(tx, peer, &bundle.ack, now_ms, retransmit_after_ms)?;
    for purged in &bundle.ack.purged {
        if super::purge::forget_if_seen_by(tx, purged.id, &purged.removal, now_ms)? {
            report.forgotten.push(purged.id);
        }
    }

    let stale_bundle = bundle.generation < ps.stale_below;
    let some_set_aside = super::quarantine::count_from(tx, peer)? > 0;
    let mut skipped_unknown = false;
    for incoming in &bundle.items {
        if !incoming.is_well_formed() {
            set_aside(
                tx,
                peer,
                incoming,
                "not well formed".into(),
                now_ms,
                &mut report,
            )?;
            continue;
        }
        if some_set_aside {
            // A state from the peer that merges now supersedes one set aside before.
            super::quarantine::release(tx, peer, incoming.id)?;
        }
        match tx.load(incoming.id)? {
            Some(mut local) => match local.merge(incoming) {
                Ok(true) => {
                    let origin = (local == *incoming).then_some(peer);
                    tx.save(&local, origin)?;
                    report.applied += 1;
                }
                Ok(false) => report.unchanged += 1,
                // Our own former id with other fixed fields: this store was rolled back and
                // gave a dot the peer holds to another message. Both messages stay: ours
                // under a new id, the peer's under the one it had first.
                Err(crate::item::MergeError::ImmutableMismatch(_))
                    if Some(incoming.id.0.replica) == former
                        && local.as_entry().is_some()
                        && incoming.as_entry().is_some() =>
                {
                    move_to_new_id(tx, &local)?;
                    // Sent back too: the peer may have set aside the copy we sent under
                    // this id, and releases it when this one merges.
                    tx.save(incoming, None)?;
                    report.applied += 1;
                }
                // `merge` refuses before it changes anything, and `local` is not saved.
                Err(refusal) => {
                    set_aside(tx, peer, incoming, refusal.to_string(), now_ms, &mut report)?
                }
            },
            None if stale_bundle && super::purge::was_purged(tx, incoming.id)? => {
                skipped_unknown = true;
                report.stale.push(incoming.id);
            }
            None if !is_tombstone(incoming)
                && let Some(removal) = super::purge::removal_of_purged(tx, incoming.id)?
                && removal.dominates(&incoming.ctx) =>
            {
                // A live copy of a message forgotten after its removal reached everyone,
                // and older than that removal: the sender is behind (restored from a
                // backup). Not taken; the sender is told, so it drops its copy too.
                report.stale.push(incoming.id);
                ps.tell_purged(incoming.id, removal);
            }
            None if let Some(mut forgotten) = super::purge::take_back_purged(tx, incoming)? => {
                // A copy with a change the removal never saw: the two merge as if the
                // tombstone had never been forgotten, and the result goes to every peer
                // (back to the sender too, which lacks the removal).
                match forgotten.merge(incoming) {
                    Ok(_) => {
                        tx.save(&forgotten, None)?;
                        report.applied += 1;
                    }
                    Err(refusal) => {
                        set_aside(tx, peer, incoming, refusal.to_string(), now_ms, &mut report)?
                    }
                }
            }
            None if is_tombstone(incoming)
                && super::purge::removal_of_purged(tx, incoming.id)?
                    .is_some_and(|removal| removal.dominates(&incoming.ctx)) =>
            {
                // A removal we forgot already, from a peer that purges later than we do.
                report.unchanged += 1;
            }
            None if is_tombstone(incoming) => {
                // Kept only to shadow a live copy that may still be on its way; whoever needs
                // this removal gets it along the path the message itself took, so it is not
                // passed on. (Passing it on would let replicas that already purged it hand it
                // round for ever.)
                tx.save(incoming, Some(SEND_TO_NO_ONE))?;
                report.unchanged += 1;
            }
            None => {
                tx.save(incoming, Some(peer))?;
                report.applied += 1;
            }
        }
    }
    if let (Some(range), false) = (bundle.range, skipped_unknown) {
        ps.record_received(range.base, range.high);
    }
    let relearning = peers::is_relearning(tx)?;
    // Only a bundle to our present id was built after the peer heard of it, so after this
    // store lost its history: the peer's clock then covers all it had at that loss. (One
    // to the old id may have waited in a queue for days.)
    if relearning && ps.relearn_target.is_none() && bundle.to == tx.me {
        ps.relearn_target = Some(bundle.sender_clock);
    }
    for chunk in &bundle.chunks {
        match blobs::accept_chunk(tx, chunk)? {
            blobs::ChunkOutcome::Ignored => {}
            blobs::ChunkOutcome::Stored => report.chunks_stored += 1,
            blobs::ChunkOutcome::Completed => {
                report.chunks_stored += 1;
                report.blobs_completed += 1;
                mark_known_to_peer(tx, peer, chunk.hash, chunk.total)?;
            }
            blobs::ChunkOutcome::Corrupt => report.blobs_corrupt += 1,
        }
    }
    if bundle.range.is_some() || !bundle.chunks.is_empty() {
        if !ps.ack_due {
            ps.ack_due_since = Some(now_ms);
        }
        ps.ack_due = true;
    }
    ps.highest_generation_seen = ps.highest_generation_seen.max(bundle.generation);
    ps.last_contact = Some(now_ms);
    ps.bundles_in += 1;
    ps.bytes_in += wire_len as u64;
    peers::save(tx, peer, &ps)?;
    if relearning {
        report.relearned = peers::end_relearning_if_caught_up(tx)?;
    }
    super::derive::settle(tx)?;
    let after = super::resolve::open_conflict_ids(tx)?;
    report.new_conflicts = after.difference(&conflicts_before).cloned().collect();
    Ok(report)
}

/// Gives a message of ours a new id, as a copy in its mailbox with its flags (a new UID, so
/// clients see it leave and arrive); a removed one has nothing to keep.
fn move_to_new_id(tx: &mut Tx<'_>, local: &ItemState) -> Result<()> {
    let Some(e) = local.as_entry() else {
        return Ok(());
    };
    let view = crate::policy::entry_view(e);
    if view.removed {
        return Ok(());
    }
    // A peer sent the body along with the old id may have dropped it with the state it
    // could not take: push it again with the new one.
    tx.sql
        .prepare_cached("DELETE FROM peer_blobs WHERE hash = ?1")?
        .execute([e.blob.0])?;
    super::ops::create_entry(
        tx,
        view.mailbox,
        super::ops::EntryTemplate::copy_of(e),
        None,
    )
    .map(drop)
}

fn set_aside(
    tx: &Tx<'_>,
    peer: ReplicaId,
    state: &ItemState,
    reason: String,
    now_ms: u64,
    report: &mut Report,
) -> Result<()> {
    super::quarantine::set_aside(tx, peer, state, &reason, now_ms)?;
    report.quarantined.push((state.id, reason));
    Ok(())
}

/// A peer's wants move our idea of how far it holds each blob back to what it says, unless
/// we sent those bytes so recently that they may still be on their way (as `waited` judges
/// it: a sending time ahead of now is the clock stepped back, and long past).
fn take_wants(
    tx: &Tx<'_>,
    peer: ReplicaId,
    ack: &Ack,
    now_ms: u64,
    retransmit_after_ms: u64,
) -> Result<()> {
    for want in &ack.wants {
        let Some(total) = blobs::len(tx, want.hash)? else {
            continue;
        };
        if want.have >= total {
            continue;
        }
        tx.sql
.prepare_cached("INSERT INTO peer_blobs (peer, hash, have, total, served_at) VALUES (?1, ?2, ?3, ?4, NULL)
             ON CONFLICT(peer, hash) DO UPDATE SET have = ?3
             WHERE have > ?3 AND (served_at IS NULL OR served_at > ?5 OR ?5 - served_at >= ?6)")?
.execute(params![
                peer.0 as i64,
                want.hash.0,
                want.have as i64,
                total as i64,
                now_ms as i64,
                retransmit_after_ms as i64
            ],
        )?;
    }
    Ok(())
}

/// A blob that arrived from a peer is one we never need to push back to it.
fn mark_known_to_peer(tx: &Tx<'_>, peer: ReplicaId, hash: BlobHash, total: u64) -> Result<()> {
    tx.sql
.prepare_cached("INSERT INTO peer_blobs (peer, hash, have, total, served_at) VALUES (?1, ?2, ?3, ?3, NULL)
         ON CONFLICT(peer, hash) DO UPDATE SET have = ?3")?
.execute(params![peer.0 as i64, hash.0, total as i64],
    )?;
    Ok(())
}
