//! The daemon's admin socket (`admin.sock` in the data directory, owner only): commands that
//! change a store while the daemon holds it go through here, so they are written by the
//! one writer and wake its IMAP sessions and sync. One request per connection: fields
//! separated by tabs on one line; the answer is `ok` or `error<TAB>why`.

use anyhow::{Context, Result, bail};
use nomamail_core::imap::Mailstores;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

const MAX_REQUEST: usize = 64 << 10;

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// Sends one request to the running daemon and waits for its answer.
pub fn request(data_dir: &Path, fields: &[&str]) -> Result<()> {
    let path = socket_path(data_dir);
    let stream = std::os::unix::net::UnixStream::connect(&path).with_context(|| {
        format!(
            "the store is held by a daemon, but its admin socket {} does not answer",
            path.display()
        )
    })?;
    let mut writer = stream.try_clone()?;
    writer.write_all(format!("{}\n", fields.join("\t")).as_bytes())?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    match answer.trim_end().split_once('\t') {
        None if answer.trim_end() == "ok" => Ok(()),
        Some(("error", why)) => bail!("{why}"),
        _ => bail!("unexpected answer from the daemon: {answer:?}"),
    }
}

pub async fn serve(
    data_dir: PathBuf,
    stores: Arc<Mailstores>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let path = socket_path(&data_dir);
    // A socket left by a daemon that was killed: nothing listens on it any more.
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let stores = stores.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = tokio::io::BufReader::new(read.take(MAX_REQUEST as u64));
            if reader.read_line(&mut line).await.is_err() {
                return;
            }
            let answer = tokio::task::spawn_blocking(move || handle(&stores, line.trim_end()))
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("{e}")));
            let reply = match answer {
                Ok(()) => "ok\n".to_string(),
                Err(e) => format!("error\t{}\n", format!("{e:#}").replace(['\n', '\t'], " ")),
            };
            let _ = write.write_all(reply.as_bytes()).await;
        });
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

fn handle(stores: &Mailstores, line: &str) -> Result<()> {
    let fields: Vec<&str> = line.split('\t').collect();
    match fields.as_slice() {
        ["resolve", user, id, choice] => {
            let choice = crate::conflicts::parse_choice(choice)?;
            let store = stores.open(user)?;
            store.write(|replica| replica.resolve(id, choice))?;
            Ok(())
        }
        _ => bail!("unknown request"),
    }
}
