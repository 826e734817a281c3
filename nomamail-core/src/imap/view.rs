//! A session's view of its selected mailbox: the message sequence numbers its client knows,
//! and the untagged responses that bring the client up to date with the store.
//!
//! The store changes under a session (other sessions, sync peers); the client only learns
//! through EXPUNGE, EXISTS and FETCH responses, and sequence numbers shift with every
//! EXPUNGE. `catch_up` computes those responses in an order the client can apply one by one.
//! While a FETCH, STORE or SEARCH runs, RFC 3501 §7.4.1 forbids EXPUNGE: then removed
//! messages stay in the view (still addressable by their old numbers) until a later command
//! allows expunges.

use crate::ids::{BlobHash, EntryId};
use std::collections::{BTreeSet, HashMap};

/// What the view knows of one message: its flags as the client was last told them, and
/// the fields an entry never changes, so FETCH FLAGS and most searches need no store read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub id: EntryId,
    pub uid: u32,
    pub flags: Vec<String>,
    pub modseq: u64,
    pub blob: BlobHash,
    pub size: u64,
    pub internal_date: i64,
    pub date_offset_minutes: i16,
}

impl Known {
    /// The entry as the store holds it while nothing has changed since the view was made.
    pub fn to_entry(&self, mailbox: crate::MailboxId) -> crate::EntryInfo {
        crate::EntryInfo {
            id: self.id,
            mailbox,
            uid: self.uid,
            flags: self.flags.clone(),
            size: self.size,
            internal_date: self.internal_date,
            date_offset_minutes: self.date_offset_minutes,
            blob: self.blob,
            modseq: self.modseq,
        }
    }
}

impl From<crate::EntryInfo> for Known {
    fn from(entry: crate::EntryInfo) -> Known {
        Known {
            id: entry.id,
            uid: entry.uid,
            flags: entry.flags,
            modseq: entry.modseq,
            blob: entry.blob,
            size: entry.size,
            internal_date: entry.internal_date,
            date_offset_minutes: entry.date_offset_minutes,
        }
    }
}

/// A message's change since the view last looked, as the store reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The message is in the selected mailbox now, as given.
    Present(Known),
    /// The message is no longer in the selected mailbox (expunged, moved, forgotten). Ids
    /// the view never showed are ignored.
    Absent(EntryId),
}

/// An untagged response the client must receive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// `* n EXPUNGE`, numbered as the client sees the mailbox at that moment (the UID is for
    /// QRESYNC clients, who are told `* VANISHED uid` instead).
    Expunge { seq: u32, uid: u32 },
    /// `* n EXISTS`.
    Exists(u32),
    /// `* n FETCH (UID u FLAGS (...))` for a message whose flags changed.
    Flags {
        seq: u32,
        uid: u32,
        flags: Vec<String>,
    },
}

/// The view costs what the changes cost: it is brought up to date from the store's changes
/// since it last looked, never by comparing whole mailboxes.
#[derive(Clone, Debug, Default)]
pub struct SelectedView {
    /// In sequence order, i.e. ascending UID; includes messages held back (`gone`).
    messages: Vec<Known>,
    /// The UID each message still in the mailbox is shown under.
    shown: HashMap<EntryId, u32>,
    /// UIDs the client still sees whose messages have left the mailbox; their EXPUNGE waits
    /// for a command that allows one.
    gone: BTreeSet<u32>,
}

impl SelectedView {
    /// The view right after SELECT: everything in the mailbox now (ascending UIDs).
    pub fn new(now: Vec<Known>) -> SelectedView {
        let shown = now.iter().map(|m| (m.id, m.uid)).collect();
        SelectedView {
            messages: now,
            shown,
            gone: BTreeSet::new(),
        }
    }

    pub fn len(&self) -> u32 {
        self.messages.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn uid_of(&self, seq: u32) -> Option<u32> {
        self.at(seq).map(|m| m.uid)
    }

    /// The message at a sequence number.
    pub fn at(&self, seq: u32) -> Option<&Known> {
        let index = usize::try_from(seq).ok()?.checked_sub(1)?;
        self.messages.get(index)
    }

    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.messages
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .map(|i| i as u32 + 1)
    }

    pub fn messages(&self) -> &[Known] {
        &self.messages
    }

    /// The message shown under `uid` has left the mailbox; its EXPUNGE is still owed.
    pub fn is_gone(&self, uid: u32) -> bool {
        self.gone.contains(&uid)
    }

    /// Expunges are owed that the last catch-up could not send.
    pub fn holds_expunges(&self) -> bool {
        !self.gone.is_empty()
    }

    /// Records what this session itself just told the client about a message, so the next
    /// catch-up does not repeat it.
    pub fn note(&mut self, uid: u32, flags: &[String], modseq: u64) {
        if let Ok(at) = self.messages.binary_search_by_key(&uid, |m| m.uid) {
            self.messages[at].flags = flags.to_vec();
            self.messages[at].modseq = modseq;
        }
    }

