//! The simulator's own account of what happened, kept apart from the engine.
//!
//! Each user operation on an item is recorded with the set of earlier operations on that item
//! that its replica had received (learned only from what the simulator delivered). From that
//! happens-before relation alone the oracle derives what every replica must show at the end:
//! the latest writes to each field, which of them are concurrent, whether a removal saw every
//! change, and which conflicts must be open. It uses no version vector of the engine's.

use nomamail_core::{ConflictKind, ItemId, MailboxId, flags};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub type OpId = u64;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Location,
    Flag(String),
    Removal,
    Name,
    Subscribed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Mailbox(MailboxId),
    Bool(bool),
    Removed,
    Kept,
    Name(String),
}

#[derive(Clone, Debug)]
struct Op {
    writes: Vec<(Field, Value)>,
    saw: BTreeSet<OpId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Mailbox,
    Entry,
}

#[derive(Default)]
pub struct History {
    ops: Vec<Op>,
    by_item: BTreeMap<ItemId, Vec<OpId>>,
    kinds: HashMap<ItemId, Kind>,
    /// Per replica, per item: the operations its state of the item includes.
    know: Vec<HashMap<ItemId, BTreeSet<OpId>>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedEntry {
    pub live: bool,
    pub expunge_conflict: bool,
    /// The mailboxes of the latest concurrent moves: the entry must be in one of them.
    pub locations: Vec<MailboxId>,
    pub flags: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedMailbox {
    /// Removed by its own register; a live message inside still keeps it.
    pub removal_wins: bool,
    pub removal_contested: bool,
    pub names: Vec<String>,
}

impl History {
    pub fn new(replicas: usize) -> History {
        History {
            know: vec![HashMap::new(); replicas],
            ..History::default()
        }
    }

    /// An operation every replica has from the start (the genesis mailboxes).
    pub fn genesis(&mut self, item: ItemId, writes: Vec<(Field, Value)>) {
        let id = self.push(item, Kind::Mailbox, writes, BTreeSet::new());
        for k in &mut self.know {
            k.entry(item).or_default().insert(id);
        }
    }

    /// A user operation by `replica` on `item`.
    pub fn record(
        &mut self,
        replica: usize,
        item: ItemId,
        kind: Kind,
        writes: Vec<(Field, Value)>,
    ) -> OpId {
        let saw = self.know[replica].get(&item).cloned().unwrap_or_default();
        let id = self.push(item, kind, writes, saw);
        self.know[replica].entry(item).or_default().insert(id);
        id
    }

    fn push(
        &mut self,
        item: ItemId,
        kind: Kind,
        writes: Vec<(Field, Value)>,
        saw: BTreeSet<OpId>,
    ) -> OpId {
        let id = self.ops.len() as OpId;
        self.ops.push(Op { writes, saw });
        self.by_item.entry(item).or_default().push(id);
        self.kinds.insert(item, kind);
        id
    }

    pub fn knowledge(&self, replica: usize, item: ItemId) -> BTreeSet<OpId> {
        self.know[replica].get(&item).cloned().unwrap_or_default()
    }

    pub fn learn(&mut self, replica: usize, item: ItemId, ops: &BTreeSet<OpId>) {
        self.know[replica]
            .entry(item)
            .or_default()
            .extend(ops.iter().copied());
    }

    /// What `replica`'s states include now (taken with a backup of its file).
    pub fn snapshot(&self, replica: usize) -> HashMap<ItemId, BTreeSet<OpId>> {
        self.know[replica].clone()
    }

    /// `replica` was restored from a backup taken at `snapshot`: it knows what it knew then.
    /// Operations no one knows any more — made on it after the backup and never passed on
    /// (nor in a bundle still on its way, `in_flight`) — are lost for good: no replica can
    /// show them. Returns how many were.
    pub fn restore(
        &mut self,
        replica: usize,
        snapshot: HashMap<ItemId, BTreeSet<OpId>>,
        in_flight: &[&HashMap<ItemId, BTreeSet<OpId>>],
    ) -> usize {
        self.know[replica] = snapshot;
        let mut known: HashMap<ItemId, BTreeSet<OpId>> = HashMap::new();
        for k in self.know.iter().chain(in_flight.iter().copied()) {
            for (item, ops) in k {
                known.entry(*item).or_default().extend(ops.iter().copied());
            }
        }
        let mut lost = 0;
        self.by_item.retain(|item, ops| {
            let before = ops.len();
            let still = known.get(item);
            ops.retain(|op| still.is_some_and(|s| s.contains(op)));
            lost += before - ops.len();
            !ops.is_empty()
        });
        let by_item = &self.by_item;
        self.kinds.retain(|item, _| by_item.contains_key(item));
        lost
    }

    pub fn op_count(&self) -> usize {
        self.ops.len()
    }

    pub fn items(&self, kind: Kind) -> Vec<ItemId> {
        self.by_item
            .keys()
            .copied()
            .filter(|i| self.kinds.get(i) == Some(&kind))
            .collect()
    }

    /// The writes to `field` of `item` that no other write to it had seen.
    fn latest(&self, item: ItemId, field: &Field) -> Vec<(OpId, Value)> {
        let writes: Vec<(OpId, Value)> = self.by_item[&item]
            .iter()
            .flat_map(|&op| {
                self.ops[op as usize]
                    .writes
                    .iter()
                    .filter(|(f, _)| f == field)
                    .map(move |(_, v)| (op, v.clone()))
            })
            .collect();
        writes
            .iter()
            .filter(|(op, _)| {
                !writes
                    .iter()
                    .any(|(other, _)| self.ops[*other as usize].saw.contains(op))
            })
            .cloned()
            .collect()
    }

    fn fields(&self, item: ItemId) -> BTreeSet<Field> {
        self.by_item[&item]
            .iter()
            .flat_map(|&op| self.ops[op as usize].writes.iter().map(|(f, _)| f.clone()))
            .collect()
    }

    /// (removal wins, removal contested) given the user fields that removal must have seen.
    fn removal(&self, item: ItemId, user_fields: &[Field]) -> (bool, bool) {
        let removals = self.latest(item, &Field::Removal);
        let removed = removals.iter().any(|(_, v)| *v == Value::Removed);
        let kept = removals.iter().any(|(_, v)| *v == Value::Kept);
        if !removed {
            return (false, false);
        }
        if kept {
            return (false, true);
        }
        let mut seen: BTreeSet<OpId> = BTreeSet::new();
        for (op, _) in &removals {
            seen.insert(*op);
            seen.extend(self.ops[*op as usize].saw.iter().copied());
        }
        let all_seen = user_fields
            .iter()
            .flat_map(|f| self.latest(item, f))
            .all(|(op, _)| seen.contains(&op));
        (all_seen, !all_seen)
    }

    pub fn expect_entry(&self, item: ItemId) -> ExpectedEntry {
        let fields = self.fields(item);
        let user: Vec<Field> = fields
            .iter()
            .filter(|f| matches!(f, Field::Location | Field::Flag(_)))
            .cloned()
            .collect();
        let (removed, contested) = self.removal(item, &user);
        let locations = distinct(self.latest(item, &Field::Location), |v| match v {
            Value::Mailbox(m) => Some(m),
            _ => None,
        });
        let mut set = BTreeSet::new();
        for f in &fields {
            let Field::Flag(name) = f else { continue };
            let values: BTreeSet<bool> = self
                .latest(item, f)
                .into_iter()
                .filter_map(|(_, v)| {
                    if let Value::Bool(b) = v {
                        Some(b)
                    } else {
                        None
                    }
                })
                .collect();
            let on = match values.len() {
                1 => values.contains(&true),
                0 => false,
                _ => flags::concurrent_set_and_clear(name),
            };
            if on {
                set.insert(name.clone());
            }
        }
        // Kept against its expunge: shown without the expunger's \Deleted.
        if contested {
            set.remove("\\Deleted");
        }
        ExpectedEntry {
            live: !removed,
            expunge_conflict: contested,
            locations,
            flags: set,
        }
    }

    pub fn expect_mailbox(&self, item: ItemId) -> ExpectedMailbox {
        let (removal_wins, removal_contested) =
            self.removal(item, &[Field::Name, Field::Subscribed]);
        let names = distinct(self.latest(item, &Field::Name), |v| match v {
            Value::Name(n) => Some(n),
            _ => None,
        });
        ExpectedMailbox {
            removal_wins,
            removal_contested,
            names,
        }
    }
}

/// The distinct values of some latest writes, in write order.
fn distinct<T: PartialEq>(writes: Vec<(OpId, Value)>, pick: impl Fn(Value) -> Option<T>) -> Vec<T> {
    let mut out = Vec::new();
    for v in writes.into_iter().filter_map(|(_, v)| pick(v)) {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The conflicts every replica must list, given the oracle and where live messages ended up.
pub fn expected_conflicts(
    history: &History,
    shown_names: &BTreeMap<MailboxId, String>,
    live_locations: &BTreeMap<ItemId, MailboxId>,
) -> BTreeSet<(ConflictKind, ItemId)> {
    let mut out = BTreeSet::new();
    for item in history.items(Kind::Entry) {
        let e = history.expect_entry(item);
        if e.expunge_conflict {
            out.insert((ConflictKind::Expunge, item));
        }
        if e.live && e.locations.len() > 1 {
            out.insert((ConflictKind::Move, item));
        }
    }
    let mut by_name: BTreeMap<String, Vec<MailboxId>> = BTreeMap::new();
    for item in history.items(Kind::Mailbox) {
        let m = history.expect_mailbox(item);
        let holds_mail = live_locations.values().any(|l| *l == item);
        let removed = m.removal_wins && !holds_mail;
        if m.removal_contested || (m.removal_wins && holds_mail) {
            out.insert((ConflictKind::Delete, item));
        }
        if !removed {
            if m.names.len() > 1 {
                out.insert((ConflictKind::Rename, item));
            }
            if let Some(shown) = shown_names.get(&item) {
                let suffix = format!("~{item}");
                let base = if m.names.contains(shown) {
                    shown.clone()
                } else {
                    shown
                        .strip_suffix(suffix.as_str())
                        .unwrap_or(shown)
                        .to_string()
                };
                by_name
                    .entry(nomamail_core::names::normalize(&base))
                    .or_default()
                    .push(item);
            }
        }
    }
    for (_, mut ids) in by_name {
        ids.sort();
        for id in ids.into_iter().skip(1) {
            out.insert((ConflictKind::NameClash, id));
        }
    }
    out
}
