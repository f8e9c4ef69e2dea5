//! The CTFS container (`ctfs-container.md` of the spec): a `.ct` file of
//! fixed-size blocks holding a flat set of named internal files.
//!
//! Block 0 holds the 16-byte header and the 24-byte file entries (size,
//! root mapping block, base40 name). Each internal file's data blocks are
//! found through its mapping blocks: entries `[0, N-2]` point at data blocks
//! (level 1) or at lower mapping blocks (levels 2-5), entry `N-1` chains to
//! the next level's root.
//!
//! Two choices where the spec leaves room, both what CodeTracer's own
//! readers (and the spec's `fixtures/minimal_trace.ct`) do:
//! - `MaxRootEntries` is written explicitly (170, what "auto" means for a
//!   4096-byte block 0 without shards): current readers take 0 literally.
//! - every file, however small, gets a level-1 mapping block: the spec's
//!   small-file optimization is not used, and not assumed when reading.
//!
//! Writing is append-only and streaming: a file's last, partial block is
//! kept in memory and written (whole, zero-padded) at each [`commit`], then
//! its mapping blocks, then its file entry's size — so a reader (or a
//! process killed at any point) sees every committed byte and nothing torn.
//!
//! [`commit`]: ContainerWriter::commit

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use recorder_errors::prelude::*;

pub const MAGIC: [u8; 5] = [0xC0, 0xDE, 0x72, 0xAC, 0xE2];
/// Container version written (readers of versions 2-4 read it).
pub const VERSION: u8 = 4;
pub const BLOCK_SIZE: usize = 4096;
const HEADER_SIZE: usize = 16;
const ENTRY_SIZE: usize = 24;
/// File entries that fit in block 0 after the header (no shards).
pub const ROOT_ENTRIES: usize = (BLOCK_SIZE - HEADER_SIZE) / ENTRY_SIZE;
const MAX_LEVELS: usize = 5;

const BASE40: &[u8; 40] = b"\x000123456789abcdefghijklmnopqrstuvwxyz./-";

/// Base40 code of an internal file name (at most 12 characters of
/// `0-9 a-z . / -`).
pub fn base40_encode(name: &str) -> RecorderResult<u64> {
    if name.is_empty() || name.len() > 12 {
        return Err(bug!(ErrorCode::Internal, "CTFS file name {:?} must have 1 to 12 characters", name));
    }
    let mut code = 0u64;
    let mut mul = 1u64;
    for ch in name.bytes() {
        let idx = BASE40
            .iter()
            .skip(1)
            .position(|&c| c == ch)
            .ok_or_else(|| bug!(ErrorCode::Internal, "CTFS file name {:?} has a character outside base40", name))?;
        code += (idx as u64 + 1) * mul;
        mul = mul.wrapping_mul(40);
    }
    Ok(code)
}

/// The name a base40 code stands for (stops at the first padding digit).
pub fn base40_decode(mut code: u64) -> String {
    let mut out = String::new();
    while code > 0 {
        let d = (code % 40) as usize;
        code /= 40;
        if d == 0 {
            break;
        }
        out.push(char::from(BASE40[d]));
    }
    out
}

fn corrupt(msg: String) -> RecorderError {
    RecorderError::new(ErrorCode::TraceStreamCorrupt, msg)
}

/// Pointers per mapping block (`N`) and data pointers per block (`N - 1`).
fn fanout(block_size: usize) -> (usize, u64) {
    let n = block_size / 8;
    (n, (n - 1) as u64)
}

/// Where logical block `index` of a file sits: its level (1-5) and the
/// index within that level.
fn locate(index: u64, usable: u64) -> Option<(usize, u64)> {
    let mut rest = index;
    let mut cap = usable;
    for level in 1..=MAX_LEVELS {
        if rest < cap {
            return Some((level, rest));
        }
        rest -= cap;
        cap = cap.checked_mul(usable)?;
    }
    None
}

// ---------------------------------------------------------------- writing

