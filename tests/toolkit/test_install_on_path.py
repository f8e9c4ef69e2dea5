"""install-on-path / uninstall-from-path in a scratch HOME: install, install
again (no change), uninstall (everything exactly as before), for the PATH
that bash, zsh and fish end up with."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ctbundle import install_on_path, render, uninstall_from_path
from ctbundle._install_on_path import InstallConflict, path_with_entry, path_without_entry

SHELL_DATA = (".local/share/fish", ".config/fish/fish_variables")


def snapshot(home: Path) -> dict[str, object]:
    """Every file (bytes), link (target) and folder under home."""
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(home):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(home).as_posix()
            if rel.startswith(SHELL_DATA):
                continue
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = path.read_bytes()
    return out


def shell_path(shell: str, home: Path) -> str:
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "TERM": "dumb"}
    argv = {
        "bash": [shutil.which("bash"), "-l", "-c", 'printf %s "$PATH"'],
        "zsh": [shutil.which("zsh"), "-i", "-c", 'printf %s "$PATH"'],
        "fish": [shutil.which("fish"), "-c", "printf %s (string join : $PATH)"],
    }[shell]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home of $Jane 'O' ü"
    home.mkdir()
    (home / ".profile").write_text("# the user's profile, no newline at the end")
    (home / ".zshrc").write_text("export EDITOR=vi\n")
    return home


@pytest.fixture
def app(tmp_path: Path) -> Path:
    shims = tmp_path / "Applications" / "CodeTracer.app" / "Contents" / "MacOS"
    render("macos", shims)
    return shims


def test_macos_round_trip(home: Path, app: Path) -> None:
    before_path = {sh: shell_path(sh, home) for sh in ("bash", "zsh", "fish")}
    before = snapshot(home)

    folder = install_on_path("macos", app, home=home)
    installed = snapshot(home)
    assert installed != before
    assert os.readlink(folder / "ct") == str(app / "ct")
    for sh in ("bash", "zsh", "fish"):
        entries = shell_path(sh, home).split(":")
        assert entries.count(str(folder)) == 1, sh
        assert entries[0] == str(folder), sh

    install_on_path("macos", app, home=home)
    assert snapshot(home) == installed  # the second install changes nothing

    uninstall_from_path(home=home)
    assert snapshot(home) == before
    assert {sh: shell_path(sh, home) for sh in ("bash", "zsh", "fish")} == before_path
    assert (home / ".profile").read_text() == "# the user's profile, no newline at the end"


def test_macos_blocks_are_marked_and_preserve_user_text(home: Path, app: Path) -> None:
    install_on_path("macos", app, home=home)
    profile = (home / ".profile").read_text()
    assert profile.startswith("# the user's profile, no newline at the end\n# >>> codetracer >>>\n")
    assert profile.endswith("# <<< codetracer <<<\n")
    assert (home / ".zshrc").read_text().startswith("export EDITOR=vi\n# >>> codetracer >>>\n")
    assert not (home / ".bash_profile").exists()  # an existing .profile is never shadowed
    uninstall_from_path(home=home)


def test_linux_round_trip_links_to_the_appimage(home: Path, tmp_path: Path) -> None:
    appimage = tmp_path / "Apps ü" / "CodeTracer-0.4.0-x86_64.AppImage"
    appimage.parent.mkdir()
    appimage.write_bytes(b"\x7fELF stand-in")
    before = snapshot(home)
    folder = install_on_path("linux", appimage, home=home)
    assert folder == home / ".local" / "bin"
    for name in ("ct", "ct-python-recorder"):
        assert os.readlink(folder / name) == str(appimage)
        assert (folder / name).resolve() == appimage
    installed = snapshot(home)
    install_on_path("linux", appimage, home=home)
    assert snapshot(home) == installed
    uninstall_from_path(home=home)
    assert snapshot(home) == before
    assert not (home / ".local").exists()


def test_linux_never_overwrites_a_foreign_file(home: Path, tmp_path: Path) -> None:
    appimage = tmp_path / "CodeTracer.AppImage"
    appimage.write_bytes(b"x")
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "ct").write_text("#!/bin/sh\necho mine\n")
    with pytest.raises(InstallConflict):
        install_on_path("linux", appimage, home=home)
    assert (home / ".local" / "bin" / "ct").read_text() == "#!/bin/sh\necho mine\n"


def test_cli_round_trip(home: Path, app: Path) -> None:
    from ctbundle.cli import main

    env_home = os.environ.get("HOME")
    before = snapshot(home)
    os.environ["HOME"] = str(home)
    try:
        assert main(["install-on-path", "--platform", "macos", "--shell", "zsh", str(app)]) == 0
        assert "# >>> codetracer >>>" in (home / ".zshrc").read_text()
        assert "codetracer" not in (home / ".profile").read_text()
        assert main(["uninstall-from-path"]) == 0
    finally:
        if env_home is None:
            os.environ.pop("HOME")
        else:
            os.environ["HOME"] = env_home
    assert snapshot(home) == before


@pytest.mark.parametrize(
    "value,entry,added,removed",
    [
        ("", "C:\\CT\\bin", "C:\\CT\\bin", ""),
        ("C:\\a;C:\\b", "C:\\CT\\bin", "C:\\a;C:\\b;C:\\CT\\bin", "C:\\a;C:\\b"),
        ("C:\\a;", "C:\\CT\\bin", "C:\\a;;C:\\CT\\bin", "C:\\a;"),
        (
            "C:\\a;c:\\ct\\BIN\\;%USERPROFILE%\\x",
            "C:\\CT\\bin",
            "C:\\a;c:\\ct\\BIN\\;%USERPROFILE%\\x",
            "C:\\a;%USERPROFILE%\\x",
        ),
        ("C:\\a;;C:\\b", "C:\\CT\\bin", "C:\\a;;C:\\b;C:\\CT\\bin", "C:\\a;;C:\\b"),
    ],
)
def test_windows_user_path_rules(value: str, entry: str, added: str, removed: str) -> None:
    assert path_with_entry(value, entry) == added
    assert path_without_entry(added, entry) == removed
    long = ";".join(f"C:\\tools\\t{i:04d}" for i in range(400))  # far beyond NSIS's 1024 characters
    assert path_without_entry(path_with_entry(long, entry), entry) == long
