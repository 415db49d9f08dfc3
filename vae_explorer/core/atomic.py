"""The one way the package writes a file: a unique temporary file beside it, fsync, then rename.

A reader (or a process killed mid-write) sees the old file or the new one, never half of one;
the temporary file is removed when writing fails or is interrupted (Ctrl-C, and SIGTERM and
SIGHUP, which the CLI turns into the same KeyboardInterrupt).
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"
# ".<name>." + mkstemp's 8 characters + ".tmp": a name this much shorter than the system's limit
# gets its temporary file beside it as it is; a longer one is shortened in the temporary name
TEMP_OVERHEAD = 2 + 8 + len(TEMP_SUFFIX)
NAME_MAX = 255  # bytes in a file name on the usual file systems, where the system does not say
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class WriteError(RuntimeError):
    """A file could not be written (a full disk, no permission ...): the message names the file and
    the system's reason in one line; `errno` is the system's error number."""

    def __init__(self, path: Path, exc: OSError) -> None:
        super().__init__(f"cannot write {path}: {(exc.strerror or str(exc)).lower()}")
        self.errno = exc.errno
        self.path = path


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call write(fh) on a binary file that replaces `path` only once it is complete and synced.

    The file gets the mode a plain open() would give (0666 less the umask), not mkstemp's 0600.
    On failure the old file is untouched, the temporary file is removed, and an OSError becomes a
    WriteError ("cannot write <path>: no space left on device").
    """
    path = Path(path)
    tmp: str | None = None
    fd: int | None = None
    try:
        with _signals_held():  # an interrupt now would lose the name of a file already made
            fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fd = None  # closed by the file object from here on
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except OSError as exc:
        _discard(fd, tmp)
        raise WriteError(path, exc) from None
    except BaseException:
        _discard(fd, tmp)
        raise
    _sync_folder(path.parent)
    return path


def temp_prefix(path: Path) -> str:
    """The temporary file's name up to mkstemp's random part: ".<name>.", with the name's middle
    left out where the whole would exceed the system's limit on a name (its suffix is kept, so
    that the clean-up of a run folder still knows whose file it was)."""
    name = path.name  # as the file system spells it: os.fsencode keeps a non-UTF-8 name's bytes
    limit = name_max(path.parent)
    if len(os.fsencode(name)) + TEMP_OVERHEAD <= limit:
        return f".{name}."
    suffix = path.suffix if len(os.fsencode(path.suffix)) < 16 else ""
    room = limit - TEMP_OVERHEAD - len(os.fsencode(suffix)) - 1
    stem = os.fsdecode(os.fsencode(name[: len(name) - len(suffix)])[:room])
    return f".{stem}~{suffix}."


def name_max(folder: Path) -> int:
    """The longest file name (in bytes) the file system of `folder` takes."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (AttributeError, OSError, ValueError):
        return NAME_MAX


def _discard(fd: int | None, tmp: str | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
    if tmp is not None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@contextlib.contextmanager
def _signals_held():
    """Hold Ctrl-C, SIGTERM and SIGHUP back (in the main thread, where Python runs their
    handlers) for the moment it takes to make a temporary file and learn its name; they are
    handled as soon as the block ends, inside the caller's clean-up."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy `source` over `target` atomically (a crash leaves the old target or the whole copy)."""
    import shutil

    with open(source, "rb") as src:
        return atomic_write(target, lambda fh: shutil.copyfileobj(src, fh))


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; not every system can open a folder (Windows cannot)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows.

    Linux reports it in /proc/self/status; elsewhere it is read by setting and restoring it (the
    only portable way), under a lock so that two of our threads cannot interleave.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)  # the briefly-set value is restrictive, never permissive
        os.umask(mask)
    return mask
