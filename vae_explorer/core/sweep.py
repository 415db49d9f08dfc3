"""Experiments: training settings crossed with seeds, one ordinary run (a trial) per combination.

A `SweepSpec` holds the base settings, the settings that vary (a grid of axes, a list of named
settings crossed with it, or random draws from ranges) and the seeds. `trials()` expands it into
`TrialPlan`s, each a `RunConfig` that core.config validated and a folder name in the sweep folder.
The spec, with its random draws written out, is saved as sweep.json, so that `--resume`, the
results and the app read the same trials back whatever the random generator does in future.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .config import ConfigError, RunConfig, apply_preset
from .runs import SWEEP_FILE

SWEEP_VERSION = 1
MAX_TRIALS = 10_000
SIGNIFICANT = 4  # random draws are rounded to this many significant digits: the label is the value
# every trial's IW-NLL is estimated with the same number of importance samples, so that the
# figures of a sweep compare (more samples give a lower figure); time-budgeting S as `train` does
# would give each trial its own. 100 costs about a tenth of a short trial's training.
SWEEP_IW_SAMPLES = 100


@dataclass(frozen=True)
class Axis:
    """A training setting that a sweep can vary: its name on the command line, where it lives in a
    RunConfig, the type of its values and how the report names it."""

    name: str
    section: str  # "model" or "train"
    field: str
    kind: type
    label: str


AXES: dict[str, Axis] = {
    a.name: a
    for a in (
        Axis("lr", "train", "lr", float, "learning rate"),
        Axis("optimizer", "train", "optimizer", str, "optimiser"),
        Axis("batch-size", "train", "batch_size", int, "batch size"),
        Axis("epochs", "train", "epochs", int, "max epochs"),
        Axis("patience", "train", "patience", int, "patience (epochs)"),
        Axis("schedule", "train", "schedule", str, "learning-rate schedule"),
        Axis("warmup-epochs", "train", "warmup_epochs", int, "learning-rate warm-up (epochs)"),
        Axis("kl-warmup", "train", "kl_warmup", int, "KL warm-up (epochs)"),
        Axis("prior-init", "train", "prior_init", str, "mixture placement"),
        Axis("components", "model", "components", int, "mixture components K"),
        Axis("latent-dim", "model", "latent_dim", int, "latent size"),
        Axis("hidden", "model", "hidden", int, "hidden units"),
        Axis("prior", "model", "prior", str, "prior"),
        Axis("mixture-weights", "model", "mixture_weights", str, "mixture weights"),
        Axis("arch", "model", "arch", str, "architecture"),
        Axis("likelihood", "model", "likelihood", str, "likelihood"),
    )
}


def axis(name: str) -> Axis:
    """The axis called `name` (hyphens or underscores); ConfigError naming the axes otherwise."""
    key = str(name).strip().replace("_", "-")
    if key not in AXES:
        hint = " (the seeds are --seeds)" if key == "seed" else ""
        raise ConfigError(f"{name!r} is not a setting a sweep can vary{hint}; one of {', '.join(AXES)}")
    return AXES[key]


def parse_value(ax: Axis, raw: Any) -> Any:
    """A value of `ax` from text (the command line) or from TOML; its range is core.config's to check."""
    if isinstance(raw, str):
        text = raw.strip()
        try:
            if ax.kind is int:
                return int(text)
            if ax.kind is float:
                return float(text)
        except ValueError:
            kind = "whole number" if ax.kind is int else "number"
            raise ConfigError(f"{ax.name}: {text!r} is not a {kind}") from None
        if not text:
            raise ConfigError(f"{ax.name}: an empty value")
        return text
    if ax.kind is float and isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    if ax.kind is int and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    kind = {int: "whole number", float: "number", str: "text in quotes"}.get(ax.kind, ax.kind.__name__)
    raise ConfigError(f"{ax.name}: {raw!r} is not a {kind}")


