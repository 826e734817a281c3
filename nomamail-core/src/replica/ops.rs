//! Local, IMAP-shaped operations. Each is one transaction and writes new dots only to the
//! fields it really changes, so concurrent changes elsewhere conflict as little as possible.

use super::derive::next_free_uid;
use super::{INBOX_ID, Replica, Tx, blobs, new_mailbox_state};
use crate::error::{Error, Result};
use crate::flags::{self, FlagOp};
use crate::ids::{EntryId, ItemId, MailboxId};
use crate::item::{Body, EntryState, ItemState, Placement, Removal};
use crate::names;
use crate::policy::entry_view;
use crate::reg::Reg;
use std::collections::{BTreeMap, BTreeSet};

pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Where an appended, copied or moved message landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// A message to store, as APPEND gives it.
pub struct NewMessage<'a> {
    pub bytes: &'a [u8],
    pub flags: &'a [String],
    pub internal_date: i64,
    pub date_offset_minutes: i16,
}

pub struct Appended {
    pub id: EntryId,
    pub uid: u32,
    pub uidvalidity: u32,
}

impl Replica {
    pub fn create_mailbox(&mut self, name: &str) -> Result<MailboxId> {
        let name = checked_name(name)?;
        let seed = self.account_seed;
        self.write(|tx| {
            if name_taken(tx, &name)? {
                return Err(Error::MailboxExists(name.clone()));
            }
            let dot = tx.dot();
            tx.save(&new_mailbox_state(dot, seed, &name, None), None)?;
            Ok(ItemId(dot))
        })
    }

    /// Renames the mailbox and every mailbox below it, as IMAP RENAME does. The hierarchy
    /// is the one users see, so a mailbox shown under a clash name takes no one else's children.
    pub fn rename_mailbox(&mut self, id: MailboxId, new_name: &str) -> Result<()> {
        let new_name = checked_name(new_name)?;
        if id == INBOX_ID {
            return Err(Error::InboxIsPermanent);
        }
        self.write(|tx| {
            let old_name = live_mailbox_shown_name(tx, id)?;
            if name_taken(tx, &new_name)? {
                return Err(Error::MailboxExists(new_name.clone()));
            }
            let children: Vec<(Vec<u8>, String)> = {
                let mut stmt = tx
                    .sql
                    .prepare("SELECT id, shown_name FROM mailboxes WHERE removed = 0")?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .filter(|(_, n): &(Vec<u8>, String)| names::is_below(n, &old_name))
                    .collect()
            };
            set_mailbox_name(tx, id, &new_name)?;
            for (child, child_name) in children {
                let Some(child) = ItemId::from_bytes(&child) else {
                    continue;
                };
                set_mailbox_name(
                    tx,
                    child,
                    &format!("{new_name}{}", &child_name[old_name.len()..]),
                )?;
            }
            Ok(())
        })
    }

    /// Deletes the mailbox and expunges the messages in it.
    pub fn delete_mailbox(&mut self, id: MailboxId) -> Result<()> {
        if id == INBOX_ID {
            return Err(Error::InboxIsPermanent);
        }
        self.write(|tx| {
            live_mailbox_name(tx, id)?;
            remove_mailbox_and_mail(tx, id)
        })
    }

    pub fn set_subscribed(&mut self, id: MailboxId, subscribed: bool) -> Result<()> {
        self.write(|tx| {
            live_mailbox_name(tx, id)?;
            let mut st = tx.load_mailbox(id)?;
            let dot = tx.dot();
            st.witness(dot);
            if let Body::Mailbox(m) = &mut st.body {
                m.subscribed.set(dot, subscribed);
            }
            tx.save(&st, None).map(drop)
        })
    }

    pub fn append(
        &mut self,
        mailbox: MailboxId,
        message: &[u8],
        initial_flags: &[String],
        internal_date: i64,
        date_offset_minutes: i16,
    ) -> Result<Appended> {
        let one = NewMessage {
            bytes: message,
            flags: initial_flags,
            internal_date,
            date_offset_minutes,
        };
        let mut appended = self.append_all(mailbox, &[one])?;
        appended
            .pop()
            .ok_or_else(|| Error::Corrupt("an append stored nothing".into()))
    }

