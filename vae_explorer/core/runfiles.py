"""The files of a run folder, and how each is read back as untrusted input.

Whatever lies in a run folder may have been damaged, edited by hand, copied from another machine
or crafted. Every reader here opens the file without following a symbolic link, refuses anything
that is not a regular file or is larger than its limit, and turns the content into typed, finite,
bounded values; anything else is a `FileProblem` naming the file and what is wrong with it.
Nothing else escapes: a caller that catches `FileProblem` has caught everything.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .epochlog import MAX_EPOCH, WEIGHTS_FILE, WeightsHistory, parse_weights
from .metrics import count_keys, numeric_keys

CONFIG = "config.json"
METRICS = "metrics.csv"
MODEL = "model.pt"
LAST = "last.pt"
OUTCOME = "outcome.json"
EVALUATION = "evaluation.json"
NAME = "name.txt"
TEST_LOSS = "test_loss.txt"

KIB, MIB = 1024, 1024 * 1024
LIMITS = {
    CONFIG: 64 * KIB,
    OUTCOME: 64 * KIB,
    EVALUATION: 4 * MIB,
    NAME: 4 * KIB,
    TEST_LOSS: 1 * KIB,
    METRICS: 128 * MIB,  # about two million epochs
    WEIGHTS_FILE: 128 * MIB,
    "sweep.json": 32 * MIB,  # a sweep's spec with its trials (core.sweep.MAX_TRIALS of them)
}
MAX_NAME = 200  # characters of a run's name
MAX_TEXT = 500  # characters of any other text shown from a file (a reason, a device)
# the statuses a run's outcome.json may record (core.events.RunStatus, which imports torch)
STATUSES = (
    "queued",
    "running",
    "paused",
    "done",
    "early stopped",
    "stopped",
    "diverged",
    "failed",
    "not run",
)
HISTORY_COLUMNS = ("epoch", "train_loss", "val_nll", "seconds")


DISPLAY_LIMIT = 1e15  # a loss beyond this (a run on its way to diverging) is left off a curve


def drawable(values: np.ndarray) -> np.ndarray:
    """Which of `values` a curve can show: finite and within ±DISPLAY_LIMIT."""
    values = np.asarray(values, dtype=float)
    return np.isfinite(values) & (np.abs(values) <= DISPLAY_LIMIT)


class FileProblem(ValueError):
    """A file of a run folder that cannot be used; str() is '<file>: <what is wrong>'."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def read_bytes(path: Path, limit: int) -> bytes | None:
    """The bytes of the regular file `path` (None when there is none), opened without following
    a symbolic link and without blocking on a FIFO; FileProblem when it cannot be used."""
    name = path.name
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        if os.path.islink(path):  # O_NOFOLLOW says so too, where the system has it
            raise FileProblem(name, "is a symbolic link, which is not followed")
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileProblem(name, "is a symbolic link, which is not followed") from None
        raise FileProblem(name, f"cannot be read ({(exc.strerror or str(exc)).lower()})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem(name, "is not a regular file")
        if info.st_size > limit:
            raise FileProblem(name, f"is {_size(info.st_size)}, more than the {_size(limit)} allowed")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 4 * MIB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:  # grew while being read
            raise FileProblem(name, f"is more than the {_size(limit)} allowed")
        return data
    except OSError as exc:
        raise FileProblem(name, f"cannot be read ({(exc.strerror or str(exc)).lower()})") from None
    finally:
        os.close(fd)


def read_text(path: Path, limit: int) -> str | None:
    data = read_bytes(path, limit)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(
            path.name, f"is not UTF-8 text (byte {exc.object[exc.start]:#04x} at {exc.start})"
        ) from None


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path` (None when the file does not exist)."""
    text = read_text(path, LIMITS.get(path.name, 64 * KIB))
    if text is None:
        return None
    try:
        value = json.loads(text)
    except RecursionError:
        raise FileProblem(path.name, "is nested too deeply to be a file of ours") from None
    except ValueError as exc:  # JSONDecodeError, and integers too long to convert
        raise FileProblem(path.name, f"is not valid JSON ({_first_line(exc)})") from None
    if not isinstance(value, dict):
        raise FileProblem(path.name, f"holds {_kind(value)}, expected a JSON object")
    return value


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """`text` as one line of plain characters: control characters become spaces, runs of white
    space one space, and it is cut to `limit` characters (ending in '…' when cut)."""
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# -- typed values -------------------------------------------------------------------------------------
def number(value: Any, name: str, what: str, optional: bool = True) -> float | None:
    """A finite number (None allowed when `optional`)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FileProblem(name, f"{what} is {_kind(value)}, expected a number")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise FileProblem(name, f"{what} is {value!r}, expected a finite number")
    return result


def count(value: Any, name: str, what: str, optional: bool = True, high: int = 2**62) -> int | None:
    """A whole number from 0 to `high` (None allowed when `optional`)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FileProblem(name, f"{what} is {_kind(value)}, expected a whole number")
    if not 0 <= value <= high:
        raise FileProblem(name, f"{what} is {_short(value)}, expected a whole number from 0 to {high:,}")
    return value


def text(value: Any, name: str, what: str, limit: int = MAX_TEXT) -> str | None:
    """A string, made one clean line (None stays None)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise FileProblem(name, f"{what} is {_kind(value)}, expected text")
    return clean_text(value, limit)


# -- the files ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class History:
    """A run's metrics.csv: one entry per epoch, in increasing epoch order, as arrays (a run of a
    million epochs stays a few arrays, not a million dicts). Losses may be NaN or infinite (a run
    that diverged); epochs are whole numbers."""

    epoch: np.ndarray  # int64
    train_loss: np.ndarray  # float64
    val_nll: np.ndarray
    seconds: np.ndarray  # NaN where not recorded
    # the validation nll's reconstruction and KL-like parts (core.epochlog); NaN where not recorded
    val_recon: np.ndarray | None = None
    val_kl: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("val_recon", "val_kl"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.full(len(self.epoch), np.nan))

    @staticmethod
    def empty() -> History:
        nothing = np.zeros(0)
        return History(np.zeros(0, dtype=np.int64), nothing, nothing, nothing)

    @staticmethod
    def from_rows(rows: list[dict[str, float]]) -> History:
        """From per-epoch records (the engine's events, a checkpoint's metrics)."""
        if not rows:
            return History.empty()
        column = lambda key: np.array([float(r.get(key, math.nan)) for r in rows])  # noqa: E731
        return History(
            np.array([int(r["epoch"]) for r in rows], dtype=np.int64),
            column("train_loss"),
            column("val_nll"),
            column("seconds"),
            column("val_recon"),
            column("val_kl"),
        )

    @property
    def has_parts(self) -> bool:
        """Whether any epoch recorded the bound's two parts."""
        return bool(np.isfinite(self.val_recon).any())

    def __len__(self) -> int:
        return len(self.epoch)

    def rows(self) -> list[dict[str, float]]:
        """One dict per epoch, with the columns of metrics.csv."""
        return [
            {"epoch": int(e), "train_loss": float(t), "val_nll": float(v), "seconds": float(s)}
            for e, t, v, s in zip(self.epoch, self.train_loss, self.val_nll, self.seconds)
        ]

    def best(self) -> tuple[int, float] | None:
        """(epoch, validation nll) of the lowest finite validation nll, or None."""
        finite = np.isfinite(self.val_nll)
        if not finite.any():
            return None
        i = int(np.flatnonzero(finite)[np.argmin(self.val_nll[finite])])
        return int(self.epoch[i]), float(self.val_nll[i])

    def for_display(self, max_points: int) -> History:
        """At most `max_points` epochs, evenly spaced, always with the best and the last: what a
        plot draws of a very long run (a million points would freeze it and say no more)."""
        n = len(self)
        if n <= max_points:
            return self
        keep = np.unique(np.linspace(0, n - 1, max_points - 1).astype(np.int64))
        best = self.best()
        if best is not None:
            keep = np.union1d(keep, np.searchsorted(self.epoch, best[0]))
        return History(
            self.epoch[keep],
            self.train_loss[keep],
            self.val_nll[keep],
            self.seconds[keep],
            self.val_recon[keep],
            self.val_kl[keep],
        )

    def training_seconds(self) -> float:
        finite = self.seconds[np.isfinite(self.seconds) & (self.seconds >= 0)]
        return float(finite.sum())


def read_history(path: Path) -> History:
    """metrics.csv: a header naming at least `epoch` and `val_nll` (`train_loss` and `seconds`
    are NaN where absent), then one row of numbers per epoch, epochs whole and increasing."""
    name = path.name
    data = read_text(path, LIMITS[METRICS])
    if data is None:
        return History.empty()
    header_line, _, body = data.partition("\n")
    header = [h.strip() for h in header_line.strip().split(",")]
    missing = [c for c in ("epoch", "val_nll") if c not in header]
    if missing:
        raise FileProblem(name, f"has no {' or '.join(missing)} column (its header is {_short(header_line)})")
    if len(set(header)) != len(header):
        raise FileProblem(name, "names a column twice")
    if not body.strip():
        return History.empty()
    try:
        table = np.loadtxt(
            io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2, comments=None, quotechar=None
        )
    except (ValueError, OverflowError) as exc:
        raise FileProblem(name, f"has a row that is not {len(header)} numbers ({_first_line(exc)})") from None
    if table.shape[1] != len(header):
        raise FileProblem(
            name, f"has rows of {table.shape[1]} values under a header of {len(header)} columns"
        )
    col = {h: table[:, i] for i, h in enumerate(header)}
    epochs = col["epoch"]
    bad = ~(np.isfinite(epochs) & (epochs >= 0) & (epochs <= MAX_EPOCH) & (epochs == np.floor(epochs)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FileProblem(
            name, f"row {i + 1} has epoch {epochs[i]!r}, expected a whole number from 0 to {MAX_EPOCH:,}"
        )
    epoch = epochs.astype(np.int64)
    if len(epoch) > 1 and not (np.diff(epoch) > 0).all():
        i = int(np.flatnonzero(np.diff(epoch) <= 0)[0]) + 1
        raise FileProblem(
            name, f"row {i + 1} has epoch {epoch[i]} after epoch {epoch[i - 1]}, not increasing"
        )
    nan = np.full(len(epoch), np.nan)
    seconds = col.get("seconds", nan)
    if "seconds" in col and not ((seconds >= 0) & (seconds < 1e9)).all():
        i = int(np.flatnonzero(~((seconds >= 0) & (seconds < 1e9)))[0])
        raise FileProblem(name, f"row {i + 1} took {seconds[i]!r} seconds, expected a time from 0 to 1e9")
    return History(
        epoch, col.get("train_loss", nan), col["val_nll"], seconds, col.get("val_recon"), col.get("val_kl")
    )


def read_weights(path: Path) -> WeightsHistory:
    """weights.csv (core.epochlog): the prior's weights per epoch; empty when there is none."""
    data = read_text(path, LIMITS[WEIGHTS_FILE])
    if data is None:
        return WeightsHistory.empty()
    try:
        return parse_weights(data)
    except ValueError as exc:
        raise FileProblem(path.name, clean_text(str(exc))) from None


def read_name(path: Path) -> str | None:
    """name.txt: the run's name given by its user, one clean line (None: none given)."""
    value = read_text(path, LIMITS[NAME])
    if value is None:
        return None
    return clean_text(value, MAX_NAME) or None


def read_test_loss(path: Path) -> float | None:
    value = read_text(path, LIMITS[TEST_LOSS])
    if value is None:
        return None
    try:
        result = float(value.strip())
    except ValueError:
        raise FileProblem(path.name, f"holds {_short(value.strip())}, expected a number") from None
    if not math.isfinite(result):
        raise FileProblem(path.name, f"holds {value.strip()!r}, expected a finite number")
    return result


@dataclass(frozen=True)
class Outcome:
    """outcome.json: how a run ended, as its writer recorded it."""

    status: str
    reason: str | None
    test_nll: float | None
    best_val: float | None
    best_epoch: int | None
    epochs: int | None
    device: str | None
    training_step: str | None


def read_outcome(path: Path) -> Outcome | None:
    raw = read_json_object(path)
    if raw is None:
        return None
    n = path.name
    status = raw.get("status")
    if status not in STATUSES:
        raise FileProblem(n, f"status is {_short(status)}, expected one of {', '.join(STATUSES)}")
    return Outcome(
        status=status,
        reason=text(raw.get("reason"), n, "reason"),
        test_nll=number(raw.get("test_nll"), n, "test_nll"),
        best_val=number(raw.get("best_val"), n, "best_val"),
        best_epoch=count(raw.get("best_epoch"), n, "best_epoch", high=MAX_EPOCH),
        epochs=count(raw.get("epochs"), n, "epochs", high=MAX_EPOCH),
        device=text(raw.get("device"), n, "device"),
        training_step=text(raw.get("training_step"), n, "training_step"),
    )


# evaluation.json: each key the app, the CLI and the report read, with its type
_EVAL_NUMBERS = (
    "neg_elbo",
    "reconstruction",
    "kl",
    "fid",
    "fid_floor",
    "inception_score",
    "inception_score_std",
    "iw_nll",
    "iw_nll_stderr",
    "gap",
)
_EVAL_COUNTS = (
    "images",
    "active_units",
    "latent_dim",
    "components_in_use",
    "generated",
    "iw_samples",
    "epoch",
)
_EVAL_TEXTS = ("dataset", "likelihood", "checkpoint")
MAX_COMPONENTS_LISTED = 4096
MAX_CLASSES = 1000


def clean_evaluation(raw: Any, name: str = EVALUATION) -> dict[str, Any]:
    """An evaluation's figures (evaluation.json, or a result of `core.evaluation.evaluate` read
    back), checked key by key: numbers finite, counts whole, texts one line, the component list
    and class histogram of their shapes. Keys nobody reads are dropped."""
    if not isinstance(raw, dict):
        raise FileProblem(name, f"holds {_kind(raw)}, expected a JSON object")
    out: dict[str, Any] = {}
    for key in sorted(set(_EVAL_NUMBERS) | numeric_keys()):  # every metric of core.metrics too
        if key in raw:
            out[key] = number(raw[key], name, key)
    for key in sorted(set(_EVAL_COUNTS) | count_keys()):
        if key in raw:
            out[key] = count(raw[key], name, key)
    for key in _EVAL_TEXTS:
        if key in raw:
            out[key] = text(raw[key], name, key, limit=4096)
    if "notes" in raw:
        notes = raw["notes"]
        if notes is not None and not (isinstance(notes, list) and len(notes) <= 100):
            raise FileProblem(name, f"notes is {_kind(notes)}, expected a list of at most 100 texts")
        out["notes"] = [text(note, name, "a note") for note in notes or []]
    if "seconds" in raw:
        seconds = raw["seconds"]
        if not isinstance(seconds, dict) or len(seconds) > 100:
            raise FileProblem(name, f"seconds is {_kind(seconds)}, expected an object of timings")
        out["seconds"] = {
            clean_text(str(k), 60): number(v, name, f"seconds[{_short(k)}]", optional=False)
            for k, v in seconds.items()
        }
    if "class_histogram" in raw and raw["class_histogram"] is not None:
        hist = raw["class_histogram"]
        if not isinstance(hist, list) or len(hist) > MAX_CLASSES:
            raise FileProblem(
                name, f"class_histogram is {_kind(hist)}, expected a list of at most {MAX_CLASSES} numbers"
            )
        out["class_histogram"] = [number(v, name, "a class_histogram value", optional=False) for v in hist]
    elif "class_histogram" in raw:
        out["class_histogram"] = None
    if "components" in raw and raw["components"] is not None:
        out["components"] = _components(raw["components"], name)
    elif "components" in raw:
        out["components"] = None
    if "iw_runs" in raw and raw["iw_runs"] is not None:
        out["iw_runs"] = _iw_runs(raw["iw_runs"], name)
    if out.get("iw_nll") is not None and out.get("iw_nll_stderr") is None:
        out["iw_nll_stderr"] = 0.0 if out.get("iw_samples") else None
    return out


def _iw_runs(value: Any, name: str) -> list[dict[str, Any]]:
    """Every IW-NLL computed for the model: its samples, value, standard error and gap."""
    if not isinstance(value, list) or len(value) > 100:
        raise FileProblem(name, f"iw_runs is {_kind(value)}, expected a list of at most 100 IW-NLL figures")
    out = []
    for i, run in enumerate(value):
        where = f"iw_runs[{i}]"
        if not isinstance(run, dict):
            raise FileProblem(name, f"{where} is {_kind(run)}, expected an object")
        out.append(
            {
                "iw_nll": number(run.get("iw_nll"), name, f"{where}.iw_nll", optional=False),
                "iw_nll_stderr": number(run.get("iw_nll_stderr"), name, f"{where}.iw_nll_stderr"),
                "iw_samples": count(run.get("iw_samples"), name, f"{where}.iw_samples", optional=False),
                "gap": number(run.get("gap"), name, f"{where}.gap"),
            }
        )
    return out


def _components(value: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > MAX_COMPONENTS_LISTED:
        raise FileProblem(
            name,
            f"components is {_kind(value)}, expected a list of at most {MAX_COMPONENTS_LISTED:,} components",
        )
    out = []
    for i, c in enumerate(value):
        where = f"components[{i}]"
        if not isinstance(c, dict):
            raise FileProblem(name, f"{where} is {_kind(c)}, expected an object")
        counts = c.get("class_counts", [])
        if not isinstance(counts, list) or len(counts) > MAX_CLASSES:
            raise FileProblem(name, f"{where}.class_counts is {_kind(counts)}, expected a list of counts")
        out.append(
            {
                "component": count(c.get("component", i), name, f"{where}.component", optional=False),
                "weight": number(c.get("weight"), name, f"{where}.weight"),
                "share": number(c.get("share"), name, f"{where}.share"),
                "dominant_digit": count(c.get("dominant_digit"), name, f"{where}.dominant_digit"),
                "purity": number(c.get("purity"), name, f"{where}.purity"),
                "class_counts": [count(v, name, f"{where}.class_counts", optional=False) for v in counts],
            }
        )
    return out


def read_evaluation(path: Path) -> dict[str, Any] | None:
    """evaluation.json, checked (see clean_evaluation); None when there is none."""
    raw = read_json_object(path)
    return None if raw is None else clean_evaluation(raw, path.name)


# -- wording -------------------------------------------------------------------------------------------
def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false"}
    for kind, word in names.items():
        if isinstance(value, kind):
            return f"{word} ({_short(value)})" if kind is not dict else word
    return _short(value)


def _short(value: Any, limit: int = 40) -> str:
    shown = clean_text(repr(value), limit)
    return shown


def _size(n: int) -> str:
    return f"{n / MIB:.1f} MB" if n >= MIB else f"{n / KIB:.0f} KB" if n >= KIB else f"{n} bytes"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return clean_text(lines[0], 120) if lines else type(exc).__name__
