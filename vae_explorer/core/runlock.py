"""One writer per run folder: an OS file lock, released by the OS when its process ends.

The lock lives in `<folder>/.vae-explorer.lock`, which also names the process that holds it and is
removed when the holder lets go. A killed run leaves no stale lock (the OS drops it with the
process), only the file, which the next writer takes over. Holding the lock also makes it safe to remove the temporary files a killed
writer left behind: nobody else can be writing them.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from .atomic import TEMP_SUFFIX

LOCK_NAME = ".vae-explorer.lock"
# what atomic_write's temporary files look like: ".<name>.<mkstemp's 8 characters>.tmp"
_TEMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")


class RunFolderBusy(RuntimeError):
    """Another process is writing into the folder; the message names it."""


def _lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class RunFolderLock:
    """`with RunFolderLock(folder):` holds the folder for this process, or raises RunFolderBusy."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self._fd: int | None = None

    def acquire(self) -> RunFolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / LOCK_NAME
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            if not _lock(fd):
                try:
                    holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
                finally:
                    os.close(fd)
                raise RunFolderBusy(
                    f"{self.folder} is being written by another vae-explorer (process {holder}); "
                    "wait for it to finish, stop it, or choose another folder"
                )
            # the holder before us removes the file as it lets go: locked a removed file, try again
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file, then let go: a process waiting on the removed file retries."""
        if self._fd is not None:
            with contextlib.suppress(OSError):  # a read-only folder now: the file stays, harmless
                (self.folder / LOCK_NAME).unlink(missing_ok=True)
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunFolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


OWN_SUFFIXES = (".pt", ".csv", ".json", ".txt", ".png", ".pdf", ".svg")  # what a run folder holds


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of ours (for run-folder files) that a killed writer left in
    `folder` and its sub-folders one level down; call only while holding the folder's lock."""
    folder = Path(folder)
    removed = []
    for directory in (folder, *(p for p in folder.iterdir() if p.is_dir())) if folder.is_dir() else ():
        for path in directory.iterdir():
            match = _TEMP.match(path.name)
            if match and match.group("name").endswith(OWN_SUFFIXES) and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def probably_busy(folder: str | os.PathLike) -> bool:
    """Whether a live process seems to be writing into `folder`: its lock file names a process
    that exists. Only a hint for display (no lock is taken, so a writer starting now is never
    turned away by it); a killed writer's file names a process that is gone."""
    try:
        text = (Path(folder) / LOCK_NAME).read_text(encoding="ascii", errors="replace").strip()
        pid = int(text)
    except (OSError, ValueError):
        return False
    if os.name != "posix" or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
