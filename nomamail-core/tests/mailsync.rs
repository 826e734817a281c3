//! Two hosts' `SyncHost`s passing their outboxes to each other by hand: accounts appear on
//! the peer with the same mailboxes and UIDs, and forged, tampered, replayed, reflected and
//! unpaired mail is refused with nothing applied.

use nomamail_core::accounts::{Accounts, Password};
use nomamail_core::imap::Mailstores;
use nomamail_core::mailsync::{HostKey, MailSyncConfig, Peer, Rejection, SyncHost, SyncState};
use nomamail_core::{Durability, INBOX_ID};
use std::sync::Arc;

struct Host {
    dir: tempfile::TempDir,
    key: HostKey,
    stores: Arc<Mailstores>,
    sync: SyncHost,
}

fn host(name: &str) -> Host {
    host_in(
        tempfile::tempdir().unwrap(),
        name,
        HostKey::generate().unwrap(),
    )
}

fn host_in(dir: tempfile::TempDir, name: &str, key: HostKey) -> Host {
    let accounts = Accounts::open(dir.path()).unwrap();
    let stores = Arc::new(Mailstores::new(accounts, Durability::Process));
    let config = MailSyncConfig {
        name: name.into(),
        address: format!("sync@{name}.example"),
        max_mail_bytes: 64 * 1024,
        ..MailSyncConfig::default()
    };
    let state = SyncState::open(&dir.path().join("sync.db")).unwrap();
    let sync = SyncHost::new(
        HostKey::from_bytes(key.to_bytes()),
        state,
        stores.clone(),
        config,
    );
    Host {
        dir,
        key,
        stores,
        sync,
    }
}

fn pair(a: &Host, b: &Host) {
    for (me, other) in [(a, b), (b, a)] {
        let peer = Peer {
            name: other.sync.config().name.clone(),
            key: other.sync.public_key(),
            address: other.sync.config().address.clone(),
            endpoint: None,
        };
        me.sync.state(|s| s.add_peer(&peer, 0)).unwrap();
    }
}

/// Everything `from` has queued, taken out of its outbox as if the MTA accepted it.
fn drain(from: &Host, now: u64) -> Vec<Vec<u8>> {
    from.sync.fill_outbox(now).unwrap();
    let due = from.sync.state(|s| s.due(u64::MAX, 10_000)).unwrap();
    for mail in &due {
        from.sync.state(|s| s.sent(mail.id)).unwrap();
    }
    due.into_iter().map(|m| m.mail).collect()
}

/// Mail back and forth until neither side has anything to say.
fn settle(a: &Host, b: &Host, now: u64) -> usize {
    let mut mails = 0;
    for _ in 0..20 {
        let ab = drain(a, now);
        let ba = drain(b, now);
        if ab.is_empty() && ba.is_empty() {
            return mails;
        }
        mails += ab.len() + ba.len();
        for mail in ab {
            b.sync.receive(&mail, now).unwrap();
        }
        for mail in ba {
            a.sync.receive(&mail, now).unwrap();
        }
    }
    panic!("the hosts never went quiet");
}

fn inbox(host: &Host, user: &str) -> Vec<(u32, Vec<u8>)> {
    let store = host.stores.open(user).unwrap();
    store.read(|r| {
        r.entries(INBOX_ID)
            .unwrap()
            .into_iter()
            .map(|e| (e.uid, r.message(e.id).unwrap()))
            .collect()
    })
}

fn append(host: &Host, user: &str, body: &str) {
    let store = host.stores.open(user).unwrap();
    let message = format!("Subject: {body}\r\n\r\n{body}\r\n");
    store
        .write(|r| r.append(INBOX_ID, message.as_bytes(), &[], 0, 0))
        .unwrap();
}

