//! The verdict after quiescence: all replicas identical, and identical to what the oracle
//! says the history must produce.

use super::oracle::{Kind, expected_conflicts};
use super::{Sim, SimResult, fail};
use nomamail_core::{BlobHash, ConflictKind, ItemId, MailboxId};
use std::collections::{BTreeMap, BTreeSet};

/// Everything a user could observe of one replica, in a canonical order.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    mailboxes: Vec<(MailboxId, String, u32, u32, bool, Option<String>)>,
    messages: Vec<(MailboxId, u32, ItemId, Vec<String>, BlobHash)>,
    conflicts: BTreeSet<(ConflictKind, ItemId)>,
}

impl Sim {
    fn observe(&mut self, r: usize) -> SimResult<Observed> {
        for m in self.nodes[r]
            .replica
            .mailboxes()
            .map_err(fail("mailboxes"))?
        {
            let entries = self.nodes[r]
                .replica
                .entries(m.id)
                .map_err(fail("entries"))?;
            self.note_uids(r, &m, &entries)?;
        }
        let replica = &mut self.nodes[r].replica;
        let mut mailboxes = Vec::new();
        let mut messages = Vec::new();
        for m in replica.mailboxes().map_err(fail("mailboxes"))? {
            mailboxes.push((
                m.id,
                m.name.clone(),
                m.uidvalidity,
                m.uidnext,
                m.subscribed,
                m.special_use.clone(),
            ));
            let mut last_uid = 0;
            for e in replica.entries(m.id).map_err(fail("entries"))? {
                if e.uid <= last_uid {
                    return Err(format!(
                        "{}: UID {} repeats or runs backwards in {}",
                        self.cfg.topology.names()[r],
                        e.uid,
                        m.name
                    ));
                }
                if e.uid >= m.uidnext {
                    return Err(format!(
                        "UID {} not below UIDNEXT {} in {}",
                        e.uid, m.uidnext, m.name
                    ));
                }
                last_uid = e.uid;
                let body = replica
                    .message(e.id)
                    .map_err(|err| format!("message {} has no body: {err}", e.id))?;
                if BlobHash::of(&body) != e.blob || body.len() as u64 != e.size {
                    return Err(format!("message {} body does not match its hash", e.id));
                }
                messages.push((m.id, e.uid, e.id, e.flags, e.blob));
            }
        }
        mailboxes.sort();
        let conflicts = replica
            .conflicts()
            .map_err(fail("conflicts"))?
            .into_iter()
            .map(|c| (c.kind, c.item))
            .collect();
        let check = replica.integrity_check().map_err(fail("integrity"))?;
        if check != "ok" {
            return Err(format!("integrity_check: {check}"));
        }
        Ok(Observed {
            mailboxes,
            messages,
            conflicts,
        })
    }

    /// Returns (open conflicts, live messages).
    pub(super) fn judge(&mut self) -> SimResult<(usize, usize)> {
        let first = self.observe(0)?;
        for r in 1..self.nodes.len() {
            let other = self.observe(r)?;
            if other != first {
                return Err(format!(
                    "replicas diverged: {} vs {}\n{:#?}\n{:#?}",
                    self.name(0),
                    self.name(r),
                    first,
                    other
                ));
            }
        }
        let live: BTreeMap<ItemId, (MailboxId, BTreeSet<String>)> = first
            .messages
            .iter()
            .map(|(m, _, id, flags, _)| (*id, (*m, flags.iter().cloned().collect())))
            .collect();
        for item in self.history.items(Kind::Entry) {
            let want = self.history.expect_entry(item);
            match (want.live, live.get(&item)) {
                (true, None) => return Err(format!("message {item} lost (expected {want:?})")),
                (false, Some(_)) => return Err(format!("expunged message {item} came back")),
                (true, Some((mailbox, flags))) => {
                    if !want.locations.contains(mailbox) {
                        return Err(format!(
                            "message {item} in {mailbox}, expected one of {:?}",
                            want.locations
                        ));
                    }
                    if *flags != want.flags {
                        return Err(format!(
                            "message {item} has flags {flags:?}, expected {:?}",
                            want.flags
                        ));
                    }
                }
                (false, None) => {}
            }
        }
        let shown: BTreeMap<MailboxId, String> =
            first.mailboxes.iter().map(|m| (m.0, m.1.clone())).collect();
        let live_locations: BTreeMap<ItemId, MailboxId> =
            live.iter().map(|(id, (m, _))| (*id, *m)).collect();
        for item in self.history.items(Kind::Mailbox) {
            let want = self.history.expect_mailbox(item);
            let holds_mail = live_locations.values().any(|m| *m == item);
            let removed = want.removal_wins && !holds_mail;
            match (removed, shown.get(&item)) {
                (false, None) => return Err(format!("mailbox {item} lost (expected {want:?})")),
                (true, Some(name)) => return Err(format!("deleted mailbox {name} came back")),
                (false, Some(name)) => {
                    let suffix = format!("~{item}");
                    let base = name.strip_suffix(suffix.as_str()).unwrap_or(name);
                    if !want.names.iter().any(|n| n == name || n == base) {
                        return Err(format!(
                            "mailbox {item} named {name}, expected one of {:?}",
                            want.names
                        ));
                    }
                }
                (true, None) => {}
            }
        }
        let expected = expected_conflicts(&self.history, &shown, &live_locations);
        if expected != first.conflicts {
            let names: Vec<String> = self
                .history
                .items(Kind::Mailbox)
                .into_iter()
                .map(|m| {
                    format!(
                        "{m}: shown {:?}, oracle {:?}",
                        shown.get(&m),
                        self.history.expect_mailbox(m)
                    )
                })
                .collect();
            return Err(format!(
                "conflicts: engine lists {:?}, oracle expects {:?}\nmailboxes:\n  {}",
                first.conflicts.difference(&expected).collect::<Vec<_>>(),
                expected.difference(&first.conflicts).collect::<Vec<_>>(),
                names.join("\n  ")
            ));
        }
        Ok((first.conflicts.len(), live.len()))
    }
}
