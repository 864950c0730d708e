//! Object bodies at rest: a plaintext stream sealed chunk by chunk (`keyhaven_crypto::chunked`) into a blob, and
//! ranged reads that open only the chunks they touch. Either way at most a MiB of chunks is held in memory, whatever
//! the object's size.

use keyhaven_crypto::chunked::{CHUNK_SIZE, ChunkKey, chunk_count, chunks_for_range};
use keyhaven_store::{BlobReader, BlobWriter};

use crate::S3Error;

/// Seals a body into a blob as it arrives. Dropped before `finish`, it leaves no blob.
pub struct SealedWriter {
    key: ChunkKey,
    blob: Box<dyn BlobWriter>,
    /// The chunk being filled. A full one is sealed only once more bytes arrive, since only the end of the body
    /// says which chunk is the last.
    chunk: Vec<u8>,
    index: u64,
    len: u64,
}

impl std::fmt::Debug for SealedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedWriter").field("len", &self.len).finish()
    }
}

impl SealedWriter {
    pub fn new(key: ChunkKey, blob: Box<dyn BlobWriter>) -> Self {
        Self {
            chunk: Vec::with_capacity(key.stored_chunk_len()),
            key,
            blob,
            index: 0,
            len: 0,
        }
    }

    pub fn write(&mut self, mut bytes: &[u8]) -> Result<(), S3Error> {
        while !bytes.is_empty() {
            if self.chunk.len() == CHUNK_SIZE {
                self.seal_chunk(false)?;
            }
            let take = bytes.len().min(CHUNK_SIZE - self.chunk.len());
            self.chunk.extend_from_slice(&bytes[..take]);
            self.len += take as u64;
            bytes = &bytes[take..];
        }
        Ok(())
    }

    /// Seals the last chunk and commits the blob; returns the body's length in bytes.
    pub fn finish(mut self) -> Result<u64, S3Error> {
        self.seal_chunk(true)?;
        self.blob.commit()?;
        Ok(self.len)
    }

    fn seal_chunk(&mut self, last: bool) -> Result<(), S3Error> {
        self.key.seal(self.index, last, &mut self.chunk)?;
        self.blob.write(&self.chunk)?;
        self.chunk.clear();
        self.index += 1;
        Ok(())
    }
}

/// How many stored chunks a read takes from the blob at once: one read call per MiB rather than per 64 KiB chunk.
const CHUNKS_PER_READ: u64 = 16;