#[test]
fn an_account_and_its_mail_reach_the_paired_host_with_the_same_uids() {
    let office = host("office");
    let internet = host("internet");
    pair(&office, &internet);
    office
        .stores
        .accounts(|a| a.add("alice", &Password::new("secret")))
        .unwrap();
    append(&office, "alice", "first");
    append(&office, "alice", "second");

    let mails = settle(&office, &internet, 1_000);
    assert!(mails >= 3, "hello, state, acknowledgement: {mails}");
    assert!(
        internet
            .stores
            .accounts(|a| a.verify("alice", &Password::new("secret")))
            .unwrap(),
        "the account arrived with its password"
    );
    assert_eq!(inbox(&internet, "alice"), inbox(&office, "alice"));
    let validity = |h: &Host| {
        h.stores
            .open("alice")
            .unwrap()
            .read(|r| r.mailbox("INBOX").unwrap().unwrap().uidvalidity)
    };
    assert_eq!(validity(&office), validity(&internet));

    append(&internet, "alice", "from the internet side");
    settle(&office, &internet, 2_000);
    assert_eq!(inbox(&office, "alice").len(), 3);
    assert_eq!(inbox(&internet, "alice"), inbox(&office, "alice"));
    assert_eq!(settle(&office, &internet, 3_000), 0, "quiet when in sync");
}

#[test]
fn forged_tampered_replayed_reflected_and_unpaired_mail_is_refused_and_counted() {
    let office = host("office");
    let internet = host("internet");
    let stranger = host("stranger");
    pair(&office, &internet);
    // The stranger pairs with the internet host on its side only.
    stranger
        .sync
        .state(|s| {
            s.add_peer(
                &Peer {
                    name: "internet".into(),
                    key: internet.sync.public_key(),
                    address: "sync@internet.example".into(),
                    endpoint: None,
                },
                0,
            )
        })
        .unwrap();
    for host in [&office, &stranger] {
        host.stores
            .accounts(|a| a.add("alice", &Password::new("secret")))
            .unwrap();
    }
    settle(&office, &internet, 1_000);
    append(&office, "alice", "genuine");
    append(&stranger, "alice", "planted");

    let genuine = drain(&office, 2_000);
    assert_eq!(genuine.len(), 1);
    let genuine = genuine[0].clone();
    let planted = drain(&stranger, 2_000);
    let before = inbox(&internet, "alice");

    let unpaired = internet.sync.receive(&planted[0], 2_000);
    assert!(
        matches!(unpaired, Err(Rejection::Unpaired(_))),
        "{unpaired:?}"
    );

    // A stranger's mail under the office's key in the headers: the seal does not open.
    let text = String::from_utf8(planted[0].clone()).unwrap();
    let forged = text.replace(
        &stranger.sync.public_key().to_string(),
        &office.sync.public_key().to_string(),
    );
    let outcome = internet.sync.receive(forged.as_bytes(), 2_000);
    assert!(
        matches!(outcome, Err(Rejection::BadSeal { .. })),
        "{outcome:?}"
    );

    // One base64 character of the sealed attachment changed in transit.
    let text = String::from_utf8(genuine.clone()).unwrap();
    let attachment = text.rfind("\r\n\r\n").unwrap();
    let at = text[..attachment].rfind("\r\n").unwrap() - 5;
    let mut altered = text.clone().into_bytes();
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    let outcome = internet.sync.receive(&altered, 2_000);
    assert!(
        matches!(outcome, Err(Rejection::BadSeal { .. })),
        "{outcome:?}"
    );

    // The sequence number header rewritten.
    let seq_line = text
        .lines()
        .find(|l| l.starts_with("X-NomaMail-Seq:"))
        .unwrap();
    let renumbered = text.replace(seq_line, "X-NomaMail-Seq: 999");
    let outcome = internet.sync.receive(renumbered.as_bytes(), 2_000);
    assert!(
        matches!(outcome, Err(Rejection::Tampered { .. })),
        "{outcome:?}"
    );

    // Our own mail sent back to us.
    let outcome = office.sync.receive(&genuine, 2_000);
    assert!(
        matches!(outcome, Err(Rejection::Unpaired(_))),
        "{outcome:?}"
    );

    assert_eq!(inbox(&internet, "alice"), before, "nothing applied");
    let accepted = internet.sync.receive(&genuine, 2_000).unwrap();
    assert!(accepted.applied >= 1);
    let replay = internet.sync.receive(&genuine, 2_000);
    assert!(
        matches!(replay, Err(Rejection::Replayed { .. })),
        "{replay:?}"
    );
    assert_eq!(inbox(&internet, "alice").len(), before.len() + 1);

    let office_record = internet.sync.state(|s| s.peer("office")).unwrap().unwrap();
    assert_eq!(
        office_record.rejects, 4,
        "forged, altered, renumbered, replayed"
    );
    assert_eq!(internet.sync.state(|s| s.unpaired_rejects()).unwrap(), 1);
    assert_eq!(office.sync.state(|s| s.unpaired_rejects()).unwrap(), 1);
    let log = internet.sync.state(|s| s.recent_rejects(10)).unwrap();
    assert!(log[0].reason.contains("replay"), "{log:?}");
}

