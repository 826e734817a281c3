//! The office and internet servers syncing through a real MTA: Debian's Postfix, set up by
//! `tests/mta/postfix-test-relay.sh` (which `.ci/run` runs) to relay only between the two
//! test listeners on loopback. `NOMAMAIL_TEST_MTA` names its SMTP address; without it the
//! test says so and does nothing, unless `NOMAMAIL_REQUIRE_MTA` is set (as in CI), when
//! that is a failure.

use nomamail_tests::daemon::{Daemon, FAST_SYNC, eventually, snapshot};
use nomamail_tests::wire::Wire;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);

fn mta() -> Option<(SocketAddr, String)> {
    let address = std::env::var("NOMAMAIL_TEST_MTA").ok();
    if address.is_none() && std::env::var_os("NOMAMAIL_REQUIRE_MTA").is_some() {
        panic!("NOMAMAIL_REQUIRE_MTA is set but NOMAMAIL_TEST_MTA is not");
    }
    let address = address?.parse().expect("NOMAMAIL_TEST_MTA is host:port");
    let transport = std::env::var("NOMAMAIL_TEST_MTA_TRANSPORT")
        .unwrap_or_else(|_| "/etc/postfix/nomamail-transport".into());
    Some((address, transport))
}

#[test]
fn servers_sync_through_postfix() {
    let Some((mta, transport)) = mta() else {
        println!("no test MTA (NOMAMAIL_TEST_MTA unset): not run");
        return;
    };
    let bin = Path::new(env!("CARGO_BIN_EXE_nomamail-server"));
    let relay = format!(
        "[relay]\nhost = \"{}\"\nport = {}\nsecurity = \"none\"\n",
        mta.ip(),
        mta.port()
    );
    let mut office = Daemon::new(bin, "office", FAST_SYNC, &relay);
    let mut internet = Daemon::new(bin, "internet", FAST_SYNC, &relay);
    office.add_user("alice", "pw");
    office.start();
    internet.start();
    std::fs::write(
        &transport,
        format!(
            "office.test smtp:[127.0.0.1]:{}\ninternet.test smtp:[127.0.0.1]:{}\n",
            office.smtp.unwrap().port(),
            internet.smtp.unwrap().port()
        ),
    )
    .expect("write the MTA's transport map");
    let reload = std::process::Command::new("postfix")
        .arg("reload")
        .output()
        .expect("postfix reload");
    assert!(reload.status.success(), "{reload:?}");
    office.pair_with(&internet, None);
    internet.pair_with(&office, None);

    eventually(LIMIT, "the account on the internet server", || {
        snapshot(internet.imap_addr(), "alice", "pw")
    });
    let mut at_office = Wire::open(office.imap_addr()).unwrap();
    at_office.ok("LOGIN alice pw");
    let mut at_internet = Wire::open(internet.imap_addr()).unwrap();
    at_internet.ok("LOGIN alice pw");

    let started = Instant::now();
    at_office.append_message("INBOX", "through postfix", "body");
    eventually(LIMIT, "office's message on internet", || {
        let s = snapshot(internet.imap_addr(), "alice", "pw")?;
        (s.message_count() == 1).then_some(())
    });
    println!("office → postfix → internet: {:?}", started.elapsed());

    at_internet.ok("SELECT INBOX");
    at_internet.ok("UID STORE 1 +FLAGS (\\Answered)");
    at_internet.append_message("INBOX", "back through postfix", "body");
    let converged = eventually(LIMIT, "both servers alike", || {
        let o = snapshot(office.imap_addr(), "alice", "pw")?;
        let i = snapshot(internet.imap_addr(), "alice", "pw")?;
        (o == i
            && o.message_count() == 2
            && o.mailbox("INBOX")?.messages[0].1 == ["\\Answered".to_string()])
        .then_some(o)
    });
    assert_eq!(converged.mailbox("INBOX").unwrap().messages[0].0, 1);

    let log = std::fs::read_to_string("/var/log/postfix-nomamail.log").unwrap_or_default();
    assert!(
        log.contains("relay=127.0.0.1") && log.contains("status=sent"),
        "Postfix relayed the sync mail"
    );
    office.stop();
    internet.stop();
}
