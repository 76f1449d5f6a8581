"""Where qbsync keeps its files: config, state, tokens, locks.

Config: ``--config PATH`` > ``QBSYNC_CONFIG`` > ``click.get_app_dir("qbsync")/config.toml``
(``<profile>.toml`` for a named profile). Data (state database, token file, lock files):
``QBSYNC_DATA_DIR`` > ``$XDG_DATA_HOME/qbsync`` > ``~/.local/share/qbsync``, one sub-folder per profile.
The engine does not import click, so the app dir is computed here the way click does on each OS.

Folders qbsync creates are never group- or world-writable, whatever the umask: ``ensure_dir``
creates every missing folder (parents included) with an explicit mode, config folders 0755 and
data folders (secrets, locks) 0700 (``ensure_private_dir``). ``Path.mkdir(parents=True)`` gives
parents 0777 minus the umask: 0777 under ``umask 000``.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
from pathlib import Path

APP_NAME = "qbsync"
DEFAULT_PROFILE = "default"
PROFILE_ENV = "QBSYNC_PROFILE"
_PROFILE_NAME = re.compile(r"[A-Za-z0-9_-]+")


def is_profile_name(name: str) -> bool:
    """A profile name is a file and folder name: ASCII letters, digits, '-' and '_' only."""
    return bool(_PROFILE_NAME.fullmatch(name))


def user_config_dir() -> Path:
    if sys.platform == "win32":  # pragma: no cover - Windows only
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(base) / APP_NAME
    if sys.platform == "darwin":  # pragma: no cover - macOS only
        return Path.home() / "Library" / "Application Support" / APP_NAME
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / APP_NAME


def user_data_dir() -> Path:
    override = os.environ.get("QBSYNC_DATA_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":  # pragma: no cover - Windows only
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / APP_NAME
    if sys.platform == "darwin":  # pragma: no cover - macOS only
        return Path.home() / "Library" / "Application Support" / APP_NAME
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_NAME


def config_path(explicit: str | os.PathLike[str] | None, profile: str = DEFAULT_PROFILE) -> Path:
    """The config file to use: explicit path, then QBSYNC_CONFIG, then the user config dir."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("QBSYNC_CONFIG")
    if env:
        return Path(env).expanduser()
    name = "config.toml" if profile == DEFAULT_PROFILE else f"{profile}.toml"
    return user_config_dir() / name


def profile_of_config(path: str | os.PathLike[str]) -> str | None:
    """The profile whose default config file ``path`` is (``<config dir>/<name>.toml``), or None."""
    path = Path(path).expanduser()
    if path.parent != user_config_dir() or path.suffix != ".toml":
        return None
    name = DEFAULT_PROFILE if path.stem == "config" else path.stem
    return name if is_profile_name(name) else None


def profile_data_dir(profile: str = DEFAULT_PROFILE) -> Path:
    return user_data_dir() / profile


CONFIG_DIR_MODE = 0o755  # the config holds no secret; other tools may read it
PRIVATE_DIR_MODE = 0o700  # the data folder: tokens, client secret, state, locks


def ensure_dir(path: str | os.PathLike[str], mode: int = CONFIG_DIR_MODE) -> Path:
    """Create ``path`` and each missing parent with at most ``mode``; return it as a Path.

    Each folder this creates gets ``mode`` minus the umask (a stricter umask is honoured; a
    looser one, down to ``umask 000``, never widens it), and any permission bit beyond ``mode``
    is removed after creation (a filesystem or default ACL that ignored the mode). Folders that
    already exist are left as they are: they are not qbsync's (``~/.config``) or were set up
    by their owner. A path that exists but is not a folder raises ``FileExistsError``.
    """
    path = Path(path)
    missing: list[Path] = []
    folder = path
    while not folder.is_dir():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode)
        except FileExistsError:
            if folder.is_dir():  # created meanwhile by another process: not ours to change
                continue
            raise
        _narrow(folder, mode)
    return path


def _narrow(folder: Path, mode: int) -> None:
    current = stat.S_IMODE(folder.stat().st_mode)
    extra = current & 0o777 & ~mode
    if extra:
        folder.chmod(current & ~extra)


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700 and make the leaf 0700 if it exists; return it.

    Unlike ``ensure_dir``, an existing leaf is narrowed to 0700 too: it holds secrets.
    """
    ensure_dir(path, PRIVATE_DIR_MODE)
    with contextlib.suppress(OSError):  # e.g. a folder we do not own
        path.chmod(PRIVATE_DIR_MODE)
    return path