#[test]
fn a_big_change_is_split_across_mails_under_the_size_limit() {
    let office = host("office");
    let internet = host("internet");
    pair(&office, &internet);
    office
        .stores
        .accounts(|a| a.add("alice", &Password::new("secret")))
        .unwrap();
    settle(&office, &internet, 1_000);
    let big: String = (0..300_000)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    append(&office, "alice", &big);
    let mut largest = 0;
    let mut count = 0;
    for round in 0..50 {
        let mails = drain(&office, 2_000 + round);
        if mails.is_empty() {
            break;
        }
        for mail in mails {
            largest = largest.max(mail.len());
            count += 1;
            internet.sync.receive(&mail, 2_000 + round).unwrap();
        }
        for mail in drain(&internet, 2_000 + round) {
            office.sync.receive(&mail, 2_000 + round).unwrap();
        }
    }
    assert!(largest <= 64 * 1024, "largest mail {largest} bytes");
    assert!(count >= 5, "{count} mails for 300 kB in 64 kB mails");
    assert_eq!(inbox(&internet, "alice"), inbox(&office, "alice"));
}

#[test]
fn after_a_re_pairing_old_mail_is_refused_and_new_numbers_start_above_the_old() {
    let office = host("office");
    let internet = host("internet");
    pair(&office, &internet);
    office
        .stores
        .accounts(|a| a.add("alice", &Password::new("secret")))
        .unwrap();
    let old = drain(&office, 1_000);
    assert_eq!(old.len(), 1, "a hello");
    let re_pair = |me: &Host, other: &Host, now: u64| {
        let name = other.sync.config().name.clone();
        me.sync
            .state(|s| {
                s.remove_peer(&name)?;
                s.add_peer(
                    &Peer {
                        name: name.clone(),
                        key: other.sync.public_key(),
                        address: other.sync.config().address.clone(),
                        endpoint: None,
                    },
                    now,
                )
            })
            .unwrap();
    };
    // The internet server re-pairs (its replay filter is gone): the old mail is refused.
    re_pair(&internet, &office, 2_000);
    let outcome = internet.sync.receive(&old[0], 2_500);
    assert!(
        matches!(outcome, Err(Rejection::BeforePairing { .. })),
        "{outcome:?}"
    );
    // The office re-pairs too: its numbers restart from the time, above every old one, so
    // the internet server does not take fresh mail for replays.
    re_pair(&office, &internet, 3_000);
    let seq = office.sync.state(|s| s.take_seq("internet")).unwrap();
    assert!(seq >= 3_000_000, "{seq}");
    settle(&office, &internet, 4_000);
    append(&office, "alice", "after the re-pairing");
    settle(&office, &internet, 5_000);
    assert_eq!(inbox(&internet, "alice"), inbox(&office, "alice"));
    assert_eq!(inbox(&internet, "alice").len(), 1);
}

/// The replica the host's accounts table names for alice.
fn alice_replica(host: &Host) -> nomamail_core::ReplicaId {
    host.stores
        .accounts(|a| a.get("alice"))
        .unwrap()
        .unwrap()
        .replica
}

