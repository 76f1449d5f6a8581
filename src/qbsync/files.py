"""Crash-safe file writes shared by the config, the token file and the store-kind pin.

A reader (cron, another terminal) must only ever see the old file or the new one, never half a
file, and a secret file must never exist, even for a moment, with a looser mode than 0600. So:
create the temp file in the same folder with its final mode (``os.open(..., mode)``: the mode is
set at creation, there is no window before a chmod), write, fsync, then ``os.replace`` (atomic on
POSIX within one filesystem) and fsync the folder so the rename itself survives a power cut.

A missing folder is created (``paths.ensure_dir``) with a mode that matches the file's: 0700 for a
0600 secret, 0755 for a 0644 config; never group- or world-writable, whatever the umask.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from qbsync.paths import ensure_dir


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` atomically with file mode ``mode`` (then narrowed by the umask).

    With ``overwrite=False`` the final step is ``os.link``, which fails with ``FileExistsError``
    if ``path`` appeared meanwhile, so two writers never silently replace each other's file.
    A missing folder is created with ``folder_mode(mode)`` (existing ones are left alone).
    """
    folder = path.parent
    ensure_dir(folder, folder_mode(mode))
    tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(folder)


def folder_mode(file_mode: int) -> int:
    """The mode for a folder holding a file of ``file_mode``: 0o600 -> 0o700, 0o644 -> 0o755.

    The owner gets rwx; group and others get r-x only where they may read the file; nobody but
    the owner ever gets write.
    """
    mode = 0o700
    if file_mode & 0o040:
        mode |= 0o050
    if file_mode & 0o004:
        mode |= 0o005
    return mode


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where folders cannot be opened, e.g. Windows)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platform dependent
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on folders
        pass
    finally:
        os.close(dir_fd)


class UnsafeFileError(OSError):
    """A file qbsync was asked to append to is not one it may write: a symlink, not a regular
    file, or another user's."""


def open_private_append(path: Path, *, mode: int = 0o600) -> int:
    """Open ``path`` for appending (created with ``mode``, its folders with ``folder_mode``);
    return the file descriptor.

    A path given on the command line (``--log-file``) may sit in a folder others can write to
    (/tmp): a symlink planted there would make us append to whatever it points at (another
    user's ``.profile``), so the last component is opened without following symlinks, and a file
    that is not a regular file of ours is refused. ``O_NONBLOCK`` keeps a planted FIFO from
    hanging the open; it changes nothing for a regular file.
    """
    ensure_dir(path.parent, folder_mode(mode))
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if path.is_symlink():  # ELOOP (Linux) / EMLINK (FreeBSD) from O_NOFOLLOW
            raise UnsafeFileError(f"{path} is a symbolic link; refusing to follow it") from None
        raise exc from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(f"{path} is not a regular file")
        if info.st_uid != os.geteuid():
            raise UnsafeFileError(f"{path} belongs to another user (uid {info.st_uid}), not to you")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd
