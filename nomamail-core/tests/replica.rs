//! Behaviour of two or three replicas syncing in memory: what a user of either would see.

use nomamail_core::{
    Choice, ConflictKind, Durability, FlagOp, INBOX_ID, Replica, ReplicaId, ReplicaOptions,
};

const SEED: u64 = 0x5eed;

fn replica(id: u64) -> Replica {
    let mut opts = ReplicaOptions::new(ReplicaId(id), SEED);
    opts.durability = Durability::Process;
    Replica::open_in_memory(opts).expect("open")
}

fn pair() -> (Replica, Replica) {
    let (mut a, mut b) = (replica(1), replica(2));
    a.add_peer(b.id()).unwrap();
    b.add_peer(a.id()).unwrap();
    (a, b)
}

/// Deliver everything `from` has for `to` now. Returns how many bundles went.
fn flow(from: &mut Replica, to: &mut Replica, now: u64) -> usize {
    let mut sent = 0;
    while let Some(wire) = from.outgoing(to.id(), now, 64 * 1024).unwrap() {
        to.incoming(from.id(), &wire, now).unwrap();
        sent += 1;
    }
    sent
}

/// Exchange bundles both ways until neither side has anything to say. Returns bundles sent.
fn sync(a: &mut Replica, b: &mut Replica) -> usize {
    let mut sent = 0;
    for round in 0..200 {
        let n = flow(a, b, round) + flow(b, a, round);
        if n == 0 {
            return sent;
        }
        sent += n;
    }
    panic!("no quiescence after 200 rounds");
}

/// Replica 1 on a file, which goes on as 77 if the file proves older than its history.
fn open_as_1_or_77(path: &std::path::Path) -> Replica {
    let mut options = ReplicaOptions::new(ReplicaId(1), SEED);
    options.durability = Durability::Process;
    options.id_if_copied = Some(ReplicaId(77));
    Replica::open(path, options).unwrap()
}

fn msg(subject: &str) -> Vec<u8> {
    format!("From: a@example.org\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n").into_bytes()
}

fn flags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// (uid, subject line, flags) per message of a mailbox: what a mail client would list.
fn listing(r: &Replica, mailbox: &str) -> Vec<(u32, String, Vec<String>)> {
    let m = r.mailbox_named(mailbox).unwrap();
    r.entries(m.id)
        .unwrap()
        .into_iter()
        .map(|e| {
            let body = String::from_utf8(r.message(e.id).unwrap()).unwrap();
            let subject = body
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or("")
                .to_string();
            (e.uid, subject, e.flags)
        })
        .collect()
}

#[test]
fn new_account_has_inbox_and_special_use_mailboxes_alike_everywhere() {
    let (a, b) = pair();
    let names: Vec<_> = a
        .mailboxes()
        .unwrap()
        .into_iter()
        .map(|m| (m.name, m.special_use, m.uidvalidity))
        .collect();
    assert_eq!(names.len(), 6);
    assert!(
        names
            .iter()
            .any(|(n, s, _)| n == "Sent" && s.as_deref() == Some("\\Sent"))
    );
    let other: Vec<_> = b
        .mailboxes()
        .unwrap()
        .into_iter()
        .map(|m| (m.name, m.special_use, m.uidvalidity))
        .collect();
    assert_eq!(names, other);
}