/// Mapping blocks of one file being written. Roots of each level stay in
/// memory; an inner mapping block is dropped once full and on disk (writes
/// are sequential, so it never changes again).
#[derive(Default)]
struct Mapping {
    roots: [u64; MAX_LEVELS],
    cache: HashMap<u64, Vec<u64>>,
    dirty: Vec<u64>,
}

impl Mapping {
    fn entry_mut(&mut self, block: u64, idx: usize) -> RecorderResult<&mut u64> {
        if !self.dirty.contains(&block) {
            self.dirty.push(block);
        }
        self.cache
            .get_mut(&block)
            .and_then(|b| b.get_mut(idx))
            .ok_or_else(|| bug!(ErrorCode::Internal, "CTFS mapping block {} is not in memory", block))
    }

    fn get(&self, block: u64, idx: usize) -> u64 {
        self.cache.get(&block).and_then(|b| b.get(idx)).copied().unwrap_or(0)
    }

    fn new_block(&mut self, next: &mut u64) -> u64 {
        let b = *next;
        *next += 1;
        self.cache.insert(b, vec![0u64; BLOCK_SIZE / 8]);
        self.dirty.push(b);
        b
    }

    /// Records that logical data block `index` lives in container block `phys`.
    fn set(&mut self, next: &mut u64, index: u64, phys: u64) -> RecorderResult<()> {
        let (n, usable) = fanout(BLOCK_SIZE);
        let (level, mut rest) =
            locate(index, usable).ok_or_else(|| bug!(ErrorCode::Internal, "CTFS file exceeds 5 mapping levels"))?;
        if self.roots[0] == 0 {
            self.roots[0] = self.new_block(next);
        }
        for l in 1..level {
            if self.roots[l] == 0 {
                self.roots[l] = self.new_block(next);
                let (prev, this) = (self.roots[l - 1], self.roots[l]);
                *self.entry_mut(prev, n - 1)? = this;
            }
        }
        let mut block = self.roots[level - 1];
        let mut depth = level - 1;
        while depth > 0 {
            let cap = usable.pow(depth as u32);
            let sub = (rest / cap) as usize;
            rest %= cap;
            let mut child = self.get(block, sub);
            if child == 0 {
                child = self.new_block(next);
                *self.entry_mut(block, sub)? = child;
            }
            block = child;
            depth -= 1;
        }
        *self.entry_mut(block, rest as usize)? = phys;
        Ok(())
    }
}

struct FileState {
    name: String,
    slot: usize,
    size: u64,
    /// Bytes of the last, partial block (`size % BLOCK_SIZE` of them).
    tail: Vec<u8>,
    /// Container block of the partial block, once allocated.
    tail_block: u64,
    mapping: Mapping,
    committed_size: u64,
}

/// Handle of an internal file of a [`ContainerWriter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId(usize);

/// Bytes of consecutive writes held before they go to the file in one.
const PENDING_MAX: usize = 1 << 20;

/// Writes a `.ct` container, streaming.
///
/// Writes that continue the previous one (a chunk's data blocks, the
/// mapping blocks allocated after them) are joined and go to the file in
/// one system call; any other write, a [`commit`](Self::commit) and
/// [`finish`](Self::finish) send them first, so the file sees every write
/// in the order made (the spec's writer protocol holds) and a commit is on
/// the file when it returns.
pub struct ContainerWriter {
    file: File,
    path: PathBuf,
    next_block: u64,
    files: Vec<FileState>,
    block: Vec<u8>,
    /// Joined writes, for the file at `pending_at`.
    pending: Vec<u8>,
    pending_at: u64,
    /// The file's position (a write there needs no seek).
    pos: u64,
    /// Where the disk's writeback of the appended data was last started
    /// ([`ContainerWriter::start_writeback`]).
    written_back: u64,
}

/// Appended bytes after which their writeback to disk is started.
const WRITEBACK_EVERY: u64 = 4 << 20;