    /// Stores every message or none (one transaction): MULTIAPPEND (RFC 3502).
    pub fn append_all(
        &mut self,
        mailbox: MailboxId,
        messages: &[NewMessage<'_>],
    ) -> Result<Vec<Appended>> {
        self.append_placed(mailbox, messages, |_| None)
    }

    /// Stores a message moved in from another mail store under the UID it had there, so a
    /// client that cached it keeps its copy. A UID this mailbox may already have given out
    /// is never reused: below the next free one, the message takes the next free one.
    pub fn append_keeping_uid(
        &mut self,
        mailbox: MailboxId,
        message: NewMessage<'_>,
        uid: u32,
    ) -> Result<Appended> {
        let mut appended = self.append_placed(mailbox, &[message], |_| Some(uid))?;
        appended
            .pop()
            .ok_or_else(|| Error::Corrupt("an append stored nothing".into()))
    }

    /// Takes on the UIDVALIDITY of the store a mailbox is moved in from, while the mailbox
    /// has never held a message here (so no client can have cached a UID of it under the
    /// old value). Returns whether the mailbox now shows `uidvalidity`.
    pub fn import_uidvalidity(&mut self, mailbox: MailboxId, uidvalidity: u32) -> Result<bool> {
        if uidvalidity == 0 {
            return Ok(false);
        }
        self.write(|tx| {
            live_mailbox_name(tx, mailbox)?;
            let mut st = tx.load_mailbox(mailbox)?;
            let Body::Mailbox(m) = &st.body else {
                return Err(Error::WrongKind(mailbox));
            };
            if m.shown_uidvalidity() == uidvalidity {
                return Ok(true);
            }
            if next_free_uid(tx, mailbox)? != 1 {
                return Ok(false);
            }
            let dot = tx.dot();
            st.witness(dot);
            if let Body::Mailbox(m) = &mut st.body {
                m.imported_uidvalidity.set(dot, uidvalidity);
            }
            tx.save(&st, None)?;
            Ok(true)
        })
    }

    /// Raises UIDNEXT to the one the store a mailbox was moved in from had reached, so no
    /// UID that store gave out (to a message since expunged) is given out again here.
    pub fn raise_uidnext(&mut self, mailbox: MailboxId, uidnext: u32) -> Result<()> {
        let uidnext = uidnext.min(crate::item::MAX_UID);
        self.write(|tx| {
            live_mailbox_name(tx, mailbox)?;
            let mut st = tx.load_mailbox(mailbox)?;
            let dot = tx.dot();
            match &mut st.body {
                Body::Mailbox(m) if m.uidnext < uidnext => m.uidnext = uidnext,
                Body::Mailbox(_) => return Ok(()),
                Body::Entry(_) => return Err(Error::WrongKind(mailbox)),
            }
            st.witness(dot);
            tx.save(&st, None).map(drop)
        })
    }

    fn append_placed(
        &mut self,
        mailbox: MailboxId,
        messages: &[NewMessage<'_>],
        wanted_uid: impl Fn(usize) -> Option<u32>,
    ) -> Result<Vec<Appended>> {
        let mut checked = Vec::with_capacity(messages.len());
        for message in messages {
            if message.bytes.len() > MAX_MESSAGE_BYTES {
                return Err(Error::MessageTooLarge(message.bytes.len()));
            }
            checked.push(checked_flags(message.flags)?);
        }
        self.write(|tx| {
            live_mailbox_name(tx, mailbox)?;
            let mut out = Vec::with_capacity(messages.len());
            for (i, (message, flags)) in messages.iter().zip(checked).enumerate() {
                let blob = blobs::put(tx, message.bytes)?;
                let template = EntryTemplate {
                    blob,
                    size: message.bytes.len() as u64,
                    internal_date: message.internal_date,
                    date_offset_minutes: message.date_offset_minutes,
                    flags,
                };
                out.push(create_entry(tx, mailbox, template, wanted_uid(i))?);
            }
            Ok(out)
        })
    }

    /// Changes flags; returns each entry's flags afterwards.
    pub fn store_flags(
        &mut self,
        entries: &[EntryId],
        op: FlagOp,
        given: &[String],
    ) -> Result<Vec<(EntryId, BTreeSet<String>)>> {
        let given = checked_flags(given)?;
        self.write(|tx| {
            let mut out = Vec::new();
            for &id in entries {
                let mut st = live_entry(tx, id)?;
                let Body::Entry(e) = &st.body else {
                    return Err(Error::WrongKind(id));
                };
                let current = entry_view(e).flags;
                let wanted: BTreeSet<String> = match op {
                    FlagOp::Add => current.union(&given).cloned().collect(),
                    FlagOp::Remove => current.difference(&given).cloned().collect(),
                    FlagOp::Replace => given.clone(),
                };
                let new_keys = wanted.iter().filter(|f| !e.flags.contains_key(*f)).count();
                if new_keys > 0 && e.flags.len() + new_keys > flags::MAX_FLAGS_PER_MESSAGE {
                    return Err(Error::TooManyFlags);
                }
                let changed: Vec<(String, bool)> = current
                    .symmetric_difference(&wanted)
                    .map(|f| (f.clone(), wanted.contains(f)))
                    .collect();
                if !changed.is_empty() {
                    let dot = tx.dot();
                    st.witness(dot);
                    if let Body::Entry(e) = &mut st.body {
                        for (flag, on) in changed {
                            e.flags.entry(flag).or_default().set(dot, on);
                        }
                    }
                    tx.save(&st, None)?;
                }
                out.push((id, wanted));
            }
            Ok(out)
        })
    }

    /// Copies messages into `dest`; returns where each copy landed, in the order given.
    pub fn copy(&mut self, entries: &[EntryId], dest: MailboxId) -> Result<Vec<Appended>> {
        self.write(|tx| {
            live_mailbox_name(tx, dest)?;
            let mut out = Vec::new();
            for &id in entries {
                let st = live_entry(tx, id)?;
                let Body::Entry(e) = &st.body else {
                    return Err(Error::WrongKind(id));
                };
                let template = EntryTemplate::copy_of(e);
                out.push(create_entry(tx, dest, template, None)?);
            }
            Ok(out)
        })
    }

    /// Moves messages into `dest` (a new UID there, same message and flags).
    pub fn move_to(&mut self, entries: &[EntryId], dest: MailboxId) -> Result<Vec<Appended>> {
        self.write(|tx| {
            live_mailbox_name(tx, dest)?;
            let uidvalidity = mailbox_uidvalidity(tx, dest)?;
            let mut out = Vec::new();
            for &id in entries {
                let st = live_entry(tx, id)?;
                let uid = place_entry(tx, st, dest)?;
                out.push(Appended {
                    id,
                    uid,
                    uidvalidity,
                });
            }
            Ok(out)
        })
    }

    pub fn expunge(&mut self, entries: &[EntryId]) -> Result<()> {
        self.write(|tx| {
            for &id in entries {
                let st = live_entry(tx, id)?;
                remove_entry(tx, st)?;
            }
            Ok(())
        })
    }
}

fn checked_name(name: &str) -> Result<String> {
    let name = names::normalize(name);
    if names::is_valid_mailbox_name(&name) {
        Ok(name)
    } else {
        Err(Error::InvalidMailboxName(name))
    }
}

fn checked_flags(given: &[String]) -> Result<BTreeSet<String>> {
    if given.len() > flags::MAX_FLAGS_PER_MESSAGE {
        return Err(Error::TooManyFlags);
    }
    given
        .iter()
        .map(|f| {
            let f = flags::canonical(f);
            if flags::is_valid_flag(&f) {
                Ok(f)
            } else {
                Err(Error::InvalidFlag(f))
            }
        })
        .collect()
}

pub(super) fn name_taken(tx: &Tx<'_>, name: &str) -> Result<bool> {
    Ok(tx.sql
.prepare_cached("SELECT EXISTS(SELECT 1 FROM mailboxes WHERE removed = 0 AND (shown_name = ?1 OR name = ?1))")?
.query_row([name],
        |r| r.get(0),
    )?)
}

/// The name users see (a clash loser's differs from its stored name).
fn live_mailbox_shown_name(tx: &Tx<'_>, id: MailboxId) -> Result<String> {
    live_mailbox_column(
        tx,
        id,
        "SELECT shown_name FROM mailboxes WHERE id = ?1 AND removed = 0",
    )
}

/// The name as stored in the mailbox's register.
pub(super) fn live_mailbox_name(tx: &Tx<'_>, id: MailboxId) -> Result<String> {
    live_mailbox_column(
        tx,
        id,
        "SELECT name FROM mailboxes WHERE id = ?1 AND removed = 0",
    )
}

fn live_mailbox_column(tx: &Tx<'_>, id: MailboxId, sql: &str) -> Result<String> {
    use rusqlite::OptionalExtension;
    tx.sql
        .query_row(sql, [id.to_bytes()], |r| r.get(0))
        .optional()?
        .ok_or(Error::NoSuchMailboxId(id))
}

fn mailbox_uidvalidity(tx: &Tx<'_>, id: MailboxId) -> Result<u32> {
    let st = tx.load_mailbox(id)?;
    st.as_mailbox()
        .map(|m| m.shown_uidvalidity())
        .ok_or(Error::WrongKind(id))
}

pub(super) fn live_entry(tx: &Tx<'_>, id: EntryId) -> Result<ItemState> {
    let st = tx.load_entry(id)?;
    match st.as_entry() {
        Some(e) if !entry_view(e).removed => Ok(st),
        _ => Err(Error::NoSuchEntry(id)),
    }
}

pub(super) fn set_mailbox_name(tx: &mut Tx<'_>, id: MailboxId, name: &str) -> Result<()> {
    let mut st = tx.load_mailbox(id)?;
    let dot = tx.dot();
    st.witness(dot);
    if let Body::Mailbox(m) = &mut st.body {
        m.name.set(dot, name.to_string());
    }
    tx.save(&st, None).map(drop)
}

pub(super) fn remove_mailbox_and_mail(tx: &mut Tx<'_>, id: MailboxId) -> Result<()> {
    let live: Vec<Vec<u8>> = {
        let mut stmt = tx
            .sql
            .prepare("SELECT id FROM entries WHERE mailbox = ?1 AND removed = 0")?;
        stmt.query_map([id.to_bytes()], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    for entry in live.iter().filter_map(|b| ItemId::from_bytes(b)) {
        let st = tx.load_entry(entry)?;
        remove_entry(tx, st)?;
    }
    let mut st = tx.load_mailbox(id)?;
    let dot = tx.dot();
    st.witness(dot);
    let ctx = st.ctx.clone();
    if let Body::Mailbox(m) = &mut st.body {
        m.removal.set(dot, Removal::Removed(ctx));
    }
    tx.save(&st, None).map(drop)
}

pub(super) fn remove_entry(tx: &mut Tx<'_>, mut st: ItemState) -> Result<()> {
    let dot = tx.dot();
    st.witness(dot);
    let ctx = st.ctx.clone();
    if let Body::Entry(e) = &mut st.body {
        e.removal.set(dot, Removal::Removed(ctx));
    }
    tx.save(&st, None).map(drop)
}

/// Point an entry at `dest` with a fresh UID there (or `uid` if given); returns the UID.
pub(super) fn place_entry(tx: &mut Tx<'_>, mut st: ItemState, dest: MailboxId) -> Result<u32> {
    let uid = next_free_uid(tx, dest)?;
    let dot = tx.dot();
    st.witness(dot);
    if let Body::Entry(e) = &mut st.body {
        e.mailbox.set(dot, dest);
        e.set_placement(dot, Placement { mailbox: dest, uid });
    }
    tx.save(&st, None)?;
    Ok(uid)
}

/// The parts of a new entry that come from the message, not from where it is put.
#[derive(Clone)]
pub(super) struct EntryTemplate {
    pub blob: crate::ids::BlobHash,
    pub size: u64,
    pub internal_date: i64,
    pub date_offset_minutes: i16,
    pub flags: BTreeSet<String>,
}

impl EntryTemplate {
    pub(super) fn copy_of(e: &EntryState) -> Self {
        EntryTemplate {
            blob: e.blob,
            size: e.size,
            internal_date: e.internal_date,
            date_offset_minutes: e.date_offset_minutes,
            flags: entry_view(e).flags,
        }
    }
}

pub(super) fn create_entry(
    tx: &mut Tx<'_>,
    mailbox: MailboxId,
    t: EntryTemplate,
    wanted_uid: Option<u32>,
) -> Result<Appended> {
    let next = next_free_uid(tx, mailbox)?;
    let uid = wanted_uid
        .filter(|&wanted| (next..crate::item::MAX_UID).contains(&wanted))
        .unwrap_or(next);
    let uidvalidity = mailbox_uidvalidity(tx, mailbox)?;
    let dot = tx.dot();
    let flags: BTreeMap<String, Reg<bool>> = t
        .flags
        .into_iter()
        .map(|f| (f, Reg::new(dot, true)))
        .collect();
    let st = ItemState {
        id: ItemId(dot),
        ctx: [dot].into_iter().collect(),
        body: Body::Entry(EntryState {
            blob: t.blob,
            size: t.size,
            internal_date: t.internal_date,
            date_offset_minutes: t.date_offset_minutes,
            mailbox: Reg::new(dot, mailbox),
            placement: Reg::new(dot, Placement { mailbox, uid }),
            flags,
            removal: Reg::new(dot, Removal::Kept),
            placements: [Placement { mailbox, uid }].into_iter().collect(),
        }),
    };
    // The entry's row is written by `save`, so the next UID handed out in this same
    // transaction already counts this one.
    tx.save(&st, None)?;
    Ok(Appended {
        id: ItemId(dot),
        uid,
        uidvalidity,
    })
}
