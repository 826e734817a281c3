//! The user operations the simulator makes on a replica, each recorded in the oracle with
//! exactly the fields the operation writes.

use super::oracle::{Field, Kind, Value};
use super::{FLAG_POOL, NAME_POOL, Sim, SimResult, fail};
use nomamail_core::{Choice, ConflictKind, EntryInfo, FlagOp, INBOX_ID, MailboxInfo, names};
use std::collections::BTreeSet;

impl Sim {
    pub(super) fn random_op(&mut self, r: usize) -> SimResult<()> {
        let weights = [30, 25, 8, 4, 10, 4, 3, 2, 2, 6];
        match self.rng.weighted(&weights) {
            0 => self.op_append(r),
            1 => self.op_flags(r),
            2 => self.op_move(r),
            3 => self.op_copy(r),
            4 => self.op_expunge(r),
            5 => self.op_create_mailbox(r),
            6 => self.op_rename(r),
            7 => self.op_delete_mailbox(r),
            8 => self.op_subscribe(r),
            _ => self.op_resolve(r),
        }
    }

    fn mailboxes(&self, r: usize) -> SimResult<Vec<MailboxInfo>> {
        self.nodes[r].replica.mailboxes().map_err(fail("mailboxes"))
    }

    fn some_flags(&mut self) -> Vec<String> {
        FLAG_POOL
            .iter()
            .filter(|_| self.rng.chance(0.3))
            .map(|f| f.to_string())
            .collect()
    }

    /// A random message at `r`, with its mailbox.
    fn some_entry(&mut self, r: usize) -> SimResult<Option<EntryInfo>> {
        let boxes = self.mailboxes(r)?;
        let mut all = Vec::new();
        for m in &boxes {
            let entries = self.nodes[r]
                .replica
                .entries(m.id)
                .map_err(fail("entries"))?;
            self.note_uids(r, m, &entries)?;
            all.extend(entries);
        }
        Ok(self.rng.pick(&all).cloned())
    }

    fn some_mailbox(&mut self, r: usize, allow_inbox: bool) -> SimResult<Option<MailboxInfo>> {
        let boxes: Vec<MailboxInfo> = self
            .mailboxes(r)?
            .into_iter()
            .filter(|m| allow_inbox || m.id != INBOX_ID)
            .collect();
        Ok(self.rng.pick(&boxes).cloned())
    }

    fn op_append(&mut self, r: usize) -> SimResult<()> {
        let mailbox = if self.rng.chance(0.5) {
            self.mailboxes(r)?.into_iter().find(|m| m.id == INBOX_ID)
        } else {
            self.some_mailbox(r, true)?
        };
        let Some(mailbox) = mailbox else {
            return Ok(());
        };
        let flags = self.some_flags();
        self.serial += 1;
        let size = if self.rng.chance(0.08) {
            self.rng.range(20_000, 120_000)
        } else {
            self.rng.range(200, 4000)
        };
        let mut body = format!(
            "From: sim{r}@example.org\r\nTo: user@example.org\r\nSubject: message {} from {}\r\nMessage-ID: <{}.{}@sim>\r\n\r\n",
            self.serial, self.name(r), self.cfg.seed, self.serial
        )
        .into_bytes();
        while (body.len() as u64) < size {
            let word = self.rng.next_u64();
            body.extend_from_slice(format!("{word:x} ").as_bytes());
            if self.rng.chance(0.1) {
                body.extend_from_slice(b"\r\n");
            }
        }
        let date = 1_700_000_000 + self.now as i64 / 1000;
        self.raw_bytes += body.len() as u64;
        let a = self.nodes[r]
            .replica
            .append(mailbox.id, &body, &flags, date, 0)
            .map_err(fail("append"))?;
        let mut writes = vec![
            (Field::Location, Value::Mailbox(mailbox.id)),
            (Field::Removal, Value::Kept),
        ];
        writes.extend(
            flags
                .into_iter()
                .map(|f| (Field::Flag(f), Value::Bool(true))),
        );
        self.history.record(r, a.id, Kind::Entry, writes);
        Ok(())
    }

    fn op_flags(&mut self, r: usize) -> SimResult<()> {
        let Some(e) = self.some_entry(r)? else {
            return Ok(());
        };
        let before: BTreeSet<String> = e.flags.iter().cloned().collect();
        let op = [FlagOp::Add, FlagOp::Remove, FlagOp::Replace][self.rng.below(3) as usize];
        let given = self.some_flags();
        let after = self.nodes[r]
            .replica
            .store_flags(&[e.id], op, &given)
            .map_err(fail("store"))?;
        let after = &after[0].1;
        let writes: Vec<(Field, Value)> = before
            .symmetric_difference(after)
            .map(|f| (Field::Flag(f.clone()), Value::Bool(after.contains(f))))
            .collect();
        if !writes.is_empty() {
            self.history.record(r, e.id, Kind::Entry, writes);
        }
        Ok(())
    }