impl ContainerWriter {
    /// Creates (or truncates) `path` and writes block 0.
    pub fn create(path: &Path) -> RecorderResult<Self> {
        let file = File::create(path).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, path))?;
        let mut w = ContainerWriter {
            file,
            path: path.to_path_buf(),
            next_block: 1,
            files: Vec::new(),
            block: vec![0; BLOCK_SIZE],
            pending: Vec::new(),
            pending_at: 0,
            pos: 0,
            written_back: 0,
        };
        let mut b0 = vec![0u8; BLOCK_SIZE];
        b0[..5].copy_from_slice(&MAGIC);
        b0[5] = VERSION;
        b0[6] = 0; // no encryption
        b0[7] = 0; // no shards
        b0[8..12].copy_from_slice(&(BLOCK_SIZE as u32).to_le_bytes());
        b0[12..16].copy_from_slice(&(ROOT_ENTRIES as u32).to_le_bytes());
        w.write_at(0, &b0)?;
        w.send_pending()?;
        Ok(w)
    }

    /// Writes `data` at `offset`: joined to the pending writes when it
    /// continues them, else after sending them.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> RecorderResult<()> {
        let continues = offset == self.pending_at + self.pending.len() as u64;
        if !(continues && self.pending.len() + data.len() <= PENDING_MAX) {
            self.send_pending()?;
            self.pending_at = offset;
        }
        self.pending.extend_from_slice(data);
        Ok(())
    }

    /// Sends the pending writes to the file.
    fn send_pending(&mut self) -> RecorderResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = &self.path;
        let r = if self.pos == self.pending_at { Ok(self.pos) } else { self.file.seek(SeekFrom::Start(self.pending_at)) };
        let r = r.and_then(|_| self.file.write_all(&self.pending));
        // After a failed write the position is unknown: seek next time.
        self.pos = if r.is_ok() { self.pending_at + self.pending.len() as u64 } else { u64::MAX };
        self.pending.clear();
        r.map_err(|e| RecorderError::from_io(ErrorCode::Io, e, path))?;
        if self.pos != u64::MAX && self.pos >= self.written_back + WRITEBACK_EVERY {
            self.start_writeback();
        }
        Ok(())
    }

    /// Starts writing the bytes appended since the last call to the disk,
    /// without waiting for them: the `fsync` of [`ContainerWriter::finish`]
    /// (a finished trace is on the disk before the metadata that says so)
    /// then waits for the last few MB only, not for the whole file (30 ms
    /// for w_numeric's 31 MB trace.ct: docs/performance.md). Linux only;
    /// elsewhere the `fsync` does it all.
    fn start_writeback(&mut self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (from, len) = (self.written_back, self.pos - self.written_back);
            // SAFETY: a range of a file this writer owns; the call only starts writeback.
            unsafe { libc::sync_file_range(self.file.as_raw_fd(), from as libc::off64_t, len as libc::off64_t, libc::SYNC_FILE_RANGE_WRITE) };
        }
        self.written_back = self.pos;
    }

    /// Adds an empty internal file named `name`.
    pub fn add_file(&mut self, name: &str) -> RecorderResult<FileId> {
        let code = base40_encode(name)?;
        if self.files.iter().any(|f| f.name == name) {
            return Err(bug!(ErrorCode::Internal, "CTFS file {:?} added twice", name));
        }
        let slot = self.files.len();
        if slot >= ROOT_ENTRIES {
            return Err(bug!(ErrorCode::Internal, "CTFS container holds at most {} files", ROOT_ENTRIES));
        }
        self.files.push(FileState {
            name: name.to_owned(),
            slot,
            size: 0,
            tail: Vec::with_capacity(BLOCK_SIZE),
            tail_block: 0,
            mapping: Mapping::default(),
            committed_size: 0,
        });
        let mut entry = [0u8; ENTRY_SIZE];
        entry[16..24].copy_from_slice(&code.to_le_bytes());
        self.write_at((HEADER_SIZE + slot * ENTRY_SIZE) as u64, &entry)?;
        self.send_pending()?;
        Ok(FileId(slot))
    }

    fn state(&mut self, id: FileId) -> RecorderResult<&mut FileState> {
        self.files.get_mut(id.0).ok_or_else(|| bug!(ErrorCode::Internal, "unknown CTFS file id {}", id.0))
    }

    /// Appends bytes to a file. They become visible at the next [`commit`](Self::commit).
    pub fn append(&mut self, id: FileId, mut data: &[u8]) -> RecorderResult<()> {
        while !data.is_empty() {
            let f = self.state(id)?;
            let take = (BLOCK_SIZE - f.tail.len()).min(data.len());
            f.tail.extend_from_slice(&data[..take]);
            f.size += take as u64;
            data = &data[take..];
            if f.tail.len() == BLOCK_SIZE {
                self.write_tail(id)?;
                let f = self.state(id)?;
                f.tail.clear();
                f.tail_block = 0;
            }
        }
        Ok(())
    }

    /// Writes a file's current last block (allocating and mapping it first).
    fn write_tail(&mut self, id: FileId) -> RecorderResult<()> {
        let mut next = self.next_block;
        let f = self.files.get_mut(id.0).ok_or_else(|| bug!(ErrorCode::Internal, "unknown CTFS file id {}", id.0))?;
        if f.tail.is_empty() {
            return Ok(());
        }
        if f.tail_block == 0 {
            f.tail_block = next;
            next += 1;
            let index = (f.size - 1) / BLOCK_SIZE as u64;
            f.mapping.set(&mut next, index, f.tail_block)?;
        }
        let phys = f.tail_block;
        self.block[..f.tail.len()].copy_from_slice(&f.tail);
        self.block[f.tail.len()..].fill(0);
        self.next_block = next;
        let block = std::mem::take(&mut self.block);
        let r = self.write_at(phys * BLOCK_SIZE as u64, &block);
        self.block = block;
        r
    }

    /// Makes everything appended to `id` so far visible: its last block,
    /// then its mapping blocks, then its size in block 0 (the spec's writer
    /// protocol, in that order).
    pub fn commit(&mut self, id: FileId) -> RecorderResult<()> {
        self.write_tail(id)?;
        let f = self.files.get_mut(id.0).ok_or_else(|| bug!(ErrorCode::Internal, "unknown CTFS file id {}", id.0))?;
        let mut writes: Vec<(u64, Vec<u8>)> = Vec::new();
        for b in f.mapping.dirty.drain(..) {
            if let Some(entries) = f.mapping.cache.get(&b) {
                let mut bytes = Vec::with_capacity(BLOCK_SIZE);
                for e in entries {
                    bytes.extend_from_slice(&e.to_le_bytes());
                }
                writes.push((b, bytes));
            }
        }
        // Drop full inner blocks: sequential appends never touch them again.
        let (_, usable) = fanout(BLOCK_SIZE);
        let roots = f.mapping.roots;
        f.mapping
            .cache
            .retain(|b, entries| roots.contains(b) || entries.iter().take(usable as usize).any(|&e| e == 0));
        let (slot, size, map_block) = (f.slot, f.size, f.mapping.roots[0]);
        f.committed_size = size;
        for (b, bytes) in writes {
            self.write_at(b * BLOCK_SIZE as u64, &bytes)?;
        }
        let mut head = [0u8; 16];
        head[..8].copy_from_slice(&size.to_le_bytes());
        head[8..].copy_from_slice(&map_block.to_le_bytes());
        self.write_at((HEADER_SIZE + slot * ENTRY_SIZE) as u64, &head)?;
        self.send_pending()
    }

    /// Size of the container file so far, in bytes.
    pub fn len(&self) -> u64 {
        self.next_block * BLOCK_SIZE as u64
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Commits every file and flushes the container to disk.
    pub fn finish(mut self) -> RecorderResult<u64> {
        for i in 0..self.files.len() {
            self.commit(FileId(i))?;
        }
        self.send_pending()?;
        let path = self.path.clone();
        self.file.sync_all().map_err(|e| RecorderError::from_io(ErrorCode::Io, e, &path))?;
        Ok(self.len())
    }
}

