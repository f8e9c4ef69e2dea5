"""Running the program inside: extract-and-run (with FUSE unavailable) and
the FUSE mount, the environment AppRun sees, arguments, exit status,
signals, and the extraction cache."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import build_appimage
from .helpers import base_env, cache_entries, report, run

pytestmark = pytest.mark.build  # the session builds the AppImage runtime (minutes when cold)

NO_FUSE = {"APPIMAGE_TEST_NO_FUSE": "1"}
TRICKY_ARGS = ["two words", "", "  lead and trail  ", 'quote\'s "double"', "*", "$HOME", "ünïcode", "--appimage-offset"]


def _cache(home: Path) -> Path:
    return home / "cache" / "appimage-runtime"


def test_extract_and_run_passes_arguments_environment_and_status(appimage, tmp_path):
    owd = tmp_path / "somewhere"
    owd.mkdir()
    done = run(appimage.path, *TRICKY_ARGS, env=base_env(tmp_path, TEST_EXIT="7", **NO_FUSE), cwd=owd)
    assert done.returncode == 7, done.stderr
    args, env = report(done.stdout)
    assert args == TRICKY_ARGS
    assert env["argc"] == str(len(TRICKY_ARGS))
    [entry] = cache_entries(_cache(tmp_path))
    appdir = _cache(tmp_path) / entry
    assert env["APPDIR"] == str(appdir)
    assert env["APPIMAGE"] == str(appimage.path)
    assert env["ARGV0"] == str(appimage.path)
    assert env["OWD"] == str(owd)
    assert env["zero"] == str(appdir / "AppRun")
    assert env["payload"] == "hello from the image"
    assert done.stderr == ""


@pytest.mark.parametrize("status", [0, 1, 3, 100, 255])
def test_exit_status_is_the_programs(appimage, tmp_path, status):
    done = run(appimage.path, env=base_env(tmp_path, TEST_EXIT=str(status), **NO_FUSE))
    assert done.returncode == status


def test_second_run_reuses_the_cache(appimage, tmp_path):
    env = base_env(tmp_path, **NO_FUSE)
    first = run(appimage.path, "one", env=env)
    assert first.returncode == 0, first.stderr
    [entry] = cache_entries(_cache(tmp_path))
    appdir = _cache(tmp_path) / entry
    assert report(first.stdout)[1]["sentinel"] == "no"
    apprun = (appdir / "AppRun").stat()
    # a file only a reused tree can hold
    (appdir / "sentinel").write_text("left by the test")
    second = run(appimage.path, "two", env=env)
    assert second.returncode == 0, second.stderr
    assert report(second.stdout)[1]["sentinel"] == "yes"
    assert report(second.stdout)[0] == ["two"]
    again = (appdir / "AppRun").stat()
    assert (again.st_ino, again.st_mtime_ns) == (apprun.st_ino, apprun.st_mtime_ns)
    assert cache_entries(_cache(tmp_path)) == [entry]


def test_APPIMAGE_EXTRACT_AND_RUN_never_mounts(appimage, tmp_path):
    done = run(appimage.path, env=base_env(tmp_path, APPIMAGE_EXTRACT_AND_RUN="1"))
    assert done.returncode == 0, done.stderr
    assert report(done.stdout)[1]["APPDIR"].startswith(str(_cache(tmp_path)))


def test_extract_and_run_option(appimage, tmp_path):
    done = run(appimage.path, "--appimage-extract-and-run", "a b", env=base_env(tmp_path))
    assert done.returncode == 0, done.stderr
    args, env = report(done.stdout)
    assert args == ["a b"]
    assert env["APPDIR"].startswith(str(_cache(tmp_path)))


def test_symlink_named_ct_python_recorder_sets_ARGV0(appimage, tmp_path):
    link = tmp_path / "bin" / "ct-python-recorder"
    link.parent.mkdir()
    link.symlink_to(appimage.path)
    env = base_env(tmp_path, TEST_EXIT="5", **NO_FUSE)
    env["PATH"] = f"{link.parent}:{env['PATH']}"
    for invoked in (str(link), "ct-python-recorder"):
        done = run(invoked, "x y", env=env)
        assert done.returncode == 5, done.stderr
        args, seen = report(done.stdout)
        assert args == ["x y"]
        assert Path(seen["ARGV0"]).name == "ct-python-recorder"
        assert seen["ARGV0"] == invoked
        assert seen["APPIMAGE"] == str(appimage.path)  # the real file, not the link


def test_no_squashfuse_on_PATH_extracts(appimage, tmp_path):
    """A real run without FUSE tools: nothing but the AppImage is reachable."""
    env = base_env(tmp_path)
    env["PATH"] = str(tmp_path / "empty-bin")
    for expected_sentinel in ("no", "no"):
        done = run(appimage.path, "spaced arg", env=env)
        assert done.returncode == 0, done.stderr
        args, seen = report(done.stdout)
        assert args == ["spaced arg"]
        assert seen["APPDIR"].startswith(str(_cache(tmp_path)))
        assert seen["sentinel"] == expected_sentinel
    assert len(cache_entries(_cache(tmp_path))) == 1


def test_unprivileged_user_without_dev_fuse_extracts(appimage, shared_dir):
    """A real run where /dev/fuse cannot be opened (root-only here), as the
    user nobody: the runtime falls back to the cache, twice."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the AppImage as nobody")
    if not os.path.exists("/dev/fuse") or os.stat("/dev/fuse").st_mode & 0o006:
        pytest.skip("/dev/fuse is usable by everyone here")
    home = shared_dir / "nobody-home"
    home.mkdir(exist_ok=True)
    os.chown(home, 65534, 65534)
    env = base_env(home, APPIMAGE_RUNTIME_DEBUG="1", TEST_EXIT="9")
    first = run(appimage.path, "a b", env=env, user="nobody", cwd=home)
    assert first.returncode == 9, first.stderr
    assert "/dev/fuse" in first.stderr and "extracted into" in first.stderr
    second = run(appimage.path, "c", env=env, user="nobody", cwd=home)
    assert second.returncode == 9, second.stderr
    assert "reusing" in second.stderr
    assert report(second.stdout)[0] == ["c"]
    [entry] = cache_entries(_cache(home))
    assert (_cache(home) / entry).stat().st_uid == 65534


