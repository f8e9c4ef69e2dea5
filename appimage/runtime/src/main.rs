//! AppImage type-2 runtime of codetracer-bundle.
//!
//! The squashfs image appended to this executable is mounted with
//! `squashfuse` when FUSE is usable, otherwise (and always with
//! `APPIMAGE_EXTRACT_AND_RUN=1`) extracted once into a per-user cache; then
//! its `AppRun` runs with the arguments, and its exit status is ours.
//! See docs/appimage-runtime.md.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod cache;
mod elf;
mod error;
mod extract;
mod image;
mod mount;
mod process;
mod sections;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use error::{Context, Error, Result};
use image::Image;

const VERSION: &str = env!("CARGO_PKG_VERSION");

const HELP: &str = "\
AppImage runtime (codetracer-bundle) — runs the program packed in this file.

Usage: APPIMAGE [--appimage-OPTION | ARGS...]

Any arguments that are not a runtime option below go to the program.

Options (only as the first argument):
  --appimage-help                  this help
  --appimage-version               print the runtime's version
  --appimage-offset                print the byte offset of the squashfs image
  --appimage-extract [PATTERN]     extract the image (or the paths matching the
                                   glob PATTERN, `*` matching `/` too) into
                                   ./squashfs-root, listing what is written
  --appimage-extract-and-run ARGS  run without FUSE, from the extraction cache
  --appimage-mount                 mount the image, print the mount point, and
                                   keep it mounted until interrupted
  --appimage-updateinformation     print the update information (.upd_info)
  --appimage-signature             print the signature (.sha256_sig)

Environment:
  APPIMAGE_EXTRACT_AND_RUN=1  never mount: extract once into
                              ${XDG_CACHE_HOME:-~/.cache}/appimage-runtime/ and
                              run from there (also the fallback without FUSE)
  APPIMAGE_RUNTIME_DEBUG=1    say why FUSE is not used; squashfuse's messages
  APPIMAGE_TEST_NO_FUSE=1     behave as if FUSE were unavailable (tests)

The program sees APPIMAGE (this file), APPDIR (its tree), ARGV0 (the name it
was started as), OWD (the working folder at start).
Exit status: the program's; 127 when it could not be started, 2 on a wrong
--appimage-* option.
";

fn main() {
    sections::keep();
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let rest: Vec<OsString> = args.collect();
    match dispatch(argv0, rest) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("appimage-runtime: {e}");
            std::process::exit(e.code);
        }
    }
}

fn flag_true(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

fn print_bytes(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|_| out.write_all(b"\n")).context(|| "writing to stdout")
}

fn dispatch(argv0: OsString, args: Vec<OsString>) -> Result<()> {
    let option = args.first().and_then(|a| a.to_str()).filter(|a| a.starts_with("--appimage-"));
    let Some(option) = option else {
        return run(&Image::current()?, argv0, args, flag_true("APPIMAGE_EXTRACT_AND_RUN"));
    };
    let extra = &args[1..];
    match option {
        "--appimage-help" => print_bytes(HELP.trim_end().as_bytes()),
        "--appimage-version" => print_bytes(format!("appimage-runtime {VERSION} (codetracer-bundle)").as_bytes()),
        "--appimage-offset" => print_bytes(Image::current()?.offset.to_string().as_bytes()),
        "--appimage-updateinformation" | "--appimage-updateinfo" => {
            print_bytes(&Image::current()?.section_text(".upd_info")?)
        }
        "--appimage-signature" => print_bytes(&Image::current()?.section_text(".sha256_sig")?),
        "--appimage-extract" => {
            if extra.len() > 1 {
                return Err(Error::usage("--appimage-extract takes at most one PATTERN"));
            }
            extract_here(&Image::current()?, extra.first().map(OsString::as_os_str))
        }
        "--appimage-extract-and-run" => run(&Image::current()?, argv0, extra.to_vec(), true),
        "--appimage-mount" => mount_and_wait(&Image::current()?),
        other => Err(Error::usage(format!("unknown option {other} (see --appimage-help)"))),
    }
}

fn extract_here(image: &Image, pattern: Option<&OsStr>) -> Result<()> {
    let pattern = match pattern {
        Some(p) => {
            let text = p.to_str().ok_or_else(|| Error::usage("PATTERN is not valid UTF-8"))?;
            Some(glob::Pattern::new(text).map_err(|e| Error::usage(format!("bad PATTERN {text:?}: {e}")))?)
        }
        None => None,
    };
    let root = Path::new("squashfs-root");
    let filesystem = image.filesystem()?;
    let opts = extract::Options { pattern: pattern.as_ref(), list_prefix: Some(root), owner_writable_dirs: false };
    extract::extract(&filesystem, root, &opts)?;
    Ok(())
}

fn mount_and_wait(image: &Image) -> Result<()> {
    let tools = mount::usable().map_err(|why| {
        Error::new(format!("cannot mount ({why}); use --appimage-extract or --appimage-extract-and-run"))
    })?;
    let mut mounted = mount::mount(image, &tools)?;
    print_bytes(mounted.dir.as_os_str().as_encoded_bytes())?;
    process::forward_signals(mounted.child(), true);
    mounted.wait()
}

/// Runs AppRun from the mounted image, or from the extraction cache.
fn run(image: &Image, argv0: OsString, args: Vec<OsString>, extract_only: bool) -> Result<()> {
    if !extract_only {
        match mount::usable() {
            Ok(tools) => match mount::mount(image, &tools) {
                Ok(mounted) => {
                    let status = launch(&mounted.dir, image, &argv0, &args);
                    mounted.unmount();
                    process::exit_like(status?);
                }
                Err(e) if mount::debug() => eprintln!("appimage-runtime: mounting failed ({e}); extracting instead"),
                Err(_) => {}
            },
            Err(why) if mount::debug() => eprintln!("appimage-runtime: not mounting ({why}); extracting instead"),
            Err(_) => {}
        }
    }
    let entry = match cache::prepare(image) {
        Ok(entry) => entry,
        Err(e) => {
            if mount::debug() {
                eprintln!("appimage-runtime: no extraction cache ({e}); extracting for this run only");
            }
            cache::temporary(image)?
        }
    };
    if mount::debug() {
        let how = if entry.extracted { "extracted into" } else { "reusing" };
        eprintln!("appimage-runtime: {how} {}", entry.dir.display());
    }
    let status = launch(&entry.dir, image, &argv0, &args)?;
    drop(entry);
    process::exit_like(status);
}

fn launch(appdir: &Path, image: &Image, argv0: &OsStr, args: &[OsString]) -> Result<ExitStatus> {
    let apprun = appdir.join("AppRun");
    if std::fs::symlink_metadata(&apprun).is_err() {
        return Err(Error::new(format!("the image has no AppRun (looked for {})", apprun.display())));
    }
    let owd = std::env::current_dir()
        .ok()
        .or_else(|| std::env::var_os("PWD").map(PathBuf::from))
        .unwrap_or_default();
    let mut child = Command::new(&apprun)
        .args(args)
        .env("APPIMAGE", &image.path)
        .env("APPDIR", appdir)
        .env("ARGV0", argv0)
        .env("OWD", owd)
        .spawn()
        .context(|| format!("running {}", apprun.display()))?;
    process::forward_signals(&child, false);
    let status = child.wait().context(|| format!("waiting for {}", apprun.display()));
    process::stop_forwarding();
    status
}