// ---------------------------------------------------------------- reading

/// One internal file as block 0 lists it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub size: u64,
    pub map_block: u64,
}

/// Reads a `.ct` container, including one cut short (a killed writer, a
/// partial copy): [`ContainerReader::open_file`] yields the bytes of a file
/// up to the first block the container does not hold.
pub struct ContainerReader {
    file: File,
    len: u64,
    block_size: usize,
    pub version: u8,
    pub entries: Vec<Entry>,
}

impl ContainerReader {
    pub fn open(path: &Path) -> RecorderResult<Self> {
        let mut file = File::open(path).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, path))?;
        let len = file.metadata().map_err(|e| RecorderError::from_io(ErrorCode::Io, e, path))?.len();
        let mut head = [0u8; HEADER_SIZE];
        if len < HEADER_SIZE as u64 {
            return Err(corrupt(format!("{}: not a CTFS container: {} bytes, shorter than its 16-byte header", path.display(), len)));
        }
        file.read_exact(&mut head).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, path))?;
        if head[..5] != MAGIC {
            return Err(corrupt(format!("{}: not a CTFS container (bad magic)", path.display())));
        }
        let version = head[5];
        if !(2..=4).contains(&version) {
            return Err(corrupt(format!("{}: unsupported CTFS version {}", path.display(), version)));
        }
        if head[6] != 0 {
            return Err(corrupt(format!("{}: encrypted CTFS containers are not supported", path.display())));
        }
        let block_size = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize;
        if !matches!(block_size, 1024 | 2048 | 4096) {
            return Err(corrupt(format!("{}: invalid CTFS block size {}", path.display(), block_size)));
        }
        let mut max_entries = u32::from_le_bytes([head[12], head[13], head[14], head[15]]) as usize;
        if max_entries == 0 {
            max_entries = (block_size - HEADER_SIZE) / ENTRY_SIZE;
        }
        let table_len = max_entries * ENTRY_SIZE;
        if len < (HEADER_SIZE + table_len) as u64 && len < block_size as u64 {
            return Err(corrupt(format!(
                "{}: CTFS container cut short inside block 0 ({} bytes): its file table is incomplete",
                path.display(),
                len
            )));
        }
        let avail = ((len - HEADER_SIZE as u64) as usize).min(table_len);
        let mut table = vec![0u8; avail];
        file.read_exact(&mut table).map_err(|e| RecorderError::from_io(ErrorCode::Io, e, path))?;
        let mut entries = Vec::new();
        for e in table.chunks_exact(ENTRY_SIZE) {
            let word = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&e[i..i + 8]);
                u64::from_le_bytes(b)
            };
            let code = word(16);
            if code != 0 {
                entries.push(Entry { name: base40_decode(code), size: word(0), map_block: word(8) });
            }
        }
        Ok(ContainerReader { file, len, block_size, version, entries })
    }

    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Container bytes on disk.
    pub fn container_len(&self) -> u64 {
        self.len
    }

    fn whole_blocks(&self) -> u64 {
        self.len / self.block_size as u64
    }

    fn read_block_into(&mut self, block: u64, buf: &mut [u8]) -> bool {
        if block == 0 || block >= self.whole_blocks() {
            return false;
        }
        self.file.seek(SeekFrom::Start(block * self.block_size as u64)).is_ok() && self.file.read_exact(buf).is_ok()
    }

    fn map_entry(&mut self, block: u64, idx: usize) -> Option<u64> {
        let mut b = [0u8; 8];
        if block == 0 || block >= self.whole_blocks() {
            return None;
        }
        let off = block * self.block_size as u64 + (idx * 8) as u64;
        if self.file.seek(SeekFrom::Start(off)).is_err() || self.file.read_exact(&mut b).is_err() {
            return None;
        }
        Some(u64::from_le_bytes(b)).filter(|&v| v != 0)
    }

    /// Container block holding logical block `index` of the file whose
    /// level-1 mapping block is `root`; `None` when the container does not
    /// (yet) hold it.
    fn resolve(&mut self, root: u64, index: u64) -> Option<u64> {
        let (n, usable) = fanout(self.block_size);
        let (level, mut rest) = locate(index, usable)?;
        let mut block = root;
        for _ in 1..level {
            block = self.map_entry(block, n - 1)?;
        }
        let mut depth = level - 1;
        while depth > 0 {
            let cap = usable.pow(depth as u32);
            block = self.map_entry(block, (rest / cap) as usize)?;
            rest %= cap;
            depth -= 1;
        }
        self.map_entry(block, rest as usize)
    }

    /// A reader of `name`'s bytes: all `size` of them when the container is
    /// whole, else up to the first missing block ([`FileCursor::cut_short`]
    /// says which).
    pub fn open_file(&mut self, name: &str) -> Option<FileCursor<'_>> {
        let e = self.entry(name)?.clone();
        Some(FileCursor { reader: self, entry: e, pos: 0, block: Vec::new(), block_index: u64::MAX, cut_short: false })
    }

    /// A whole small file; `Err` when it is absent or not fully present.
    pub fn read_file(&mut self, name: &str) -> RecorderResult<Vec<u8>> {
        let mut cur = self.open_file(name).ok_or_else(|| corrupt(format!("CTFS container has no file {name:?}")))?;
        let mut out = Vec::new();
        cur.read_to_end(&mut out).map_err(|e| corrupt(format!("{name}: {e}")))?;
        if cur.cut_short {
            return Err(corrupt(format!("{name}: cut short: {} of its {} bytes are in the container", out.len(), cur.entry.size)));
        }
        Ok(out)
    }
}

