"""A sweep's results: each trial's figures read back from its run folder, the mean and spread per
setting, and each axis's effect paired by seed with a 95% interval.

Written as DIR/trials.csv (a row per trial), DIR/summary.csv (a row per setting) and
DIR/comparison.csv (a row per axis value and figure); the CSV files hold numbers (units in the
column names), never display strings. Only trials that ran to their end (done, early stopped)
enter the summary and the comparison: a trial stopped by the user or by the scheduler trained for
fewer epochs than its peers.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .atomic import atomic_write_text
from .metrics import metric
from .runfiles import History
from .runs import read_run
from .sweep import SweepSpec, TrialPlan, axis, format_value

TRIALS_CSV = "trials.csv"
SUMMARY_CSV = "summary.csv"
COMPARISON_CSV = "comparison.csv"
COMPLETE = ("done", "early stopped")
NOT_RUN = "not run"


@dataclass(frozen=True)
class Figure:
    """A number each trial has: its key, its CSV column (with the unit), its label and unit as text."""

    key: str
    column: str
    label: str
    unit: str
    digits: int
    lower_is_better: bool | None  # None: neither (a count of epochs, a time)


def _column(key: str, unit: str) -> str:
    """A CSV header as core.metrics writes them: the key, with the unit in parentheses."""
    return f"{key} ({unit})" if unit else key


def _from_table(key: str, digits: int | None = None) -> Figure:
    """A figure of the evaluation, named, written and ordered by core.metrics' one table."""
    m = metric(key)
    return Figure(
        key,
        _column(key, m.unit),
        m.short or m.label,
        m.unit,
        m.digits if digits is None else digits,
        m.lower_is_better,
    )


FIGURES = (
    Figure("best_val", _column("best_val_nll", "nats"), "best validation nll", "nats", 2, True),
    # the test nll `train` prints (FINAL LOSS): outcome.json's, the run's own single-sample draw
    Figure("test_nll", _column("test_nll", "nats"), "test nll", "nats", 2, True),
    _from_table("iw_nll"),
    _from_table("fid"),
    _from_table("inception_score"),
    _from_table("components_in_use", digits=1),  # a mean over seeds has a fraction
    Figure("epochs", "epochs", "epochs", "", 1, None),
    Figure("seconds", _column("train_seconds", "s"), "training time", "s", 0, None),
)
FIGURE = {f.key: f for f in FIGURES}
COMPARED = ("test_nll", "iw_nll", "best_val", "fid", "inception_score", "components_in_use")


@dataclass
class TrialResult:
    """What a trial's folder says: its status, why it ended, its figures and its curve."""

    plan: TrialPlan
    folder: Path
    status: str = NOT_RUN
    reason: str | None = None
    figures: dict[str, float | None] = field(default_factory=dict)
    iw_samples: int | None = None
    history: History = field(default_factory=History.empty)
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.status in COMPLETE

    def value(self, key: str) -> float | None:
        v = self.figures.get(key)
        return v if v is not None and math.isfinite(v) else None


def trial_result(plan: TrialPlan, folder: Path) -> TrialResult:
    """The trial's result from its run folder (read as untrusted input, never raising)."""
    result = TrialResult(plan, folder)
    run = read_run(folder)
    if run is None:
        return result
    result.status, result.reason, result.problem = run.status, run.reason, run.problem
    if run.problem is not None:
        return result
    result.history = run.history
    e = run.evaluation or {}
    seconds = run.history.seconds[~_nan(run.history.seconds)] if len(run.history) else []
    result.figures = {
        "best_val": run.best_val if math.isfinite(run.best_val) else None,
        "test_nll": run.test_nll,
        "iw_nll": e.get("iw_nll"),
        "fid": e.get("fid"),
        "inception_score": e.get("inception_score"),
        "components_in_use": _float(e.get("components_in_use")),
        # the last validated epoch (metrics.csv has a row per validation: --val-every)
        "epochs": float(run.epochs),
        "seconds": float(sum(seconds)),
    }
    result.iw_samples = e.get("iw_samples") if e.get("iw_nll") is not None else None
    return result


def _nan(values):
    import numpy as np

    return np.isnan(values)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def collect(sweep_dir: str | Path, spec: SweepSpec) -> list[TrialResult]:
    return [trial_result(p, p.folder(sweep_dir)) for p in spec.trials()]


# -- statistics ---------------------------------------------------------------------------------------
def mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None where there are too few values)."""
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with `df` degrees of freedom (bisection on its CDF)."""
    if df < 1 or not 0 < p < 1:
        raise ValueError("t_quantile needs df >= 1 and 0 < p < 1")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
    return (lo + hi) / 2


