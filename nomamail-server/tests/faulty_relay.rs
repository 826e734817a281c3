//! The office and internet servers syncing through a relay that loses, duplicates, delays,
//! reorders and, for a while, holds all mail, while users change mail on both sides. They
//! converge, lose no message, and record the conflicts the policy names; a conflict decided
//! on one server is settled on both.

use nomamail_tests::daemon::{Daemon, FAST_SYNC, eventually, snapshot};
use nomamail_tests::relay::{Faults, FaultyRelay};
use nomamail_tests::rng::Rng;
use nomamail_tests::wire::Wire;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nomamail-server"))
}

fn login(addr: SocketAddr) -> Wire {
    let mut wire = Wire::open(addr).expect("connect");
    wire.ok("LOGIN alice pw");
    wire
}

/// UIDs in the selected mailbox.
fn uids(wire: &mut Wire) -> Vec<u32> {
    let found = wire.ok("UID SEARCH ALL");
    found
        .lines()
        .filter_map(|l| l.strip_prefix("* SEARCH"))
        .flat_map(|rest| rest.split_whitespace().map(|n| n.parse().unwrap()))
        .collect()
}

fn uid_of(wire: &mut Wire, subject: &str) -> u32 {
    let found = wire.ok(&format!("UID SEARCH HEADER Subject \"{subject}\""));
    found
        .lines()
        .filter_map(|l| l.strip_prefix("* SEARCH "))
        .find_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no message {subject}"))
}

