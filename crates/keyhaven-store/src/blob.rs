//! Large bodies beside the record store (S3 objects): a blob store whose blobs are written whole or not at all.
//!
//! Blobs hold opaque bytes (ciphertext sealed above this crate), addressed by ids the caller chooses. The
//! filesystem store writes a blob to `<dir>/partial/<id>`, fsyncs it, renames it to `<dir>/<id>` and fsyncs the
//! directory, so after a crash a blob is complete under its id or absent; whatever was partial is removed when the
//! store opens. A committed blob no record refers to (the crash fell between the blob's commit and its record's)
//! is the caller's to sweep, with `ids`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::StoreError;

/// Longest blob id.
const MAX_ID_LEN: usize = 128;
const PARTIAL_DIR: &str = "partial";
const DIRECTORY_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// Where blobs live.
pub trait BlobStore: Send + Sync {
    /// Starts blob `id`; nothing is visible under the id until the writer commits.
    fn create(&self, id: &str) -> Result<Box<dyn BlobWriter>, StoreError>;
    /// A committed blob, or `None`.
    fn open(&self, id: &str) -> Result<Option<Box<dyn BlobReader>>, StoreError>;
    /// Removes a committed blob; removing one that is absent is not an error.
    fn delete(&self, id: &str) -> Result<(), StoreError>;
    /// Every committed blob's id.
    fn ids(&self) -> Result<Vec<String>, StoreError>;
    /// When a committed blob was committed, or `None` when it is absent.
    fn committed_at(&self, id: &str) -> Result<Option<std::time::SystemTime>, StoreError>;
}

/// A blob being written. Dropped without `commit`, it leaves nothing behind.
pub trait BlobWriter: Send {
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError>;
    /// Makes the blob durable and visible under its id.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// A committed blob, read at any offset.
pub trait BlobReader: Send + Sync {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from `offset`; fewer bytes only at the blob's end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError>;
}

/// Blobs as files in one directory.
#[derive(Debug)]
pub struct FsBlobStore {
    dir: PathBuf,
    /// Where this process writes blobs until they are committed.
    partial: PathBuf,
}

impl FsBlobStore {
    /// Opens (creating) the store in `dir`, which this process alone uses, and removes what a crash left partial.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, dir.join(PARTIAL_DIR))
    }

    /// Opens (creating) the store in `dir`, shared by several nodes (a shared filesystem), as the node `node`: its
    /// partial blobs have a directory of their own (`partial.<node>`, a name no blob id can take), so that removing
    /// what a crash left partial touches no other node's writes.
    pub fn open_shared(dir: &Path, node: &str) -> Result<Self, StoreError> {
        check_id(node)?;
        Self::open_with(dir, dir.join(format!("{PARTIAL_DIR}.{node}")))
    }

    fn open_with(dir: &Path, partial: PathBuf) -> Result<Self, StoreError> {
        // Only the server's user may list or read the (sealed) bodies, as with the rest of the data directory.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIRECTORY_MODE)
            .create(&partial)
            .map_err(io_error)?;
        for entry in fs::read_dir(&partial).map_err(io_error)? {
            let path = entry.map_err(io_error)?.path();
            fs::remove_file(&path).map_err(io_error)?;
            tracing::info!(blob = %path.display(), "removed a blob left partial");
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            partial,
        })
    }

    fn path(&self, id: &str) -> Result<PathBuf, StoreError> {
        check_id(id)?;
        Ok(self.dir.join(id))
    }
}

