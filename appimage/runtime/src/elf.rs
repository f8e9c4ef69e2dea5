//! Where the ELF file ends, and named sections' contents, read from the file
//! (the AppImage on disk, which is what other tools read too).
//!
//! The runtime is x86_64 only, so only little-endian ELF64 is understood.
//! The end of the ELF is the furthest of: the section header table's end and
//! every non-NOBITS section's end. The squashfs image starts right there.
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Context, Error, Result};

const SHT_NOBITS: u32 = 8;

struct Section {
    name: u32,
    kind: u32,
    offset: u64,
    size: u64,
}

pub struct Elf {
    sections: Vec<Section>,
    shstrndx: usize,
    table_end: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut v = [0u8; 2];
    v.copy_from_slice(&b[at..at + 2]);
    u16::from_le_bytes(v)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

pub fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

impl Elf {
    pub fn read(file: &mut File, path: &Path) -> Result<Elf> {
        let shown = path.display();
        let mut header = [0u8; 64];
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_exact(&mut header))
            .context(|| format!("reading the ELF header of {shown}"))?;
        if &header[0..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
            return Err(Error::new(format!("{shown} is not a little-endian ELF64 file")));
        }
        let shoff = u64_at(&header, 0x28);
        let shentsize = u64::from(u16_at(&header, 0x3A));
        let shnum = u64::from(u16_at(&header, 0x3C));
        let shstrndx = usize::from(u16_at(&header, 0x3E));
        if shentsize < 64 || shnum == 0 || shnum > 4096 {
            return Err(Error::new(format!("{shown} has no usable section header table")));
        }
        let mut table = vec![0u8; (shentsize * shnum) as usize];
        file.seek(SeekFrom::Start(shoff))
            .and_then(|_| file.read_exact(&mut table))
            .context(|| format!("reading the section headers of {shown}"))?;
        let sections = table
            .chunks_exact(shentsize as usize)
            .map(|s| Section {
                name: u32_at(s, 0),
                kind: u32_at(s, 4),
                offset: u64_at(s, 0x18),
                size: u64_at(s, 0x20),
            })
            .collect();
        Ok(Elf { sections, shstrndx, table_end: shoff + shentsize * shnum })
    }

    /// Offset of the first byte after the ELF: where the squashfs starts.
    pub fn end(&self) -> u64 {
        self.sections
            .iter()
            .filter(|s| s.kind != SHT_NOBITS)
            .map(|s| s.offset + s.size)
            .fold(self.table_end, u64::max)
    }

    /// The bytes of the section called `name`, if there is one.
    pub fn section(&self, file: &mut File, name: &str) -> Result<Option<Vec<u8>>> {
        let Some(strtab) = self.sections.get(self.shstrndx) else {
            return Ok(None);
        };
        let names = read_range(file, strtab.offset, strtab.size)?;
        for s in &self.sections {
            let start = s.name as usize;
            let Some(rest) = names.get(start..) else { continue };
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            if &rest[..end] == name.as_bytes() {
                return read_range(file, s.offset, s.size).map(Some);
            }
        }
        Ok(None)
    }
}

fn read_range(file: &mut File, offset: u64, size: u64) -> Result<Vec<u8>> {
    if size > 64 << 20 {
        return Err(Error::new("ELF section too large"));
    }
    let mut buf = vec![0u8; size as usize];
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut buf))
        .context(|| "reading an ELF section")?;
    Ok(buf)
}