def test_image_replaced_at_the_same_path_drops_the_old_entry(runtime, tmp_path):
    env = base_env(tmp_path, **NO_FUSE)
    old = build_appimage(runtime, tmp_path / "a", payload=b"version one\n")
    assert report(run(old.path, env=env).stdout)[1]["payload"] == "version one"
    [first] = cache_entries(_cache(tmp_path))
    new = build_appimage(runtime, tmp_path / "a", payload=b"version two\n")
    assert new.path == old.path
    assert report(run(new.path, env=env).stdout)[1]["payload"] == "version two"
    entries = cache_entries(_cache(tmp_path))
    assert len(entries) == 1 and entries != [first]
    assert not (_cache(tmp_path) / f"{first}.lock").exists()


def _fake_entry(cache: Path, name: str, age_days: float) -> Path:
    entry = cache / name
    (entry / "sub").mkdir(parents=True)
    (entry / "sub" / "f").write_text("old")
    (entry / "sub").chmod(0o500)  # read-only folders must not stop removal
    lock = cache / f"{name}.lock"
    lock.write_text("/some/other/App.AppImage")
    when = time.time() - age_days * 86400
    os.utime(lock, (when, when))
    return entry


def test_stale_entries_are_cleaned_up(appimage, tmp_path):
    cache = _cache(tmp_path)
    old = _fake_entry(cache, "0123456789abcdef", age_days=45)
    recent = _fake_entry(cache, "fedcba9876543210", age_days=2)
    busy = _fake_entry(cache, "00000000000000aa", age_days=45)
    dead_tmp = cache / "1111111111111111.tmp-999999999"
    dead_tmp.mkdir()
    unrelated = cache / "not-ours"
    unrelated.mkdir()
    with open(cache / "00000000000000aa.lock") as held:
        fcntl.flock(held, fcntl.LOCK_SH)  # a program still runs from it
        done = run(appimage.path, env=base_env(tmp_path, **NO_FUSE))
    assert done.returncode == 0, done.stderr
    assert not old.exists() and not (cache / "0123456789abcdef.lock").exists()
    assert recent.exists() and busy.exists() and unrelated.exists()
    assert not dead_tmp.exists()
    assert len(cache_entries(cache)) == 3  # recent, busy, and the image's own