/// Two paired hosts, alice's account made on the office with `messages` in its INBOX, and
/// the sync mail between them carried until both are quiet.
fn alice_on_both(messages: &[&str]) -> (Host, Host) {
    let office = host("office");
    let internet = host("internet");
    pair(&office, &internet);
    office
        .stores
        .accounts(|a| a.add("alice", &Password::new("secret")))
        .unwrap();
    for body in messages {
        append(&office, "alice", body);
    }
    settle(&office, &internet, 1_000);
    (office, internet)
}

#[test]
fn a_deleted_store_is_made_anew_under_a_new_replica_and_fills_again_from_the_peer() {
    let (office, internet) = alice_on_both(&["one", "two", "three"]);
    append(&internet, "alice", "four, from the internet side");
    settle(&office, &internet, 2_000);
    let before = inbox(&internet, "alice");
    assert_eq!(before.len(), 4);
    let lost = alice_replica(&office);
    // A change the office made just before the loss, whose mail is still on its way.
    append(&office, "alice", "written just before the loss");
    let late = drain(&office, 2_500);
    assert_eq!(late.len(), 1);

    // The office's store of alice is deleted while the server is down; it starts again
    // with its data directory, key and sync state otherwise as they were.
    let office = stopped(office, |dir| {
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let _ = std::fs::remove_file(dir.join(format!("mail/alice.db{suffix}")));
        }
    });
    assert!(inbox(&office, "alice").is_empty(), "a new, empty store");
    assert!(
        relearning(&office),
        "an emptied store is not shown to clients under the UIDVALIDITY they cached"
    );
    let fresh = alice_replica(&office);
    assert_ne!(
        fresh, lost,
        "the new store must not write under the lost one's id"
    );

    settle(&office, &internet, 3_000);
    assert_eq!(
        inbox(&office, "alice"),
        before,
        "refilled from the peer, same UIDs"
    );
    assert!(!relearning(&office), "caught up, it serves again");
    assert_eq!(
        alice_peers(&internet),
        vec![fresh],
        "the lost replica is forgotten"
    );
    // The late mail speaks for the lost store and of a sequence no one continues.
    let outcome = internet.sync.receive(&late[0], 3_500);
    assert!(
        matches!(outcome, Err(Rejection::ReplacedReplica { .. })),
        "{outcome:?}"
    );
    assert_eq!(inbox(&internet, "alice"), before);

    append(&office, "alice", "five, after the loss");
    settle(&office, &internet, 4_000);
    assert_eq!(inbox(&internet, "alice").len(), 5);
    assert_eq!(inbox(&internet, "alice"), inbox(&office, "alice"));
    assert_eq!(settle(&office, &internet, 5_000), 0, "quiet when in sync");
}

/// The replicas alice's store on `host` syncs with.
fn alice_peers(host: &Host) -> Vec<nomamail_core::ReplicaId> {
    host.stores
        .open("alice")
        .unwrap()
        .read(|r| r.peers())
        .unwrap()
        .into_iter()
        .map(|p| p.peer)
        .collect()
}

fn relearning(host: &Host) -> bool {
    host.stores
        .open("alice")
        .unwrap()
        .read(|replica| replica.relearning())
}

#[test]
fn a_deleted_store_of_a_server_with_no_peers_is_served_at_once() {
    let office = host("office");
    office
        .stores
        .accounts(|a| a.add("alice", &Password::new("secret")))
        .unwrap();
    append(&office, "alice", "one");
    let office = stopped(office, |dir| {
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let _ = std::fs::remove_file(dir.join(format!("mail/alice.db{suffix}")));
        }
    });
    assert!(inbox(&office, "alice").is_empty());
    assert!(!relearning(&office), "there is no one to relearn from");
}

/// Copies every file of `from` into `to` (new files, so new inodes), as a backup or a
/// restore does.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Stops the host (its files stay), runs `meanwhile` on its data directory, starts it again.
fn stopped(host: Host, meanwhile: impl FnOnce(&std::path::Path)) -> Host {
    let Host {
        dir,
        key,
        stores,
        sync,
        ..
    } = host;
    let name = sync.config().name.clone();
    drop(sync);
    drop(stores);
    // The text indexer may hold a store a moment longer.
    std::thread::sleep(std::time::Duration::from_millis(300));
    meanwhile(dir.path());
    host_in(dir, &name, key)
}