impl BlobStore for FsBlobStore {
    fn create(&self, id: &str) -> Result<Box<dyn BlobWriter>, StoreError> {
        let target = self.path(id)?;
        if target.exists() {
            return Err(StoreError::Backend(format!("blob {id} already exists")));
        }
        let partial = self.partial.join(id);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&partial)
            .map_err(io_error)?;
        Ok(Box::new(FsBlobWriter {
            file: Some(file),
            partial,
            target,
            dir: self.dir.clone(),
        }))
    }

    fn open(&self, id: &str) -> Result<Option<Box<dyn BlobReader>>, StoreError> {
        match File::open(self.path(id)?) {
            Ok(file) => {
                let len = file.metadata().map_err(io_error)?.len();
                Ok(Some(Box::new(FsBlobReader { file, len })))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(e)),
        }
    }

    fn delete(&self, id: &str) -> Result<(), StoreError> {
        match fs::remove_file(self.path(id)?) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(e)),
        }
    }

    fn committed_at(&self, id: &str) -> Result<Option<std::time::SystemTime>, StoreError> {
        match fs::metadata(self.path(id)?) {
            Ok(metadata) => Ok(Some(metadata.modified().map_err(io_error)?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(e)),
        }
    }

    fn ids(&self) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            if entry.file_type().map_err(io_error)?.is_file()
                && let Some(name) = entry.file_name().to_str()
            {
                ids.push(name.to_string());
            }
        }
        ids.sort();
        Ok(ids)
    }
}

struct FsBlobWriter {
    /// `None` once committed.
    file: Option<File>,
    partial: PathBuf,
    target: PathBuf,
    dir: PathBuf,
}

impl BlobWriter for FsBlobWriter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let file = self.file.as_mut().ok_or(StoreError::Closed)?;
        file.write_all(bytes).map_err(io_error)
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let file = self.file.take().ok_or(StoreError::Closed)?;
        file.sync_all().map_err(io_error)?;
        drop(file);
        fs::rename(&self.partial, &self.target).map_err(io_error)?;
        sync_dir(&self.dir)
    }
}

impl Drop for FsBlobWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

struct FsBlobReader {
    file: File,
    len: u64,
}

impl BlobReader for FsBlobReader {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(e)),
            }
        }
        Ok(filled)
    }
}

/// Ids are file names: letters, digits, `-` and `_` only, so no id reaches outside the store's directory (and
/// none names the directory of partial blobs).
fn check_id(id: &str) -> Result<(), StoreError> {
    let valid = !id.is_empty()
        && id != PARTIAL_DIR
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::Backend("invalid blob id".into()))
    }
}

/// Makes a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error)
}