    fn op_move(&mut self, r: usize) -> SimResult<()> {
        let Some(e) = self.some_entry(r)? else {
            return Ok(());
        };
        let Some(dest) = self.some_mailbox(r, true)? else {
            return Ok(());
        };
        if dest.id == e.mailbox {
            return Ok(());
        }
        self.nodes[r]
            .replica
            .move_to(&[e.id], dest.id)
            .map_err(fail("move"))?;
        self.history.record(
            r,
            e.id,
            Kind::Entry,
            vec![(Field::Location, Value::Mailbox(dest.id))],
        );
        Ok(())
    }

    fn op_copy(&mut self, r: usize) -> SimResult<()> {
        let Some(e) = self.some_entry(r)? else {
            return Ok(());
        };
        let Some(dest) = self.some_mailbox(r, true)? else {
            return Ok(());
        };
        let copies = self.nodes[r]
            .replica
            .copy(&[e.id], dest.id)
            .map_err(fail("copy"))?;
        let mut writes = vec![
            (Field::Location, Value::Mailbox(dest.id)),
            (Field::Removal, Value::Kept),
        ];
        writes.extend(
            e.flags
                .iter()
                .map(|f| (Field::Flag(f.clone()), Value::Bool(true))),
        );
        self.history.record(r, copies[0].id, Kind::Entry, writes);
        Ok(())
    }

    fn op_expunge(&mut self, r: usize) -> SimResult<()> {
        let Some(e) = self.some_entry(r)? else {
            return Ok(());
        };
        self.nodes[r]
            .replica
            .expunge(&[e.id])
            .map_err(fail("expunge"))?;
        self.history
            .record(r, e.id, Kind::Entry, vec![(Field::Removal, Value::Removed)]);
        Ok(())
    }

    fn op_create_mailbox(&mut self, r: usize) -> SimResult<()> {
        let name = NAME_POOL[self.rng.below(NAME_POOL.len() as u64) as usize];
        if self.nodes[r]
            .replica
            .mailbox(name)
            .map_err(fail("mailbox"))?
            .is_some()
        {
            return Ok(());
        }
        let id = match self.nodes[r].replica.create_mailbox(name) {
            Err(nomamail_core::Error::MailboxExists(_)) => return Ok(()),
            other => other.map_err(fail("create"))?,
        };
        self.history.record(
            r,
            id,
            Kind::Mailbox,
            vec![
                (Field::Name, Value::Name(name.to_string())),
                (Field::Subscribed, Value::Bool(true)),
                (Field::Removal, Value::Kept),
            ],
        );
        Ok(())
    }

    fn op_rename(&mut self, r: usize) -> SimResult<()> {
        let Some(m) = self.some_mailbox(r, false)? else {
            return Ok(());
        };
        let base = NAME_POOL[self.rng.below(NAME_POOL.len() as u64) as usize];
        let new_name = if self.rng.chance(0.5) {
            format!("{base}-{}", self.rng.below(3))
        } else {
            base.to_string()
        };
        let all = self.mailboxes(r)?;
        if all.iter().any(|x| x.name == new_name) {
            return Ok(());
        }
        if names::is_below(&new_name, &m.name) || new_name == m.name {
            return Ok(());
        }
        if refused(self.nodes[r].replica.rename_mailbox(m.id, &new_name))? {
            return Ok(());
        }
        self.history.record(
            r,
            m.id,
            Kind::Mailbox,
            vec![(Field::Name, Value::Name(new_name.clone()))],
        );
        for child in all.iter().filter(|x| names::is_below(&x.name, &m.name)) {
            let renamed = format!("{new_name}{}", &child.name[m.name.len()..]);
            self.history.record(
                r,
                child.id,
                Kind::Mailbox,
                vec![(Field::Name, Value::Name(renamed))],
            );
        }
        Ok(())
    }

    fn op_delete_mailbox(&mut self, r: usize) -> SimResult<()> {
        let Some(m) = self.some_mailbox(r, false)? else {
            return Ok(());
        };
        let inside = self.nodes[r]
            .replica
            .entries(m.id)
            .map_err(fail("entries"))?;
        self.nodes[r]
            .replica
            .delete_mailbox(m.id)
            .map_err(fail("delete"))?;
        self.record_mailbox_removal(r, m.id, &inside);
        Ok(())
    }

    fn record_mailbox_removal(
        &mut self,
        r: usize,
        mailbox: nomamail_core::MailboxId,
        inside: &[EntryInfo],
    ) {
        for e in inside {
            self.history
                .record(r, e.id, Kind::Entry, vec![(Field::Removal, Value::Removed)]);
        }
        self.history.record(
            r,
            mailbox,
            Kind::Mailbox,
            vec![(Field::Removal, Value::Removed)],
        );
    }