#[test]
fn a_data_directory_restored_from_a_backup_goes_on_under_a_new_replica_and_relearns_the_rest() {
    let (office, internet) = alice_on_both(&["one", "two", "three"]);
    let backup = tempfile::tempdir().unwrap();
    let office = stopped(office, |dir| copy_tree(dir, backup.path()));
    let before = alice_replica(&office);

    // Mail after the backup, on both sides.
    append(&office, "alice", "four, after the backup");
    append(&office, "alice", "five, after the backup");
    append(&internet, "alice", "six, from the internet side");
    settle(&office, &internet, 2_000);
    assert_eq!(inbox(&office, "alice").len(), 6);

    // The office's data directory is restored from the backup, all of it.
    let office = stopped(office, |dir| {
        std::fs::remove_dir_all(dir.join("mail")).unwrap();
        for file in std::fs::read_dir(dir).unwrap() {
            let _ = std::fs::remove_file(file.unwrap().path());
        }
        copy_tree(backup.path(), dir);
    });
    assert_eq!(inbox(&office, "alice").len(), 3, "the backup's mail");
    let after = alice_replica(&office);
    assert_ne!(
        after, before,
        "a restored store must not write under the id its peers know"
    );
    append(&office, "alice", "seven, after the restore");

    settle(&office, &internet, 3_000);
    let office_mail = inbox(&office, "alice");
    assert_eq!(
        office_mail.len(),
        7,
        "the backup's, what came after, and the new one"
    );
    assert_eq!(office_mail, inbox(&internet, "alice"));
    let uids: std::collections::BTreeSet<u32> = office_mail.iter().map(|(uid, _)| *uid).collect();
    assert_eq!(uids.len(), 7, "no UID holds two messages");
    assert_eq!(settle(&office, &internet, 4_000), 0, "quiet when in sync");
}

#[test]
fn a_replica_forgotten_by_its_peer_that_comes_back_goes_on_under_a_new_id() {
    let (office, internet) = alice_on_both(&["one", "two"]);
    let before = inbox(&internet, "alice");
    let returning = alice_replica(&office);
    // The internet server is unpaired from the office (`pair remove`), and so its store of
    // alice forgets the office's replica: purges stop waiting for it. Then it is paired
    // again, and the office, which kept its stores, speaks under the forgotten id.
    let forgotten = internet.sync.state(|s| s.remove_peer("office")).unwrap();
    assert_eq!(forgotten, vec![("alice".to_string(), returning)]);
    internet
        .stores
        .open("alice")
        .unwrap()
        .write(|r| r.forget_peer(returning))
        .unwrap();
    let office_peer = Peer {
        name: "office".into(),
        key: office.sync.public_key(),
        address: office.sync.config().address.clone(),
        endpoint: None,
    };
    internet
        .sync
        .state(|s| s.add_peer(&office_peer, 5_000))
        .unwrap();
    append(&office, "alice", "three, written under the forgotten id");
    // The office's first mail under the forgotten id is refused; the internet server's
    // answer tells its store to move.
    let mut refused = 0;
    for _ in 0..20 {
        let to_internet = drain(&office, 10_000);
        let to_office = drain(&internet, 10_000);
        if to_internet.is_empty() && to_office.is_empty() {
            break;
        }
        for mail in to_internet {
            match internet.sync.receive(&mail, 10_000) {
                Err(Rejection::Engine {
                    source: nomamail_core::Error::ForgottenPeer(r),
                    ..
                }) if r == returning => refused += 1,
                other => {
                    other.unwrap();
                }
            }
        }
        for mail in to_office {
            office.sync.receive(&mail, 10_000).unwrap();
        }
    }
    assert!(refused > 0, "mail under the forgotten id was refused");
    // A body the internet server refused with that mail is asked for again when its
    // request is next due.
    settle(&office, &internet, 3_600_000);

    let moved = alice_replica(&office);
    assert_ne!(
        moved, returning,
        "the office's store went on under a new id"
    );
    assert_eq!(
        alice_peers(&internet),
        vec![moved],
        "the internet server syncs with the new id only"
    );
    let after = inbox(&internet, "alice");
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(before.iter().all(|m| after.contains(m)), "no UID moved");
    assert_eq!(inbox(&office, "alice"), after);
    append(&internet, "alice", "four");
    settle(&office, &internet, 7_200_000);
    assert_eq!(inbox(&office, "alice"), inbox(&internet, "alice"));
    assert_eq!(inbox(&office, "alice").len(), 4);
}