    /// The changes that turn this view into `now` (the whole mailbox, ascending UIDs): for a
    /// reader that cannot learn the changes themselves.
    pub fn changes_to(&self, now: Vec<Known>) -> Vec<Change> {
        let present: std::collections::HashSet<EntryId> = now.iter().map(|m| m.id).collect();
        let mut changes: Vec<Change> = self
            .shown
            .keys()
            .filter(|id| !present.contains(id))
            .map(|id| Change::Absent(*id))
            .collect();
        changes.extend(now.into_iter().map(Change::Present));
        changes
    }

    /// Applies the store's changes and returns what to tell the client, in order: expunges
    /// (highest first, so each number is valid as sent), flag changes, then EXISTS. With
    /// `allow_expunge` false, messages that left stay in the view and nothing renumbers.
    pub fn catch_up(&mut self, changes: Vec<Change>, allow_expunge: bool) -> Vec<Update> {
        let mut flags_changed = BTreeSet::new();
        let mut arrived = Vec::new();
        for change in changes {
            match change {
                Change::Present(now) => match self.shown.get(&now.id).copied() {
                    Some(uid) if uid == now.uid => {
                        self.gone.remove(&uid);
                        if let Ok(at) = self.messages.binary_search_by_key(&uid, |m| m.uid) {
                            let known = &mut self.messages[at];
                            if known.flags != now.flags {
                                flags_changed.insert(uid);
                            }
                            known.flags = now.flags;
                            known.modseq = now.modseq;
                        }
                    }
                    // Renumbered: the old UID goes, the new one arrives.
                    Some(uid) => {
                        self.gone.insert(uid);
                        arrived.push(now);
                    }
                    None => arrived.push(now),
                },
                Change::Absent(id) => {
                    if let Some(uid) = self.shown.get(&id) {
                        self.gone.insert(*uid);
                    }
                }
            }
        }
        let mut updates = Vec::new();
        if allow_expunge {
            for uid in std::mem::take(&mut self.gone).into_iter().rev() {
                let Ok(at) = self.messages.binary_search_by_key(&uid, |m| m.uid) else {
                    continue;
                };
                let left = self.messages.remove(at);
                if self.shown.get(&left.id) == Some(&uid) {
                    self.shown.remove(&left.id);
                }
                updates.push(Update::Expunge {
                    seq: at as u32 + 1,
                    uid,
                });
            }
        }
        for uid in flags_changed {
            if self.gone.contains(&uid) {
                continue;
            }
            if let Ok(at) = self.messages.binary_search_by_key(&uid, |m| m.uid) {
                updates.push(Update::Flags {
                    seq: at as u32 + 1,
                    uid,
                    flags: self.messages[at].flags.clone(),
                });
            }
        }
        // New mail only ever arrives above every UID the client knows (the engine never
        // places a message below a UIDNEXT it has shown), so it goes at the end; anything
        // else would renumber what the client holds, and waits for the next SELECT.
        arrived.sort_by_key(|m| m.uid);
        let before = self.messages.len();
        for now in arrived {
            if self.messages.last().is_some_and(|m| m.uid >= now.uid) {
                continue;
            }
            self.shown.insert(now.id, now.uid);
            self.messages.push(now);
        }
        if self.messages.len() != before {
            updates.push(Update::Exists(self.len()));
        }
        updates
    }
}