/// Sequential reader of one internal file (see [`ContainerReader::open_file`]).
pub struct FileCursor<'a> {
    reader: &'a mut ContainerReader,
    pub entry: Entry,
    pos: u64,
    block: Vec<u8>,
    block_index: u64,
    /// Set when the container ended (or a mapping pointer was missing)
    /// before the file's declared size.
    pub cut_short: bool,
}

impl Read for FileCursor<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.entry.size || self.cut_short || buf.is_empty() {
            return Ok(0);
        }
        let bs = self.reader.block_size as u64;
        let index = self.pos / bs;
        if index != self.block_index {
            let phys = self.reader.resolve(self.entry.map_block, index);
            self.block.resize(bs as usize, 0);
            let ok = match phys {
                Some(p) => {
                    let mut blk = std::mem::take(&mut self.block);
                    let ok = self.reader.read_block_into(p, &mut blk);
                    self.block = blk;
                    ok
                }
                None => false,
            };
            if !ok {
                self.cut_short = true;
                return Ok(0);
            }
            self.block_index = index;
        }
        let within = (self.pos % bs) as usize;
        let end = (bs as usize).min(within + (self.entry.size - self.pos) as usize);
        let n = (end - within).min(buf.len());
        buf[..n].copy_from_slice(&self.block[within..within + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base40_round_trips_the_spec_names() {
        for name in ["meta.dat", "steps.dat", "events.log", "memwrites.tc", "a", "0-9/z"] {
            let code = base40_encode(name).unwrap();
            assert_eq!(base40_decode(code), name);
        }
        // The spec's formula: c[0]*40^0 + c[1]*40^1 ...; 'a' is 11.
        assert_eq!(base40_encode("a").unwrap(), 11);
        assert_eq!(base40_encode("ab").unwrap(), 11 + 12 * 40);
        assert!(base40_encode("UPPER").is_err());
        assert!(base40_encode("thirteen.chrs").is_err());
    }

    #[test]
    fn locate_matches_the_capacity_table() {
        let u = 511;
        assert_eq!(locate(0, u), Some((1, 0)));
        assert_eq!(locate(510, u), Some((1, 510)));
        assert_eq!(locate(511, u), Some((2, 0)));
        assert_eq!(locate(511 + 511 * 511, u), Some((3, 0)));
    }
}