/// Sends bytes `start..end` of a stored body of `len` bytes to `sink`, a chunk's worth at a time, reading
/// `CHUNKS_PER_READ` chunks at once. The range must lie within the body (`start < end <= len`); an empty body has no
/// range to read.
pub fn read_range(
    key: &ChunkKey,
    blob: &dyn BlobReader,
    len: u64,
    start: u64,
    end: u64,
    mut sink: impl FnMut(&[u8]) -> Result<(), S3Error>,
) -> Result<(), S3Error> {
    if start >= end || end > len {
        return Err(S3Error::Internal(format!(
            "range {start}..{end} outside a body of {len} bytes"
        )));
    }
    let stored_chunk = key.stored_chunk_len() as u64;
    let stored_len = key.sealed_len(len);
    let last_index = chunk_count(len) - 1;
    let (indexes, mut skip) = chunks_for_range(start, end);
    let mut remaining = end - start;
    let mut batch = Vec::with_capacity(CHUNKS_PER_READ as usize * key.stored_chunk_len());
    let mut first = *indexes.start();
    while first <= *indexes.end() {
        let through = (first + CHUNKS_PER_READ - 1).min(*indexes.end());
        let offset = first * stored_chunk;
        // At most CHUNKS_PER_READ stored chunks, so the batch's size fits a usize.
        batch.resize((((through + 1) * stored_chunk).min(stored_len) - offset) as usize, 0);
        if blob.read_at(offset, &mut batch)? != batch.len() {
            return Err(S3Error::Internal(format!("object body cut short at chunk {first}")));
        }
        for at in first..=through {
            let from = ((at - first) * stored_chunk) as usize;
            let to = (from + stored_chunk as usize).min(batch.len());
            let opened = key.open(at, at == last_index, &mut batch[from..to])?;
            let take = (opened - skip).min(usize::try_from(remaining).unwrap_or(usize::MAX));
            sink(&batch[from + skip..from + skip + take])?;
            remaining -= take as u64;
            skip = 0;
        }
        first = through + 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use keyhaven_crypto::chunked::{CHUNK_OVERHEAD, SALT_LEN};
    use keyhaven_store::testing::TempDir;
    use keyhaven_store::{BlobStore, FsBlobStore};

    use super::*;

    fn key() -> ChunkKey {
        ChunkKey::derive(&[5; 32], &[6; SALT_LEN], b"bucket\0key\0v1").expect("key")
    }

    /// DSSE-KMS's two layers.
    fn two_layer_key() -> ChunkKey {
        key()
            .with_second_layer(ChunkKey::derive(&[7; 32], &[6; SALT_LEN], b"bucket\0key\0v1").expect("key"))
            .expect("two layers")
    }

    fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 256) as u8).collect()
    }

    /// Stores `data` written in pieces of `piece` bytes; returns the store and the body's length.
    fn stored(dir: &TempDir, key: ChunkKey, data: &[u8], piece: usize) -> (FsBlobStore, u64) {
        let store = FsBlobStore::open(&dir.path().join("blobs")).expect("blobs");
        let mut writer = SealedWriter::new(key, store.create("body").expect("create"));
        for part in data.chunks(piece.max(1)) {
            writer.write(part).expect("write");
        }
        let len = writer.finish().expect("finish");
        (store, len)
    }

    fn read(store: &FsBlobStore, key: &ChunkKey, len: u64, start: u64, end: u64) -> Result<Vec<u8>, S3Error> {
        let blob = store.open("body").expect("open").expect("present");
        let mut out = Vec::new();
        read_range(key, &*blob, len, start, end, |bytes| {
            assert!(bytes.len() <= CHUNK_SIZE, "one chunk at a time");
            out.extend_from_slice(bytes);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn bodies_written_in_any_pieces_read_back_whole_and_in_ranges() {
        let size = CHUNK_SIZE;
        for (len, piece) in [
            (1, 1),
            (size, 1000),
            (size + 1, size),
            (3 * size + 17, 4096),
            (2 * size, 3 * size),
            (CHUNKS_PER_READ as usize * size + 2 * size + 5, 100_000),
        ] {
            for layers in [1, 2] {
                let key = || if layers == 1 { key() } else { two_layer_key() };
                let dir = TempDir::new();
                let data = body(len);
                let (store, stored_len) = stored(&dir, key(), &data, piece);
                assert_eq!(stored_len, len as u64);
                let blob_len = store.open("body").expect("open").expect("present").len();
                assert_eq!(blob_len, key().sealed_len(len as u64), "{len}");
                let read = |start: usize, end: usize| read(&store, &key(), len as u64, start as u64, end as u64);
                assert_eq!(read(0, len).expect("whole"), data, "{len} in {layers} layers");
                let ranges = [
                    (0, 1),
                    (len / 2, len),
                    (len.saturating_sub(3), len),
                    (size - 1, (size + 2).min(len)),
                    (CHUNKS_PER_READ as usize * size - 3, len),
                ];
                for (start, end) in ranges.into_iter().filter(|(s, e)| s < e) {
                    let got = read(start, end).expect("range");
                    assert_eq!(got, &data[start..end], "{len} in {layers} layers: {start}..{end}");
                }
            }
        }
    }

    #[test]
    fn an_empty_body_is_stored_as_one_sealed_chunk() {
        let dir = TempDir::new();
        let (store, len) = stored(&dir, key(), &[], 1);
        assert_eq!(len, 0);
        assert_eq!(
            store.open("body").expect("open").expect("present").len(),
            CHUNK_OVERHEAD as u64
        );
    }

    #[test]
    fn a_changed_or_cut_body_is_refused_and_a_bad_range_is_an_internal_error() {
        let dir = TempDir::new();
        let len = 2 * CHUNK_SIZE + 10;
        let (store, _) = stored(&dir, key(), &body(len), 4096);
        let path = dir.path().join("blobs").join("body");
        let mut bytes = std::fs::read(&path).expect("blob");
        bytes[CHUNK_SIZE + CHUNK_OVERHEAD + 3] ^= 1;
        std::fs::write(&path, &bytes).expect("tamper");
        let second_chunk = (CHUNK_SIZE + 1) as u64..(CHUNK_SIZE + 2) as u64;
        assert!(matches!(
            read(&store, &key(), len as u64, second_chunk.start, second_chunk.end),
            Err(S3Error::Internal(_))
        ));
        assert_eq!(
            read(&store, &key(), len as u64, 0, 5).expect("the first chunk is intact"),
            body(5)
        );
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&path, &bytes).expect("cut");
        assert!(matches!(
            read(&store, &key(), len as u64, 0, len as u64),
            Err(S3Error::Internal(_))
        ));
        assert!(matches!(
            read(&store, &key(), len as u64, 5, 5),
            Err(S3Error::Internal(_))
        ));
        assert!(matches!(
            read(&store, &key(), len as u64, 0, len as u64 + 1),
            Err(S3Error::Internal(_))
        ));
    }

    #[test]
    fn an_unfinished_body_leaves_no_blob() {
        let dir = TempDir::new();
        let store = FsBlobStore::open(&dir.path().join("blobs")).expect("blobs");
        let mut writer = SealedWriter::new(key(), store.create("body").expect("create"));
        writer.write(&body(CHUNK_SIZE + 5)).expect("write");
        drop(writer);
        assert!(store.open("body").expect("open").is_none());
        assert!(store.ids().expect("ids").is_empty());
    }
}