/// Every subject in every mailbox; `None` while some bodies have not arrived yet (entries
/// travel first, their bodies follow in chunks).
fn subjects(addr: SocketAddr) -> Option<BTreeSet<String>> {
    let snap = snapshot(addr, "alice", "pw")?;
    let mut wire = login(addr);
    let mut all = BTreeSet::new();
    for mailbox in &snap.mailboxes {
        wire.ok(&format!("SELECT \"{}\"", mailbox.name));
        let (fetched, status) = wire
            .command(b"UID FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
            .ok()?;
        if !status.contains(" OK") {
            return None;
        }
        for line in String::from_utf8_lossy(&fetched).lines() {
            if let Some(subject) = line.strip_prefix("Subject: ") {
                assert!(all.insert(subject.to_string()), "{subject} twice");
            }
        }
    }
    Some(all)
}

fn conflicts(daemon: &Daemon) -> Vec<String> {
    daemon
        .cli_ok(&["conflicts", "list"], "")
        .lines()
        .filter_map(|l| l.split('\t').nth(1).map(str::to_string))
        .collect()
}

#[test]
fn servers_converge_through_loss_duplication_reordering_and_a_long_hold() {
    let seed = std::env::var("NOMAMAIL_RELAY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1998);
    println!("relay seed {seed} (set NOMAMAIL_RELAY_SEED to replay)");
    let relay = FaultyRelay::start(seed);
    let through_relay = format!(
        "[relay]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n",
        relay.addr.port()
    );
    let mut office = Daemon::new(bin(), "office", FAST_SYNC, &through_relay);
    let mut internet = Daemon::new(bin(), "internet", FAST_SYNC, &through_relay);
    office.add_user("alice", "pw");
    office.start();
    internet.start();
    relay.route("sync@office.test", office.smtp.unwrap());
    relay.route("sync@internet.test", internet.smtp.unwrap());
    office.pair_with(&internet, None);
    internet.pair_with(&office, None);
    eventually(LIMIT, "the account on the internet server", || {
        snapshot(internet.imap_addr(), "alice", "pw")
    });

    let mut at_office = login(office.imap_addr());
    let mut at_internet = login(internet.imap_addr());
    at_office.ok("CREATE Projects");
    let mut appended = BTreeSet::new();
    for n in 0..3 {
        for (wire, side) in [(&mut at_office, "o"), (&mut at_internet, "i")] {
            let subject = format!("{side}-setup-{n}");
            wire.append_message("INBOX", &subject, &subject);
            appended.insert(subject);
        }
    }
    eventually(LIMIT, "the setup on both", || {
        let o = snapshot(office.imap_addr(), "alice", "pw")?;
        let i = snapshot(internet.imap_addr(), "alice", "pw")?;
        (o == i && o.message_count() == 6).then_some(())
    });

    relay.set_faults(Faults {
        drop: 0.2,
        duplicate: 0.15,
        max_delay: Duration::from_millis(400),
    });
    let mut rng = Rng::new(seed);
    for round in 0..8 {
        for (wire, side) in [(&mut at_office, "o"), (&mut at_internet, "i")] {
            let subject = format!("{side}-round-{round}");
            wire.append_message("INBOX", &subject, &subject);
            appended.insert(subject);
            wire.ok("SELECT INBOX");
            let present = uids(wire);
            if let Some(&uid) = rng.pick(&present) {
                let flag = *rng.pick(&["\\Seen", "\\Flagged", "$Work"]).unwrap();
                let op = if rng.chance(0.7) { "+" } else { "-" };
                wire.ok(&format!("UID STORE {uid} {op}FLAGS ({flag})"));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // Settled, not just alike for a moment: UIDs that clashed in the concurrent rounds are
    // renumbered on both sides, and the renumberings themselves cross in the mail, so the
    // two views can agree briefly and then move once more. Wait until they agree and stay
    // put for longer than a retransmission round.
    relay.set_faults(Faults::default());
    let mut last = None;
    let mut stable_since = std::time::Instant::now();
    eventually(LIMIT, "convergence through the faults", || {
        let o = snapshot(office.imap_addr(), "alice", "pw")?;
        let i = snapshot(internet.imap_addr(), "alice", "pw")?;
        let agreed = o == i && o.message_count() == appended.len();
        if !agreed || last.as_ref() != Some(&o) {
            last = agreed.then_some(o);
            stable_since = std::time::Instant::now();
            return None;
        }
        (stable_since.elapsed() > Duration::from_secs(3)).then_some(())
    });
    // While the path is held nothing is lost at the relay (losses were had above), so each
    // side's changes are certainly among what is released at once.
    relay.set_faults(Faults {
        drop: 0.0,
        duplicate: 0.15,
        max_delay: Duration::from_millis(400),
    });

    // The mail path goes down; both sides change the same messages meanwhile.
    relay.hold();
    at_office.ok("SELECT INBOX");
    at_internet.ok("SELECT INBOX");
    let doomed = uid_of(&mut at_office, "o-setup-0");
    at_office.ok(&format!("UID STORE {doomed} +FLAGS (\\Deleted)"));
    at_office.ok(&format!("UID EXPUNGE {doomed}"));
    let doomed_there = uid_of(&mut at_internet, "o-setup-0");
    assert_eq!(doomed, doomed_there, "one UID on both servers");
    // A keyword no round has set, so this is a real change, not a no-op.
    at_internet.ok(&format!("UID STORE {doomed} +FLAGS ($Important)"));
    let moved = uid_of(&mut at_office, "i-setup-1");
    at_office.ok(&format!("UID MOVE {moved} Projects"));
    at_internet.ok(&format!("UID MOVE {moved} Archive"));
    for n in 0..3 {
        for (wire, side) in [(&mut at_office, "o"), (&mut at_internet, "i")] {
            let subject = format!("{side}-while-held-{n}");
            wire.append_message("INBOX", &subject, &subject);
            appended.insert(subject);
        }
    }
    // Long enough for retransmissions to pile up behind the hold as well.
    std::thread::sleep(Duration::from_secs(6));
    let held = relay.held();
    relay.release();

    let converged = eventually(LIMIT, "convergence after the release", || {
        let o = snapshot(office.imap_addr(), "alice", "pw")?;
        let i = snapshot(internet.imap_addr(), "alice", "pw")?;
        (o == i && o.message_count() == appended.len()).then_some(o)
    });
    relay.set_faults(Faults::default());
    let counts = relay.counts();
    println!("relay: {counts:?}, {held} mails held at the release");
    assert!(counts.dropped > 0 && counts.duplicated > 0, "{counts:?}");
    assert!(held >= 2, "both sides' changes were held back: {held}");

    // No mail lost: the expunge raced with a change, so the policy keeps the message.
    for server in [&office, &internet] {
        let all = eventually(LIMIT, "every body on both servers", || {
            subjects(server.imap_addr())
        });
        assert_eq!(all, appended, "{}", server.name);
    }
    assert_eq!(converged.mailbox("INBOX").unwrap().uidvalidity, {
        let s = snapshot(internet.imap_addr(), "alice", "pw").unwrap();
        s.mailbox("INBOX").unwrap().uidvalidity
    });

    let at_both = eventually(LIMIT, "both conflicts recorded on both servers", || {
        let here = conflicts(&office);
        let there = conflicts(&internet);
        (here == there && here.len() == 2).then_some(here)
    });
    assert!(
        at_both.iter().any(|id| id.starts_with("expunge:")),
        "{at_both:?}"
    );
    assert!(
        at_both.iter().any(|id| id.starts_with("move:")),
        "{at_both:?}"
    );
    let shown = office.cli_ok(&["conflicts", "show", "alice", &at_both[0]], "");
    assert!(shown.contains("choices:"), "{shown}");

    // Decided on the office (through the running daemon), settled on both.
    let expunge = at_both
        .iter()
        .find(|id| id.starts_with("expunge:"))
        .unwrap();
    office.cli_ok(&["conflicts", "resolve", "alice", expunge, "delete"], "");
    appended.remove("o-setup-0");
    eventually(LIMIT, "the decision on both servers", || {
        let o = snapshot(office.imap_addr(), "alice", "pw")?;
        let i = snapshot(internet.imap_addr(), "alice", "pw")?;
        (o == i && o.message_count() == appended.len() && conflicts(&internet).len() == 1)
            .then_some(())
    });
    // The relay duplicated mail in both directions at random: count both servers' refusals.
    let rejected: u64 = [&office, &internet]
        .iter()
        .map(|server| {
            let status = server.status();
            println!("{status}");
            status
                .lines()
                .find_map(|l| l.trim().strip_prefix("mails in: "))
                .and_then(|l| l.split("rejected: ").nth(1)?.trim().parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    assert!(
        rejected > 0,
        "duplicates are refused as replays and counted ({counts:?})"
    );
    office.stop();
    internet.stop();
}
