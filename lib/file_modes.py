"""Files only this user may read: the data folder and blob folders 0700, the database and its WAL/SHM 0600.

The data folder holds the job log (product data, who did what), the vault key beside the encrypted credentials,
and every image: nobody else on the machine has any business reading it. `mkdir(mode=...)` is cut by the umask
and leaves existing folders as they are, so the modes are set explicitly (on creation and when opened again).
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """`path` (and any missing parent) created if needed; `path` itself set to 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if path.stat().st_mode & 0o777 != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def private_dirs_down_to(path: Path, root: Path) -> None:
    """Every folder from `root` (exclusive) down to `path` (inclusive) created 0700: blobs/ab/cd/..."""
    missing = []
    current = path
    while current != root and root in current.parents and not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            pass  # another writer made it at the same moment
        os.chmod(folder, DIR_MODE)
    path.mkdir(parents=True, exist_ok=True)


def private_file(path: Path) -> Path:
    """`path` created empty if missing, and set to 0600 (SQLite gives its -wal and -shm files the mode of the
    database file, so creating the database this way keeps those private too)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.close(fd)
    if path.stat().st_mode & 0o777 != FILE_MODE:
        os.chmod(path, FILE_MODE)
    return path


def tighten(path: Path) -> None:
    """`path` set to 0600 if it exists (a -wal or -shm file left by an older version)."""
    try:
        if path.stat().st_mode & 0o777 != FILE_MODE:
            os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass
