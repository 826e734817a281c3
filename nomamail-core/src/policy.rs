//! The conflict policy: how every replica reads a merged item the same way.
//!
//! Merging keeps concurrent writes as siblings; this module turns siblings into the one
//! state users see, always on the safe side (no mail lost), and names the conflicts a user
//! should judge. It is a pure function of the item states, so all replicas that hold the same
//! states agree on the outcome and on the conflicts before anyone acts.
//!
//! | concurrent change | outcome | conflict |
//! |---|---|---|
//! | different flags | merged | no |
//! | one flag set and cleared | `\Deleted`: cleared wins; others: set wins | no |
//! | expunged vs changed or moved | kept | `Expunge` |
//! | moved to two mailboxes | the latest move's mailbox | `Move` |
//! | mailbox renamed twice | the latest name | `Rename` |
//! | mailbox deleted vs mail added / mailbox changed | mailbox kept | `Delete` |
//! | two live mailboxes with one name | older id keeps it, the other shown as `name~id` | `NameClash` |

use crate::flags;
use crate::ids::{Dot, ItemId, MailboxId};
use crate::item::{EntryState, MailboxState, Removal, SpecialUse};
use crate::reg::Reg;
use crate::vv::VersionVector;
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovalOutcome {
    Live,
    Removed,
    /// A removal raced a change (or an explicit keep): kept, and the user should decide.
    Contested,
}

