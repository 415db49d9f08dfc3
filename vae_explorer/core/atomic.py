"""The one way the package writes a file: a unique temporary file beside it, fsync, then rename.

A reader (or a process killed mid-write) sees the old file or the new one, never half of one;
the temporary file is removed when writing fails.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

TEMP_SUFFIX = ".tmp"


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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise WriteError(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise WriteError(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)
    return path


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