fn io_error(e: io::Error) -> StoreError {
    match e.kind() {
        io::ErrorKind::StorageFull => StoreError::Full,
        _ => StoreError::Backend(e.to_string()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::TempDir;

    fn store() -> (TempDir, FsBlobStore) {
        let dir = TempDir::new();
        let store = FsBlobStore::open(&dir.path().join("blobs")).expect("open");
        (dir, store)
    }

    pub(crate) fn read_all(store: &dyn BlobStore, id: &str) -> Option<Vec<u8>> {
        let reader = store.open(id).expect("open blob")?;
        let mut buf = vec![0; usize::try_from(reader.len()).expect("small")];
        assert_eq!(reader.read_at(0, &mut buf).expect("read"), buf.len());
        Some(buf)
    }

    /// What every blob store does: a blob is visible once committed, read at any offset, never overwritten, and
    /// deleted (twice without complaint).
    pub(crate) fn a_blob_is_visible_only_once_committed_in(store: &dyn BlobStore) {
        let mut writer = store.create("object-1").expect("create");
        writer.write(b"hello, ").expect("write");
        writer.write(b"world").expect("write");
        assert_eq!(read_all(store, "object-1"), None);
        assert_eq!(store.ids().expect("ids"), Vec::<String>::new());
        writer.commit().expect("commit");
        assert_eq!(read_all(store, "object-1").as_deref(), Some(&b"hello, world"[..]));
        assert_eq!(store.ids().expect("ids"), vec!["object-1".to_string()]);
        assert!(store.committed_at("object-1").expect("committed at").is_some());

        let reader = store.open("object-1").expect("open").expect("present");
        let mut middle = [0u8; 5];
        assert_eq!(reader.read_at(7, &mut middle).expect("read"), 5);
        assert_eq!(&middle, b"world");
        let mut past_end = [0u8; 8];
        assert_eq!(reader.read_at(10, &mut past_end).expect("read"), 2);

        assert!(
            store.create("object-1").is_err(),
            "a committed blob is never overwritten"
        );
        store.delete("object-1").expect("delete");
        store.delete("object-1").expect("deleting an absent blob");
        assert_eq!(read_all(store, "object-1"), None);
        assert_eq!(store.committed_at("object-1").expect("committed at"), None);
    }

    #[test]
    fn a_blob_is_visible_only_once_committed() {
        let (_dir, store) = store();
        a_blob_is_visible_only_once_committed_in(&store);
    }

    #[test]
    fn an_abandoned_writer_leaves_nothing_behind() {
        let (dir, store) = store();
        let mut writer = store.create("object-2").expect("create");
        writer.write(b"half an upload").expect("write");
        drop(writer);
        assert_eq!(read_all(&store, "object-2"), None);
        let partial = dir.path().join("blobs").join(PARTIAL_DIR);
        assert_eq!(fs::read_dir(partial).expect("partial dir").count(), 0);
    }

    /// What a crash mid-write leaves (a partial file) is gone once the store opens again; committed blobs stay.
    #[test]
    fn reopening_removes_partial_blobs_and_keeps_committed_ones() {
        let (dir, store) = store();
        let mut writer = store.create("kept").expect("create");
        writer.write(b"complete").expect("write");
        writer.commit().expect("commit");
        let partial = dir.path().join("blobs").join(PARTIAL_DIR).join("crashed");
        fs::write(&partial, b"cut off").expect("simulate a crash mid-write");
        drop(store);

        let reopened = FsBlobStore::open(&dir.path().join("blobs")).expect("reopen");
        assert!(!partial.exists());
        assert_eq!(reopened.ids().expect("ids"), vec!["kept".to_string()]);
        assert_eq!(read_all(&reopened, "kept").as_deref(), Some(&b"complete"[..]));
    }

    /// Nodes sharing a directory each clean only their own partial blobs when they open, and see each other's
    /// committed ones.
    #[test]
    fn nodes_sharing_a_directory_keep_each_others_writes() {
        let dir = TempDir::new();
        let shared = dir.path().join("shared");
        let a = FsBlobStore::open_shared(&shared, "node-a").expect("open a");
        let mut in_flight = a.create("uploading").expect("create");
        in_flight.write(b"still arriving").expect("write");
        let mut done = a.create("done").expect("create");
        done.write(b"whole").expect("write");
        done.commit().expect("commit");

        let b = FsBlobStore::open_shared(&shared, "node-b").expect("open b");
        assert_eq!(read_all(&b, "done").as_deref(), Some(&b"whole"[..]));
        assert!(b.committed_at("done").expect("time").is_some());
        assert_eq!(b.committed_at("uploading").expect("time"), None);
        in_flight.commit().expect("another node's open left this write alone");
        assert_eq!(read_all(&b, "uploading").as_deref(), Some(&b"still arriving"[..]));
        assert_eq!(b.ids().expect("ids"), vec!["done".to_string(), "uploading".to_string()]);
        assert!(
            FsBlobStore::open_shared(&shared, "../x").is_err(),
            "a node name is a plain name"
        );
    }

    #[test]
    fn ids_that_could_name_another_file_are_refused() {
        let (_dir, store) = store();
        let too_long = "a".repeat(MAX_ID_LEN + 1);
        for id in [
            "",
            "../escape",
            "a/b",
            "partial",
            "partial/x",
            ".",
            "with space",
            too_long.as_str(),
        ] {
            assert!(store.create(id).is_err(), "{id:?}");
            assert!(store.open(id).is_err(), "{id:?}");
            assert!(store.delete(id).is_err(), "{id:?}");
        }
        assert!(store.create(&"a".repeat(MAX_ID_LEN)).is_ok());
    }
}