#[test]
fn a_paired_server_cannot_take_over_an_account_made_on_the_other() {
    let (office, internet) = alice_on_both(&["one"]);
    // The internet server gone bad: alice's password rewritten in its accounts table, set
    // far in the future so that it would win for ever.
    let hostile = rusqlite::Connection::open(internet.dir.path().join("accounts.db")).unwrap();
    let other = tempfile::tempdir().unwrap();
    let mut scratch = Accounts::open(other.path()).unwrap();
    scratch.add("x", &Password::new("taken over")).unwrap();
    let hash = scratch.card("x").unwrap().password_hash;
    hostile
        .execute(
            "UPDATE accounts SET password_hash = ?1, password_set_ms = ?2 WHERE user = 'alice'",
            rusqlite::params![hash, i64::MAX / 2],
        )
        .unwrap();
    append(&internet, "alice", "a change to carry the card");
    settle(&office, &internet, 2_000);
    let verify = |password: &str| {
        office
            .stores
            .accounts(|a| a.verify("alice", &Password::new(password)))
            .unwrap()
    };
    assert!(verify("secret"), "the office keeps alice's password");
    assert!(!verify("taken over"));
    assert_eq!(
        inbox(&office, "alice").len(),
        2,
        "the mail itself still syncs"
    );
}

#[test]
fn a_pairing_that_names_its_accounts_carries_only_those() {
    let office = host("office");
    let internet = host("internet");
    pair(&office, &internet);
    for user in ["alice", "bob"] {
        office
            .stores
            .accounts(|a| a.add(user, &Password::new("secret")))
            .unwrap();
        append(&office, user, &format!("for {user}"));
    }
    // The internet server takes only alice from the office; the office still sends both.
    internet
        .sync
        .state(|s| s.set_accounts("office", Some(&["alice".to_string()])))
        .unwrap();
    let mut refused = 0;
    for round in 0..10 {
        let now = 1_000 + round;
        let to_internet = drain(&office, now);
        let to_office = drain(&internet, now);
        if to_internet.is_empty() && to_office.is_empty() {
            break;
        }
        for mail in to_internet {
            match internet.sync.receive(&mail, now) {
                Err(Rejection::NotCarried { user, .. }) if user == "bob" => refused += 1,
                other => {
                    other.unwrap();
                }
            }
        }
        for mail in to_office {
            office.sync.receive(&mail, now).unwrap();
        }
    }
    assert!(refused > 0, "bob's mail was refused");
    assert_eq!(inbox(&internet, "alice"), inbox(&office, "alice"));
    let users: Vec<String> = internet
        .stores
        .accounts(|a| a.list())
        .unwrap()
        .into_iter()
        .map(|u| u.user)
        .collect();
    assert_eq!(
        users,
        ["alice"],
        "bob was never made on the internet server"
    );

    // Once the office's pairing names alice only, bob's mail is not even made.
    office
        .sync
        .state(|s| s.set_accounts("internet", Some(&["alice".to_string()])))
        .unwrap();
    append(&office, "bob", "more for bob");
    append(&office, "alice", "more for alice");
    let sent = drain(&office, 100_000);
    assert!(!sent.is_empty());
    for mail in &sent {
        let parsed = nomamail_core::mailsync::mime::parse(mail).unwrap();
        assert_eq!(parsed.account, "alice", "no mail made for bob");
        internet.sync.receive(mail, 100_000).unwrap();
    }
    settle(&office, &internet, 100_000);
    assert_eq!(inbox(&internet, "alice"), inbox(&office, "alice"));
}
