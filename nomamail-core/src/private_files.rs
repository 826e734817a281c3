//! The data directory holds password hashes, every user's mail and the host's keys: its
//! directories are the owner's alone (0700) and its databases readable by the owner only
//! (0600), whatever the umask of whoever starts the process. Files are made with those
//! modes before anything is written to them, and older ones are tightened when opened.

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates the directory (and its missing parents) owner-only, or tightens it.
pub fn dir(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)?;
    tighten(path, DIR_MODE)
}

/// Creates the file empty and owner-only unless it exists, and tightens it if it does.
pub fn file(path: &Path) -> io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(FILE_MODE)
        .open(path)?;
    tighten(path, FILE_MODE)
}

/// An SQLite database: the file made owner-only before SQLite opens it (SQLite gives its
/// `-wal` and `-shm` files the database's mode), and those of an older store tightened.
pub fn database(path: &Path) -> io::Result<()> {
    file(path)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        match tighten(Path::new(&side), FILE_MODE) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(current & mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_and_loose_files_and_directories_end_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data/mail");
        dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        let db = data.join("u.db");
        database(&db).unwrap();
        assert_eq!(mode(&db), 0o600);

        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let wal = data.join("u.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o666)).unwrap();
        dir(&data).unwrap();
        database(&db).unwrap();
        assert_eq!((mode(&data), mode(&db), mode(&wal)), (0o700, 0o600, 0o600));
    }
}