/// A removal wins only if, between them, the removers had seen every other write to the item.
pub fn removal_outcome(
    removal: &Reg<Removal>,
    other_writes: impl Iterator<Item = Dot>,
) -> RemovalOutcome {
    let mut seen = VersionVector::new();
    let (mut removed, mut kept) = (false, false);
    for value in removal.values() {
        match value {
            Removal::Removed(ctx) => {
                removed = true;
                seen.merge(ctx);
            }
            Removal::Kept => kept = true,
        }
    }
    match (removed, kept) {
        (false, _) => RemovalOutcome::Live,
        (true, true) => RemovalOutcome::Contested,
        (true, false) => {
            let mut others = other_writes;
            if others.all(|d| seen.contains(d)) {
                RemovalOutcome::Removed
            } else {
                RemovalOutcome::Contested
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryView {
    pub mailbox: MailboxId,
    /// The UID in `mailbox`, if this replica placed it there; `None` asks for a renumbering.
    pub uid: Option<u32>,
    pub flags: BTreeSet<String>,
    pub removed: bool,
    pub expunge_contested: bool,
    /// Several mailboxes the entry was moved to concurrently, when it was.
    pub moved_apart: Vec<MailboxId>,
}

pub fn entry_view(e: &EntryState) -> EntryView {
    let mailbox = *e
        .mailbox
        .latest()
        .unwrap_or(&ItemId(Dot::new(crate::ids::ReplicaId::GENESIS, 0)));
    let uid = e
        .placement
        .values()
        .filter(|p| p.mailbox == mailbox)
        .map(|p| p.uid)
        .max();
    // Renumbering (placement alone) is housekeeping, not a user's change: it must not keep
    // an expunged message alive.
    let user_writes = e
        .mailbox
        .dots()
        .chain(e.flags.values().flat_map(|r| r.dots()));
    let outcome = removal_outcome(&e.removal, user_writes);
    // A message kept because a change raced its expunge is shown without the `\Deleted` its
    // expunger set: otherwise the next EXPUNGE anywhere would delete it before the user
    // has decided.
    let contested = outcome == RemovalOutcome::Contested;
    let flags = e
        .flags
        .iter()
        .filter(|(name, reg)| settle_flag(name, reg))
        .filter(|(name, _)| !(contested && name.as_str() == "\\Deleted"))
        .map(|(name, _)| name.clone())
        .collect();
    let moved = e.mailbox.distinct_values();
    EntryView {
        mailbox,
        uid,
        flags,
        removed: outcome == RemovalOutcome::Removed,
        expunge_contested: outcome == RemovalOutcome::Contested,
        moved_apart: if moved.len() > 1 {
            moved.into_iter().copied().collect()
        } else {
            Vec::new()
        },
    }
}

fn settle_flag(name: &str, reg: &Reg<bool>) -> bool {
    let values = reg.distinct_values();
    match values.as_slice() {
        [only] => **only,
        [] => false,
        _ => flags::concurrent_set_and_clear(name),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxView {
    pub name: String,
    pub subscribed: bool,
    pub special_use: Option<SpecialUse>,
    pub removed: bool,
    pub delete_contested: bool,
    /// Concurrent names, when renamed on two replicas at once.
    pub renamed_apart: Vec<String>,
}

/// `holds_live_mail`: whether any live entry is placed in this mailbox; a mailbox that holds
/// mail is never removed, whatever its own register says.
pub fn mailbox_view(m: &MailboxState, holds_live_mail: bool) -> MailboxView {
    let name = m.name.latest().cloned().unwrap_or_default();
    let user_writes = m
        .name
        .dots()
        .chain(m.subscribed.dots())
        .chain(m.special_use.dots());
    let outcome = match removal_outcome(&m.removal, user_writes) {
        RemovalOutcome::Removed if holds_live_mail => RemovalOutcome::Contested,
        other => other,
    };
    let names = m.name.distinct_values();
    MailboxView {
        name,
        subscribed: m.subscribed.values().any(|s| *s),
        special_use: m.special_use.latest().copied().flatten(),
        removed: outcome == RemovalOutcome::Removed,
        delete_contested: outcome == RemovalOutcome::Contested,
        renamed_apart: if names.len() > 1 {
            names.into_iter().cloned().collect()
        } else {
            Vec::new()
        },
    }
}

/// The name a mailbox is shown under when two live mailboxes claim one name: the older id
/// keeps it; the others get their id appended, which is unique and the same everywhere.
pub fn clash_name(name: &str, id: ItemId) -> String {
    format!("{name}~{id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BlobHash, ReplicaId};
    use crate::item::Placement;
    use std::collections::BTreeMap;

    fn dot(r: u64, c: u64) -> Dot {
        Dot::new(ReplicaId(r), c)
    }

    fn entry() -> EntryState {
        let m = ItemId(dot(0, 1));
        EntryState {
            blob: BlobHash([1; 32]),
            size: 1,
            internal_date: 0,
            date_offset_minutes: 0,
            mailbox: Reg::new(dot(1, 1), m),
            placement: Reg::new(dot(1, 1), Placement { mailbox: m, uid: 4 }),
            flags: BTreeMap::new(),
            removal: Reg::new(dot(1, 1), Removal::Kept),
            placements: [Placement { mailbox: m, uid: 4 }].into_iter().collect(),
        }
    }

    fn ctx(dots: &[(u64, u64)]) -> VersionVector {
        dots.iter().map(|&(r, c)| dot(r, c)).collect()
    }

    #[test]
    fn flag_set_and_clear_concurrently_follows_the_per_flag_rule() {
        let mut e = entry();
        let mut seen = Reg::new(dot(2, 5), true);
        seen.merge(
            &ctx(&[(2, 5)]),
            &Reg::new(dot(3, 5), false),
            &ctx(&[(3, 5)]),
        );
        let mut deleted = Reg::new(dot(2, 6), true);
        deleted.merge(
            &ctx(&[(2, 6)]),
            &Reg::new(dot(3, 6), false),
            &ctx(&[(3, 6)]),
        );
        e.flags.insert(flags::SEEN.into(), seen);
        e.flags.insert(flags::DELETED.into(), deleted);
        let v = entry_view(&e);
        assert!(v.flags.contains(flags::SEEN));
        assert!(!v.flags.contains(flags::DELETED));
        assert!(!v.removed && !v.expunge_contested);
    }

    #[test]
    fn expunge_that_saw_every_change_removes_and_one_that_raced_a_change_keeps() {
        let mut e = entry();
        e.flags
            .insert(flags::SEEN.into(), Reg::new(dot(2, 3), true));
        e.removal = Reg::new(dot(3, 9), Removal::Removed(ctx(&[(1, 1), (2, 3), (3, 9)])));
        assert!(entry_view(&e).removed);

        e.removal = Reg::new(dot(3, 9), Removal::Removed(ctx(&[(1, 1), (3, 9)])));
        let v = entry_view(&e);
        assert!(!v.removed && v.expunge_contested);
    }

    #[test]
    fn renumbering_does_not_contest_an_expunge() {
        let mut e = entry();
        let m = *e.mailbox.latest().unwrap();
        e.placement = Reg::new(dot(4, 20), Placement { mailbox: m, uid: 9 });
        e.removal = Reg::new(dot(3, 9), Removal::Removed(ctx(&[(1, 1), (3, 9)])));
        assert!(entry_view(&e).removed);
    }

    #[test]
    fn concurrent_moves_pick_the_latest_and_report_both() {
        let mut e = entry();
        let (a, b) = (ItemId(dot(0, 2)), ItemId(dot(0, 3)));
        let mut mb = Reg::new(dot(2, 7), a);
        mb.merge(&ctx(&[(2, 7)]), &Reg::new(dot(3, 8), b), &ctx(&[(3, 8)]));
        let mut pl = Reg::new(dot(2, 7), Placement { mailbox: a, uid: 1 });
        pl.merge(
            &ctx(&[(2, 7)]),
            &Reg::new(dot(3, 8), Placement { mailbox: b, uid: 2 }),
            &ctx(&[(3, 8)]),
        );
        e.mailbox = mb;
        e.placement = pl;
        let v = entry_view(&e);
        assert_eq!((v.mailbox, v.uid), (b, Some(2)));
        assert_eq!(v.moved_apart, vec![a, b]);
    }

    #[test]
    fn a_mailbox_holding_live_mail_is_never_removed() {
        let m = MailboxState {
            uidvalidity: 1,
            imported_uidvalidity: Reg::default(),
            uidnext: 1,
            name: Reg::new(dot(1, 1), "Work".into()),
            subscribed: Reg::new(dot(1, 1), true),
            special_use: Reg::new(dot(1, 1), None),
            removal: Reg::new(dot(2, 5), Removal::Removed(ctx(&[(1, 1), (2, 5)]))),
        };
        assert!(mailbox_view(&m, false).removed);
        let v = mailbox_view(&m, true);
        assert!(!v.removed && v.delete_contested);
    }
}
