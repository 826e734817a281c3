//! `kill -9` in the middle of a write-heavy workload loses nothing that was acknowledged and
//! never corrupts the store.

use nomamail_core::{INBOX_ID, ItemId, Replica, ReplicaId, ReplicaOptions};
use nomamail_tests::rng::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const KILLS: usize = 25;

#[test]
fn kill_9_during_writes_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let mut rng = Rng::new(42);
    let mut appended: BTreeMap<u64, ItemId> = BTreeMap::new();
    let mut flagged: BTreeMap<ItemId, BTreeSet<String>> = BTreeMap::new();
    let mut expunged: BTreeSet<ItemId> = BTreeSet::new();
    // Expunges started but not acknowledged when the kill came: either outcome is allowed.
    let mut in_doubt: BTreeSet<ItemId> = BTreeSet::new();
    let mut next = 0u64;
    for round in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_write-workload"))
            .arg(&db)
            .arg(next.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start workload");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Let it write for a while, then SIGKILL it mid-stream.
        std::thread::sleep(Duration::from_millis(rng.range(30, 400)));
        child.kill().expect("kill -9");
        child.wait().unwrap();
        reader.join().unwrap();
        let mut lines = 0;
        for line in rx.try_iter() {
            lines += 1;
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["append", n, id] => {
                    let n: u64 = n.parse().unwrap();
                    appended.insert(n, id.parse().unwrap());
                    next = next.max(n + 1);
                }
                ["flag", id, kw] => {
                    flagged
                        .entry(id.parse().unwrap())
                        .or_default()
                        .insert(kw.to_string());
                }
                ["expunging", id] => {
                    in_doubt.insert(id.parse().unwrap());
                }
                ["expunge", id] => {
                    let id = id.parse().unwrap();
                    in_doubt.remove(&id);
                    expunged.insert(id);
                }
                _ => panic!("unexpected line {line:?}"),
            }
        }
        // The child may have committed one more append than it printed; skip past it.
        next += 1;
        let replica =
            Replica::open(&db, ReplicaOptions::new(ReplicaId(7), 1)).expect("reopen after kill");
        assert_eq!(replica.integrity_check().unwrap(), "ok", "round {round}");
        let present: BTreeMap<ItemId, Vec<String>> = replica
            .entries(INBOX_ID)
            .unwrap()
            .into_iter()
            .map(|e| (e.id, e.flags))
            .collect();
        for (n, id) in &appended {
            if expunged.contains(id) {
                assert!(
                    !present.contains_key(id),
                    "round {round}: acknowledged expunge of #{n} undone"
                );
            } else if !in_doubt.contains(id) {
                assert!(
                    present.contains_key(id),
                    "round {round}: acknowledged append #{n} lost"
                );
            }
        }
        for (id, kws) in &flagged {
            if let Some(flags) = present.get(id) {
                for kw in kws {
                    assert!(
                        flags.contains(kw),
                        "round {round}: acknowledged flag {kw} on {id} lost"
                    );
                }
            }
        }
        eprintln!(
            "round {round}: {lines} acknowledged operations, {} messages present",
            present.len()
        );
    }
    assert!(
        appended.len() > 50,
        "the workload ran long enough to matter: {}",
        appended.len()
    );
}
