//! Replicated items: the state of one mailbox or one message entry, as stored and as sent.
//!
//! An item is its id, its causal context (every write to it that this state includes) and
//! per-field registers, so concurrent writes to *different* fields merge silently and only
//! writes to the *same* field leave several siblings. Fields fixed at creation (blob, dates,
//! UIDVALIDITY) are plain values. `merge` is a join: commutative, associative, idempotent.

use crate::ids::{BlobHash, Dot, ItemId, MailboxId};
use crate::reg::Reg;
use crate::vv::VersionVector;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SpecialUse {
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
}

impl SpecialUse {
    pub const ALL: [SpecialUse; 5] = [
        SpecialUse::Sent,
        SpecialUse::Drafts,
        SpecialUse::Trash,
        SpecialUse::Junk,
        SpecialUse::Archive,
    ];

    pub fn default_name(self) -> &'static str {
        match self {
            SpecialUse::Sent => "Sent",
            SpecialUse::Drafts => "Drafts",
            SpecialUse::Trash => "Trash",
            SpecialUse::Junk => "Junk",
            SpecialUse::Archive => "Archive",
        }
    }

    /// The IMAP attribute (RFC 6154).
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Archive => "\\Archive",
        }
    }
}

/// Whether an item is removed (expunged / deleted), and what its remover had seen.
/// The context lets every replica tell a removal that saw a change from one that raced it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Removal {
    Kept,
    Removed(VersionVector),
}

/// Where an entry sits: the mailbox and its UID there. Kept as a pair so a UID never
/// outlives the mailbox it was allocated in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Placement {
    pub mailbox: MailboxId,
    pub uid: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxState {
    /// Fixed at creation from the creating dot (`replica::uidvalidity_for`).
    pub uidvalidity: u32,
    /// The UIDVALIDITY of the store this mailbox was moved in from (`import` of a Dovecot
    /// Maildir), so clients keep their caches: shown instead of `uidvalidity`. Written only
    /// while the mailbox has never held a message; empty when never written, and then left
    /// out of the encoding, so states without it read and write as before.
    #[serde(default, skip_serializing_if = "Reg::is_empty")]
    pub imported_uidvalidity: Reg<u32>,
    /// Grow-only: merged by maximum, so a UID once handed out is never handed out again.
    pub uidnext: u32,
    pub name: Reg<String>,
    pub subscribed: Reg<bool>,
    pub special_use: Reg<Option<SpecialUse>>,
    pub removal: Reg<Removal>,
}

