//! Writing the squashfs tree (or the part matching a pattern) to a folder.
use std::fs::{self, File, FileTimes, OpenOptions, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use backhand::{FilesystemReader, InnerNode};
use glob::Pattern;

use crate::error::{Context, Error, Result};

pub struct Options<'p> {
    /// Only nodes whose path inside the image (no leading `/`) matches; the
    /// folders above them are created too. `*` also matches `/`.
    pub pattern: Option<&'p Pattern>,
    /// Print each extracted path (joined to this prefix) on stdout.
    pub list_prefix: Option<&'p Path>,
    /// Make every folder writable by its owner (cache entries must be
    /// removable later).
    pub owner_writable_dirs: bool,
}

/// Path of a node inside the image, relative, refusing anything that could
/// leave the destination (`..`, absolute parts).
fn relative(full: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in full.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            _ => return Err(Error::new(format!("unsafe path in image: {}", full.display()))),
        }
    }
    Ok(out)
}

fn mtime(seconds: u32) -> FileTimes {
    FileTimes::new().set_modified(UNIX_EPOCH + Duration::from_secs(u64::from(seconds)))
}

/// Remove whatever is at `path` unless it is a folder (re-extracting over an
/// older tree replaces files and links).
fn clear(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_dir() => fs::remove_file(path),
        _ => Ok(()),
    }
}

pub fn extract(fs_reader: &FilesystemReader<'_>, dest: &Path, opts: &Options<'_>) -> Result<usize> {
    fs::create_dir_all(dest).context(|| format!("creating {}", dest.display()))?;
    // Folders get their final mode and mtime last, deepest first, so that a
    // read-only folder does not stop its own children from being written.
    let mut dirs: Vec<(PathBuf, u32, u32)> = Vec::new();
    let mut count = 0usize;
    for node in fs_reader.files() {
        let rel = relative(&node.fullpath)?;
        if let Some(pattern) = opts.pattern {
            if rel.as_os_str().is_empty() || !pattern.matches_path(&rel) {
                continue;
            }
        }
        let target = dest.join(&rel);
        let shown = target.display();
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).context(|| format!("creating {}", parent.display()))?;
        }
        let mode = u32::from(node.header.permissions) & 0o7777;
        match &node.inner {
            InnerNode::Dir(_) => {
                match fs::create_dir(&target) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && target.is_dir() => {}
                    Err(e) => return Err(Error::new(format!("creating {shown}: {e}"))),
                }
                let mode = if opts.owner_writable_dirs { mode | 0o700 } else { mode };
                dirs.push((target.clone(), mode & 0o7777, node.header.mtime));
            }
            InnerNode::File(file) => {
                clear(&target).context(|| format!("replacing {shown}"))?;
                let out = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)
                    .context(|| format!("creating {shown}"))?;
                let mut writer = BufWriter::with_capacity(128 << 10, out);
                let mut reader = fs_reader
                    .file(file)
                    .reader_checked()
                    .context(|| format!("reading {} from the image", rel.display()))?;
                io::copy(&mut reader, &mut writer).context(|| format!("extracting {shown}"))?;
                let out = writer.into_inner().map_err(|e| Error::new(format!("writing {shown}: {}", e.error())))?;
                out.set_times(mtime(node.header.mtime)).context(|| format!("setting the time of {shown}"))?;
                // set-user/group-id bits are never restored
                out.set_permissions(Permissions::from_mode(mode & 0o1777))
                    .context(|| format!("setting the mode of {shown}"))?;
            }
            InnerNode::Symlink(link) => {
                clear(&target).context(|| format!("replacing {shown}"))?;
                std::os::unix::fs::symlink(&link.link, &target).context(|| format!("creating the link {shown}"))?;
            }
            InnerNode::CharacterDevice(_) | InnerNode::BlockDevice(_) | InnerNode::NamedPipe | InnerNode::Socket => {
                eprintln!("appimage-runtime: skipping special file {}", rel.display());
                continue;
            }
        }
        count += 1;
        if let (Some(prefix), false) = (opts.list_prefix, rel.as_os_str().is_empty()) {
            let mut stdout = io::stdout().lock();
            // A closed stdout must not stop the extraction.
            let _ = writeln!(stdout, "{}", prefix.join(&rel).display());
        }
    }
    for (dir, mode, seconds) in dirs.iter().rev() {
        let shown = dir.display();
        File::open(dir)
            .and_then(|d| d.set_times(mtime(*seconds)))
            .context(|| format!("setting the time of {shown}"))?;
        fs::set_permissions(dir, Permissions::from_mode(*mode)).context(|| format!("setting the mode of {shown}"))?;
    }
    Ok(count)
}
