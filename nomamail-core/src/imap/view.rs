//! A session's view of its selected mailbox: the message sequence numbers its client knows,
//! and the untagged responses that bring the client up to date with the store.
//!
//! The store changes under a session (other sessions, sync peers); the client only learns
//! through EXPUNGE, EXISTS and FETCH responses, and sequence numbers shift with every
//! EXPUNGE. `catch_up` computes those responses in an order the client can apply one by one.
//! While a FETCH, STORE or SEARCH runs, RFC 3501 §7.4.1 forbids EXPUNGE: then removed
//! messages stay in the view (still addressable by their old numbers) until a later command
//! allows expunges.

/// What the view knows of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub uid: u32,
    pub flags: Vec<String>,
    pub modseq: u64,
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

#[derive(Clone, Debug, Default)]
pub struct SelectedView {
    /// In sequence order, i.e. ascending UID.
    messages: Vec<Known>,
}

impl SelectedView {
    /// The view right after SELECT: everything in the mailbox now (ascending UIDs).
    pub fn new(now: Vec<Known>) -> SelectedView {
        SelectedView { messages: now }
    }

    pub fn len(&self) -> u32 {
        self.messages.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn uid_of(&self, seq: u32) -> Option<u32> {
        let index = usize::try_from(seq).ok()?.checked_sub(1)?;
        self.messages.get(index).map(|m| m.uid)
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

    /// Records what this session itself just told the client about a message, so the next
    /// catch-up does not repeat it.
    pub fn note(&mut self, uid: u32, flags: &[String], modseq: u64) {
        if let Ok(at) = self.messages.binary_search_by_key(&uid, |m| m.uid) {
            self.messages[at].flags = flags.to_vec();
            self.messages[at].modseq = modseq;
        }
    }

    /// Moves the view to `now` (the mailbox's messages, ascending UIDs) and returns what to
    /// tell the client, in order. With `allow_expunge` false, messages gone from the store
    /// stay in the view and nothing renumbers.
    pub fn catch_up(&mut self, now: &[Known], allow_expunge: bool) -> Vec<Update> {
        let mut updates = Vec::new();
        let present = |uid: u32| now.binary_search_by_key(&uid, |m| m.uid).ok();
        if allow_expunge {
            // Highest first: each number stays valid as the ones above it disappear.
            for index in (0..self.messages.len()).rev() {
                if present(self.messages[index].uid).is_none() {
                    let gone = self.messages.remove(index);
                    updates.push(Update::Expunge {
                        seq: index as u32 + 1,
                        uid: gone.uid,
                    });
                }
            }
        }
        for (index, known) in self.messages.iter_mut().enumerate() {
            let Some(at) = present(known.uid) else {
                continue;
            };
            let current = &now[at];
            if current.flags != known.flags {
                updates.push(Update::Flags {
                    seq: index as u32 + 1,
                    uid: known.uid,
                    flags: current.flags.clone(),
                });
            }
            known.flags.clone_from(&current.flags);
            known.modseq = current.modseq;
        }
        // New mail only ever arrives above every UID the client knows (the engine never
        // places a message below a UIDNEXT it has shown), so it goes at the end.
        let highest = self.messages.last().map_or(0, |m| m.uid);
        let before = self.messages.len();
        self.messages
            .extend(now.iter().filter(|m| m.uid > highest).cloned());
        if self.messages.len() != before {
            updates.push(Update::Exists(self.len()));
        }
        updates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn known(uid: u32, flags: &[&str]) -> Known {
        Known {
            uid,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            modseq: 0,
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
        let updates = view.catch_up(&now, true);
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
        let updates = view.catch_up(&now, false);
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
            view.catch_up(&now, true),
            vec![Update::Expunge { seq: 1, uid: 1 }]
        );
        assert_eq!(view.len(), 2);
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
        fn a_client_applying_the_updates_tracks_the_store(history in arb_history(), holds in any::<u8>()) {
            let mut view = SelectedView::new(Vec::new());
            let mut client: Vec<(u32, Vec<String>)> = Vec::new();
            for (step, now) in history.iter().enumerate() {
                let allow = holds >> (step % 8) & 1 == 0 || step + 1 == history.len();
                for update in view.catch_up(now, allow) {
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
