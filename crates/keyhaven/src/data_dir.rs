//! The data directory's permissions: it and every directory in it 0700, every file in it 0600.
//!
//! SQLite creates the `-wal` and `-shm` files next to the database with the database file's own mode (it
//! `fchmod`s them to it, whatever the umask), so the database file is made 0600 before SQLite first opens
//! it; from then on nothing SQLite creates there is readable by anyone else.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The widest mode of the data directory and the directories in it.
const DIRECTORY_MODE: u32 = 0o700;
/// The widest mode of a file in the data directory.
const FILE_MODE: u32 = 0o600;

/// Creates `data_dir` (0700) if it is missing, narrows whatever in it is wider than 0700/0600 (one warning
/// each), and creates the empty database file `database` in it with mode 0600 if it is missing.
pub fn prepare(data_dir: &Path, database: &Path) -> Result<(), String> {
    if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(failed(parent))?;
    }
    match DirBuilder::new().mode(DIRECTORY_MODE).create(data_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(failed(data_dir)(e)),
    }
    // The data directory itself may be a symbolic link an operator made; what it points to is narrowed.
    let metadata = fs::metadata(data_dir).map_err(failed(data_dir))?;
    restrict(data_dir, &metadata)?;
    restrict_contents(data_dir)?;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(database)
        .map_err(failed(database))?;
    Ok(())
}

fn failed(path: &Path) -> impl FnOnce(io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// Narrows every file and directory under `dir`. Symbolic links are left alone: what they point to may
/// be outside the data directory.
fn restrict_contents(dir: &Path) -> Result<(), String> {
    for entry in fs::read_dir(dir).map_err(failed(dir))? {
        let path = entry.map_err(failed(dir))?.path();
        let metadata = fs::symlink_metadata(&path).map_err(failed(&path))?;
        if metadata.file_type().is_symlink() {
            continue;
        }
        restrict(&path, &metadata)?;
        if metadata.is_dir() {
            restrict_contents(&path)?;
        }
    }
    Ok(())
}

/// Takes from `path`'s mode every bit beyond 0700 (a directory) or 0600 (anything else).
fn restrict(path: &Path, metadata: &fs::Metadata) -> Result<(), String> {
    let allowed = if metadata.is_dir() { DIRECTORY_MODE } else { FILE_MODE };
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & !allowed == 0 {
        return Ok(());
    }
    fs::set_permissions(path, Permissions::from_mode(mode & allowed)).map_err(|e| {
        format!(
            "cannot restrict the permissions of {} (mode {mode:04o}): {e}",
            path.display()
        )
    })?;
    tracing::warn!(
        path = %path.display(),
        old_mode = format_args!("{mode:04o}"),
        new_mode = format_args!("{:04o}", mode & allowed),
        "narrowed the permissions of a data directory entry that others could access"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).expect("metadata").permissions().mode() & 0o7777
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("keyhaven-data-dir-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_new_data_directory_is_private_and_holds_a_private_database() {
        let root = scratch("new");
        let data_dir = root.join("nested").join("data");
        let database = data_dir.join("keyhaven.db");
        prepare(&data_dir, &database).expect("prepare");
        assert_eq!(mode_of(&data_dir), 0o700);
        assert_eq!(mode_of(&database), 0o600);
        assert_eq!(fs::metadata(&database).expect("database").len(), 0);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn wider_modes_are_narrowed_and_links_left_alone() {
        let data_dir = scratch("wide");
        let outside = scratch("outside");
        fs::create_dir_all(data_dir.join("oidc")).expect("dirs");
        fs::write(&outside, "public").expect("outside");
        let database = data_dir.join("keyhaven.db");
        let files = [
            (database.clone(), 0o644, 0o600),
            (data_dir.join("root.key"), 0o4666, 0o600),
            (data_dir.join("oidc").join("issuer.json"), 0o640, 0o600),
            (data_dir.join("private"), 0o400, 0o400),
        ];
        for (path, mode, _) in &files {
            fs::write(path, "x").expect("write");
            fs::set_permissions(path, Permissions::from_mode(*mode)).expect("chmod");
        }
        fs::set_permissions(&data_dir, Permissions::from_mode(0o755)).expect("chmod");
        fs::set_permissions(data_dir.join("oidc"), Permissions::from_mode(0o775)).expect("chmod");
        fs::set_permissions(&outside, Permissions::from_mode(0o644)).expect("chmod");
        std::os::unix::fs::symlink(&outside, data_dir.join("link")).expect("symlink");

        prepare(&data_dir, &database).expect("prepare");
        assert_eq!(mode_of(&data_dir), 0o700);
        assert_eq!(mode_of(&data_dir.join("oidc")), 0o700);
        for (path, _, expected) in &files {
            assert_eq!(mode_of(path), *expected, "{}", path.display());
        }
        assert_eq!(fs::read_to_string(&database).expect("database"), "x", "kept as it was");
        assert_eq!(mode_of(&outside), 0o644, "a link's target is not the data directory's");
        let _ = fs::remove_dir_all(&data_dir);
        let _ = fs::remove_file(&outside);
    }
}
