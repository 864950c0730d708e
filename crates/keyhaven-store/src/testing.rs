//! Test support: throwaway stores in self-removing temporary directories.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Backend, SqliteStore};

/// A temporary directory removed on drop (std has none, and a dependency is not worth it).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("keyhaven-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh SQLite store in its own temporary directory; keep the directory alive while using it.
pub fn temp_store() -> (TempDir, Arc<dyn Backend>) {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.path().join("keyhaven.db")).expect("open store");
    (dir, Arc::new(store))
}
