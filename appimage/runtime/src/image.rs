//! The AppImage file: this executable plus the squashfs image appended to it.
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use backhand::FilesystemReader;
use xxhash_rust::xxh64::Xxh64;

use crate::elf::{u64_at, Elf};
use crate::error::{Context, Error, Result};

/// Largest squashfs metadata region hashed for the cache key.
const MAX_DIGESTED: u64 = 256 << 20;

pub struct Image {
    /// Real path of the AppImage (what `$APPIMAGE` is set to).
    pub path: PathBuf,
    /// Where the squashfs image starts.
    pub offset: u64,
    elf: Elf,
}

impl Image {
    /// The AppImage being run: the file behind `/proc/self/exe`.
    pub fn current() -> Result<Image> {
        let path = std::fs::read_link("/proc/self/exe")
            .context(|| "finding this AppImage through /proc/self/exe")?;
        Image::open(&path)
    }

    pub fn open(path: &Path) -> Result<Image> {
        let mut file = open(path)?;
        let elf = Elf::read(&mut file, path)?;
        let offset = elf.end();
        Ok(Image { path: path.to_path_buf(), offset, elf })
    }

    /// A named ELF section's bytes up to the first NUL (empty when absent).
    pub fn section_text(&self, name: &str) -> Result<Vec<u8>> {
        let mut file = open(&self.path)?;
        let mut bytes = self.elf.section(&mut file, name)?.unwrap_or_default();
        if let Some(nul) = bytes.iter().position(|&b| b == 0) {
            bytes.truncate(nul);
        }
        Ok(bytes)
    }

    /// The squashfs superblock (96 bytes), checked.
    fn superblock(&self, file: &mut File) -> Result<[u8; 96]> {
        let mut sb = [0u8; 96];
        file.seek(SeekFrom::Start(self.offset))
            .and_then(|_| file.read_exact(&mut sb))
            .map_err(|_| self.no_image())?;
        if &sb[0..4] != b"hsqs" {
            return Err(self.no_image());
        }
        Ok(sb)
    }

    fn no_image(&self) -> Error {
        Error::new(format!(
            "{}: no squashfs image at offset {} (is this a runtime without an image appended?)",
            self.path.display(),
            self.offset
        ))
    }

    /// Cheap identity of the image, for the extraction cache: a hash of the
    /// superblock and of the metadata tables (inodes, directories,
    /// fragments, ids), which record every file's name, size, mode, mtime
    /// and the compressed size of every data block. Data blocks themselves
    /// are not read, so this costs a few hundred KiB of reading at most.
    pub fn digest(&self) -> Result<String> {
        let mut file = open(&self.path)?;
        let sb = self.superblock(&mut file)?;
        let bytes_used = u64_at(&sb, 40);
        let inode_table = u64_at(&sb, 64);
        let len = bytes_used.saturating_sub(inode_table).min(MAX_DIGESTED);
        let mut hasher = Xxh64::new(0);
        hasher.update(&sb);
        file.seek(SeekFrom::Start(self.offset + inode_table))
            .context(|| format!("reading {}", self.path.display()))?;
        let mut rest = (&mut file).take(len);
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = rest.read(&mut buf).context(|| format!("reading {}", self.path.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(format!("{:016x}", hasher.digest()))
    }

    /// The squashfs image, read through backhand.
    pub fn filesystem(&self) -> Result<FilesystemReader<'static>> {
        let mut file = open(&self.path)?;
        self.superblock(&mut file)?;
        FilesystemReader::from_reader_with_offset(BufReader::new(file), self.offset)
            .context(|| format!("reading the squashfs image in {}", self.path.display()))
    }
}

fn open(path: &Path) -> Result<File> {
    File::open(path).context(|| format!("opening {}", path.display()))
}
