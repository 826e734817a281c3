//! Keeps the derived tables (`entries`, `mailboxes`, `conflicts`, `missing_blobs`) in step with
//! the item states, and makes the engine's own corrective writes: renumbering UID clashes and
//! raising UIDNEXT past every UID a mailbox has seen.
//!
//! Renumbering is deterministic given the state: the clashing live entries, in id order, get
//! UIDs from the mailbox's UIDNEXT up. A clash moves every live holder of the UID before the
//! rule that a newcomer below UIDNEXT moves is asked, so replicas that see the same clash in
//! the same state write the same UIDs and settle it in one renumbering each; where states
//! differ, the placement register keeps the highest UID, and any clash that leaves is found
//! and renumbered again, UIDs only ever rising.

use super::Tx;
use crate::error::Result;
use crate::ids::{ItemId, MailboxId};
use crate::item::{ItemState, Placement};
use crate::policy::{clash_name, entry_view, mailbox_view};
use rusqlite::{OptionalExtension, params};
use std::collections::BTreeSet;

/// Write the derived row of an entry whose state was just saved.
pub(super) fn entry_row(tx: &mut Tx<'_>, state: &ItemState, modseq: u64) -> Result<()> {
    let Some(e) = state.as_entry() else {
        return Ok(());
    };
    let view = entry_view(e);
    let id = state.id.to_bytes();
    let old_place: Option<(Vec<u8>, Option<u32>, bool)> = tx
        .sql
        .prepare_cached("SELECT mailbox, uid, removed FROM entries WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if let Some(old) = old_place
        .as_ref()
        .and_then(|(m, _, _)| ItemId::from_bytes(m))
    {
        tx.touched_mailboxes.insert(old);
    }
    // New here, moved here, or back from an expunge its clients already saw: to them it is a
    // message arriving now.
    let new_place = (view.mailbox.to_bytes().to_vec(), view.uid, false);
    if !view.removed && old_place.as_ref() != Some(&new_place) {
        tx.arrived.insert(state.id);
    }
    tx.touched_mailboxes.insert(view.mailbox);
    let flags = view
        .flags
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    tx.sql
        .prepare_cached(
            "INSERT OR REPLACE INTO entries
         (id, mailbox, uid, removed, flags, blob, size, internal_date, date_offset, modseq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            id,
            view.mailbox.to_bytes(),
            view.uid,
            view.removed,
            flags,
            e.blob.0,
            e.size as i64,
            e.internal_date,
            e.date_offset_minutes,
            modseq as i64
        ])?;
    tx.sql
        .prepare_cached("DELETE FROM vacated_uids WHERE entry = ?1")?
        .execute([id])?;
    // An expunged message's own UID is as dead as the ones it left.
    let current = view.uid.filter(|_| !view.removed).map(|uid| Placement {
        mailbox: view.mailbox,
        uid,
    });
    for place in e.placements.iter().filter(|p| Some(**p) != current) {
        tx.sql
            .prepare_cached(
                "INSERT OR IGNORE INTO vacated_uids (mailbox, uid, entry) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![place.mailbox.to_bytes(), place.uid, id])?;
    }
    tx.sql
        .prepare_cached("DELETE FROM conflicts WHERE item = ?1")?
        .execute([id])?;
    if view.expunge_contested {
        add_conflict(tx, "expunge", state.id)?;
    }
    if !view.removed && !view.moved_apart.is_empty() {
        add_conflict(tx, "move", state.id)?;
    }
    if !view.removed {
        super::blobs::unretire(tx, e.blob)?;
    }
    if !view.removed
        && !tx
            .sql
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM blobs WHERE hash = ?1)")?
            .query_row([e.blob.0], |r| r.get::<_, bool>(0))?
    {
        tx.sql
            .prepare_cached("INSERT OR IGNORE INTO missing_blobs VALUES (?1)")?
            .execute([e.blob.0])?;
    }
    Ok(())
}

fn add_conflict(tx: &Tx<'_>, kind: &str, item: ItemId) -> Result<()> {
    tx.sql
        .prepare_cached("INSERT OR REPLACE INTO conflicts (id, item) VALUES (?1, ?2)")?
        .execute(params![format!("{kind}:{item}"), item.to_bytes()])?;
    Ok(())
}

/// Bring everything the transaction touched to a settled state.
pub(super) fn settle(tx: &mut Tx<'_>) -> Result<()> {
    loop {
        let entries = std::mem::take(&mut tx.touched_entries);
        for id in &entries {
            check_placement(tx, *id)?;
        }
        let mailboxes = std::mem::take(&mut tx.touched_mailboxes);
        for id in &mailboxes {
            refresh_mailbox(tx, *id)?;
        }
        if entries.is_empty() && mailboxes.is_empty() {
            break;
        }
    }
    if std::mem::take(&mut tx.names_dirty) {
        settle_names(tx)?;
    }
    Ok(())
}

/// A live entry must hold a UID no other entry holds, held or left, in its mailbox; and the
/// UIDs it left must not be held by another live entry.
fn check_placement(tx: &mut Tx<'_>, id: ItemId) -> Result<()> {
    let row: Option<(Vec<u8>, Option<u32>, bool)> = tx
        .sql
        .prepare_cached("SELECT mailbox, uid, removed FROM entries WHERE id = ?1")?
        .query_row([id.to_bytes()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((mailbox, uid, removed)) = row else {
        return Ok(());
    };
    for (place_mailbox, place_uid) in vacated_by(tx, id)? {
        let squatters: Vec<ItemId> = live_at(tx, &place_mailbox, place_uid)?
            .into_iter()
            .filter(|other| *other != id)
            .collect();
        if let (false, Some(m)) = (squatters.is_empty(), ItemId::from_bytes(&place_mailbox)) {
            renumber(tx, m, squatters)?;
        }
    }
    let Some(mailbox_id) = ItemId::from_bytes(&mailbox) else {
        return Ok(());
    };
    if removed {
        return Ok(());
    }
    // A clash first: every live holder of the UID moves, each replica that sees the clash
    // moving them alike from the same state, so replicas whose bundles crossed reach the
    // same UIDs in one renumbering. (Moving only the newcomer below UIDNEXT here would move
    // the other message on the other replica, and the two moves clash again.)
    if let Some(uid) = uid {
        let holders: i64 = tx.sql
.prepare_cached("SELECT (SELECT count(*) FROM entries WHERE mailbox = ?1 AND uid = ?2)
                  + (SELECT count(*) FROM vacated_uids WHERE mailbox = ?1 AND uid = ?2 AND entry != ?3)")?
.query_row(params![mailbox, uid, id.to_bytes()],
            |r| r.get(0),
        )?;
        if holders >= 2 {
            tx.arrived.remove(&id);
            return renumber(tx, mailbox_id, live_at(tx, &mailbox, uid)?);
        }
    }
    // A message must not appear below a UIDNEXT clients may already have seen: they fetch
    // `UID n:*` from there and would never learn of it.
    if let (true, Some(uid)) = (tx.arrived.contains(&id), uid)
        && uidnext_before(tx, mailbox_id)?.is_some_and(|next| uid < next)
    {
        tx.arrived.remove(&id);
        return renumber(tx, mailbox_id, vec![id]);
    }
    match uid {
        None => renumber(tx, mailbox_id, vec![id]),
        Some(_) => Ok(()),
    }
}

fn uidnext_before(tx: &mut Tx<'_>, mailbox: MailboxId) -> Result<Option<u32>> {
    if let Some(known) = tx.uidnext_before.get(&mailbox) {
        return Ok(*known);
    }
    let shown: Option<u32> = tx
        .sql
        .prepare_cached("SELECT uidnext FROM mailboxes WHERE id = ?1")?
        .query_row([mailbox.to_bytes()], |r| r.get(0))
        .optional()?;
    tx.uidnext_before.insert(mailbox, shown);
    Ok(shown)
}

fn vacated_by(tx: &Tx<'_>, id: ItemId) -> Result<Vec<(Vec<u8>, u32)>> {
    let mut stmt = tx
        .sql
        .prepare_cached("SELECT mailbox, uid FROM vacated_uids WHERE entry = ?1")?;
    let rows = stmt
        .query_map([id.to_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Live entries placed at `(mailbox, uid)`.
fn live_at(tx: &Tx<'_>, mailbox: &[u8], uid: u32) -> Result<Vec<ItemId>> {
    let mut stmt = tx
        .sql
        .prepare_cached("SELECT id FROM entries WHERE mailbox = ?1 AND uid = ?2 AND removed = 0")?;
    let rows: Vec<Vec<u8>> = stmt
        .query_map(params![mailbox, uid], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(rows.iter().filter_map(|b| ItemId::from_bytes(b)).collect())
}

fn renumber(tx: &mut Tx<'_>, mailbox: MailboxId, mut ids: Vec<ItemId>) -> Result<()> {
    ids.sort();
    let first = next_free_uid(tx, mailbox)?;
    for (next, id) in (first..).zip(ids) {
        let mut st = tx.load_entry(id)?;
        let dot = tx.dot();
        st.witness(dot);
        if let crate::item::Body::Entry(e) = &mut st.body {
            e.set_placement(dot, Placement { mailbox, uid: next });
        }
        tx.save(&st, None)?;
    }
    Ok(())
}

/// One above every UID the mailbox has handed out or seen.
pub(super) fn next_free_uid(tx: &Tx<'_>, mailbox: MailboxId) -> Result<u32> {
    let seen: Option<u32> = tx
        .sql
        .prepare_cached(
            "SELECT max(m) FROM (SELECT max(uid) AS m FROM entries WHERE mailbox = ?1
                             UNION ALL SELECT max(uid) FROM vacated_uids WHERE mailbox = ?1)",
        )?
        .query_row([mailbox.to_bytes()], |r| r.get(0))?;
    let state_next = match tx.load(mailbox)? {
        Some(st) => st.as_mailbox().map_or(1, |m| m.uidnext),
        None => 1,
    };
    let next = state_next.max(seen.map_or(1, |u| u.saturating_add(1)));
    if next >= crate::item::MAX_UID {
        return Err(crate::error::Error::MailboxFull(mailbox));
    }
    Ok(next)
}

fn refresh_mailbox(tx: &mut Tx<'_>, id: MailboxId) -> Result<()> {
    let Some(mut st) = tx.load(id)? else {
        return Ok(());
    };
    let next = next_free_uid(tx, id)?;
    let Some(m) = st.as_mailbox() else {
        return Ok(());
    };
    if next > m.uidnext {
        if let crate::item::Body::Mailbox(m) = &mut st.body {
            m.uidnext = next;
        }
        tx.save(&st, None)?;
        // `save` queued this mailbox again; the next round writes its row.
        return Ok(());
    }
    let holds_live_mail: bool = tx
        .sql
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM entries WHERE mailbox = ?1 AND removed = 0)")?
        .query_row([id.to_bytes()], |r| r.get(0))?;
    let view = mailbox_view(m, holds_live_mail);
    let modseq: i64 = tx
        .sql
        .prepare_cached("SELECT modseq FROM items WHERE id = ?1")?
        .query_row([id.to_bytes()], |r| r.get(0))?;
    let old: Option<(String, bool)> = tx
        .sql
        .prepare_cached("SELECT name, removed FROM mailboxes WHERE id = ?1")?
        .query_row([id.to_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if old.as_ref() != Some(&(view.name.clone(), view.removed)) {
        tx.names_dirty = true;
    }
    tx.sql
.prepare_cached("INSERT INTO mailboxes (id, name, shown_name, removed, uidvalidity, uidnext, subscribed, special_use, modseq)
         VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(id) DO UPDATE SET name = ?2, removed = ?3, uidvalidity = ?4, uidnext = ?5,
            subscribed = ?6, special_use = ?7, modseq = ?8")?
.execute(params![
            id.to_bytes(),
            view.name,
            view.removed,
            m.shown_uidvalidity(),
            m.uidnext,
            view.subscribed,
            view.special_use.map(|s| s.attribute()),
            modseq
        ],
    )?;
    tx.sql
        .prepare_cached("DELETE FROM conflicts WHERE item = ?1 AND id NOT LIKE 'clash:%'")?
        .execute([id.to_bytes()])?;
    if !view.renamed_apart.is_empty() && !view.removed {
        add_conflict(tx, "rename", id)?;
    }
    if view.delete_contested {
        add_conflict(tx, "delete", id)?;
    }
    Ok(())
}

/// Live mailboxes with one name: the oldest id keeps it, the others are shown renamed.
fn settle_names(tx: &mut Tx<'_>) -> Result<()> {
    let mut rows: Vec<(Vec<u8>, String, bool, String)> = {
        let mut stmt = tx
            .sql
            .prepare("SELECT id, name, removed, shown_name FROM mailboxes")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?
    };
    // Oldest first by the ids' own order (counter, then replica), not by their bytes.
    rows.sort_by_key(|(id, ..)| ItemId::from_bytes(id));
    tx.sql
        .prepare_cached("DELETE FROM conflicts WHERE id LIKE 'clash:%'")?
        .execute([])?;
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    for (id_bytes, name, removed, shown) in rows {
        let Some(id) = ItemId::from_bytes(&id_bytes) else {
            continue;
        };
        let first_claim = removed || claimed.insert(crate::names::normalize(&name));
        let want = if first_claim {
            name.clone()
        } else {
            add_conflict(tx, "clash", id)?;
            clash_name(&name, id)
        };
        if want != shown {
            tx.sql
                .prepare_cached("UPDATE mailboxes SET shown_name = ?1 WHERE id = ?2")?
                .execute(params![want, id_bytes])?;
        }
    }
    Ok(())
}
