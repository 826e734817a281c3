//! The client side of the daemon's admin socket (`admin.rs` is the daemon's side): the CLI
//! commands that change a store a running daemon holds send their request here.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

/// Sends one request to the running daemon and waits for its answer.
pub fn request(data_dir: &Path, fields: &[&str]) -> Result<()> {
    request_with_progress(data_dir, fields, |_, _, _| {}).map(drop)
}

/// Like `request`, for an import: `progress(bytes done, imported, duplicates)` is called as
/// the daemon reports, and the numbers of its final `ok` are returned.
pub fn request_with_progress(
    data_dir: &Path,
    fields: &[&str],
    mut progress: impl FnMut(u64, u64, u64),
) -> Result<Vec<u64>> {
    let path = socket_path(data_dir);
    let stream = std::os::unix::net::UnixStream::connect(&path).with_context(|| {
        format!(
            "the store is held by a daemon, but its admin socket {} does not answer",
            path.display()
        )
    })?;
    let mut writer = stream.try_clone()?;
    writer.write_all(format!("{}\n", fields.join("\t")).as_bytes())?;
    let numbers =
        |rest: &str| -> Vec<u64> { rest.split('\t').filter_map(|n| n.parse().ok()).collect() };
    for line in BufReader::new(stream).lines() {
        let line = line?;
        let (kind, rest) = line.split_once('\t').unwrap_or((line.as_str(), ""));
        match kind {
            "progress" => {
                if let [done, imported, duplicates] = numbers(rest)[..] {
                    progress(done, imported, duplicates);
                }
            }
            "ok" => return Ok(numbers(rest)),
            "error" => bail!("{rest}"),
            _ => bail!("unexpected answer from the daemon: {line:?}"),
        }
    }
    bail!("the daemon closed the admin connection without an answer")
}