/// Whether every FETCH item asked for is one the view holds for each message (UID, FLAGS,
/// MODSEQ), so the answer needs no store read.
pub fn holds_all(names: &[imap_types::fetch::MessageDataItemName<'_>]) -> bool {
    use imap_types::fetch::MessageDataItemName as N;
    names
        .iter()
        .all(|n| matches!(n, N::Uid | N::Flags | N::ModSeq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: u32) -> EntryId {
        crate::ids::ItemId(crate::ids::Dot::new(crate::ids::ReplicaId(7), u64::from(n)))
    }

    /// A message whose id follows its UID (the tests do not renumber unless they say so).
    fn known(uid: u32, flags: &[&str]) -> Known {
        Known {
            id: id(uid),
            uid,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            modseq: 0,
            blob: BlobHash([0; 32]),
            size: 0,
            internal_date: 0,
            date_offset_minutes: 0,
        }
    }

    #[test]
    fn expunges_come_highest_first_then_flags_then_exists() {
        let mut view = SelectedView::new(vec![
            known(1, &[]),
            known(2, &[]),
            known(5, &[]),
            known(9, &[]),
        ]);
        let now = [known(1, &["\\Seen"]), known(5, &[]), known(12, &[])];
        let updates = view.catch_up(view.changes_to(now.to_vec()), true);
        assert_eq!(
            updates,
            vec![
                Update::Expunge { seq: 4, uid: 9 },
                Update::Expunge { seq: 2, uid: 2 },
                Update::Flags {
                    seq: 1,
                    uid: 1,
                    flags: vec!["\\Seen".into()]
                },
                Update::Exists(3),
            ]
        );
        assert_eq!(view.seq_of(12), Some(3));
        assert_eq!(view.uid_of(2), Some(5));
    }

    #[test]
    fn no_expunge_while_a_fetch_store_or_search_runs() {
        let mut view = SelectedView::new(vec![known(1, &[]), known(2, &[])]);
        let now = [known(2, &["\\Flagged"]), known(3, &[])];
        let updates = view.catch_up(view.changes_to(now.to_vec()), false);
        assert_eq!(
            updates,
            vec![
                Update::Flags {
                    seq: 2,
                    uid: 2,
                    flags: vec!["\\Flagged".into()]
                },
                Update::Exists(3)
            ]
        );
        assert_eq!(
            view.uid_of(1),
            Some(1),
            "the removed message keeps its number for now"
        );
        assert_eq!(
            view.catch_up(Vec::new(), true),
            vec![Update::Expunge { seq: 1, uid: 1 }],
            "the held expunge is owed without any further change"
        );
        assert_eq!(view.len(), 2);
    }

    #[test]
    fn a_renumbered_message_is_expunged_and_arrives_again() {
        let mut view = SelectedView::new(vec![known(1, &[]), known(2, &[])]);
        let mut moved = known(2, &["\\Seen"]);
        moved.uid = 7;
        let updates = view.catch_up(vec![Change::Present(moved)], true);
        assert_eq!(
            updates,
            vec![Update::Expunge { seq: 2, uid: 2 }, Update::Exists(2)]
        );
        assert_eq!(view.uid_of(2), Some(7));
        let updates = view.catch_up(vec![Change::Absent(id(2))], true);
        assert_eq!(updates, vec![Update::Expunge { seq: 2, uid: 7 }]);
    }

    #[test]
    fn changes_for_other_messages_are_ignored_and_late_arrivals_wait() {
        let mut view = SelectedView::new(vec![known(5, &[])]);
        let updates = view.catch_up(
            vec![Change::Absent(id(99)), Change::Present(known(3, &[]))],
            true,
        );
        assert_eq!(
            updates,
            vec![],
            "a UID below what the client holds would renumber it"
        );
    }

    /// A mailbox history: each step keeps a random subset, changes some flags and appends
    /// messages with higher UIDs, as the store would.
    fn arb_history() -> impl Strategy<Value = Vec<Vec<Known>>> {
        proptest::collection::vec((any::<u64>(), 0u32..4, any::<bool>()), 1..8).prop_map(|steps| {
            let mut next_uid = 1;
            let mut current: Vec<Known> = Vec::new();
            let mut history = Vec::new();
            for (mask, appended, flag) in steps {
                current = current
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| mask >> (i % 64) & 1 == 0 || *i % 3 == 0)
                    .map(|(i, mut m)| {
                        if flag && i % 2 == 0 {
                            m.flags = vec![format!("$f{}", mask % 5)];
                        }
                        m
                    })
                    .collect();
                for _ in 0..appended {
                    current.push(known(next_uid, &[]));
                    next_uid += 1 + (mask % 3) as u32;
                }
                history.push(current.clone());
            }
            history
        })
    }

    proptest! {
        /// A client that applies the updates one by one ends up with exactly the store's
        /// messages, whichever steps held expunges back.
        #[test]
        fn a_client_applying_the_updates_tracks_the_store(
            history in arb_history(),
            holds in any::<u8>(),
            whole in any::<u8>(),
        ) {
            let mut view = SelectedView::new(Vec::new());
            let mut client: Vec<(u32, Vec<String>)> = Vec::new();
            let mut before: Vec<Known> = Vec::new();
            for (step, now) in history.iter().enumerate() {
                let allow = holds >> (step % 8) & 1 == 0 || step + 1 == history.len();
                // Either what changed since the last step (as the store reports it) or the
                // whole mailbox (as after the change log was trimmed).
                let changes = if whole >> (step % 8) & 1 == 0 {
                    let mut changes: Vec<Change> = before
                        .iter()
                        .filter(|m| !now.iter().any(|n| n.id == m.id))
                        .map(|m| Change::Absent(m.id))
                        .collect();
                    changes.extend(
                        now.iter()
                            .filter(|n| !before.contains(n))
                            .cloned()
                            .map(Change::Present),
                    );
                    changes
                } else {
                    view.changes_to(now.clone())
                };
                before = now.clone();
                for update in view.catch_up(changes, allow) {
                    match update {
                        Update::Expunge { seq, uid } => {
                            prop_assert!(seq >= 1 && seq as usize <= client.len());
                            prop_assert_eq!(client[seq as usize - 1].0, uid);
                            client.remove(seq as usize - 1);
                        }
                        Update::Flags { seq, uid, flags } => {
                            prop_assert_eq!(client[seq as usize - 1].0, uid);
                            client[seq as usize - 1].1 = flags;
                        }
                        Update::Exists(n) => {
                            // The client fetches the new messages' UIDs and flags.
                            let known: Vec<u32> = client.iter().map(|c| c.0).collect();
                            for m in view.messages().iter().filter(|m| !known.contains(&m.uid)) {
                                client.push((m.uid, m.flags.clone()));
                            }
                            prop_assert_eq!(client.len() as u32, n);
                        }
                    }
                }
                if !allow {
                    continue;
                }
                let expected: Vec<(u32, Vec<String>)> = now.iter().map(|m| (m.uid, m.flags.clone())).collect();
                prop_assert_eq!(&client, &expected);
            }
        }
    }
}