def _t_cdf(t: float, df: int) -> float:
    x = df / (df + t * t)
    tail = 0.5 * _betainc(df / 2, 0.5, x)
    return 1 - tail if t >= 0 else tail


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (continued fraction, Lentz's method)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x > (a + 1) / (a + b + 2):
        return 1 - _betainc(b, a, 1 - x)
    tiny = 1e-300
    f, c, d = 1.0, 1.0, 0.0
    for i in range(400):
        m = i // 2
        if i == 0:
            num = 1.0
        elif i % 2 == 0:
            num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        else:
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1 + num * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + num / c if abs(c) > tiny else 1 + num / tiny
        f *= c * d
        if abs(1 - c * d) < 1e-15:
            break
    return front * (f - 1) / a


class Stat(NamedTuple):
    """A figure over a setting's seeds: mean, sample sd, and how many seeds have the figure (a
    trial can end without one: its evaluation stopped or failed)."""

    mean: float | None
    sd: float | None
    n: int


@dataclass(frozen=True)
class SummaryRow:
    setting: str
    values: tuple[tuple[str, Any], ...]
    n: int  # trials that ran to their end
    trials: int
    stats: dict[str, Stat]  # figure key -> its mean, sd and count
    # the numbers of importance samples of the IW-NLLs, distinct; with more than one the IW-NLLs
    # are not averaged (more samples give a lower figure)
    iw_samples: tuple[int, ...] = ()

    @property
    def mixed_iw(self) -> bool:
        return len(self.iw_samples) > 1


def _stat(values: list[float]) -> Stat:
    return Stat(*mean_sd(values), len(values))


def summary(results: list[TrialResult]) -> list[SummaryRow]:
    """One row per setting, in the spec's order: mean and sd over its complete trials (seeds)."""
    groups: dict[int, list[TrialResult]] = {}
    for r in results:
        groups.setdefault(r.plan.index, []).append(r)
    rows = []
    for _, group in sorted(groups.items()):
        done = [r for r in group if r.complete]
        stats = {f.key: _stat([v for r in done if (v := r.value(f.key)) is not None]) for f in FIGURES}
        samples = tuple(sorted({r.iw_samples for r in done if r.value("iw_nll") is not None}, key=_order))
        if len(samples) > 1:
            stats["iw_nll"] = Stat(None, None, 0)
        plan = group[0].plan
        rows.append(SummaryRow(plan.setting, plan.values, len(done), len(group), stats, samples))
    return rows


def _order(samples: int | None) -> int:
    return -1 if samples is None else samples


@dataclass(frozen=True)
class Comparison:
    """value − reference of one figure along one factor, over pairs of trials that differ only in
    that factor (same seed, same other values). The pairs of one seed share its initialisation and
    data order, so they are averaged first: the mean over seeds of each seed's mean difference, its
    95% t half-width over `n` seeds, and the `pairs` it was made of."""

    factor: str
    value: str
    reference: str
    figure: str
    n: int  # seeds
    mean: float
    half_width: float | None  # None with fewer than 2 seeds
    pairs: int = 0

    @property
    def beyond_noise(self) -> bool | None:
        """Whether the 95% interval leaves out 0 (None: no interval)."""
        if self.half_width is None:
            return None
        return abs(self.mean) > self.half_width

    def text(self) -> str:
        f = FIGURE[self.figure]
        head = (
            f"{self.value} vs {self.reference}"
            if self.factor == "setting"
            else f"{self.factor}={self.value} vs {self.reference}"
        )
        unit = f" {f.unit}" if f.unit else ""
        digits = max(f.digits, 2)
        spread = f" ± {self.half_width:.{digits}f}" if self.half_width is not None else ""
        seeds = f"paired by seed: {self.n} seed{'s' if self.n != 1 else ''}"
        if self.pairs > self.n:
            seeds += f", {self.pairs} pairs"
        verdict = {True: ", beyond seed noise", False: ", within seed noise", None: ", no interval"}[
            self.beyond_noise
        ]
        return f"{head}: {self.mean:+.{digits}f}{spread}{unit} {f.label} ({seeds}{verdict})"


def _coords(plan: TrialPlan, spec: SweepSpec) -> dict[str, str]:
    """Where a trial sits on each factor (the named setting's name, each grid axis's value)."""
    out = {"setting": plan.named}
    values = dict(plan.values)
    for name, _ in spec.grid:
        out[axis(name).name] = format_value(values[axis(name).name])
    return out


def _difference(a: TrialResult, b: TrialResult, figure: str) -> float | None:
    """a − b of one figure; None when either lacks it, or when their IW-NLLs were estimated with
    different numbers of importance samples (the difference would be partly that)."""
    x, y = a.value(figure), b.value(figure)
    if x is None or y is None or (figure == "iw_nll" and a.iw_samples != b.iw_samples):
        return None
    return x - y


def compare(
    results: list[TrialResult], spec: SweepSpec, figures: tuple[str, ...] = COMPARED
) -> list[Comparison]:
    """For each factor with several values, each value against the first, paired by seed (and by
    the other factors' values); only trials that ran to their end are paired."""
    out = []
    coords = {r.plan.id: _coords(r.plan, spec) for r in results}
    for factor in spec.factors():
        levels = (
            [s.name for s in spec.settings]
            if factor == "setting"
            else [format_value(v) for n, vs in spec.grid if axis(n).name == factor for v in vs]
        )
        reference = levels[0]

        def key(r: TrialResult, factor=factor) -> tuple:
            others = tuple(sorted((k, v) for k, v in coords[r.plan.id].items() if k != factor))
            return (others, r.plan.seed)

        by_level: dict[str, dict[tuple, TrialResult]] = {}
        for r in results:
            if r.complete:
                by_level.setdefault(coords[r.plan.id][factor], {})[key(r)] = r
        base = by_level.get(reference, {})
        for level in levels[1:]:
            mine = by_level.get(level, {})
            for fig in figures:
                by_seed: dict[int, list[float]] = {}
                for k, r in mine.items():
                    if k in base and (d := _difference(r, base[k], fig)) is not None:
                        by_seed.setdefault(k[1], []).append(d)
                if not by_seed:
                    continue
                means = [sum(d) / len(d) for d in by_seed.values()]
                mean, sd = mean_sd(means)
                assert mean is not None
                n = len(means)
                half = None if sd is None else t_quantile(0.975, n - 1) * sd / math.sqrt(n)
                pairs = sum(len(d) for d in by_seed.values())
                out.append(Comparison(factor, level, reference, fig, n, mean, half, pairs))
    return out


# -- the CSV files ------------------------------------------------------------------------------------
def _num(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return str(value) if isinstance(value, int) else f"{value:.10g}"


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _axis_cells(values: tuple[tuple[str, Any], ...]) -> list[str]:
    return [v if isinstance(v, str) else _num(v) for _, v in values]


def trials_csv(results: list[TrialResult], spec: SweepSpec) -> str:
    varied = spec.varied()
    header = ["trial", "setting", *varied, "seed", "status", "ended_by"]
    header += [FIGURE[k].column for k in ("epochs", "best_val", "test_nll", "iw_nll")]
    header += [
        "iw_nll_samples",
        *(FIGURE[k].column for k in ("fid", "inception_score", "components_in_use", "seconds")),
    ]
    rows = []
    for r in results:
        v = r.figures
        epochs = v.get("epochs")
        rows.append(
            [
                r.plan.id,
                r.plan.setting,
                *_axis_cells(r.plan.values),
                str(r.plan.seed),
                r.status,
                r.reason or "",
                _num(int(epochs) if epochs is not None else None),
                *(_num(v.get(k)) for k in ("best_val", "test_nll", "iw_nll")),
                _num(r.iw_samples),
                *(_num(v.get(k)) for k in ("fid", "inception_score", "components_in_use", "seconds")),
            ]
        )
    return _csv(header, rows)


def summary_csv(rows: list[SummaryRow], spec: SweepSpec) -> str:
    """A row per setting: its seeds that ran to their end, then per figure its mean, sd and the
    seeds that have it; iw_nll_samples is the S of the IW-NLLs ("mixed": not averaged)."""
    header = ["setting", *spec.varied(), "n_seeds", "trials"]
    for f in FIGURES:
        header += [f"mean_{f.column}", f"sd_{f.column}", f"n_{f.key}"]  # a count has no unit
        if f.key == "iw_nll":
            header.append("iw_nll_samples")
    out = []
    for row in rows:
        cells = [row.setting, *_axis_cells(row.values), str(row.n), str(row.trials)]
        for f in FIGURES:
            stat = row.stats[f.key]
            cells += [_num(stat.mean), _num(stat.sd), str(stat.n)]
            if f.key == "iw_nll":
                cells.append("mixed" if row.mixed_iw else "".join(_num(s) for s in row.iw_samples))
        out.append(cells)
    return _csv(header, out)


def comparison_csv(comparisons: list[Comparison]) -> str:
    header = [
        "factor",
        "value",
        "reference",
        "figure",
        "n_seeds",
        "n_pairs",
        "mean_difference",
        "ci95_half_width",
    ]
    rows = [
        [
            c.factor,
            c.value,
            c.reference,
            FIGURE[c.figure].column,
            str(c.n),
            str(c.pairs),
            _num(c.mean),
            _num(c.half_width),
        ]
        for c in comparisons
    ]
    return _csv(header, rows)


def write_results(sweep_dir: str | Path, spec: SweepSpec, results: list[TrialResult]) -> list[Path]:
    """trials.csv, summary.csv and comparison.csv in `sweep_dir`, each written atomically."""
    sweep_dir = Path(sweep_dir)
    return [
        atomic_write_text(sweep_dir / TRIALS_CSV, trials_csv(results, spec)),
        atomic_write_text(sweep_dir / SUMMARY_CSV, summary_csv(summary(results), spec)),
        atomic_write_text(sweep_dir / COMPARISON_CSV, comparison_csv(compare(results, spec))),
    ]
