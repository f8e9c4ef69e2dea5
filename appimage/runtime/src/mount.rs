//! FUSE mode: the image mounted read-only by `squashfuse` (run in the
//! foreground as our child) on a fresh folder under `$TMPDIR`.
//!
//! Used only when `squashfuse`, `/dev/fuse` and `fusermount3`/`fusermount`
//! are all usable; `APPIMAGE_TEST_NO_FUSE=1` makes the runtime behave as if
//! they were not (for tests of the fallback).
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Context, Error, Result};
use crate::image::Image;

const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Tools {
    squashfuse: PathBuf,
    fusermount: PathBuf,
}

pub struct Mount {
    pub dir: PathBuf,
    child: Child,
    fusermount: PathBuf,
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

pub fn debug() -> bool {
    std::env::var_os("APPIMAGE_RUNTIME_DEBUG").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The FUSE tools, when mounting can work here; the reason when not.
pub fn usable() -> std::result::Result<Tools, String> {
    if std::env::var_os("APPIMAGE_TEST_NO_FUSE").is_some_and(|v| v == "1") {
        return Err("APPIMAGE_TEST_NO_FUSE=1".into());
    }
    let squashfuse = on_path("squashfuse").ok_or("squashfuse is not on PATH")?;
    let fusermount = on_path("fusermount3").or_else(|| on_path("fusermount")).ok_or("fusermount is not on PATH")?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .map_err(|e| format!("cannot open /dev/fuse: {e}"))?;
    Ok(Tools { squashfuse, fusermount })
}

fn mount_dir(image: &Path) -> Result<PathBuf> {
    let base = std::env::var_os("TMPDIR").map(PathBuf::from).filter(|p| p.is_absolute());
    let base = base.unwrap_or_else(|| PathBuf::from("/tmp"));
    let stem: String = image
        .file_name()
        .map(|n| n.to_string_lossy().chars().filter(char::is_ascii_alphanumeric).take(6).collect())
        .unwrap_or_default();
    let pid = std::process::id();
    let mut last = None;
    for attempt in 0..100u32 {
        let dir = base.join(format!(".mount_{stem}{pid:x}{attempt}"));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::new(format!(
        "cannot create a mount point under {}: {}",
        base.display(),
        last.map(|e| e.to_string()).unwrap_or_default()
    )))
}

fn is_mounted(dir: &Path) -> bool {
    let parent = dir.parent().unwrap_or(Path::new("/"));
    match (fs::metadata(dir), fs::metadata(parent)) {
        (Ok(d), Ok(p)) => d.dev() != p.dev(),
        _ => false,
    }
}

pub fn mount(image: &Image, tools: &Tools) -> Result<Mount> {
    let dir = mount_dir(&image.path)?;
    let mut options = OsString::from(format!("ro,offset={}", image.offset));
    if debug() {
        options.push(",debug");
    }
    let mut command = Command::new(&tools.squashfuse);
    command
        .arg("-f")
        .arg("-o")
        .arg(options)
        .arg(&image.path)
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(if debug() { Stdio::inherit() } else { Stdio::null() })
        // Out of the terminal's process group: Ctrl-C must not unmount the
        // tree under a program that handles SIGINT.
        .process_group(0);
    // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
    unsafe {
        command.pre_exec(|| {
            // If the runtime dies (even by SIGKILL), squashfuse unmounts.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let _ = fs::remove_dir(&dir);
            return Err(Error::new(format!("running {}: {e}", tools.squashfuse.display())));
        }
    };
    let started = Instant::now();
    loop {
        if is_mounted(&dir) {
            return Ok(Mount { dir, child, fusermount: tools.fusermount.clone() });
        }
        let failed = match child.try_wait() {
            Ok(Some(status)) => Some(format!("squashfuse exited ({status})")),
            Ok(None) if started.elapsed() > READY_TIMEOUT => Some("squashfuse did not mount in time".into()),
            Ok(None) => None,
            Err(e) => Some(format!("waiting for squashfuse: {e}")),
        };
        if let Some(reason) = failed {
            let _ = child.kill();
            let _ = child.wait();
            let _ = fs::remove_dir(&dir);
            return Err(Error::new(reason));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

impl Mount {
    pub fn child(&self) -> &Child {
        &self.child
    }

    /// Waits until squashfuse exits by itself (`--appimage-mount`).
    pub fn wait(&mut self) -> Result<()> {
        self.child.wait().context(|| "waiting for squashfuse")?;
        self.cleanup();
        Ok(())
    }

    /// Unmounts: squashfuse unmounts when told to stop; `fusermount -u -z`
    /// if it did not.
    pub fn unmount(mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signalling our own child.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.cleanup();
    }

    fn cleanup(&mut self) {
        if is_mounted(&self.dir) {
            let _ = Command::new(&self.fusermount)
                .args(["-u", "-z"])
                .arg(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = fs::remove_dir(&self.dir);
    }
}
