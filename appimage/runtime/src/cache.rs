//! The per-user extraction cache (extract-and-run mode).
//!
//! Layout under `${XDG_CACHE_HOME:-$HOME/.cache}/appimage-runtime/`:
//!
//! ```text
//! <digest>/          the extracted tree of one image (APPDIR)
//! <digest>.lock      flock'ed shared while a program runs from <digest>/,
//!                    exclusive while extracting or removing; contents: the
//!                    path of the AppImage that extracted it; mtime: last use
//! <digest>.tmp-<pid> an extraction in progress (renamed into place at the end)
//! ```
//!
//! An entry is stale, and removed when nobody holds its lock, when it was
//! extracted from the same AppImage path as the one now running but has a
//! different digest (the file was replaced by a new version), or when it has
//! not been used for [`MAX_AGE_DAYS`] days. Unfinished extractions of dead
//! processes are removed too.
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Context, Error, Result};
use crate::extract::{self, Options};
use crate::image::Image;

pub const MAX_AGE_DAYS: u64 = 30;
const DIR_NAME: &str = "appimage-runtime";

/// A ready tree; the program may run from `dir` while this lives.
pub struct Entry {
    pub dir: PathBuf,
    /// true when this run extracted the tree (cold start)
    pub extracted: bool,
    _lock: Option<File>,
    /// a private extraction, removed when dropped
    temporary: bool,
}

impl Drop for Entry {
    fn drop(&mut self) {
        if self.temporary {
            let _ = remove_tree(&self.dir);
        }
    }
}

/// When the cache cannot be used (read-only or missing home): a private
/// extraction under `$TMPDIR`, removed after the run, like the official
/// runtime's extract-and-run.
pub fn temporary(image: &Image) -> Result<Entry> {
    let base = std::env::var_os("TMPDIR").map(PathBuf::from).filter(|p| p.is_absolute());
    let base = base.unwrap_or_else(|| PathBuf::from("/tmp"));
    let digest = image.digest()?;
    let dir = base.join(format!("appimage_extracted_{digest}_{}", std::process::id()));
    if dir.exists() {
        remove_tree(&dir).context(|| format!("removing {}", dir.display()))?;
    }
    fs::DirBuilder::new().mode(0o700).create(&dir).context(|| format!("creating {}", dir.display()))?;
    let entry = Entry { dir, extracted: true, _lock: None, temporary: true };
    let opts = Options { pattern: None, list_prefix: None, owner_writable_dirs: true };
    extract::extract(&image.filesystem()?, &entry.dir, &opts)?;
    Ok(entry)
}

pub fn root() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        _ => match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => PathBuf::from(home).join(".cache"),
            _ => return Err(Error::new("neither XDG_CACHE_HOME nor HOME is set: no place for the extraction cache")),
        },
    };
    Ok(base.join(DIR_NAME))
}

fn is_digest(name: &str) -> bool {
    name.len() == 16 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

fn open_lock(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .context(|| format!("opening {}", path.display()))
}

/// Returns the extracted tree of `image`, extracting it first if needed.
pub fn prepare(image: &Image) -> Result<Entry> {
    let root = root()?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&root)
        .context(|| format!("creating the cache folder {}", root.display()))?;
    let digest = image.digest()?;
    let dir = root.join(&digest);
    let lock_path = root.join(format!("{digest}.lock"));
    let mut lock = open_lock(&lock_path)?;
    lock.lock_shared().context(|| format!("locking {}", lock_path.display()))?;
    let mut extracted = false;
    if !dir.is_dir() {
        // Upgrade to exclusive; another process may finish the same
        // extraction meanwhile, so look again once we hold it.
        lock.lock().context(|| format!("locking {}", lock_path.display()))?;
        if !dir.is_dir() {
            extract_into(image, &root, &dir, &digest)?;
            lock.set_len(0)
                .and_then(|_| lock.write_all(image.path.as_os_str().as_bytes()))
                .context(|| format!("writing {}", lock_path.display()))?;
            extracted = true;
        }
        lock.lock_shared().context(|| format!("locking {}", lock_path.display()))?;
    }
    // Last use, for the age rule (failure only weakens the cleanup).
    let _ = lock.set_modified(SystemTime::now());
    cleanup(&root, &digest, &image.path);
    Ok(Entry { dir, extracted, _lock: Some(lock), temporary: false })
}

