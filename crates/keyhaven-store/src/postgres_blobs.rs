//! Object bodies kept in the PostgreSQL store's database, for nodes that share no filesystem.
//!
//! A blob is written as numbered chunks of `CHUNK` bytes under an upload id of its own, each chunk committed as it
//! fills; nothing is visible under the blob's id until `commit` points the id at the upload (a committed blob is
//! never overwritten, as in the directory store). A writer dropped without committing removes
//! its chunks; chunks a crashed node left behind are removed by the next store opened on the database once they
//! are an hour old (another node may still be writing younger ones).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::{BlobReader, BlobStore, BlobWriter, PostgresStore, StoreError};

/// Bytes per stored chunk: large enough that a 1 GiB body is a thousand rows, small enough to hold in memory.
const CHUNK: usize = 1 << 20;

/// How old an upload's chunks must be, without a blob naming them, before they count as a crashed writer's.
const ABANDONED_AFTER: Duration = Duration::from_secs(3600);

/// Blobs in the database of a PostgreSQL store.
#[derive(Debug)]
pub struct PostgresBlobStore {
    store: Arc<PostgresStore>,
}

impl PostgresBlobStore {
    /// Blobs in `store`'s database; removes the chunks of uploads abandoned more than an hour ago.
    pub fn open(store: Arc<PostgresStore>) -> Result<Self, StoreError> {
        let abandoned_before = unix_now() - ABANDONED_AFTER.as_secs() as i64;
        store.query(
            "DELETE FROM blob_chunks WHERE started_at < $1 AND upload NOT IN (SELECT upload FROM blobs)",
            &[&abandoned_before],
        )?;
        Ok(Self { store })
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

impl BlobStore for PostgresBlobStore {
    fn create(&self, id: &str) -> Result<Box<dyn BlobWriter>, StoreError> {
        let rows = self.store.query(
            "SELECT gen_random_uuid()::text, EXISTS (SELECT 1 FROM blobs WHERE id = $1)",
            &[&id],
        )?;
        let (upload, exists) = rows
            .first()
            .map(|row| (row.get::<_, String>(0), row.get::<_, bool>(1)))
            .ok_or_else(|| StoreError::Backend("PostgreSQL gave no upload id".into()))?;
        if exists {
            // As the directory store: a committed blob is never overwritten.
            return Err(StoreError::Backend(format!("blob {id} already exists")));
        }
        Ok(Box::new(PostgresBlobWriter {
            store: self.store.clone(),
            id: id.to_string(),
            upload,
            started_at: unix_now(),
            pending: Vec::with_capacity(CHUNK),
            chunks: 0,
            length: 0,
            committed: false,
        }))
    }

    fn open(&self, id: &str) -> Result<Option<Box<dyn BlobReader>>, StoreError> {
        let rows = self
            .store
            .query("SELECT upload, length FROM blobs WHERE id = $1", &[&id])?;
        Ok(rows.first().map(|row| {
            Box::new(PostgresBlobReader {
                store: self.store.clone(),
                upload: row.get(0),
                length: row.get::<_, i64>(1) as u64,
                last_chunk: Mutex::default(),
            }) as Box<dyn BlobReader>
        }))
    }

    fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.store.batch(&[
            (
                "DELETE FROM blob_chunks WHERE upload IN (SELECT upload FROM blobs WHERE id = $1)",
                &[&id],
            ),
            ("DELETE FROM blobs WHERE id = $1", &[&id]),
        ])?;
        Ok(())
    }

    fn ids(&self) -> Result<Vec<String>, StoreError> {
        let rows = self.store.query("SELECT id FROM blobs ORDER BY id", &[])?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn committed_at(&self, id: &str) -> Result<Option<SystemTime>, StoreError> {
        let rows = self
            .store
            .query("SELECT committed_at FROM blobs WHERE id = $1", &[&id])?;
        Ok(rows
            .first()
            .map(|row| SystemTime::UNIX_EPOCH + Duration::from_secs(row.get::<_, i64>(0).max(0) as u64)))
    }
}

struct PostgresBlobWriter {
    store: Arc<PostgresStore>,
    id: String,
    upload: String,
    started_at: i64,
    /// Bytes not yet stored: less than a chunk.
    pending: Vec<u8>,
    chunks: i32,
    length: u64,
    committed: bool,
}

impl PostgresBlobWriter {
    /// Stores `pending` as the next chunk (committed at once: a crash leaves chunks no blob names).
    fn store_chunk(&mut self) -> Result<(), StoreError> {
        self.store.query(
            "INSERT INTO blob_chunks (upload, number, started_at, data) VALUES ($1, $2, $3, $4)",
            &[&self.upload, &self.chunks, &self.started_at, &self.pending],
        )?;
        self.chunks += 1;
        self.pending.clear();
        Ok(())
    }
}

impl BlobWriter for PostgresBlobWriter {
    fn write(&mut self, mut bytes: &[u8]) -> Result<(), StoreError> {
        while !bytes.is_empty() {
            let take = (CHUNK - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            self.length += take as u64;
            bytes = &bytes[take..];
            if self.pending.len() == CHUNK {
                self.store_chunk()?;
            }
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        if !self.pending.is_empty() {
            self.store_chunk()?;
        }
        let length = i64::try_from(self.length).map_err(|_| StoreError::Backend("a blob past i64 bytes".into()))?;
        // One statement: it commits by itself, and a blob committed under the id meanwhile makes it fail.
        self.store.query(
            "INSERT INTO blobs (id, upload, length, committed_at) VALUES ($1, $2, $3, $4)",
            &[&self.id, &self.upload, &length, &unix_now()],
        )?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PostgresBlobWriter {
    fn drop(&mut self) {
        if !self.committed && self.chunks > 0 {
            let _ = self
                .store
                .query("DELETE FROM blob_chunks WHERE upload = $1", &[&self.upload]);
        }
    }
}

struct PostgresBlobReader {
    store: Arc<PostgresStore>,
    upload: String,
    length: u64,
    /// The chunk read last: reads of one body come in order and far smaller than a chunk.
    last_chunk: Mutex<Option<(i32, Arc<Vec<u8>>)>>,
}

impl PostgresBlobReader {
    fn chunk(&self, number: i32) -> Result<Arc<Vec<u8>>, StoreError> {
        let mut last = self.last_chunk.lock().map_err(|_| StoreError::Closed)?;
        if let Some((cached, data)) = &*last
            && *cached == number
        {
            return Ok(data.clone());
        }
        let rows = self.store.query(
            "SELECT data FROM blob_chunks WHERE upload = $1 AND number = $2",
            &[&self.upload, &number],
        )?;
        let data = Arc::new(
            rows.first()
                .map(|row| row.get::<_, Vec<u8>>(0))
                .ok_or_else(|| StoreError::Backend(format!("chunk {number} of a stored body is missing")))?,
        );
        *last = Some((number, data.clone()));
        Ok(data)
    }
}

impl BlobReader for PostgresBlobReader {
    fn len(&self) -> u64 {
        self.length
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError> {
        let mut filled = 0;
        while filled < buf.len() {
            let at = offset + filled as u64;
            if at >= self.length {
                break;
            }
            let number = i32::try_from(at / CHUNK as u64).map_err(|_| StoreError::Backend("offset too far".into()))?;
            let chunk = self.chunk(number)?;
            let within = (at % CHUNK as u64) as usize;
            let available = chunk.len().saturating_sub(within);
            if available == 0 {
                return Err(StoreError::Backend(format!("chunk {number} of a stored body is short")));
            }
            let take = available.min(buf.len() - filled);
            buf[filled..filled + take].copy_from_slice(&chunk[within..within + take]);
            filled += take;
        }
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::tests::{a_blob_is_visible_only_once_committed_in, read_all};
    use crate::testing::ScratchPostgres;

    fn open_node(cluster: &ScratchPostgres, database: &str) -> (Arc<PostgresStore>, PostgresBlobStore) {
        let options = crate::PostgresOptions {
            url: cluster.url(database),
            max_connections: 4,
            ca_pem: None,
        };
        let store = Arc::new(PostgresStore::open(&options).expect("open the store"));
        let blobs = PostgresBlobStore::open(store.clone()).expect("open the blobs");
        (store, blobs)
    }

    fn chunk_rows(store: &PostgresStore) -> i64 {
        store.query("SELECT count(*) FROM blob_chunks", &[]).expect("count")[0].get(0)
    }

    /// Many store calls in one tokio task without a yield between them (a console page's dozens of API calls) spend
    /// the task's cooperative budget; the store's waits must still finish rather than spin.
    #[test]
    fn many_store_calls_in_one_tokio_task_finish() {
        let cluster = ScratchPostgres::start();
        let database = cluster.create_database();
        let (store, _) = open_node(&cluster, &database);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let finished = runtime.block_on(async move {
            let calls = tokio::spawn(async move {
                for _ in 0..500 {
                    store.query("SELECT 1", &[]).expect("query");
                }
            });
            tokio::time::timeout(std::time::Duration::from_secs(60), calls).await
        });
        // A spinning task would hold a worker forever: do not wait for it.
        runtime.shutdown_background();
        assert!(
            matches!(finished, Ok(Ok(()))),
            "store calls in one task did not finish: {finished:?}"
        );
    }

    #[test]
    fn blobs_in_the_database_behave_as_blobs_in_a_directory() {
        let cluster = ScratchPostgres::start();
        let database = cluster.create_database();
        let (store, blobs) = open_node(&cluster, &database);
        a_blob_is_visible_only_once_committed_in(&blobs);
        assert_eq!(chunk_rows(&store), 0, "a deleted blob's chunks go with it");

        // Several chunks, written in pieces that straddle chunk boundaries, read back at any offset.
        let body: Vec<u8> = (0..CHUNK * 5 / 2).map(|n| (n % 251) as u8).collect();
        let mut writer = blobs.create("large").expect("create");
        for piece in body.chunks(CHUNK / 3 + 7) {
            writer.write(piece).expect("write");
        }
        writer.commit().expect("commit");
        assert_eq!(chunk_rows(&store), 3);
        assert_eq!(read_all(&blobs, "large").as_deref(), Some(&body[..]));
        let reader = blobs.open("large").expect("open").expect("present");
        for offset in [0, CHUNK - 3, CHUNK, 2 * CHUNK + 11, body.len() - 5] {
            let mut buf = vec![0u8; 4096];
            let read = reader.read_at(offset as u64, &mut buf).expect("read");
            assert_eq!(read, 4096.min(body.len() - offset));
            assert_eq!(&buf[..read], &body[offset..offset + read], "at {offset}");
        }

        // Another node sees the committed body.
        let (_, other_node) = open_node(&cluster, &database);
        assert_eq!(other_node.ids().expect("ids"), vec!["large".to_string()]);
    }

    #[test]
    fn writers_that_never_commit_leave_no_chunks_behind() {
        let cluster = ScratchPostgres::start();
        let database = cluster.create_database();
        let (store, blobs) = open_node(&cluster, &database);
        let mut writer = blobs.create("dropped").expect("create");
        writer.write(&vec![7u8; CHUNK + 1]).expect("write");
        assert_eq!(chunk_rows(&store), 1);
        drop(writer);
        assert_eq!(chunk_rows(&store), 0, "a dropped writer removes its chunks");

        // A node that crashed mid-write left chunks no blob names: the next store opened removes them once they are
        // an hour old, and leaves younger ones (another node may still be writing them).
        let long_ago = unix_now() - 2 * ABANDONED_AFTER.as_secs() as i64;
        for (upload, started_at) in [("crashed", long_ago), ("in-flight", unix_now())] {
            store
                .query(
                    "INSERT INTO blob_chunks (upload, number, started_at, data) VALUES ($1, 0, $2, $3)",
                    &[&upload, &started_at, &vec![1u8; 10]],
                )
                .expect("a chunk");
        }
        let _reopened = open_node(&cluster, &database);
        let left: Vec<String> = store
            .query("SELECT upload FROM blob_chunks", &[])
            .expect("uploads")
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(left, vec!["in-flight".to_string()]);
    }
}