    fn op_subscribe(&mut self, r: usize) -> SimResult<()> {
        let Some(m) = self.some_mailbox(r, true)? else {
            return Ok(());
        };
        let on = self.rng.chance(0.5);
        self.nodes[r]
            .replica
            .set_subscribed(m.id, on)
            .map_err(fail("subscribe"))?;
        self.history.record(
            r,
            m.id,
            Kind::Mailbox,
            vec![(Field::Subscribed, Value::Bool(on))],
        );
        Ok(())
    }

    fn op_resolve(&mut self, r: usize) -> SimResult<()> {
        let conflicts = self.nodes[r]
            .replica
            .conflicts()
            .map_err(fail("conflicts"))?;
        let Some(c) = self.rng.pick(&conflicts).cloned() else {
            return Ok(());
        };
        let delete = self.rng.chance(0.5);
        match c.kind {
            ConflictKind::Expunge => {
                let (choice, value) = if delete {
                    (Choice::Delete, Value::Removed)
                } else {
                    (Choice::Keep, Value::Kept)
                };
                self.nodes[r]
                    .replica
                    .resolve(&c.id, choice)
                    .map_err(fail("resolve"))?;
                // Keeping also clears the expunger's \Deleted.
                let mut fields = vec![(Field::Removal, value)];
                if !delete {
                    fields.push((Field::Flag("\\Deleted".into()), Value::Bool(false)));
                }
                self.history.record(r, c.item, Kind::Entry, fields);
            }
            ConflictKind::Move => {
                let sides: Vec<_> = c
                    .choices
                    .iter()
                    .filter_map(|ch| {
                        if let Choice::Mailbox(m) = ch {
                            Some(*m)
                        } else {
                            None
                        }
                    })
                    .collect();
                let Some(&m) = self.rng.pick(&sides) else {
                    return Ok(());
                };
                self.nodes[r]
                    .replica
                    .resolve(&c.id, Choice::Mailbox(m))
                    .map_err(fail("resolve"))?;
                self.history.record(
                    r,
                    c.item,
                    Kind::Entry,
                    vec![(Field::Location, Value::Mailbox(m))],
                );
            }
            ConflictKind::Rename => {
                let names: Vec<_> = c
                    .choices
                    .iter()
                    .filter_map(|ch| {
                        if let Choice::Name(n) = ch {
                            Some(n.clone())
                        } else {
                            None
                        }
                    })
                    .collect();
                let Some(n) = self.rng.pick(&names).cloned() else {
                    return Ok(());
                };
                let mine = self
                    .mailboxes(r)?
                    .into_iter()
                    .find(|m| m.id == c.item)
                    .map(|m| m.name);
                if self
                    .mailboxes(r)?
                    .iter()
                    .any(|m| m.name == n && Some(&m.name) != mine.as_ref())
                {
                    return Ok(());
                }
                if refused(
                    self.nodes[r]
                        .replica
                        .resolve(&c.id, Choice::Name(n.clone())),
                )? {
                    return Ok(());
                }
                self.history.record(
                    r,
                    c.item,
                    Kind::Mailbox,
                    vec![(Field::Name, Value::Name(n))],
                );
            }
            ConflictKind::NameClash => {
                let Some(shown) = self
                    .mailboxes(r)?
                    .into_iter()
                    .find(|m| m.id == c.item)
                    .map(|m| m.name)
                else {
                    return Ok(());
                };
                if refused(self.nodes[r].replica.resolve(&c.id, Choice::Keep))? {
                    return Ok(());
                }
                self.history.record(
                    r,
                    c.item,
                    Kind::Mailbox,
                    vec![(Field::Name, Value::Name(shown))],
                );
            }
            ConflictKind::Delete => {
                if delete {
                    let inside = self.nodes[r]
                        .replica
                        .entries(c.item)
                        .map_err(fail("entries"))?;
                    self.nodes[r]
                        .replica
                        .resolve(&c.id, Choice::Delete)
                        .map_err(fail("resolve"))?;
                    self.record_mailbox_removal(r, c.item, &inside);
                } else {
                    self.nodes[r]
                        .replica
                        .resolve(&c.id, Choice::Keep)
                        .map_err(fail("resolve"))?;
                    self.history.record(
                        r,
                        c.item,
                        Kind::Mailbox,
                        vec![(Field::Removal, Value::Kept)],
                    );
                }
            }
        }
        Ok(())
    }
}

/// A rename the engine refused because the name is taken changed nothing: not an op.
fn refused(result: nomamail_core::Result<()>) -> SimResult<bool> {
    match result {
        Ok(()) => Ok(false),
        Err(nomamail_core::Error::MailboxExists(_)) => Ok(true),
        Err(e) => Err(format!("rename: {e}")),
    }
}
