//! Conflicts the user should judge: listing them with both sides, and recording a decision.
//!
//! A conflict is not stored as a separate fact: it is read off the item states (several
//! siblings, or a removal that raced a change), so every replica holding the same states lists
//! the same conflicts. A decision is an ordinary local write whose dot has seen every sibling;
//! it dominates both sides and so closes the conflict on every replica it reaches.

use super::ops::{
    EntryTemplate, create_entry, live_mailbox_name, name_taken, remove_entry,
    remove_mailbox_and_mail, set_mailbox_name,
};
use super::{Replica, Tx};
use crate::error::{Error, Result};
use crate::ids::{ItemId, MailboxId};
use crate::item::{Body, Placement, Removal};
use crate::policy::{entry_view, mailbox_view};
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConflictKind {
    /// A message expunged on one replica and changed or moved on another: kept for now.
    Expunge,
    /// A message moved to different mailboxes: shown in one for now.
    Move,
    /// A mailbox renamed differently on two replicas.
    Rename,
    /// A mailbox deleted on one replica while mail was added to it or it was changed elsewhere.
    Delete,
    /// Two mailboxes created with one name; one is shown under another name for now.
    NameClash,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Expunge the message / delete the mailbox after all.
    Delete,
    /// Keep the message or mailbox (and, for a name clash, the name it is shown under).
    Keep,
    /// Put the message in this one of the mailboxes it was moved to.
    Mailbox(MailboxId),
    /// Keep the message in every mailbox it was moved to (copies for the others).
    KeepBoth,
    /// Give the mailbox this name.
    Name(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub id: String,
    pub kind: ConflictKind,
    pub item: ItemId,
    /// One line about what happened.
    pub summary: String,
    /// The competing versions, in words.
    pub sides: Vec<String>,
    /// What the policy shows until someone decides.
    pub current: String,
    pub choices: Vec<Choice>,
}

pub(super) fn open_conflict_ids(tx: &Tx<'_>) -> Result<BTreeSet<String>> {
    let mut stmt = tx.sql.prepare_cached("SELECT id FROM conflicts")?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

fn parse_id(id: &str) -> Option<(ConflictKind, ItemId)> {
    let (kind, item) = id.split_once(':')?;
    let kind = match kind {
        "expunge" => ConflictKind::Expunge,
        "move" => ConflictKind::Move,
        "rename" => ConflictKind::Rename,
        "delete" => ConflictKind::Delete,
        "clash" => ConflictKind::NameClash,
        _ => return None,
    };
    Some((kind, item.parse().ok()?))
}

impl Replica {
    pub fn conflicts(&mut self) -> Result<Vec<Conflict>> {
        let tx = self.read_tx()?;
        let ids = open_conflict_ids(&tx)?;
        ids.iter().map(|id| describe(&tx, id)).collect()
    }

    pub fn resolve(&mut self, conflict: &str, choice: Choice) -> Result<()> {
        let (kind, item) =
            parse_id(conflict).ok_or_else(|| Error::NoSuchConflict(conflict.to_string()))?;
        self.write(|tx| {
            if !open_conflict_ids(tx)?.contains(conflict) {
                return Err(Error::NoSuchConflict(conflict.to_string()));
            }
            let bad = || Error::BadChoice {
                conflict: conflict.to_string(),
                choice: format!("{choice:?}"),
            };
            match (kind, &choice) {
                (ConflictKind::Expunge, Choice::Delete) => remove_entry(tx, tx.load_entry(item)?),
                (ConflictKind::Expunge, Choice::Keep) => keep(tx, item),
                (ConflictKind::Move, Choice::Mailbox(m)) => settle_move(tx, item, *m, false),
                (ConflictKind::Move, Choice::KeepBoth) => {
                    let shown =
                        entry_view(tx.load_entry(item)?.as_entry().ok_or_else(bad)?).mailbox;
                    settle_move(tx, item, shown, true)
                }
                (ConflictKind::Rename | ConflictKind::NameClash, Choice::Name(name)) => {
                    let name = crate::names::normalize(name);
                    if !crate::names::is_valid_mailbox_name(&name) {
                        return Err(Error::InvalidMailboxName(name));
                    }
                    let current = live_mailbox_name(tx, item)?;
                    if name != current && name_taken(tx, &name)? {
                        return Err(Error::MailboxExists(name));
                    }
                    set_mailbox_name(tx, item, &name)
                }
                (ConflictKind::NameClash, Choice::Keep) => {
                    let shown: String = tx
                        .sql
                        .prepare_cached("SELECT shown_name FROM mailboxes WHERE id = ?1")?
                        .query_row([item.to_bytes()], |r| r.get(0))?;
                    set_mailbox_name(tx, item, &shown)
                }
                (ConflictKind::Delete, Choice::Delete) => remove_mailbox_and_mail(tx, item),
                (ConflictKind::Delete, Choice::Keep) => keep(tx, item),
                _ => Err(bad()),
            }
        })
    }
}

fn keep(tx: &mut Tx<'_>, item: ItemId) -> Result<()> {
    let mut st = tx.load(item)?.ok_or(Error::NoSuchEntry(item))?;
    let dot = tx.dot();
    st.witness(dot);
    match &mut st.body {
        Body::Entry(e) => {
            e.removal.set(dot, Removal::Kept);
            // Kept means kept: the expunger's `\Deleted` goes with its expunge.
            e.flags
                .entry("\\Deleted".to_string())
                .or_default()
                .set(dot, false);
        }
        Body::Mailbox(m) => m.removal.set(dot, Removal::Kept),
    }
    tx.save(&st, None).map(drop)
}

/// Settle a message in `chosen`, keeping its UID there if it has one; with `copies`, the
/// other mailboxes it was moved to get a copy each.
fn settle_move(tx: &mut Tx<'_>, item: ItemId, chosen: MailboxId, copies: bool) -> Result<()> {
    let mut st = tx.load_entry(item)?;
    let Body::Entry(e) = &st.body else {
        return Err(Error::WrongKind(item));
    };
    let sides: Vec<MailboxId> = e.mailbox.distinct_values().into_iter().copied().collect();
    if !sides.contains(&chosen) {
        return Err(Error::BadChoice {
            conflict: format!("move:{item}"),
            choice: format!("{chosen}"),
        });
    }
    // Where the message is shown now it keeps its UID; anywhere else it gets a fresh one,
    // since clients there saw it leave.
    let shown = entry_view(e);
    let template = EntryTemplate::copy_of(e);
    let uid = match (shown.mailbox == chosen, shown.uid) {
        (true, Some(uid)) => uid,
        _ => super::derive::next_free_uid(tx, chosen)?,
    };
    let dot = tx.dot();
    st.witness(dot);
    if let Body::Entry(e) = &mut st.body {
        e.mailbox.set(dot, chosen);
        e.set_placement(
            dot,
            Placement {
                mailbox: chosen,
                uid,
            },
        );
    }
    tx.save(&st, None)?;
    if copies {
        for other in sides.into_iter().filter(|m| *m != chosen) {
            if live_mailbox_name(tx, other).is_ok() {
                create_entry(tx, other, template.clone(), None)?;
            }
        }
    }
    Ok(())
}

fn mailbox_name(tx: &Tx<'_>, id: MailboxId) -> String {
    tx.sql
        .query_row(
            "SELECT shown_name FROM mailboxes WHERE id = ?1",
            [id.to_bytes()],
            |r| r.get(0),
        )
        .unwrap_or_else(|_| format!("(mailbox {id})"))
}

fn describe(tx: &Tx<'_>, id: &str) -> Result<Conflict> {
    let (kind, item) = parse_id(id).ok_or_else(|| Error::Corrupt(format!("conflict id {id}")))?;
    let st = tx
        .load(item)?
        .ok_or_else(|| Error::Corrupt(format!("conflict {id} without its item")))?;
    let conflict =
        |summary: String, sides: Vec<String>, current: String, choices: Vec<Choice>| Conflict {
            id: id.to_string(),
            kind,
            item,
            summary,
            sides,
            current,
            choices,
        };
    Ok(match (&st.body, kind) {
        (Body::Entry(e), ConflictKind::Expunge) => {
            let v = entry_view(e);
            conflict(
                format!("message {item} was expunged on one replica and changed on another"),
                vec![
                    "expunged".into(),
                    format!(
                        "kept in {} with flags [{}]",
                        mailbox_name(tx, v.mailbox),
                        join(&v.flags)
                    ),
                ],
                "kept".into(),
                vec![Choice::Delete, Choice::Keep],
            )
        }
        (Body::Entry(e), ConflictKind::Move) => {
            let v = entry_view(e);
            let sides: Vec<MailboxId> = e.mailbox.distinct_values().into_iter().copied().collect();
            let mut choices: Vec<Choice> = sides.iter().map(|m| Choice::Mailbox(*m)).collect();
            choices.push(Choice::KeepBoth);
            conflict(
                format!("message {item} was moved to different mailboxes"),
                sides
                    .iter()
                    .map(|m| format!("moved to {}", mailbox_name(tx, *m)))
                    .collect(),
                format!("in {}", mailbox_name(tx, v.mailbox)),
                choices,
            )
        }
        (Body::Mailbox(m), ConflictKind::Rename) => {
            let names: Vec<String> = m.name.distinct_values().into_iter().cloned().collect();
            conflict(
                format!("mailbox {item} was renamed differently on two replicas"),
                names.iter().map(|n| format!("renamed to {n}")).collect(),
                format!("named {}", mailbox_name(tx, item)),
                names.into_iter().map(Choice::Name).collect(),
            )
        }
        (Body::Mailbox(m), ConflictKind::Delete) => {
            let live: i64 = tx
                .sql
                .prepare_cached("SELECT count(*) FROM entries WHERE mailbox = ?1 AND removed = 0")?
                .query_row([item.to_bytes()], |r| r.get(0))?;
            let v = mailbox_view(m, live > 0);
            conflict(
                format!(
                    "mailbox {} was deleted on one replica and used on another",
                    v.name
                ),
                vec!["deleted".into(), format!("kept, holding {live} messages")],
                "kept".into(),
                vec![Choice::Delete, Choice::Keep],
            )
        }
        (Body::Mailbox(m), ConflictKind::NameClash) => {
            let name = m.name.latest().cloned().unwrap_or_default();
            let shown = mailbox_name(tx, item);
            conflict(
                format!("two mailboxes were created as {name}"),
                vec![
                    format!("the older keeps {name}"),
                    format!("this one is shown as {shown}"),
                ],
                format!("shown as {shown}"),
                vec![Choice::Keep, Choice::Name(format!("{name} (2)"))],
            )
        }
        _ => {
            return Err(Error::Corrupt(format!(
                "conflict {id} does not match its item"
            )));
        }
    })
}

fn join(flags: &BTreeSet<String>) -> String {
    flags
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}
