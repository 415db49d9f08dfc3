"""The one table of evaluation metrics: what each is called, its unit, how it is written and which
way is better. The CLI's summary line, the report's results, the Evaluation tab and every CSV of
them render from here, so a metric added to `METRICS` (and computed by core.evaluation) appears in
all of them, written the same way.

A metric's value lives in an evaluation's results under `key`; it may come with a spread (a
standard error or deviation, under `spread`), a sample count (`samples`), a reference value
written beside it (`reference`, such as FID's real-against-real floor) or a total it is counted
out of (`total`: a key, or "#components" for the length of the component list).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

COMPONENT_COUNT = "#components"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str = ""  # "nats", or "" for a plain number
    digits: int = 2  # decimals written
    lower_is_better: bool | None = True  # None: neither way is better
    spread: str | None = None  # key of its standard error or deviation
    spread_name: str = "stderr"  # what the spread is, for CSV headers
    samples: str | None = None  # key of the samples behind it (importance samples)
    reference: str | None = None  # key of a value written beside it
    reference_name: str = ""  # what that value is ("floor")
    total: str | None = None  # key of what it counts out of, or COMPONENT_COUNT
    short: str = ""  # its name in a one-line summary (the label, when empty)

    def value(self, results: dict[str, Any]) -> float | None:
        return _number(results.get(self.key))

    def total_of(self, results: dict[str, Any]) -> float | None:
        if self.total == COMPONENT_COUNT:
            components = results.get("components")
            return float(len(components)) if isinstance(components, list) else None
        return _number(results.get(self.total)) if self.total else None

    def text(self, results: dict[str, Any], with_unit: bool = False) -> str | None:
        """The metric as the app, the CLI and the report write it ("86.89 ± 0.24 (S=5000)",
        "41.2 (floor 0.6)", "16 of 16"), or None when the results lack it."""
        value = self.value(results)
        if value is None:
            return None
        text = f"{value:,.{self.digits}f}"
        total = self.total_of(results)
        if total is not None:
            text += f" of {total:,.0f}"
        spread = _number(results.get(self.spread)) if self.spread else None
        if spread is not None:
            text += f" ± {spread:,.{self.digits}f}"
        if with_unit and self.unit:
            text += f" {self.unit}"
        reference = _number(results.get(self.reference)) if self.reference else None
        if reference is not None:
            text += f" ({self.reference_name} {reference:,.{self.digits}f})"
        samples = _number(results.get(self.samples)) if self.samples else None
        if samples is not None:
            text += f" (S={samples:,.0f})"
        return text

    def csv_columns(self) -> list[tuple[str, str]]:
        """(header, key) of each number it puts in a CSV row: the value, then its spread, sample
        count, reference and total; headers carry the unit."""
        unit = f" ({self.unit})" if self.unit else ""
        columns = [(f"{self.key}{unit}", self.key)]
        if self.spread:
            columns.append((f"{self.key}_{self.spread_name}{unit}", self.spread))
        if self.samples:
            columns.append((f"{self.key}_samples", self.samples))
        if self.reference:
            columns.append((f"{self.key}_{self.reference_name}{unit}", self.reference))
        if self.total and self.total != COMPONENT_COUNT:
            columns.append((f"{self.key}_of", self.total))
        elif self.total == COMPONENT_COUNT:
            columns.append((f"{self.key}_of", COMPONENT_COUNT))
        return columns


METRICS: list[Metric] = [
    Metric("neg_elbo", "test negative ELBO", "nats", 2, True, short="test neg ELBO"),
    Metric(
        "iw_nll",
        "IW-NLL",
        "nats",
        2,
        True,
        spread="iw_nll_stderr",
        samples="iw_samples",
    ),
    Metric("gap", "bound gap (ELBO − IW)", "nats", 2, None, short="gap"),
    Metric("fid", "FID", "", 1, True, reference="fid_floor", reference_name="floor"),
    Metric(
        "inception_score",
        "Inception Score",
        "",
        2,
        False,
        spread="inception_score_std",
        spread_name="sd",
        short="IS",
    ),
    Metric("components_in_use", "components in use", "", 0, False, total=COMPONENT_COUNT),
    Metric("active_units", "active latent units", "", 0, False, total="latent_dim", short="active units"),
]


def metric(key: str) -> Metric:
    return next(m for m in METRICS if m.key == key)


def numeric_keys() -> set[str]:
    """Every key the table reads as a number (values, spreads, references)."""
    keys = set()
    for m in METRICS:
        keys.update(k for k in (m.key, m.spread, m.reference) if k)
    return keys


def count_keys() -> set[str]:
    """Every key the table reads as a whole count (sample counts, totals)."""
    keys = set()
    for m in METRICS:
        keys.update(k for k in (m.samples, m.total) if k and k != COMPONENT_COUNT)
    return keys


def summary_line(results: dict[str, Any]) -> str:
    """The CLI's one line of an evaluation: 'test neg ELBO=90.14, IW-NLL=86.48 ± 0.24 (S=1000), …'."""
    parts = []
    for m in METRICS:
        text = m.text(results)
        if text is not None:
            parts.append(
                f"{m.short or m.label}={text}" if m.total is None else f"{m.short or m.label} {text}"
            )
    return ", ".join(parts)


def csv_header() -> list[str]:
    return [header for m in METRICS for header, _ in m.csv_columns()]


def csv_row(results: dict[str, Any]) -> list[str]:
    """The numbers of `results` under csv_header(), as repr() writes them ('' where missing)."""
    counts = count_keys() | {COMPONENT_COUNT}
    row = []
    for m in METRICS:
        for _, key in m.csv_columns():
            value = m.total_of(results) if key == COMPONENT_COUNT else _number(results.get(key))
            whole = key in counts or (key == m.key and m.digits == 0)
            row.append("" if value is None else str(round(value)) if whole else repr(value))
    return row


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None