def format_value(value: Any) -> str:
    """A value as labels and folder names show it: floats as short as they read back exactly."""
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def with_values(config: RunConfig, values: Mapping[str, Any]) -> RunConfig:
    """`config` with each axis in `values` set (not yet validated)."""
    parts: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for name, value in values.items():
        ax = axis(name)
        parts[ax.section][ax.field] = value
    return replace(
        config, model=replace(config.model, **parts["model"]), train=replace(config.train, **parts["train"])
    )


@dataclass(frozen=True)
class Setting:
    """One combination of values (axis name -> value), and its name in tables and legends."""

    name: str
    values: tuple[tuple[str, Any], ...]
    named: str = ""  # the named setting it comes from, when crossed with a grid

    @property
    def as_dict(self) -> dict[str, Any]:
        return dict(self.values)


@dataclass(frozen=True)
class RandomAxis:
    """A range to draw from (uniform, or log-uniform) or a list of choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def draw(self, rng) -> Any:
        ax = axis(self.name)
        if self.choices:
            return self.choices[int(rng.integers(len(self.choices)))]
        assert self.low is not None and self.high is not None
        # a whole number: each of the range equally likely (log: by its share of the log range)
        if ax.kind is int:
            low, high = math.ceil(self.low), math.floor(self.high)
            if not self.log:
                return int(rng.integers(low, high + 1))
            edges = math.log(max(low - 0.5, low / 2)), math.log(high + 0.5)
            return int(min(max(round(math.exp(rng.uniform(*edges))), low), high))
        if self.log:
            x = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            x = rng.uniform(self.low, self.high)
        return float(f"{x:.{SIGNIFICANT}g}")

    def count(self) -> int | None:
        """How many different values a draw can give (None: too many to count)."""
        if self.choices:
            return len(set(self.choices))
        if axis(self.name).kind is int:
            assert self.low is not None and self.high is not None
            return math.floor(self.high) - math.ceil(self.low) + 1
        return None

    def check(self) -> RandomAxis:
        ax = axis(self.name)
        if self.choices:
            return replace(self, choices=tuple(parse_value(ax, c) for c in self.choices))
        if ax.kind is str:
            raise ConfigError(f"{self.name}: give a list of choices to draw from, not a range")
        if self.low is None or self.high is None:
            raise ConfigError(f"{self.name}: a range needs a low and a high end")
        low, high = float(self.low), float(self.high)
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ConfigError(f"{self.name}: the range {low:g} to {high:g} is empty")
        if self.log and low <= 0:
            raise ConfigError(f"{self.name}: a log-uniform range must be above 0, not from {low:g}")
        if ax.kind is int and math.ceil(low) > math.floor(high):
            raise ConfigError(f"{self.name}: no whole number from {low:g} to {high:g}")
        if ax.kind is int and max(abs(low), abs(high)) >= 2**53:  # beyond exact whole floats
            raise ConfigError(f"{self.name}: the range {low:g} to {high:g} is beyond any setting")
        return replace(self, low=low, high=high)


@dataclass(frozen=True)
class TrialPlan:
    """One trial: a setting and a seed, its validated configuration and its folder's name (its id)."""

    id: str
    setting: str
    index: int  # of its setting, in the spec's order
    values: tuple[tuple[str, Any], ...]  # the axes the spec varies, with this trial's values
    seed: int
    config: RunConfig
    named: str = ""  # the named setting it comes from ("" without named settings)

    def folder(self, sweep_dir: str | Path) -> Path:
        return Path(sweep_dir) / self.id


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep runs. `grid` axes are crossed with each other and with the named `settings`
    (each a partial set of values); random draws (`draws` of the `random` ranges) come instead of
    a grid. Every setting is crossed with every seed."""

    base: RunConfig = field(default_factory=RunConfig)
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    settings: tuple[Setting, ...] = ()
    random: tuple[RandomAxis, ...] = ()
    draws: int = 0
    random_seed: int = 0
    seeds: tuple[int, ...] = (0,)
    eval_budget: float = 0.1  # used only without eval_iw_samples: sweep.json files saved before it
    eval_iw_samples: int | None = SWEEP_IW_SAMPLES  # None: S per trial from eval_budget (0: no IW-NLL)
    drawn: bool = False  # the random draws are written out in `settings` (materialised())
    # how trials may be cut short (None: each runs to its end; "asha"), kept so that --resume
    # goes on under the same rule
    scheduler: str | None = None
    asha_grace: int | None = None

    # -- the settings and trials ------------------------------------------------------------------
    def varied(self) -> list[str]:
        """The axes whose value can differ between trials, in the spec's order."""
        names = [n for s in self.settings for n, _ in s.values]
        names += [n for n, _ in self.grid] + [r.name for r in self.random]
        return list(dict.fromkeys(axis(n).name for n in names))

    def factors(self) -> list[str]:
        """What a comparison pairs trials over: each grid axis, and "setting" for named settings."""
        named = ["setting"] if len(self.settings) > 1 and not self.random else []
        return named + [axis(n).name for n, values in self.grid if len(values) > 1]

    def setting_list(self) -> list[Setting]:
        named = self.settings or (Setting("", ()),)
        names = [axis(n).name for n, _ in self.grid]
        out = []
        for s in named:
            for point in itertools.product(*(values for _, values in self.grid)):
                values = dict(s.values)
                for name, value in zip(names, point):
                    if name in values:
                        raise ConfigError(f"{name} is both a grid axis and set by the setting {s.name!r}")
                    values[name] = value
                label = ", ".join(f"{n}={format_value(v)}" for n, v in zip(names, point))
                name = ", ".join(p for p in (s.name, label) if p) or "base"
                out.append(Setting(name, tuple(values.items()), s.name))
        return out

    def trials(self) -> list[TrialPlan]:
        """Every trial, validated by core.config; ConfigError names the first impossible one."""
        if not self.seeds:
            raise ConfigError("a sweep needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError("each seed may be given once")
        settings = self.setting_list()
        if len(settings) * len(self.seeds) > MAX_TRIALS:
            raise ConfigError(
                f"{len(settings)} settings × {len(self.seeds)} seeds is more than {MAX_TRIALS:,} trials"
            )
        varied = self.varied()
        plans, taken = [], set()
        for index, s in enumerate(settings):
            slug = folder_slug(s.name)
            if slug in taken:
                slug = f"{slug}-{index}"
            taken.add(slug)
            for seed in self.seeds:
                config = with_values(self.base, s.as_dict)
                config = replace(config, train=replace(config.train, seed=seed))
                try:
                    config.validate()
                except ConfigError as exc:
                    raise ConfigError(f"setting {s.name!r}: {exc}") from None
                values = tuple((n, getattr(getattr(config, axis(n).section), axis(n).field)) for n in varied)
                plans.append(TrialPlan(f"{slug},seed={seed}", s.name, index, values, seed, config, s.named))
        return plans

    def materialised(self) -> SweepSpec:
        """The spec with its random draws written out as named settings (what sweep.json keeps)."""
        if not self.random or self.drawn:
            return self
        import numpy as np

        if self.grid or self.settings:
            raise ConfigError("random draws replace the grid: give either --grid/settings or --random")
        if self.draws < 1:
            raise ConfigError("random search needs at least one draw")
        checked = tuple(r.check() for r in self.random)
        counts = [r.count() for r in checked]
        if None not in counts and math.prod(counts) < self.draws:  # type: ignore[arg-type]
            raise ConfigError(
                f"these ranges hold {math.prod(counts)} different settings, fewer than the {self.draws} "
                "draws asked for: ask for fewer, or use --grid for all of them"
            )
        rng = np.random.default_rng(self.random_seed)
        drawn: dict[str, Setting] = {}  # a setting drawn again is drawn anew: no setting twice
        attempts = 0
        while len(drawn) < self.draws:
            attempts += 1
            if attempts > 1000 * self.draws:
                raise ConfigError(f"could not draw {self.draws} different settings from these ranges")
            values = {axis(r.name).name: r.draw(rng) for r in checked}
            name = ", ".join(f"{n}={format_value(v)}" for n, v in values.items())
            drawn.setdefault(name, Setting(name, tuple(values.items())))
        return replace(self, settings=tuple(drawn.values()), random=checked, drawn=True)

    def plan_text(self, workers: int | None = None) -> str:
        """One line: '12 trials = 2 × 2 settings × 3 seeds on 2 workers'."""
        spec = self.materialised()
        shape = [len(spec.settings)] if spec.settings else []
        shape += [len(values) for _, values in spec.grid]
        count = math.prod(shape) if shape else 1
        n = count * len(spec.seeds)
        settings = " × ".join(map(str, shape)) if len(shape) > 1 else str(count)
        text = (
            f"{n} trial{'s' if n != 1 else ''} = {settings} setting{'s' if count != 1 else ''} × "
            f"{len(spec.seeds)} seed{'s' if len(spec.seeds) != 1 else ''}"
        )
        if self.random:
            text += f" (random draws, seed {self.random_seed})"
        return text + (f" on {workers} worker{'s' if workers != 1 else ''}" if workers else "")

    # -- sweep.json -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        spec = self.materialised()
        return {
            "version": SWEEP_VERSION,
            "base": spec.base.to_dict(),
            "grid": [[n, list(v)] for n, v in spec.grid],
            "settings": [{"name": s.name, "values": dict(s.values)} for s in spec.settings],
            "random": [
                {"name": r.name, "low": r.low, "high": r.high, "log": r.log, "choices": list(r.choices)}
                for r in spec.random
            ],
            "draws": spec.draws,
            "random_seed": spec.random_seed,
            "seeds": list(spec.seeds),
            "eval_budget": spec.eval_budget,
            "eval_iw_samples": spec.eval_iw_samples,
            "scheduler": spec.scheduler,
            "asha_grace": spec.asha_grace,
            "trials": [
                {"id": t.id, "setting": t.setting, "values": dict(t.values), "seed": t.seed}
                for t in spec.trials()
            ],
        }

    @classmethod
    def from_dict(cls, raw: Any) -> SweepSpec:
        """A saved spec; its random draws are the saved settings (never drawn again)."""
        try:
            if raw.get("version") != SWEEP_VERSION:
                raise ConfigError(f"sweep.json version {raw.get('version')!r} is not {SWEEP_VERSION}")
            settings = tuple(
                Setting(
                    str(s["name"]),
                    tuple((axis(n).name, parse_value(axis(n), v)) for n, v in s["values"].items()),
                )
                for s in raw.get("settings", [])
            )
            random = tuple(
                RandomAxis(
                    r["name"], r.get("low"), r.get("high"), bool(r.get("log")), tuple(r.get("choices", ()))
                )
                for r in raw.get("random", [])
            )
            iw = raw.get("eval_iw_samples")
            budget = raw.get("eval_budget", 0.1)
            if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 <= budget < math.inf:
                raise ConfigError(f"sweep.json's eval_budget is {budget!r}, not a number of 0 or more")
            spec = cls(
                base=RunConfig.from_dict(raw["base"]),
                grid=tuple(
                    (axis(n).name, tuple(parse_value(axis(n), v) for v in values))
                    for n, values in raw["grid"]
                ),
                settings=settings,
                draws=_whole("draws", raw.get("draws", 0), 0),
                random_seed=_whole("random_seed", raw.get("random_seed", 0)),
                seeds=tuple(_whole("seeds", s) for s in raw["seeds"]),
                eval_budget=float(budget),
                eval_iw_samples=None if iw is None else _whole("eval_iw_samples", iw, 1),
                scheduler=_scheduler(raw.get("scheduler")),
                asha_grace=None
                if raw.get("asha_grace") is None
                else _whole("asha_grace", raw["asha_grace"], 1),
            )
        except ConfigError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
            raise ConfigError(f"not a vae-explorer sweep: {type(exc).__name__} {exc}") from None
        # the draws are already settings; the ranges stay only as a record of where they came from
        return replace(spec, random=random, drawn=True) if random and settings else spec

    def save(self, sweep_dir: str | Path) -> Path:
        from .atomic import atomic_write_text

        return atomic_write_text(Path(sweep_dir) / SWEEP_FILE, json.dumps(self.to_dict(), indent=2) + "\n")


def _scheduler(value: Any) -> str | None:
    if value not in (None, "asha"):
        raise ConfigError(f"sweep.json's scheduler is {value!r}, not asha or null")
    return value


def load_spec(sweep_dir: str | Path) -> SweepSpec:
    """The spec saved in `sweep_dir`; ConfigError when there is none or it cannot be used."""
    from .runfiles import FileProblem, read_json_object

    path = Path(sweep_dir) / SWEEP_FILE
    try:
        raw = read_json_object(path)
    except FileProblem as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if raw is None:
        raise ConfigError(f"{sweep_dir} holds no sweep ({SWEEP_FILE} is missing)")
    try:
        return SweepSpec.from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def is_sweep_folder(folder: str | Path) -> bool:
    return (Path(folder) / SWEEP_FILE).is_file()


_SLUG = re.compile(r"[^A-Za-z0-9._=+,-]+")


def folder_slug(name: str, limit: int = 120) -> str:
    """A folder name for a setting: its name without spaces and characters file systems dislike."""
    slug = _SLUG.sub("-", name.replace(", ", ",")).strip("-.") or "setting"
    return slug[:limit]


# -- specs from the command line and from TOML ---------------------------------------------------
def parse_grid(items: Sequence[str]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """`--grid components=4,16` items, each 'NAME=V1,V2,...', in order; one axis at most once."""
    grid: dict[str, tuple[Any, ...]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep:
            raise ConfigError(f"--grid {item!r}: write NAME=VALUE,VALUE (for example components=4,16)")
        ax = axis(name)
        if ax.name in grid:
            raise ConfigError(f"--grid {ax.name} is given twice")
        parsed = tuple(parse_value(ax, v) for v in values.split(","))
        grid[ax.name] = _distinct(ax.name, parsed)
    return tuple(grid.items())


def parse_range(item: str) -> RandomAxis:
    """`--range lr=1e-4:1e-2:log`, `--range hidden=100:500` or `--range prior=mog,standard`."""
    name, sep, text = item.partition("=")
    if not sep:
        raise ConfigError(f"--range {item!r}: write NAME=LOW:HIGH[:log] or NAME=A,B,C")
    ax = axis(name)
    if ax.kind is str and ":" in text:
        raise ConfigError(f"--range {ax.name}: give a list of choices to draw from (A,B,C), not a range")
    if ":" not in text:
        return RandomAxis(ax.name, choices=tuple(parse_value(ax, v) for v in text.split(","))).check()
    parts = text.split(":")
    log = parts[-1].strip() == "log"
    if log:
        parts = parts[:-1]
    if len(parts) != 2:
        raise ConfigError(f"--range {item!r}: write NAME=LOW:HIGH or NAME=LOW:HIGH:log")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--range {item!r}: the ends must be numbers") from None
    return RandomAxis(ax.name, low, high, log).check()


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0,1,2' or '0-4' (both ends included)."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ConfigError(f"--seeds {text!r}: write seeds as 0,1,2 or 0-2") from None
        if last - first >= MAX_TRIALS:  # counted before the list is made
            raise ConfigError(f"--seeds {text!r}: more seeds than a sweep's {MAX_TRIALS:,} trials")
        seeds += range(first, last + 1)
    return _distinct("seeds", tuple(seeds))


def _distinct(name: str, values: tuple[Any, ...]) -> tuple[Any, ...]:
    if not values:
        raise ConfigError(f"{name}: give at least one value")
    if len(set(values)) != len(values):
        raise ConfigError(f"{name}: each value may be given once")
    return values


def base_config(options: Mapping[str, Any], preset: str | None = None) -> RunConfig:
    """The base of a sweep: a preset (or the defaults) with the given axis values (not seeds)."""
    config = apply_preset(preset, RunConfig()) if preset else RunConfig()
    values = {axis(n).name: parse_value(axis(n), v) for n, v in options.items()}
    return with_values(config, values)


def spec_from_toml(text: str) -> dict[str, Any]:
    """The parts of a sweep.toml (see the README): 'base' (options by name), 'preset', 'grid',
    'settings', 'random', 'draws', 'random_seed', 'seeds', 'workers', 'scheduler', 'ray_address'.
    The CLI merges them with its own options."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the sweep file is not valid TOML: {exc}") from None
    known = {"base", "grid", "setting", "random", "seeds", "workers", "scheduler", "ray-address"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown entries in the sweep file: {', '.join(sorted(unknown))}")
    for table in ("base", "grid", "random"):
        if not isinstance(raw.get(table, {}), dict):
            raise ConfigError(f"[{table}] must be a table of options, as [{table}] then name = value lines")
    if not isinstance(raw.get("setting", []), list):
        raise ConfigError("settings are [[setting]] tables, each with a name and its options")
    out: dict[str, Any] = {"base": dict(raw.get("base", {}))}
    grid = raw.get("grid", {})
    out["grid"] = tuple(
        (axis(n).name, _distinct(n, tuple(parse_value(axis(n), v) for v in _listed(n, vs))))
        for n, vs in grid.items()
    )
    settings = []
    for i, s in enumerate(raw.get("setting", [])):
        if not isinstance(s, dict):
            raise ConfigError("settings are [[setting]] tables, each with a name and its options")
        s = dict(s)
        name = str(s.pop("name", f"setting {i + 1}"))
        settings.append(Setting(name, tuple((axis(n).name, parse_value(axis(n), v)) for n, v in s.items())))
    if len({s.name for s in settings}) != len(settings):
        raise ConfigError("each [[setting]] needs a name of its own")
    out["settings"] = tuple(settings)
    random = dict(raw.get("random", {}))
    out["draws"] = _whole("[random] draws", random.pop("draws", 0), 0)
    out["random_seed"] = _whole("[random] seed", random.pop("seed", 0), 0)
    ranges = []
    for n, r in random.items():
        form = f"[random] {n}: write {{ low = ..., high = ..., log = true }} or {{ values = [...] }}"
        if not isinstance(r, dict) or not set(r) <= {"low", "high", "log", "values"}:
            raise ConfigError(form if not isinstance(r, dict) else f"{form}, not {', '.join(sorted(r))}")
        for end in ("low", "high"):
            if end in r and (isinstance(r[end], bool) or not isinstance(r[end], (int, float))):
                raise ConfigError(f"[random] {n}: {end} must be a number, not {r[end]!r}")
        if "values" in r and not r["values"]:
            raise ConfigError(f"[random] {n}: values: give at least one value to draw from")
        if not isinstance(r.get("log", False), bool):
            raise ConfigError(f"[random] {n}: log must be true or false, not {r['log']!r}")
        ranges.append(
            RandomAxis(
                n, r.get("low"), r.get("high"), r.get("log", False), tuple(_listed(n, r.get("values", [])))
            ).check()
        )
    out["random"] = tuple(ranges)
    if "seeds" in raw:
        out["seeds"] = _distinct("seeds", tuple(_whole("seeds", s) for s in _listed("seeds", raw["seeds"])))
    if "workers" in raw:
        out["workers"] = _whole("workers", raw["workers"], 1)
    for key in ("scheduler", "ray-address"):
        if key in raw:
            if not isinstance(raw[key], str):
                raise ConfigError(f"{key}: give a name in quotes, not {raw[key]!r}")
            out[key.replace("-", "_")] = raw[key]
    return out


def _listed(name: str, values: Any) -> list[Any]:
    if not isinstance(values, list):
        raise ConfigError(f"{name}: give a list of values, as [4, 16]")
    return values


def _whole(name: str, value: Any, least: int | None = None) -> int:
    """A whole number (JSON's 1e400, infinity, is none), `least` or more when given."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: {value!r} is not a whole number")
    if least is not None and value < least:
        raise ConfigError(f"{name}: {value!r} is less than {least}")
    return value