#[test]
fn appended_mail_reaches_the_peer_with_the_same_uid_and_bytes() {
    let (mut a, mut b) = pair();
    a.append(
        INBOX_ID,
        &msg("one"),
        &flags(&["\\Seen"]),
        1_700_000_000,
        60,
    )
    .unwrap();
    a.append(INBOX_ID, &msg("two"), &[], 1_700_000_100, 60)
        .unwrap();
    sync(&mut a, &mut b);
    assert_eq!(listing(&b, "INBOX"), listing(&a, "INBOX"));
    assert_eq!(
        listing(&b, "INBOX").iter().map(|l| l.0).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(b.mailbox_named("INBOX").unwrap().uidnext, 3);
}

#[test]
fn concurrent_changes_to_different_flags_merge_without_conflict() {
    let (mut a, mut b) = pair();
    let m = a.append(INBOX_ID, &msg("x"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    a.store_flags(&[m.id], FlagOp::Add, &flags(&["\\Seen"]))
        .unwrap();
    b.store_flags(&[m.id], FlagOp::Add, &flags(&["\\Flagged"]))
        .unwrap();
    sync(&mut a, &mut b);
    for r in [&mut a, &mut b] {
        assert_eq!(listing(r, "INBOX")[0].2, flags(&["\\Flagged", "\\Seen"]));
        assert!(r.conflicts().unwrap().is_empty());
    }
}

#[test]
fn deleted_flag_set_and_cleared_concurrently_ends_cleared() {
    let (mut a, mut b) = pair();
    let m = a
        .append(INBOX_ID, &msg("x"), &flags(&["\\Deleted", "$Work"]), 0, 0)
        .unwrap();
    sync(&mut a, &mut b);
    a.store_flags(&[m.id], FlagOp::Remove, &flags(&["\\Deleted", "$Work"]))
        .unwrap();
    // b clears and sets both again: its last write to each is a set, concurrent with a's clear.
    b.store_flags(&[m.id], FlagOp::Remove, &flags(&["\\Deleted", "$Work"]))
        .unwrap();
    b.store_flags(
        &[m.id],
        FlagOp::Add,
        &flags(&["\\Deleted", "$Work", "\\Seen"]),
    )
    .unwrap();
    sync(&mut a, &mut b);
    // \Deleted: the clear wins; $Work: the set wins.
    assert_eq!(listing(&a, "INBOX")[0].2, flags(&["$Work", "\\Seen"]));
    assert_eq!(listing(&a, "INBOX"), listing(&b, "INBOX"));
}

#[test]
fn expunge_racing_a_flag_change_keeps_the_message_and_asks() {
    let (mut a, mut b) = pair();
    let m = a.append(INBOX_ID, &msg("keep me"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    a.expunge(&[m.id]).unwrap();
    b.store_flags(&[m.id], FlagOp::Add, &flags(&["\\Answered"]))
        .unwrap();
    sync(&mut a, &mut b);
    for r in [&mut a, &mut b] {
        let inbox = listing(r, "INBOX");
        assert_eq!(inbox.len(), 1, "message kept");
        // a's clients saw its UID expunged: it comes back to them as new mail.
        assert!(inbox[0].0 > m.uid, "{inbox:?}");
        let c = r.conflicts().unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, ConflictKind::Expunge);
    }
    assert_eq!(listing(&a, "INBOX"), listing(&b, "INBOX"));
    let id = a.conflicts().unwrap()[0].id.clone();
    b.resolve(&id, Choice::Delete).unwrap();
    sync(&mut a, &mut b);
    for r in [&mut a, &mut b] {
        assert!(listing(r, "INBOX").is_empty());
        assert!(r.conflicts().unwrap().is_empty());
    }
}

#[test]
fn expunge_that_saw_the_change_just_expunges() {
    let (mut a, mut b) = pair();
    let m = a.append(INBOX_ID, &msg("x"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    b.store_flags(&[m.id], FlagOp::Add, &flags(&["\\Seen"]))
        .unwrap();
    sync(&mut a, &mut b);
    a.expunge(&[m.id]).unwrap();
    sync(&mut a, &mut b);
    assert!(listing(&b, "INBOX").is_empty());
    assert!(b.conflicts().unwrap().is_empty());
}

#[test]
fn moves_to_two_mailboxes_show_one_and_keep_both_on_request() {
    let (mut a, mut b) = pair();
    let m = a
        .append(INBOX_ID, &msg("x"), &flags(&["\\Seen"]), 0, 0)
        .unwrap();
    let work = a.create_mailbox("Work").unwrap();
    let home = a.create_mailbox("Home").unwrap();
    sync(&mut a, &mut b);
    a.move_to(&[m.id], work).unwrap();
    b.move_to(&[m.id], home).unwrap();
    sync(&mut a, &mut b);
    let total = |r: &Replica| {
        listing(r, "Work").len() + listing(r, "Home").len() + listing(r, "INBOX").len()
    };
    assert_eq!(total(&a), 1);
    assert_eq!(listing(&a, "Work"), listing(&b, "Work"));
    assert_eq!(listing(&a, "Home"), listing(&b, "Home"));
    let c = a.conflicts().unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].kind, ConflictKind::Move);
    a.resolve(&c[0].id, Choice::KeepBoth).unwrap();
    sync(&mut a, &mut b);
    for r in [&mut a, &mut b] {
        assert_eq!(listing(r, "Work").len(), 1);
        assert_eq!(listing(r, "Home").len(), 1);
        assert_eq!(listing(r, "Home")[0].2, flags(&["\\Seen"]));
        assert!(r.conflicts().unwrap().is_empty());
    }
}

#[test]
fn same_uid_given_to_different_messages_is_renumbered_above_both() {
    let (mut a, mut b) = pair();
    a.append(INBOX_ID, &msg("base"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    a.append(INBOX_ID, &msg("from a"), &flags(&["\\Flagged"]), 0, 0)
        .unwrap();
    b.append(INBOX_ID, &msg("from b"), &flags(&["\\Seen"]), 0, 0)
        .unwrap();
    assert_eq!(listing(&a, "INBOX")[1].0, 2);
    assert_eq!(listing(&b, "INBOX")[1].0, 2);
    sync(&mut a, &mut b);
    let la = listing(&a, "INBOX");
    assert_eq!(la, listing(&b, "INBOX"));
    assert_eq!(la.len(), 3);
    assert_eq!(la[0].0, 1, "the unclashed message keeps its UID");
    assert!(
        la[1].0 > 2 && la[2].0 > 2,
        "both clashing messages renumbered: {la:?}"
    );
    let flagged = la.iter().find(|l| l.1 == "from a").unwrap();
    assert_eq!(
        flagged.2,
        flags(&["\\Flagged"]),
        "flags untouched by renumbering"
    );
    assert!(a.conflicts().unwrap().is_empty());
    assert_eq!(
        a.mailbox_named("INBOX").unwrap().uidnext,
        b.mailbox_named("INBOX").unwrap().uidnext
    );
}

/// Like `sync`, but records every UID each message (by subject) had on either replica after
/// each applied bundle: what the clients of each replica were shown.
fn sync_watching_uids(
    a: &mut Replica,
    b: &mut Replica,
    seen: &mut std::collections::BTreeMap<(u64, String), std::collections::BTreeSet<u32>>,
) {
    let note = |r: &Replica, seen: &mut std::collections::BTreeMap<_, _>| {
        for (uid, subject, _) in listing(r, "INBOX") {
            seen.entry((r.id().0, subject))
                .or_insert_with(std::collections::BTreeSet::new)
                .insert(uid);
        }
    };
    note(a, seen);
    note(b, seen);
    for round in 0..200 {
        let mut moved = false;
        for a_to_b in [true, false] {
            let (from, to) = if a_to_b {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            while let Some(wire) = from.outgoing(to.id(), round, 64 * 1024).unwrap() {
                to.incoming(from.id(), &wire, round).unwrap();
                note(to, seen);
                moved = true;
            }
        }
        if !moved {
            return;
        }
    }
    panic!("no quiescence after 200 rounds");
}

#[test]
fn a_uid_clash_is_settled_in_one_renumbering_on_each_replica() {
    let (mut a, mut b) = pair();
    a.append(INBOX_ID, &msg("base"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    a.append(INBOX_ID, &msg("from a"), &[], 0, 0).unwrap();
    b.append(INBOX_ID, &msg("from b"), &[], 0, 0).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    // The two servers' first bundles cross: each learns of the clash before it hears how the
    // other settled it.
    let to_b = a.outgoing(b.id(), 1, 64 * 1024).unwrap().unwrap();
    let to_a = b.outgoing(a.id(), 1, 64 * 1024).unwrap().unwrap();
    b.incoming(a.id(), &to_b, 1).unwrap();
    a.incoming(b.id(), &to_a, 1).unwrap();
    sync_watching_uids(&mut a, &mut b, &mut seen);
    let la = listing(&a, "INBOX");
    assert_eq!(la, listing(&b, "INBOX"));
    assert_eq!(la[0].0, 1, "the unclashed message keeps its UID");
    for subject in ["from a", "from b"] {
        for r in [&a, &b] {
            let mut uids = seen[&(r.id().0, subject.to_string())].clone();
            uids.insert(2);
            assert_eq!(
                uids.len(),
                2,
                "{subject:?} on replica {}: shown at UID 2, then at its final UID only, was at {uids:?}",
                r.id().0
            );
        }
    }
}

#[test]
fn concurrent_renames_pick_one_name_and_ask() {
    let (mut a, mut b) = pair();
    let id = a.create_mailbox("Projects").unwrap();
    sync(&mut a, &mut b);
    a.rename_mailbox(id, "Work").unwrap();
    b.rename_mailbox(id, "Jobs").unwrap();
    sync(&mut a, &mut b);
    let name_a = a
        .mailboxes()
        .unwrap()
        .into_iter()
        .find(|m| m.id == id)
        .unwrap()
        .name;
    let name_b = b
        .mailboxes()
        .unwrap()
        .into_iter()
        .find(|m| m.id == id)
        .unwrap()
        .name;
    assert_eq!(name_a, name_b);
    let c = b.conflicts().unwrap();
    assert_eq!(c[0].kind, ConflictKind::Rename);
    b.resolve(&c[0].id, Choice::Name("Jobs".into())).unwrap();
    sync(&mut a, &mut b);
    assert!(a.mailbox("Jobs").unwrap().is_some());
    assert!(a.conflicts().unwrap().is_empty());
}

#[test]
fn mail_added_to_a_mailbox_deleted_elsewhere_is_kept_with_its_mailbox() {
    let (mut a, mut b) = pair();
    let id = a.create_mailbox("Lists").unwrap();
    a.append(id, &msg("old"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    a.delete_mailbox(id).unwrap();
    b.append(id, &msg("new"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    for r in [&mut a, &mut b] {
        let l = listing(r, "Lists");
        assert_eq!(
            l.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
            vec!["new"]
        );
        assert_eq!(r.conflicts().unwrap()[0].kind, ConflictKind::Delete);
    }
}

#[test]
fn two_mailboxes_created_with_one_name_are_both_shown() {
    let (mut a, mut b) = pair();
    let x = a.create_mailbox("Travel").unwrap();
    let y = b.create_mailbox("Travel").unwrap();
    a.append(x, &msg("from a"), &[], 0, 0).unwrap();
    b.append(y, &msg("from b"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    let names = |r: &Replica| {
        r.mailboxes()
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .filter(|n| n.starts_with("Travel"))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&a).len(), 2);
    assert_eq!(names(&a), names(&b));
    let c = a.conflicts().unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].kind, ConflictKind::NameClash);
    a.resolve(&c[0].id, Choice::Name("Travel 2026".into()))
        .unwrap();
    sync(&mut a, &mut b);
    assert_eq!(
        names(&b),
        vec!["Travel".to_string(), "Travel 2026".to_string()]
    );
    assert!(b.conflicts().unwrap().is_empty());
}

#[test]
fn a_message_changed_many_times_offline_travels_once() {
    let (mut a, mut b) = pair();
    let m = a.append(INBOX_ID, &msg("x"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    for i in 0..10 {
        let op = if i % 2 == 0 {
            FlagOp::Add
        } else {
            FlagOp::Remove
        };
        a.store_flags(&[m.id], op, &flags(&["\\Seen"])).unwrap();
    }
    let wire = a.outgoing(b.id(), 1, 1 << 20).unwrap().unwrap();
    let bundle = nomamail_core::codec::decode(&wire).unwrap();
    assert_eq!(bundle.items.len(), 1);
    assert!(
        bundle.chunks.is_empty(),
        "the body is not sent again for a flag change"
    );
}

#[test]
fn a_large_message_travels_in_chunks_and_resumes_after_loss() {
    let (mut a, mut b) = pair();
    let big: Vec<u8> = (0..300_000u32)
        .flat_map(|i| (i.wrapping_mul(2654435761)).to_le_bytes())
        .collect();
    let mut raw = b"Subject: big\r\n\r\n".to_vec();
    raw.extend_from_slice(&big);
    a.append(INBOX_ID, &raw, &[], 0, 0).unwrap();
    // First bundles: lose every other one.
    let mut n = 0;
    while let Some(wire) = a.outgoing(b.id(), 0, 64 * 1024).unwrap() {
        if n % 2 == 0 {
            b.incoming(a.id(), &wire, 0).unwrap();
        }
        n += 1;
    }
    assert!(n > 10, "sent in chunks: {n} bundles");
    // Later, retransmission and wants finish the job.
    let later = 24 * 3600 * 1000;
    for round in 0..20 {
        let now = later * (round + 1);
        while let Some(w) = b.outgoing(a.id(), now, 64 * 1024).unwrap() {
            a.incoming(b.id(), &w, now).unwrap();
        }
        while let Some(w) = a.outgoing(b.id(), now, 64 * 1024).unwrap() {
            b.incoming(a.id(), &w, now).unwrap();
        }
    }
    let e = &b.entries(INBOX_ID).unwrap()[0];
    assert_eq!(b.message(e.id).unwrap(), raw);
}

#[test]
fn garbage_and_misaddressed_bundles_change_nothing() {
    let (mut a, mut b) = pair();
    let mut c = replica(3);
    c.add_peer(b.id()).unwrap();
    a.append(INBOX_ID, &msg("x"), &[], 0, 0).unwrap();
    let wire = a.outgoing(b.id(), 0, 1 << 20).unwrap().unwrap();
    assert!(b.incoming(a.id(), b"not a bundle", 0).is_err());
    let mut flipped = wire.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    assert!(b.incoming(a.id(), &flipped, 0).is_err());
    assert!(c.incoming(a.id(), &wire, 0).is_err(), "not addressed to c");
    assert!(
        b.incoming(c.id(), &wire, 0).is_err(),
        "not from the peer it claims"
    );
    assert!(b.entries(INBOX_ID).unwrap().is_empty());
    b.incoming(a.id(), &wire, 0).unwrap();
    b.incoming(a.id(), &wire, 0).unwrap();
    assert_eq!(
        b.entries(INBOX_ID).unwrap().len(),
        1,
        "applying twice is harmless"
    );
    assert!(b.peers().unwrap()[0].rejected >= 2);
}

#[test]
fn tombstones_are_purged_once_acknowledged_and_stale_copies_do_not_resurrect() {
    let (mut a, mut b) = pair();
    let m = a.append(INBOX_ID, &msg("x"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    // b's change travels, and a duplicate of that bundle is held back by the network.
    b.store_flags(&[m.id], FlagOp::Add, &flags(&["\\Seen"]))
        .unwrap();
    let held = b
        .outgoing(a.id(), 100, 1 << 20)
        .unwrap()
        .expect("b has a change to send");
    a.incoming(b.id(), &held, 100).unwrap();
    sync(&mut a, &mut b);
    a.expunge(&[m.id]).unwrap();
    sync(&mut a, &mut b);
    assert!(listing(&a, "INBOX").is_empty() && listing(&b, "INBOX").is_empty());
    assert!(
        a.store_stats().unwrap().tombstones == 0,
        "the tombstone is purged on a"
    );
    assert!(
        b.store_stats().unwrap().tombstones == 0,
        "the tombstone is purged on b"
    );
    // Days later the held copy of the live message arrives.
    let r = a.incoming(b.id(), &held, 11 * 24 * 3600 * 1000).unwrap();
    assert_eq!((r.applied, r.stale.len()), (0, 1), "{r:?}");
    assert!(listing(&a, "INBOX").is_empty());
    assert_eq!(a.integrity_check().unwrap(), "ok");
}

#[test]
fn bodies_of_purged_messages_are_kept_for_the_retention_time_then_dropped() {
    let (mut a, mut b) = pair();
    let m = a.append(INBOX_ID, &msg("bye"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    a.expunge(&[m.id]).unwrap();
    sync(&mut a, &mut b);
    assert_eq!(a.store_stats().unwrap().tombstones, 0);
    assert_eq!(
        a.store_stats().unwrap().blobs,
        1,
        "retired, not yet dropped"
    );
    let keep = nomamail_core::SyncSettings::default().keep_expunged_bodies_ms;
    a.maintain(keep + 1_000).unwrap();
    assert_eq!(
        a.store_stats().unwrap().blobs,
        0,
        "dropped after the retention time"
    );
}

#[test]
fn an_item_that_cannot_be_taken_is_set_aside_and_the_rest_of_its_bundle_applies() {
    use nomamail_core::item::Body;
    let (mut a, mut b) = pair();
    let old = a.append(INBOX_ID, &msg("old"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    a.store_flags(&[old.id], FlagOp::Add, &flags(&["\\Seen"]))
        .unwrap();
    a.append(INBOX_ID, &msg("new"), &[], 0, 0).unwrap();
    let wire = a.outgoing(b.id(), 1, 1 << 20).unwrap().unwrap();
    let mut bundle = nomamail_core::codec::decode(&wire).unwrap();
    let mut forged = 0;
    for item in &mut bundle.items {
        if item.id == old.id
            && let Body::Entry(e) = &mut item.body
        {
            // Another message under a known id: what a peer with a bug, or a store rolled
            // back in place that reused a dot, would send.
            e.size += 1;
            forged += 1;
        }
    }
    assert_eq!(forged, 1);
    let mut ill_formed = bundle.items[0].clone();
    ill_formed.id = nomamail_core::ItemId(nomamail_core::Dot::new(a.id(), 999_999));
    bundle.items.push(ill_formed);
    let report = b
        .incoming(a.id(), &nomamail_core::codec::encode(&bundle).unwrap(), 1)
        .unwrap();
    assert_eq!(report.quarantined.len(), 2, "{report:?}");
    let subjects: Vec<String> = listing(&b, "INBOX").into_iter().map(|l| l.1).collect();
    assert_eq!(
        subjects,
        ["old", "new"],
        "the rest of the bundle is applied"
    );
    assert_eq!(
        listing(&b, "INBOX")[0].2,
        Vec::<String>::new(),
        "the forged state changed nothing"
    );
    let status = b.peers().unwrap();
    assert_eq!(status[0].quarantined, 2);
    let set_aside = b.quarantined(10).unwrap();
    assert!(
        set_aside
            .iter()
            .any(|q| q.item == old.id && q.reason.contains("immutable")),
        "{set_aside:?}"
    );
    assert!(set_aside.iter().any(|q| q.reason == "not well formed"));
    // The link goes on: b acknowledges the bundle, and later changes flow both ways.
    sync(&mut a, &mut b);
    assert_eq!(a.peers().unwrap()[0].unacknowledged, 0);
    b.append(INBOX_ID, &msg("reply"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    assert_eq!(listing(&a, "INBOX").len(), 3);
}

#[test]
fn a_store_rolled_back_in_place_goes_on_under_a_new_id_and_relearns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("office.db");
    let mut a = open_as_1_or_77(&path);
    let mut b = replica(2);
    a.add_peer(b.id()).unwrap();
    b.add_peer(a.id()).unwrap();
    for subject in ["one", "two"] {
        a.append(INBOX_ID, &msg(subject), &[], 0, 0).unwrap();
    }
    sync(&mut a, &mut b);
    drop(a);
    let snapshot = std::fs::read(&path).unwrap();
    let mut a = open_as_1_or_77(&path);
    for subject in ["three", "four"] {
        a.append(INBOX_ID, &msg(subject), &[], 0, 0).unwrap();
    }
    sync(&mut a, &mut b);
    drop(a);
    // A VM snapshot rolled back: the same file, the same inode, older bytes.
    std::fs::write(&path, &snapshot).unwrap();
    let mut a = open_as_1_or_77(&path);
    assert_eq!(a.id(), ReplicaId(1), "nothing about the file tells");
    // Mail arrives before the peer is heard from: under the old id, with dots b holds for
    // "three" and "four".
    let seven = a.append(INBOX_ID, &msg("seven"), &[], 0, 0).unwrap();
    b.append(INBOX_ID, &msg("five"), &[], 0, 0).unwrap();
    let wire = b.outgoing(ReplicaId(1), 10, 1 << 20).unwrap().unwrap();
    let report = a.incoming(b.id(), &wire, 10).unwrap();
    assert_eq!(
        report.reincarnated_as,
        Some(ReplicaId(77)),
        "b acknowledges changes a no longer has"
    );
    assert_eq!(a.id(), ReplicaId(77));
    assert!(
        a.relearning(),
        "held back from clients until it has caught up"
    );
    // What the mail sync does when a letter names the host's new replica.
    b.forget_peer(ReplicaId(1)).unwrap();
    b.add_peer(ReplicaId(77)).unwrap();
    a.append(INBOX_ID, &msg("six"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    assert!(!a.relearning(), "caught up with b");
    let la = listing(&a, "INBOX");
    assert_eq!(la, listing(&b, "INBOX"));
    let mut subjects: Vec<&str> = la.iter().map(|l| l.1.as_str()).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        ["five", "four", "one", "seven", "six", "three", "two"],
        "what the rollback lost came back from b, and what came after it went to b"
    );
    assert_eq!(
        seven.id.0.replica,
        ReplicaId(1),
        "the test made a message under a reused dot"
    );
    assert!(a.quarantined(10).unwrap().is_empty());
    assert!(
        b.quarantined(10).unwrap().is_empty(),
        "what b set aside from a's old id went when b forgot that id"
    );
}

#[test]
fn mail_expunged_after_a_backup_does_not_come_back_when_the_backup_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("office.db");
    let mut a = open_as_1_or_77(&path);
    let mut b = replica(2);
    a.add_peer(b.id()).unwrap();
    b.add_peer(a.id()).unwrap();
    a.append(INBOX_ID, &msg("keep"), &[], 0, 0).unwrap();
    let gone = a.append(INBOX_ID, &msg("gone"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    drop(a);
    let backup = std::fs::read(&path).unwrap();
    let mut a = open_as_1_or_77(&path);
    a.expunge(&[gone.id]).unwrap();
    sync(&mut a, &mut b);
    assert_eq!(
        b.store_stats().unwrap().tombstones,
        0,
        "b forgot the expunged message once a acknowledged it"
    );
    drop(a);
    // The backup comes back as a new file: a copy, so it goes on under a new id.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, &backup).unwrap();
    let mut a = open_as_1_or_77(&path);
    assert_eq!(a.id(), ReplicaId(77));
    assert!(a.relearning());
    assert_eq!(listing(&a, "INBOX").len(), 2, "the backup still shows it");
    b.forget_peer(ReplicaId(1)).unwrap();
    b.add_peer(a.id()).unwrap();
    sync(&mut a, &mut b);
    assert!(!a.relearning());
    for r in [&a, &b] {
        let subjects: Vec<String> = listing(r, "INBOX").into_iter().map(|l| l.1).collect();
        assert_eq!(subjects, ["keep"], "on replica {}", r.id().0);
    }
    assert_eq!(a.store_stats().unwrap().tombstones, 0);
    // A change the removal never saw is mail kept on the safe side: it stays.
    a.append(INBOX_ID, &msg("after"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    assert_eq!(listing(&b, "INBOX").len(), 2);
}

/// A cheap stand-in for the fuzz target that runs in every test run: mutated and random
/// bundles never panic the replica and never corrupt its store.
#[test]
fn mutated_bundles_never_panic_or_corrupt() {
    let (mut a, mut b) = pair();
    let m = a
        .append(INBOX_ID, &msg("x"), &flags(&["\\Seen"]), 0, 0)
        .unwrap();
    a.create_mailbox("Work").unwrap();
    a.store_flags(&[m.id], FlagOp::Add, &flags(&["$Work"]))
        .unwrap();
    let wire = a.outgoing(b.id(), 0, 1 << 20).unwrap().unwrap();
    let mut x: u64 = 12345;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..3000 {
        let mut w = wire.clone();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() as usize) % w.len();
            w[i] = next() as u8;
        }
        if next() % 7 == 0 {
            w.truncate((next() as usize) % w.len());
        }
        let _ = b.incoming(a.id(), &w, 0);
        let noise: Vec<u8> = (0..(next() % 64)).map(|_| next() as u8).collect();
        let _ = b.incoming(a.id(), &noise, 0);
    }
    assert_eq!(b.integrity_check().unwrap(), "ok");
    b.incoming(a.id(), &wire, 0).unwrap();
    assert_eq!(b.entries(INBOX_ID).unwrap().len(), 1);
}

#[test]
fn a_store_has_one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let first = Replica::open(&path, ReplicaOptions::new(ReplicaId(1), SEED)).unwrap();
    assert!(matches!(
        Replica::open(&path, ReplicaOptions::new(ReplicaId(1), SEED)),
        Err(nomamail_core::Error::Locked(_))
    ));
    drop(first);
    let again = Replica::open(&path, ReplicaOptions::new(ReplicaId(9), SEED)).unwrap();
    assert_eq!(
        again.id(),
        ReplicaId(1),
        "an existing store keeps its identity"
    );
}

#[test]
fn a_uid_left_by_a_move_is_never_given_to_another_message() {
    let (mut a, mut b) = pair();
    let work = a.create_mailbox("Work").unwrap();
    sync(&mut a, &mut b);
    let e = a
        .append(INBOX_ID, &msg("seen at uid 1 on a"), &[], 0, 0)
        .unwrap();
    a.move_to(&[e.id], work).unwrap();
    let f = b
        .append(INBOX_ID, &msg("given uid 1 on b"), &[], 0, 0)
        .unwrap();
    assert_eq!((e.uid, f.uid), (1, 1));
    sync(&mut a, &mut b);
    for r in [&a, &b] {
        let inbox = listing(r, "INBOX");
        assert_eq!(inbox.len(), 1);
        assert!(
            inbox[0].0 > 1,
            "a client of a cached UID 1 as another message: {inbox:?}"
        );
    }
    assert_eq!(listing(&a, "INBOX"), listing(&b, "INBOX"));
}

#[test]
fn a_lost_bundle_is_resent_even_while_new_changes_keep_flowing() {
    let (mut a, mut b) = pair();
    a.append(INBOX_ID, &msg("lost at first"), &[], 0, 0)
        .unwrap();
    let lost = a.outgoing(b.id(), 0, 1 << 20).unwrap();
    assert!(lost.is_some(), "the first bundle existed and was lost");
    // A new change every minute for an hour, each delivered, acks flowing back.
    for minute in 1..=60u64 {
        let now = minute * 60_000;
        a.append(INBOX_ID, &msg(&format!("minute {minute}")), &[], 0, 0)
            .unwrap();
        flow(&mut a, &mut b, now);
        flow(&mut b, &mut a, now);
    }
    let subjects: Vec<String> = listing(&b, "INBOX").into_iter().map(|l| l.1).collect();
    assert!(
        subjects.contains(&"lost at first".to_string()),
        "{subjects:?}"
    );
    assert_eq!(subjects.len(), 61);
}

#[test]
fn a_message_cannot_collect_flags_without_bound() {
    let (mut a, _) = pair();
    let m = a.append(INBOX_ID, &msg("x"), &[], 0, 0).unwrap();
    let many: Vec<String> = (0..300).map(|i| format!("$k{i}")).collect();
    assert!(matches!(
        a.store_flags(&[m.id], FlagOp::Add, &many),
        Err(nomamail_core::Error::TooManyFlags)
    ));
    assert!(listing(&a, "INBOX")[0].2.is_empty(), "nothing applied");
}

#[test]
fn a_message_with_a_uid_near_the_limit_is_set_aside() {
    let (mut a, mut b) = pair();
    a.append(INBOX_ID, &msg("x"), &[], 0, 0).unwrap();
    let wire = a.outgoing(b.id(), 0, 1 << 20).unwrap().unwrap();
    let mut bundle = nomamail_core::codec::decode(&wire).unwrap();
    for item in &mut bundle.items {
        if let nomamail_core::item::Body::Entry(e) = &mut item.body {
            let mut p = *e.placement.latest().unwrap();
            p.uid = u32::MAX;
            e.placements.insert(p);
            e.placement = nomamail_core::reg::Reg::new(item.id.0, p);
        }
    }
    let forged = nomamail_core::codec::encode(&bundle).unwrap();
    let report = b.incoming(a.id(), &forged, 0).unwrap();
    assert_eq!(report.quarantined.len(), 1, "{report:?}");
    assert!(b.entries(INBOX_ID).unwrap().is_empty());
    assert_eq!(
        b.mailbox_named("INBOX").unwrap().uidnext,
        a.mailbox_named("INBOX").unwrap().uidnext,
        "UIDNEXT is the sender's, not raised to the forged UID"
    );
}

#[test]
fn byte_ranges_of_a_message_match_its_bytes() {
    let (mut a, _) = pair();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let m = a.append(INBOX_ID, &body, &[], 0, 0).unwrap();
    for (offset, len) in [
        (0u64, 10u64),
        (199_990, 100),
        (12_345, 67_890),
        (200_000, 5),
        (500_000, 1),
    ] {
        let got = a.message_range(m.id, offset, len).unwrap();
        let start = (offset as usize).min(body.len());
        let end = (start + len as usize).min(body.len());
        assert_eq!(got, body[start..end], "range {offset}+{len}");
    }
    assert_eq!(a.message(m.id).unwrap(), body);
}

#[test]
fn long_lists_of_wanted_bodies_take_turns() {
    let (mut a, mut b) = pair();
    for i in 0..600 {
        a.append(INBOX_ID, &msg(&format!("m{i}")), &[], 0, 0)
            .unwrap();
    }
    // Deliver the messages without their bodies, as if every chunk were lost.
    while let Some(wire) = a.outgoing(b.id(), 0, 1 << 20).unwrap() {
        let mut bundle = nomamail_core::codec::decode(&wire).unwrap();
        bundle.chunks.clear();
        b.incoming(a.id(), &nomamail_core::codec::encode(&bundle).unwrap(), 0)
            .unwrap();
    }
    assert_eq!(b.store_stats().unwrap().missing_blobs, 600);
    let mut asked = std::collections::BTreeSet::new();
    let hour = 3600 * 1000;
    for round in 1..=2 {
        let wire = b
            .outgoing(a.id(), round * hour, 1 << 20)
            .unwrap()
            .expect("b asks for bodies");
        let bundle = nomamail_core::codec::decode(&wire).unwrap();
        assert!(bundle.ack.wants.len() <= 512);
        asked.extend(bundle.ack.wants.iter().map(|w| w.hash));
    }
    assert_eq!(
        asked.len(),
        600,
        "two lists together name every missing body"
    );
}

#[test]
fn changes_since_a_modseq_are_listed_per_mailbox() {
    let (mut a, _) = pair();
    let one = a.append(INBOX_ID, &msg("one"), &[], 0, 0).unwrap();
    let two = a.append(INBOX_ID, &msg("two"), &[], 0, 0).unwrap();
    let mark = a.highest_modseq();
    assert!(a.entries_changed_since(INBOX_ID, mark).unwrap().is_empty());
    a.store_flags(&[two.id], FlagOp::Add, &flags(&["\\Seen"]))
        .unwrap();
    let changed = a.entries_changed_since(INBOX_ID, mark).unwrap();
    assert_eq!(
        changed.iter().map(|e| e.uid).collect::<Vec<_>>(),
        vec![two.uid]
    );
    assert!(changed[0].modseq > mark && changed[0].modseq <= a.highest_modseq());
    let all: Vec<u32> = a
        .entries_changed_since(INBOX_ID, 0)
        .unwrap()
        .iter()
        .map(|e| e.uid)
        .collect();
    assert_eq!(all, vec![one.uid, two.uid]);
}

#[test]
fn a_bare_acknowledgement_waits_for_data_or_the_ack_delay() {
    let replica_with_delay = |id| {
        let mut opts = ReplicaOptions::new(ReplicaId(id), SEED);
        opts.durability = Durability::Process;
        opts.sync.ack_delay_ms = 1_000;
        Replica::open_in_memory(opts).expect("open")
    };
    let (mut a, mut b) = (replica_with_delay(1), replica_with_delay(2));
    a.add_peer(b.id()).unwrap();
    b.add_peer(a.id()).unwrap();
    // First contact, and every acknowledgement of it, out of the way.
    for now in [0, 5_000, 10_000] {
        flow(&mut a, &mut b, now);
        flow(&mut b, &mut a, now);
    }
    a.append(INBOX_ID, &msg("one"), &[], 0, 0).unwrap();
    assert_eq!(flow(&mut a, &mut b, 20_000), 1);
    assert_eq!(flow(&mut b, &mut a, 20_500), 0, "a bare ack waits");
    // Data going the other way carries the acknowledgement at once.
    b.append(INBOX_ID, &msg("two"), &[], 0, 0).unwrap();
    assert_eq!(flow(&mut b, &mut a, 20_600), 1);
    // a owes b an acknowledgement of "two" and sends it once the delay has passed.
    assert_eq!(flow(&mut a, &mut b, 21_000), 0);
    assert_eq!(flow(&mut a, &mut b, 21_700), 1);
    // The exchange ends: nothing is owed that would make acknowledgements bounce for ever.
    let later: usize = [23_000, 25_000, 27_000]
        .into_iter()
        .map(|now| flow(&mut b, &mut a, now) + flow(&mut a, &mut b, now))
        .sum();
    assert!(later <= 2, "{later} bundles after the exchange");
    assert_eq!(
        flow(&mut b, &mut a, 40_000) + flow(&mut a, &mut b, 40_000),
        0
    );
    assert_eq!(a.peers().unwrap()[0].unacknowledged, 0);
    assert_eq!(b.peers().unwrap()[0].unacknowledged, 0);
    assert_eq!(listing(&a, "INBOX"), listing(&b, "INBOX"));
}

#[test]
fn summaries_come_with_bodies_and_an_older_store_gets_them_on_opening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut opts = ReplicaOptions::new(ReplicaId(1), SEED);
    opts.durability = Durability::Process;
    let mut a = Replica::open(&path, opts.clone()).unwrap();
    let appended = a.append(INBOX_ID, &msg("kept"), &[], 0, 0).unwrap();
    let entry = a.entries(INBOX_ID).unwrap()[0].clone();
    assert_eq!(appended.uid, entry.uid);
    let summary = a
        .summary(entry.blob)
        .unwrap()
        .expect("a summary with the body");
    assert_eq!(summary.fields.subject, "kept");
    drop(a);
    // As a store from before summaries: the table is there, empty, and never filled.
    let sql = rusqlite::Connection::open(&path).unwrap();
    sql.execute("DELETE FROM summaries", []).unwrap();
    sql.execute("DELETE FROM meta WHERE key = 'summaries_complete'", [])
        .unwrap();
    drop(sql);
    let a = Replica::open(&path, opts).unwrap();
    drop(a);
    let sql = rusqlite::Connection::open(&path).unwrap();
    let stored: i64 = sql
        .query_row("SELECT count(*) FROM summaries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 1, "computed when the store was opened");
}

#[test]
fn a_body_arriving_from_a_peer_gets_the_same_summary_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.db");
    let mut opts = ReplicaOptions::new(ReplicaId(2), SEED);
    opts.durability = Durability::Process;
    let mut a = replica(1);
    let mut b = Replica::open(&path, opts).unwrap();
    a.add_peer(b.id()).unwrap();
    b.add_peer(a.id()).unwrap();
    a.append(INBOX_ID, &msg("travels"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    let blob = b.entries(INBOX_ID).unwrap()[0].blob;
    assert_eq!(a.summary(blob).unwrap(), b.summary(blob).unwrap());
    let sql = rusqlite::Connection::open(&path).unwrap();
    let stored: i64 = sql
        .query_row(
            "SELECT count(*) FROM summaries WHERE blob = ?1 AND subject = 'travels'",
            [blob.0],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        stored, 1,
        "stored when the body arrived, not computed on reading"
    );
}

#[test]
fn mail_moved_in_keeps_its_uidvalidity_and_uids_on_every_replica() {
    let (mut a, mut b) = pair();
    let inbox = INBOX_ID;
    let new = |bytes: &'static [u8]| nomamail_core::NewMessage {
        bytes,
        flags: &[],
        internal_date: 1_700_000_000,
        date_offset_minutes: 0,
    };
    assert!(a.import_uidvalidity(inbox, 1_234_567).unwrap());
    assert_eq!(
        a.append_keeping_uid(inbox, new(b"Subject: 3\r\n\r\n"), 3)
            .unwrap()
            .uid,
        3
    );
    let kept = a
        .append_keeping_uid(inbox, new(b"Subject: 9\r\n\r\n"), 9)
        .unwrap();
    assert_eq!((kept.uid, kept.uidvalidity), (9, 1_234_567));
    // Below a UID already given out: never reused.
    assert_eq!(
        a.append_keeping_uid(inbox, new(b"Subject: 5\r\n\r\n"), 5)
            .unwrap()
            .uid,
        10
    );
    a.raise_uidnext(inbox, 20).unwrap();
    // Once the mailbox has held mail, its UIDVALIDITY stays.
    assert!(!a.import_uidvalidity(inbox, 7).unwrap());
    sync(&mut a, &mut b);
    for r in [&a, &b] {
        let info = r.mailbox_named("INBOX").unwrap();
        assert_eq!((info.uidvalidity, info.uidnext), (1_234_567, 20));
        let uids: Vec<u32> = listing(r, "INBOX").iter().map(|m| m.0).collect();
        assert_eq!(uids, vec![3, 9, 10]);
    }
    assert_eq!(b.append(inbox, &msg("next"), &[], 0, 0).unwrap().uid, 20);
}

#[test]
fn a_lost_bundle_is_sent_again_after_the_clock_was_stepped_back() {
    let (mut a, mut b) = pair();
    a.append(INBOX_ID, &msg("before the step"), &[], 0, 0)
        .unwrap();
    // Sent at a time the clock later turns out to have been ahead of; the bundle is lost.
    let day = 86_400_000;
    assert!(a.outgoing(b.id(), 10 * day, 64 * 1024).unwrap().is_some());
    assert!(a.outgoing(b.id(), 10 * day, 64 * 1024).unwrap().is_none());
    // Stepped back a day: the retransmission is due now, not in a day and ten minutes.
    assert!(
        flow(&mut a, &mut b, 9 * day) > 0,
        "the lost range is sent again"
    );
    // The body follows once the peer has said which chunks it lacks.
    for _ in 0..10 {
        flow(&mut b, &mut a, 9 * day);
        flow(&mut a, &mut b, 9 * day);
    }
    assert_eq!(listing(&b, "INBOX").len(), 1);
}

#[test]
fn a_message_kept_against_its_expunge_comes_back_without_deleted() {
    let (mut a, mut b) = pair();
    let m = a.append(INBOX_ID, &msg("keep me"), &[], 0, 0).unwrap();
    sync(&mut a, &mut b);
    // As an IMAP client expunges: flag it \Deleted, then EXPUNGE.
    a.store_flags(&[m.id], FlagOp::Add, &flags(&["\\Deleted"]))
        .unwrap();
    a.expunge(&[m.id]).unwrap();
    b.store_flags(&[m.id], FlagOp::Add, &flags(&["\\Flagged"]))
        .unwrap();
    sync(&mut a, &mut b);
    for r in [&a, &b] {
        let inbox = listing(r, "INBOX");
        assert_eq!(inbox.len(), 1, "kept");
        assert_eq!(
            inbox[0].2,
            flags(&["\\Flagged"]),
            "no EXPUNGE may take it now"
        );
    }
    let id = b.conflicts().unwrap()[0].id.clone();
    b.resolve(&id, Choice::Keep).unwrap();
    sync(&mut a, &mut b);
    for r in [&mut a, &mut b] {
        assert_eq!(listing(r, "INBOX")[0].2, flags(&["\\Flagged"]));
        assert!(r.conflicts().unwrap().is_empty());
    }
}

/// Every bundle, each way, is lost with odds of one in two, and after one append nothing
/// else happens: no new change prompts a send. The link must still heal on its own, by
/// retransmitting the lost range, the lost acknowledgements and the body's chunks.
#[test]
fn an_idle_link_that_loses_half_its_bundles_still_converges() {
    for seed in 1..=20u64 {
        let (mut a, mut b) = pair();
        a.append(INBOX_ID, &msg("through a lossy link"), &[], 0, 0)
            .unwrap();
        let mut lcg = seed;
        let mut lost = || {
            lcg = lcg
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (lcg >> 33) % 2 == 0
        };
        let minute = 60_000;
        let mut settled_at = None;
        for step in 0..2_000u64 {
            let now = step * minute;
            for a_to_b in [true, false] {
                let (from, to) = if a_to_b {
                    (&mut a, &mut b)
                } else {
                    (&mut b, &mut a)
                };
                while let Some(wire) = from.outgoing(to.id(), now, 64 * 1024).unwrap() {
                    if !lost() {
                        to.incoming(from.id(), &wire, now).unwrap();
                    }
                }
            }
            let entries = b.entries(INBOX_ID).unwrap();
            let delivered = entries.len() == 1
                && b.message(entries[0].id).is_ok()
                && b.peers().unwrap()[0].unacknowledged == 0
                && a.peers().unwrap()[0].unacknowledged == 0;
            if delivered {
                settled_at = Some(step);
                break;
            }
        }
        assert!(
            settled_at.is_some(),
            "seed {seed}: the idle link never healed: b holds {:?}, a's peer {:?}",
            b.entries(INBOX_ID).unwrap(),
            a.peers().unwrap()
        );
    }
}
