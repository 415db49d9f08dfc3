"""One writer per run folder: an OS file lock, released by the OS when its process ends.

The lock lives in `<folder>/.vae-explorer.lock`, which also names the process that holds it and is
removed when the holder lets go. A killed run leaves no stale lock (the OS drops it with the
process), only the file, which the next writer takes over. Whether a folder is busy is told by
the lock itself, never by the process id in the file: an id is reused once its process is gone.

Holding a folder's lock is what makes it safe to remove the temporary files a killed writer left
in it: nobody else can be writing them. Nothing here follows a symbolic link: the lock file is
opened with O_NOFOLLOW, and the clean-up removes regular files only, in the locked folder only.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
from pathlib import Path

from .atomic import TEMP_SUFFIX, WriteError

LOCK_NAME = ".vae-explorer.lock"
# what atomic_write's temporary files look like: ".<name>.<mkstemp's 8 characters>.tmp"
_TEMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")
# a reader that asks whether a folder is busy holds a shared lock for a moment; a writer retries
# over this long before it takes the folder for busy
_RETRY_SECONDS = 0.5
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class RunFolderBusy(RuntimeError):
    """Another process is writing into the folder; the message names it."""


def _try_lock(fd: int, shared: bool = False) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: no shared locks; a byte-range lock stands for both
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        if shared:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return True
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    if shared:
        fcntl.flock(fd, fcntl.LOCK_UN)
    return True


class RunFolderLock:
    """`with RunFolderLock(folder):` holds the folder for this process, or raises RunFolderBusy.
    A folder or lock file that cannot be made is a WriteError."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self._fd: int | None = None

    def acquire(self) -> RunFolderLock:
        path = self.folder / LOCK_NAME
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WriteError(self.folder, exc) from None
        deadline = time.monotonic() + _RETRY_SECONDS
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o666)
            except OSError as exc:  # a read-only folder, or a symbolic link planted in the lock's place
                raise WriteError(path, exc) from None
            if not _try_lock(fd):
                try:
                    holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
                finally:
                    os.close(fd)
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise RunFolderBusy(
                    f"{self.folder} is being written by another vae-explorer (process {holder}); "
                    "wait for it to finish, stop it, or choose another folder"
                )
            # the holder before us removes the file as it lets go: locked a removed file, try again
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd = fd
        with contextlib.suppress(OSError):  # the id is for messages only; a full disk keeps it out
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
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
    `folder` itself; call only while holding the folder's lock. Regular files only: a symbolic
    link is left alone, whatever its name."""
    folder = Path(folder)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match and match.group("name").endswith(OWN_SUFFIXES) and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def remove_stale_temporaries_below(folder: str | os.PathLike) -> list[Path]:
    """The same in each real sub-folder of `folder` (one level down, symbolic links not
    followed) whose lock can be taken now; a busy one is some other writer's and is skipped."""
    removed: list[Path] = []
    try:
        children = [Path(e.path) for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return removed
    for child in sorted(children):
        lock = RunFolderLock(child)
        try:
            lock.acquire()
        except (RunFolderBusy, WriteError):
            continue
        try:
            removed += remove_stale_temporaries(child)
        finally:
            lock.release()
    return removed


def is_plain_file(path: Path) -> bool:
    """A regular file, not reached through a symbolic link at its last step."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def probably_busy(folder: str | os.PathLike) -> bool:
    """Whether a live process is writing into `folder`: its lock is held. Asked of the lock
    itself, for a moment and without waiting (a writer starting meanwhile retries), not of the
    process id in the file, which may by now belong to another process."""
    try:  # O_NONBLOCK: a FIFO in its place would wait for a writer for ever
        fd = os.open(Path(folder) / LOCK_NAME, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False  # no lock file: nobody has the folder
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False  # not a lock this package made
        return not _try_lock(fd, shared=True)
    except OSError:
        return False
    finally:
        os.close(fd)
