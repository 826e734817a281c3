//! The administration commands, run as an admin would run them from a script.

use nomamail_core::accounts::{Accounts, Password};
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn server(dir: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nomamail-server"))
        .arg("--data-dir")
        .arg(dir)
        // The environment variable, as a service manager would set it.
        .env("NOMAMAIL_CONFIG", dir.with_file_name("server.toml"))
        .env("NOMAMAIL_LOG", "warn")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nomamail-server");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn init_then_manage_users_from_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let out = server(&data, &["user", "list"], "");
    assert!(!out.status.success(), "user commands need init first");
    assert!(text(&out).contains("init"), "{}", text(&out));

    assert!(server(&data, &["init"], "").status.success());
    let again = server(&data, &["init"], "");
    assert!(again.status.success() && text(&again).contains("already"));
    let config = std::fs::read_to_string(dir.path().join("server.toml")).unwrap();
    assert!(config.contains("[sync]") && config.contains("# [relay]"));
    use std::os::unix::fs::PermissionsExt;
    let key = std::fs::metadata(data.join("host.key")).unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(key.permissions().mode() & 0o077, 0, "secret key is private");
    let token = text(&server(&data, &["pair", "show"], ""));
    assert!(
        token.starts_with("nomamail-pair:v1?name=nomamail&key="),
        "{token}"
    );
    let own = server(&data, &["pair", "add", token.trim()], "");
    assert!(!own.status.success() && text(&own).contains("own token"));
    let junk = server(&data, &["pair", "add", "nomamail-pair:v1?name=x"], "");
    assert!(!junk.status.success());

    let add = server(
        &data,
        &["user", "add", "alice", "--password-stdin"],
        "s3cret pass\n",
    );
    assert!(add.status.success(), "{}", text(&add));
    let dup = server(&data, &["user", "add", "alice", "--password-stdin"], "x\n");
    assert!(!dup.status.success() && text(&dup).contains("already exists"));
    let empty = server(&data, &["user", "add", "bob", "--password-stdin"], "\n");
    assert!(!empty.status.success());

    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, "from a file\n").unwrap();
    let bob = server(
        &data,
        &[
            "user",
            "add",
            "bob",
            "--password-file",
            pw_file.to_str().unwrap(),
        ],
        "",
    );
    assert!(bob.status.success(), "{}", text(&bob));

    let list = server(&data, &["user", "list"], "");
    assert_eq!(String::from_utf8_lossy(&list.stdout), "alice\nbob\n");

    {
        let accounts = Accounts::open(&data).unwrap();
        assert!(
            accounts
                .verify("alice", &Password::new("s3cret pass"))
                .unwrap()
        );
        assert!(
            accounts
                .verify("bob", &Password::new("from a file"))
                .unwrap()
        );
        let alice = accounts
            .open_replica("alice", nomamail_core::Durability::Process)
            .unwrap();
        let names: Vec<String> = alice
            .mailboxes()
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(
            names,
            ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
        );
    }

    assert!(
        server(
            &data,
            &["user", "passwd", "alice", "--password-stdin"],
            "new one\n"
        )
        .status
        .success()
    );
    assert!(
        Accounts::open(&data)
            .unwrap()
            .verify("alice", &Password::new("new one"))
            .unwrap()
    );

    // On a case-insensitive filesystem Alice's store file would be alice's.
    let twin = server(&data, &["user", "add", "Alice", "--password-stdin"], "x\n");
    assert!(
        !twin.status.success() && text(&twin).contains("only in case"),
        "{}",
        text(&twin)
    );

    // While a daemon holds a store, removing its user would delete the files under it.
    {
        let accounts = Accounts::open(&data).unwrap();
        let _held = accounts
            .open_replica("bob", nomamail_core::Durability::Process)
            .unwrap();
        let refused = server(&data, &["user", "remove", "bob"], "");
        assert!(
            !refused.status.success() && text(&refused).contains("stop it"),
            "{}",
            text(&refused)
        );
        assert!(data.join("mail/bob.db").exists());
    }
    assert!(
        server(&data, &["user", "remove", "bob"], "")
            .status
            .success()
    );
    assert_eq!(
        String::from_utf8_lossy(&server(&data, &["user", "list"], "").stdout),
        "alice\n"
    );
    assert!(
        !server(&data, &["user", "remove", "bob"], "")
            .status
            .success()
    );

    // Loosened by hand (or made by an older version under a lax umask): tightened again.
    let loosen = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    loosen(&data, 0o755);
    loosen(&data.join("accounts.db"), 0o644);
    loosen(&data.join("mail/alice.db"), 0o666);
    assert!(server(&data, &["user", "list"], "").status.success());
    Accounts::open(&data)
        .unwrap()
        .open_replica("alice", nomamail_core::Durability::Process)
        .unwrap();
    let mut open_to_others = Vec::new();
    let mut walk = vec![data.clone()];
    while let Some(path) = walk.pop() {
        let meta = std::fs::metadata(&path).unwrap();
        if meta.permissions().mode() & 0o077 != 0 {
            open_to_others.push(path.clone());
        }
        if meta.is_dir() {
            walk.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
    }
    assert!(open_to_others.is_empty(), "{open_to_others:?}");
}

#[test]
fn the_demo_runs_two_servers_that_sync_by_mail_and_exits() {
    let output = Command::new(env!("CARGO_BIN_EXE_nomamail-server"))
        .args(["demo", "--exit"])
        .args([
            "--office-imap",
            "127.0.0.1:0",
            "--internet-imap",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    let text = text(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("account and message on the internet server"),
        "{text}"
    );
    assert!(
        text.contains("internet: the message has UID 1 there too"),
        "{text}"
    );
    assert!(text.contains("the flag on the office server"), "{text}");
    assert!(text.contains("user demo, password demo"), "{text}");
}