fn extract_into(image: &Image, root: &Path, dir: &Path, digest: &str) -> Result<()> {
    let tmp = root.join(format!("{digest}.tmp-{}", std::process::id()));
    if tmp.exists() {
        remove_tree(&tmp).context(|| format!("removing {}", tmp.display()))?;
    }
    let filesystem = image.filesystem()?;
    let opts = Options { pattern: None, list_prefix: None, owner_writable_dirs: true };
    let result = extract::extract(&filesystem, &tmp, &opts).and_then(|_| match fs::rename(&tmp, dir) {
        Ok(()) => Ok(()),
        // Another process (one whose lock file was replaced under it) got
        // there first: its tree is as good as ours.
        Err(_) if dir.is_dir() => {
            let _ = remove_tree(&tmp);
            Ok(())
        }
        Err(e) => Err(Error::new(format!("moving the extracted tree to {}: {e}", dir.display()))),
    });
    if result.is_err() {
        let _ = remove_tree(&tmp);
    }
    result
}

/// remove_dir_all, after making the folders writable (an image may hold
/// read-only folders).
fn remove_tree(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::symlink_metadata(path) {
        if meta.is_dir() {
            let mode = meta.permissions().mode();
            if mode & 0o700 != 0o700 {
                fs::set_permissions(path, fs::Permissions::from_mode(mode | 0o700))?;
            }
            for child in fs::read_dir(path)? {
                let child = child?.path();
                if fs::symlink_metadata(&child).map(|m| m.is_dir()).unwrap_or(false) {
                    remove_tree(&child)?;
                }
            }
        }
    }
    fs::remove_dir_all(path)
}

fn pid_alive(pid: &str) -> bool {
    Path::new("/proc").join(pid).exists()
}

fn older_than(path: &Path, age: Duration) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|d| d > age)
}

/// Removes stale entries (see the module comment). Best effort: a failure
/// leaves the entry for a later run and never stops this one.
pub fn cleanup(root: &Path, current: &str, image_path: &Path) {
    let Ok(list) = fs::read_dir(root) else { return };
    let max_age = Duration::from_secs(MAX_AGE_DAYS * 24 * 3600);
    for item in list.flatten() {
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some((digest, pid)) = name.split_once(".tmp-") {
            if is_digest(digest) && !pid_alive(pid) {
                let _ = remove_tree(&item.path());
            }
            continue;
        }
        if let Some(digest) = name.strip_suffix(".lock") {
            // A lock without its tree (removed by hand, or a failed
            // extraction), unused for an hour.
            let lock_path = item.path();
            if is_digest(digest)
                && digest != current
                && !root.join(digest).exists()
                && older_than(&lock_path, Duration::from_secs(3600))
                && File::open(&lock_path).is_ok_and(|f| f.try_lock().is_ok())
            {
                let _ = fs::remove_file(&lock_path);
            }
            continue;
        }
        if !is_digest(name) || name == current {
            continue;
        }
        let dir = item.path();
        let lock_path = root.join(format!("{name}.lock"));
        let Ok(mut lock) = open_lock(&lock_path) else { continue };
        let mut source = Vec::new();
        let _ = lock.read_to_end(&mut source);
        let replaced = source == image_path.as_os_str().as_bytes();
        let unused = older_than(&lock_path, max_age) || (source.is_empty() && older_than(&dir, max_age));
        if !(replaced || unused) || lock.try_lock().is_err() {
            continue;
        }
        let trash = root.join(format!("{name}.tmp-{}", std::process::id()));
        if fs::rename(&dir, &trash).is_ok() {
            let _ = remove_tree(&trash);
        }
        let _ = fs::remove_file(&lock_path);
    }
}
