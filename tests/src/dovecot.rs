//! Dovecot as a reference IMAP server for differential tests and benchmarks: started on
//! 127.0.0.1 and a free port with a throwaway configuration, one user, a Maildir in a
//! temporary directory, stopped when dropped. Needs Debian's `dovecot-imapd` and root (Dovecot
//! drops to its own users); `start` says why when it cannot run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Dovecot {
    pub addr: SocketAddr,
    pub user: String,
    pub password: String,
    dir: tempfile::TempDir,
}

const USER: &str = "ref";
const PASSWORD: &str = "pw";

impl Dovecot {
    /// Starts Dovecot, or says why it cannot run here.
    pub fn start() -> Result<Dovecot, String> {
        if Command::new("dovecot").arg("--version").output().is_err() {
            return Err("dovecot is not installed (Debian: dovecot-imapd)".into());
        }
        let ids = |name: &str| -> Option<u32> {
            let out = Command::new("id").args(["-u", name]).output().ok()?;
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        let me = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        if me != "0" || ids("dovecot").is_none() || ids("dovenull").is_none() {
            return Err("dovecot needs root and its dovecot and dovenull users".into());
        }
        let port = free_port().ok_or("no free port")?;
        let dir = tempfile::Builder::new()
            .prefix("dovecot-ref")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let base = dir.path();
        std::fs::create_dir_all(base.join("home")).map_err(|e| e.to_string())?;
        std::fs::write(base.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n"))
            .map_err(|e| e.to_string())?;
        let b = base.display();
        let config = format!(
            "base_dir = {b}/run\nstate_dir = {b}/state\nlog_path = {b}/log\n\
             instance_name = nomamail-ref-{port}\nprotocols = imap\nlisten = 127.0.0.1\n\
             ssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n\
             first_valid_uid = 1\ndefault_internal_user = dovecot\n\
             default_internal_group = dovecot\ndefault_login_user = dovenull\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {b}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid=dovecot gid=dovecot home={b}/home/%u\n}}\n\
             mail_location = maildir:~/Maildir\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n"
        );
        std::fs::write(base.join("dovecot.conf"), config).map_err(|e| e.to_string())?;
        chown_dovecot(&base.join("home"))?;
        // The temporary directory is private to root; Dovecot's users must pass through it.
        set_mode(base, 0o755)?;
        let started = Command::new("dovecot")
            .arg("-c")
            .arg(base.join("dovecot.conf"))
            .status()
            .map_err(|e| e.to_string())?;
        if !started.success() {
            let log = std::fs::read_to_string(base.join("log")).unwrap_or_default();
            return Err(format!("dovecot did not start: {log}"));
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                return Err("dovecot did not listen".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Dovecot {
            addr,
            user: USER.into(),
            password: PASSWORD.into(),
            dir,
        })
    }

    /// Dovecot for a test: `None` (with the reason on stderr) where it cannot run here,
    /// unless `NOMAMAIL_REQUIRE_DOVECOT` is set (as CI sets it), which makes that a failure.
    pub fn for_test() -> Option<Dovecot> {
        match Dovecot::start() {
            Ok(dovecot) => Some(dovecot),
            Err(why) => {
                assert!(
                    std::env::var("NOMAMAIL_REQUIRE_DOVECOT").is_err(),
                    "Dovecot is required here: {why}"
                );
                eprintln!("not run: {why}");
                None
            }
        }
    }

    /// The user's Maildir (created on first login, or by `store_messages`).
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("home").join(USER).join("Maildir")
    }

    /// Puts messages straight into the INBOX's Maildir, as a delivery agent would, flags in
    /// the file names: much faster than APPEND for filling large mailboxes. Dovecot indexes
    /// them at the next SELECT.
    pub fn store_messages<'a>(
        &self,
        messages: impl IntoIterator<Item = (&'a [u8], bool)>,
    ) -> Result<(), String> {
        let maildir = self.maildir();
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).map_err(|e| e.to_string())?;
        }
        for (i, (message, seen)) in messages.into_iter().enumerate() {
            let flags = if seen { "S" } else { "" };
            let name = format!("{}.M{i}P1.ref:2,{flags}", 1_790_000_000 + i as u64);
            std::fs::write(maildir.join("cur").join(name), message).map_err(|e| e.to_string())?;
        }
        chown_dovecot(&self.dir.path().join("home"))
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("doveadm")
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .arg("stop")
            .status();
    }
}

fn chown_dovecot(path: &Path) -> Result<(), String> {
    let status = Command::new("chown")
        .args(["-R", "dovecot:dovecot"])
        .arg(path)
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("chown {} failed", path.display()))
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

fn free_port() -> Option<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
    listener.local_addr().ok().map(|a| a.port())
}