impl MailboxState {
    /// The UIDVALIDITY clients see. Concurrent imports settle on the greatest, alike on
    /// every replica.
    pub fn shown_uidvalidity(&self) -> u32 {
        self.imported_uidvalidity
            .values()
            .copied()
            .max()
            .unwrap_or(self.uidvalidity)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryState {
    pub blob: BlobHash,
    pub size: u64,
    /// Seconds since the Unix epoch, with the sender's UTC offset in minutes.
    pub internal_date: i64,
    pub date_offset_minutes: i16,
    pub mailbox: Reg<MailboxId>,
    /// Written with `mailbox` on append and move, and alone when a UID clash is renumbered,
    /// so renumbering never races a user's move or flags.
    pub placement: Reg<Placement>,
    pub flags: BTreeMap<String, Reg<bool>>,
    pub removal: Reg<Removal>,
    /// Every place the entry has been given, on any replica. Some replica's clients may have
    /// seen it under each of these UIDs, so every one but its current place is dead for other
    /// messages. Grow-only, merged by union; always holds every `placement` sibling.
    pub placements: BTreeSet<Placement>,
}

/// Bounds on states from outside. Local writes stay far below them (see `flags` and
/// `replica::ops`), and merging states within them stays within them for any realistic number
/// of replicas, so a merged state is never refused by a peer.
pub const MAX_PLACEMENTS: usize = 1 << 16;
pub const MAX_FLAG_REGISTERS: usize = 1 << 14;
/// The highest UID handed out. IMAP allows up to 2^32-1; stopping at 2^31 leaves room so that
/// no renumbering can overflow, whatever a peer sends.
pub const MAX_UID: u32 = 1 << 31;

impl EntryState {
    /// Give the entry a new place.
    pub fn set_placement(&mut self, dot: Dot, to: Placement) {
        self.placements.insert(to);
        self.placement.set(dot, to);
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    Mailbox(MailboxState),
    Entry(EntryState),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemState {
    pub id: ItemId,
    pub ctx: VersionVector,
    pub body: Body,
}

/// Why two states of one item cannot be merged: only forged or corrupt input gets here.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("item {0}: states of different kinds")]
    KindMismatch(ItemId),
    #[error("item {0}: immutable fields differ")]
    ImmutableMismatch(ItemId),
}

impl ItemState {
    pub fn as_mailbox(&self) -> Option<&MailboxState> {
        match &self.body {
            Body::Mailbox(m) => Some(m),
            Body::Entry(_) => None,
        }
    }

    pub fn as_entry(&self) -> Option<&EntryState> {
        match &self.body {
            Body::Entry(e) => Some(e),
            Body::Mailbox(_) => None,
        }
    }

    /// Join `other` into `self`. Returns whether `self` changed.
    pub fn merge(&mut self, other: &ItemState) -> Result<bool, MergeError> {
        let before = self.clone();
        let (own, theirs) = (&self.ctx, &other.ctx);
        match (&mut self.body, &other.body) {
            (Body::Mailbox(a), Body::Mailbox(b)) => {
                if a.uidvalidity != b.uidvalidity {
                    return Err(MergeError::ImmutableMismatch(self.id));
                }
                a.uidnext = a.uidnext.max(b.uidnext);
                a.name.merge(own, &b.name, theirs);
                a.subscribed.merge(own, &b.subscribed, theirs);
                a.special_use.merge(own, &b.special_use, theirs);
                a.removal.merge(own, &b.removal, theirs);
                a.imported_uidvalidity
                    .merge(own, &b.imported_uidvalidity, theirs);
            }
            (Body::Entry(a), Body::Entry(b)) => {
                if (a.blob, a.size, a.internal_date, a.date_offset_minutes)
                    != (b.blob, b.size, b.internal_date, b.date_offset_minutes)
                {
                    return Err(MergeError::ImmutableMismatch(self.id));
                }
                a.mailbox.merge(own, &b.mailbox, theirs);
                a.placement.merge(own, &b.placement, theirs);
                let empty = Reg::default();
                let keys: Vec<String> = a.flags.keys().chain(b.flags.keys()).cloned().collect();
                for key in keys {
                    let theirs_reg = b.flags.get(&key).unwrap_or(&empty);
                    let reg = a.flags.entry(key.clone()).or_default();
                    reg.merge(own, theirs_reg, theirs);
                    if reg.is_empty() {
                        a.flags.remove(&key);
                    }
                }
                a.removal.merge(own, &b.removal, theirs);
                a.placements.extend(b.placements.iter().copied());
            }
            _ => return Err(MergeError::KindMismatch(self.id)),
        }
        self.ctx.merge(&other.ctx);
        Ok(*self != before)
    }

    /// Record a local write's dot in the item's context.
    pub fn witness(&mut self, dot: Dot) {
        self.ctx.add(dot);
    }

    /// Checks a state that arrived from outside before it is merged or stored.
    pub fn is_well_formed(&self) -> bool {
        let ctx = &self.ctx;
        if !ctx.contains(self.id.0) {
            return false;
        }
        match &self.body {
            Body::Mailbox(m) => {
                !m.name.is_empty()
                    && m.name.is_well_formed(ctx)
                    && m.name
                        .values()
                        .all(|n| crate::names::is_valid_mailbox_name(n))
                    && m.subscribed.is_well_formed(ctx)
                    && m.special_use.is_well_formed(ctx)
                    && !m.removal.is_empty()
                    && m.removal.is_well_formed(ctx)
                    && m.uidvalidity != 0
                    && m.imported_uidvalidity.is_well_formed(ctx)
                    && m.imported_uidvalidity.values().all(|&v| v != 0)
                    && (1..=MAX_UID).contains(&m.uidnext)
            }
            Body::Entry(e) => {
                !e.mailbox.is_empty()
                    && e.mailbox.is_well_formed(ctx)
                    && e.placement.is_well_formed(ctx)
                    && e.placements.iter().all(|p| (1..MAX_UID).contains(&p.uid))
                    && e.flags.len() <= MAX_FLAG_REGISTERS
                    && e.flags.iter().all(|(k, r)| {
                        crate::flags::is_valid_flag(k) && !r.is_empty() && r.is_well_formed(ctx)
                    })
                    && !e.removal.is_empty()
                    && e.removal.is_well_formed(ctx)
                    && e.placements.len() <= MAX_PLACEMENTS
                    && e.placement.values().all(|p| e.placements.contains(p))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ReplicaId;
    use proptest::prelude::*;

    fn dot(r: u64, c: u64) -> Dot {
        Dot::new(ReplicaId(r), c)
    }

    fn genesis_entry() -> ItemState {
        let id = ItemId(dot(1, 1));
        let mbox = ItemId(dot(0, 1));
        ItemState {
            id,
            ctx: [dot(1, 1)].into_iter().collect(),
            body: Body::Entry(EntryState {
                blob: BlobHash([7; 32]),
                size: 10,
                internal_date: 0,
                date_offset_minutes: 0,
                mailbox: Reg::new(dot(1, 1), mbox),
                placement: Reg::new(
                    dot(1, 1),
                    Placement {
                        mailbox: mbox,
                        uid: 1,
                    },
                ),
                flags: BTreeMap::new(),
                removal: Reg::new(dot(1, 1), Removal::Kept),
                placements: [Placement {
                    mailbox: mbox,
                    uid: 1,
                }]
                .into_iter()
                .collect(),
            }),
        }
    }

    /// `writes` applied on top of `base`, each by a replica of `lane` (two per lane), so
    /// states built in different lanes are concurrent and never reuse a dot.
    fn entry_after(base: &ItemState, lane: u64, writes: &[(u64, u8)]) -> ItemState {
        let mut st = base.clone();
        for (i, &(replica, op)) in writes.iter().enumerate() {
            let d = dot(10 + lane * 2 + replica % 2, 10 + i as u64);
            st.witness(d);
            let ctx = st.ctx.clone();
            let Body::Entry(e) = &mut st.body else {
                unreachable!()
            };
            match op % 4 {
                0 => e
                    .flags
                    .entry("\\Seen".into())
                    .or_default()
                    .set(d, op % 8 < 4),
                1 => e.flags.entry("\\Deleted".into()).or_default().set(d, true),
                2 => {
                    let m = ItemId(dot(0, 2 + u64::from(op % 3)));
                    e.mailbox.set(d, m);
                    e.set_placement(
                        d,
                        Placement {
                            mailbox: m,
                            uid: 5 + u64::from(op % 3) as u32,
                        },
                    );
                }
                _ => e.removal.set(d, Removal::Removed(ctx)),
            }
        }
        st
    }

    fn arb_writes() -> impl Strategy<Value = Vec<(u64, u8)>> {
        proptest::collection::vec((0u64..2, any::<u8>()), 0..5)
    }

    /// Three states of one entry: two concurrent ones, and a third that saw both first.
    fn arb_states() -> impl Strategy<Value = (ItemState, ItemState, ItemState)> {
        (arb_writes(), arb_writes(), arb_writes(), any::<bool>()).prop_map(|(wa, wb, wc, saw)| {
            let g = genesis_entry();
            let a = entry_after(&g, 0, &wa);
            let b = entry_after(&g, 1, &wb);
            let c_base = if saw { join(&a, &b) } else { g };
            let c = entry_after(&c_base, 2, &wc);
            (a, b, c)
        })
    }

    fn join(a: &ItemState, b: &ItemState) -> ItemState {
        let mut out = a.clone();
        out.merge(b).expect("same item");
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn item_merge_is_a_join((a, b, c) in arb_states()) {
            prop_assert_eq!(join(&a, &b), join(&b, &a));
            prop_assert_eq!(join(&join(&a, &b), &c), join(&a, &join(&b, &c)));
            prop_assert_eq!(join(&a, &a), a.clone());
            prop_assert!(join(&a, &b).is_well_formed());
        }
    }

    #[test]
    fn merge_refuses_a_forged_blob() {
        let a = genesis_entry();
        let mut b = a.clone();
        if let Body::Entry(e) = &mut b.body {
            e.blob = BlobHash([8; 32]);
        }
        assert!(matches!(
            a.clone().merge(&b),
            Err(MergeError::ImmutableMismatch(_))
        ));
    }
}
