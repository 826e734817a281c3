//! The daemon's admin socket (`admin.sock` in the data directory, owner only): commands that
//! change a store while the daemon holds it go through here, so they are written by the
//! one writer and wake its IMAP sessions and sync. One request per connection: fields
//! separated by tabs on one line; the answer is `ok` or `error<TAB>why`.

use crate::import::{Event, Importer};
use anyhow::{Context, Result, bail};
use nomamail_core::ReplicaId;
use nomamail_core::imap::Mailstores;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

const MAX_REQUEST: usize = 64 << 10;

pub async fn serve(
    data_dir: PathBuf,
    stores: Arc<Mailstores>,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let path = crate::admin_client::socket_path(&data_dir);
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
        // The socket is the owner's only (umask and mode); a process of another user that
        // reached it anyway is turned away before it can send a word.
        if stream.peer_cred().ok().map(|c| c.uid()) != Some(rustix::process::geteuid().as_raw()) {
            tracing::warn!("admin socket: refused a connection from another user");
            continue;
        }
        let stores = stores.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = tokio::io::BufReader::new(read.take(MAX_REQUEST as u64));
            if reader.read_line(&mut line).await.is_err() {
                return;
            }
            let (report, mut reports) = tokio::sync::mpsc::unbounded_channel::<String>();
            let job =
                tokio::task::spawn_blocking(move || handle(&stores, line.trim_end(), &report));
            while let Some(progress) = reports.recv().await {
                let _ = write.write_all(progress.as_bytes()).await;
            }
            let reply = match job.await {
                Ok(Ok(done)) => format!("ok{done}\n"),
                Ok(Err(e)) => format!("error\t{}\n", format!("{e:#}").replace(['\n', '\t'], " ")),
                Err(e) => format!("error\t{e}\n"),
            };
            let _ = write.write_all(reply.as_bytes()).await;
        });
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// Runs one request; progress lines go to `report`. Returns what follows `ok` in the answer.
fn handle(
    stores: &Mailstores,
    line: &str,
    report: &tokio::sync::mpsc::UnboundedSender<String>,
) -> Result<String> {
    let fields: Vec<&str> = line.split('\t').collect();
    match fields.as_slice() {
        ["resolve", user, id, choice] => {
            let choice = crate::conflicts::parse_choice(choice)?;
            let store = stores.open(user)?;
            store.write(|replica| replica.resolve(id, choice))?;
            Ok(String::new())
        }
        ["forget", user, replica] => {
            let replica = ReplicaId(replica.parse().context("replica id")?);
            let store = stores.open(user)?;
            store.write(|r| r.forget_peer(replica))?;
            Ok(String::new())
        }
        ["import", user, path, rest @ ..] if rest.len() <= 1 => {
            let store = stores.open(user)?;
            let mut importer = Importer::default();
            let mut done = 0u64;
            crate::import::read_source(Path::new(path), rest.first().copied(), |event| {
                // One write per event: IMAP sessions see the import as it goes.
                store.write(|replica| importer.take(replica, &event))?;
                match &event {
                    Event::Message(item) => {
                        done += item.bytes.len() as u64;
                        let tally = importer.tally;
                        let _ = report.send(format!(
                            "progress\t{done}\t{}\t{}\n",
                            tally.imported, tally.duplicates
                        ));
                    }
                    Event::Skipped(note) => tracing::warn!("import for {user}: skipped {note}"),
                    Event::Folder(_) | Event::FolderDone(_) => {}
                }
                Ok(())
            })?;
            Ok(importer.tally.to_fields())
        }
        _ => bail!("unknown request"),
    }
}
