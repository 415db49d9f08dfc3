"""One colour per run folder, the same in the run list, the plot and the report, from one session
to the next.

A run's colour is first chosen by a hash of its folder (its key), or the next colour free of the
runs given one most recently, and then kept in a small JSON file in the user's data folder
(`run-colours.json`), which every front end reads. The file is untrusted input: anything in it
that is not a key and a palette colour is passed over.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from .atomic import WriteError, atomic_write_text
from .runfiles import FileProblem, read_text
from .userdata import user_data_dir

PALETTE = (
    *("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"),
    *("#bcbd22", "#393b79", "#000000"),
)
PSEUDO_INPUT_COLOUR = "#d62728"  # the frame of a VampPrior component's pseudo-input, tab and figures alike
# runs remembered, the oldest forgotten first: room for a few sweeps of core.sweep.MAX_TRIALS, so
# that the runs listed at once keep theirs (a run forgotten and listed again would change colour)
MAX_KEPT = 40_000
FILE_LIMIT = 32 * 1024 * 1024  # 40,000 keys of paths up to about 800 characters


def hashed_colour(key: str) -> str:
    """The colour a run's key hashes to, before any other run is taken into account."""
    # the name's bytes as the file system has them (a name that is not UTF-8 stays encodable)
    return PALETTE[zlib.crc32(os.fsencode(key)) % len(PALETTE)]


def colours_file() -> Path:
    return user_data_dir() / "run-colours.json"


class ColourBook:
    """Run key -> colour, kept in `path` (None: in memory only)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.colours: dict[str, str] = self._read() if path is not None else {}
        self._held = 0  # inside `batch()`: new colours are saved once, at its end
        self._unsaved = False

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Colours chosen inside are written to the file once, at the end (a list of thousands of
        new runs wrote it once per run)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held and self._unsaved:
                self._save()

    def _read(self) -> dict[str, str]:
        try:
            text = read_text(self.path, FILE_LIMIT)
            raw = json.loads(text) if text else {}
        except (FileProblem, ValueError, RecursionError):
            return {}
        if not isinstance(raw, dict):
            return {}
        return {k: v for k, v in raw.items() if isinstance(k, str) and v in PALETTE}

    def colour(self, key: str) -> str:
        """The run's colour, chosen and kept the first time it is asked for."""
        if key in self.colours:
            return self.colours[key]
        # the colours of the last runs coloured (read from the end: no copy of every colour kept)
        recent = set(itertools.islice(reversed(self.colours.values()), len(PALETTE) - 1))
        start = PALETTE.index(hashed_colour(key))
        choice = next(
            (
                PALETTE[(start + i) % len(PALETTE)]
                for i in range(len(PALETTE))
                if PALETTE[(start + i) % len(PALETTE)] not in recent
            ),
            PALETTE[start],
        )
        self.colours[key] = choice
        while len(self.colours) > MAX_KEPT:
            del self.colours[next(iter(self.colours))]
        if self._held:
            self._unsaved = True
        else:
            self._save()
        return choice

    def _save(self) -> None:
        self._unsaved = False
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(self.colours, indent=0) + "\n")
        except (OSError, WriteError):
            pass  # the colours stay for this session; a read-only home costs nothing else
