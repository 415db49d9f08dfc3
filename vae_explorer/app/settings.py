"""User settings: what to train next (a RunConfig plus the learning rates to compare), in QSettings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from vae_explorer.core.config import ConfigError, RunConfig, check_lr, format_lr

KEY = "training/settings"
MAX_LIST = 1000  # entries of a list read back from the settings, at most


# -- typed reads: the settings file is the user's, and any value in it may have any type -------------
def read_bool(store: QSettings, key: str, default: bool) -> bool:
    """A boolean (some formats give 'true'/'false' back as text); `default` for anything else."""
    value = store.value(key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    return default


def read_int(store: QSettings, key: str, default: int, low: int, high: int) -> int:
    """A whole number from `low` to `high`; `default` for anything else."""
    value = store.value(key, default)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return default
    return value


def read_bytes(store: QSettings, key: str) -> QByteArray | None:
    """A saved geometry or splitter state; None when there is none or it is not bytes."""
    value = store.value(key)
    if isinstance(value, QByteArray):
        return value
    if isinstance(value, bytes | bytearray):
        return QByteArray(bytes(value))
    return None


def read_texts(store: QSettings, key: str, limit: int = MAX_LIST) -> list[str]:
    """A list of non-empty texts (one text alone counts as a list of one); entries of other
    types are left out, and at most `limit` are read."""
    value = store.value(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return []
    return [v for v in value[:limit] if isinstance(v, str) and v and "\0" not in v]


@dataclass(frozen=True)
class TrainingSettings:
    """A run configuration and the learning rates to run one after another."""

    config: RunConfig = field(default_factory=RunConfig)
    lrs: tuple[float, ...] = (1e-3,)

    def configs(self) -> list[RunConfig]:
        return [self.config.with_lr(lr) for lr in self.lrs]

    def plan(self, device: str) -> str:
        """One line: what Start will do with these settings."""
        from vae_explorer.core.config import preset_of

        c, d = self.config, self.config.data
        runs = len(self.lrs)
        rates = ", ".join(format_lr(lr) for lr in self.lrs)
        sizes = "/".join(
            f"{n:,}" if n is not None else full
            for n, full in ((d.limit_train, "50,000"), (d.limit_val, "10,000"), (d.limit_test, "10,000"))
        )
        preset = preset_of(c.with_lr(self.lrs[0])) if runs == 1 else None
        what = (
            f"the {preset} preset"
            if preset
            else f"{c.model.arch}, {c.model.prior} prior, {c.model.likelihood}"
        )
        return (
            f"Start trains {runs} run{'s' if runs > 1 else ''} (lr {rates}) of {what} on {d.dataset} "
            f"{sizes} train/validation/test images, up to {c.train.epochs:,} epochs each "
            f"(early stop after {c.train.patience} without improvement), on {device}."
        )

    def to_json(self) -> str:
        return json.dumps({"config": self.config.to_dict(), "lrs": list(self.lrs)})

    @classmethod
    def from_json(cls, text: str) -> TrainingSettings:
        raw = json.loads(text)
        config = RunConfig.from_dict(raw["config"]).validate()
        # one run folder per rate (lr_<rate>): a rate that names the same folder again is dropped
        named: dict[str, float] = {}
        for lr in map(check_lr, raw["lrs"][:MAX_LIST]):
            named.setdefault(format_lr(lr), lr)
        lrs = tuple(named.values())
        if not lrs:
            raise ConfigError("no learning rate")
        return cls(replace(config), lrs)


def parse_lrs(text: str) -> tuple[float, ...]:
    """'1e-5, 1e-3 1e-2' -> (1e-05, 0.001, 0.01); ConfigError on anything else."""
    parts = [p for p in text.replace(";", ",").replace(",", " ").split() if p]
    if not parts:
        raise ConfigError("give at least one learning rate")
    values = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise ConfigError(f"{part!r} is not a number") from None
        check_lr(value)  # the one rule for a rate, in core.config
        if format_lr(value) in map(format_lr, values):  # each rate trains into lr_<rate>
            raise ConfigError(f"learning rate {part} is given twice")
        values.append(value)
    return tuple(values)


def format_lrs(lrs: tuple[float, ...]) -> str:
    return ", ".join(format_lr(lr) for lr in lrs)


def load_settings(store: QSettings | None = None) -> TrainingSettings:
    """The saved settings, or the defaults when there are none or they are unreadable."""
    store = store or QSettings()
    text = store.value(KEY, "")
    if not text or not isinstance(text, str):
        return TrainingSettings()
    try:
        return TrainingSettings.from_json(text)
    except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError, RecursionError):
        return TrainingSettings()  # ConfigError is a ValueError


def save_settings(settings: TrainingSettings, store: QSettings | None = None) -> None:
    store = store or QSettings()
    store.setValue(KEY, settings.to_json())
    store.sync()


EXTRA_RUNS_KEY = "runs/extra"


def load_extra_runs(store: QSettings | None = None) -> list[Path]:
    """Run folders outside the runs folder that the user opened, which the browser keeps listing."""
    store = store or QSettings()
    return [Path(v) for v in read_texts(store, EXTRA_RUNS_KEY)]


def save_extra_runs(folders: list[Path], store: QSettings | None = None) -> None:
    store = store or QSettings()
    store.setValue(EXTRA_RUNS_KEY, [str(f) for f in folders])