def test_concurrent_first_runs_share_one_extraction(appimage, tmp_path):
    env = base_env(tmp_path, **NO_FUSE)
    procs = [
        subprocess.Popen([str(appimage.path), str(i)], env=env, stdout=subprocess.PIPE, text=True) for i in range(4)
    ]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4
    assert sorted(report(o)[0][0] for o in outs) == ["0", "1", "2", "3"]
    assert len(cache_entries(_cache(tmp_path))) == 1
    assert not [p for p in _cache(tmp_path).iterdir() if ".tmp-" in p.name]


def test_unusable_cache_extracts_for_this_run_only(appimage, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = base_env(tmp_path, XDG_CACHE_HOME=str(blocker / "cache"), TMPDIR=str(tmpdir), TEST_EXIT="6", **NO_FUSE)
    done = run(appimage.path, "x y", env=env)
    assert done.returncode == 6, done.stderr
    args, seen = report(done.stdout)
    assert args == ["x y"]
    assert seen["APPDIR"].startswith(str(tmpdir / "appimage_extracted_"))
    assert seen["payload"] == "hello from the image"
    assert list(tmpdir.iterdir()) == []  # removed after the run


def test_image_without_AppRun_fails_with_127(runtime, tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "hello").write_text("hi")
    image = tmp_path / "img.sqfs"
    subprocess.run(["mksquashfs", str(tree), str(image), "-noappend", "-quiet"], check=True, stdout=subprocess.DEVNULL)
    from ctbundle._appimage_runtime import assemble

    out = assemble(runtime, image, tmp_path / "NoAppRun.AppImage")
    done = run(out, env=base_env(tmp_path, **NO_FUSE))
    assert done.returncode == 127
    assert "AppRun" in done.stderr


def _start(appimage, tmp_path, mode: str, extra: dict[str, str]):
    ready, mark = tmp_path / "ready", tmp_path / "mark"
    env = base_env(tmp_path, TEST_MODE=mode, TEST_READY=str(ready), TEST_MARK=str(mark), **extra)
    proc = subprocess.Popen(
        [str(appimage.path), "arg"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"AppRun never got ready: rc={proc.returncode} {out} {err}")
        time.sleep(0.01)
    return proc, mark


@pytest.mark.parametrize("how", ["extract", "mount"])
def test_sigterm_to_the_runtime_reaches_AppRun(appimage, tmp_path, how, request):
    if how == "mount":
        request.getfixturevalue("fuse")
    proc, mark = _start(appimage, tmp_path, "trap", NO_FUSE if how == "extract" else {})
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert mark.read_text() == "got-TERM\n"
    assert proc.returncode == 42, err  # the trap's exit status, passed through


@pytest.mark.parametrize("how", ["extract", "mount"])
def test_program_killed_by_a_signal_kills_the_runtime_the_same_way(appimage, tmp_path, how, request):
    if how == "mount":
        request.getfixturevalue("fuse")
    proc, _ = _start(appimage, tmp_path, "wait", NO_FUSE if how == "extract" else {})
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM


def _mounts() -> str:
    return Path("/proc/self/mounts").read_text()


def test_fuse_mount_mode_runs_and_unmounts(appimage, tmp_path, fuse):
    done = run(appimage.path, "a b", "", env=base_env(tmp_path, TEST_EXIT="4"))
    assert done.returncode == 4, done.stderr
    args, seen = report(done.stdout)
    assert args == ["a b", ""]
    mountpoint = seen["APPDIR"]
    assert Path(mountpoint).name.startswith(".mount_")
    assert seen["payload"] == "hello from the image"
    assert not Path(mountpoint).exists()
    assert mountpoint not in _mounts()
    assert not _cache(tmp_path).exists()  # nothing was extracted


def test_appimage_mount_option(appimage, tmp_path, fuse):
    proc = subprocess.Popen(
        [str(appimage.path), "--appimage-mount"],
        env=base_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    mountpoint = Path(proc.stdout.readline().strip())
    try:
        assert (mountpoint / "usr/share/doc/readme.txt").read_text() == "hello from the image\n"
        assert str(mountpoint) in _mounts()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert not mountpoint.exists()
    assert str(mountpoint) not in _mounts()


def test_appimage_mount_without_fuse_fails_clearly(appimage, tmp_path):
    done = run(appimage.path, "--appimage-mount", env=base_env(tmp_path, **NO_FUSE))
    assert done.returncode == 127
    assert "--appimage-extract" in done.stderr
