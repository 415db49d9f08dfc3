"""Sweeps without Ray: specs and their trials (validated by core.config), random draws, sweep.json
and TOML, the results files and the paired comparison, and the CLI's refusals."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vae_explorer.cli import main
from vae_explorer.core import events as ev
from vae_explorer.core.config import ConfigError, RunConfig
from vae_explorer.core.runfiles import History
from vae_explorer.core.runlock import RunFolderLock
from vae_explorer.core.sweep import (
    SWEEP_IW_SAMPLES,
    RandomAxis,
    SweepSpec,
    load_spec,
    parse_grid,
    parse_range,
    parse_seeds,
    spec_from_toml,
)
from vae_explorer.core.sweep_ray import FINISHED, FRESH, RESUME, trial_state
from vae_explorer.core.sweep_results import (
    TrialResult,
    compare,
    summary,
    summary_csv,
    t_quantile,
    trials_csv,
)

STUDY = Path(__file__).parents[2] / "benchmarks" / "mixture_sweep.toml"


def grid_spec(**kw) -> SweepSpec:
    grid = parse_grid(["components=4,16", "prior-init=random,kmeans"])
    return SweepSpec(base=RunConfig(), grid=grid, seeds=(0, 1, 2), **kw)


def test_a_grid_crosses_every_value_with_every_seed():
    spec = grid_spec()
    trials = spec.trials()
    assert len(trials) == 12
    assert spec.plan_text(2) == "12 trials = 2 × 2 settings × 3 seeds on 2 workers"
    assert [t.id for t in trials[:4]] == [
        "components=4,prior-init=random,seed=0",
        "components=4,prior-init=random,seed=1",
        "components=4,prior-init=random,seed=2",
        "components=4,prior-init=kmeans,seed=0",
    ]
    last = trials[-1]
    assert last.setting == "components=16, prior-init=kmeans"
    assert (last.config.model.components, last.config.train.prior_init, last.config.train.seed) == (
        16,
        "kmeans",
        2,
    )
    assert dict(last.values) == {"components": 16, "prior-init": "kmeans"}
    # everything else is the base's
    assert replace(last.config, model=RunConfig().model, train=RunConfig().train) == RunConfig()
    assert spec.factors() == ["components", "prior-init"]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["components=4,0"], "number of mixture components must be"),  # core.config's own words
        (["prior=mog,vamp"], "prior must be one of mog, standard"),  # the PRIOR_KINDS registry
        (["lr=1e-3,-1"], "learning rate must be a positive finite number"),
        (["optimizer=adam,lbfgs"], "optimizer must be one of"),
        (["hidden=100,x"], "'x' is not a whole number"),
        (["colour=red"], "not a setting a sweep can vary"),
        (["seed=1,2"], "the seeds are --seeds"),
        (["components=4,4"], "each value may be given once"),
        (["components"], "write NAME=VALUE,VALUE"),
    ],
)
def test_impossible_settings_are_refused_by_core_config(items, message):
    with pytest.raises(ConfigError, match=message):
        SweepSpec(grid=parse_grid(items)).trials()


def test_seeds_and_ranges_parse():
    assert parse_seeds("0,1,2") == (0, 1, 2) == parse_seeds("0-2")
    with pytest.raises(ConfigError):
        parse_seeds("0,x")
    with pytest.raises(ConfigError, match="once"):
        parse_seeds("1,0-2")
    r = parse_range("lr=1e-4:1e-2:log")
    assert (r.low, r.high, r.log) == (1e-4, 1e-2, True)
    assert parse_range("prior-init=random,kmeans").choices == ("random", "kmeans")
    for bad, message in (("lr=0:1:log", "above 0"), ("lr=2:1", "empty"), ("arch=mlp:conv", "choices")):
        with pytest.raises(ConfigError, match=message):
            parse_range(bad)


def test_random_draws_are_reproducible_log_uniform_and_saved_as_settings(tmp_path):
    spec = SweepSpec(
        random=(parse_range("lr=1e-5:1e-1:log"), parse_range("hidden=50:500"), parse_range("arch=mlp,conv")),
        draws=400,
        random_seed=7,
        seeds=(0,),
    )
    drawn = spec.materialised()
    assert drawn.materialised() == drawn
    assert drawn.settings == spec.materialised().settings  # the same seed, the same draws
    lrs = np.array([dict(s.values)["lr"] for s in drawn.settings])
    hidden = [dict(s.values)["hidden"] for s in drawn.settings]
    assert lrs.min() >= 1e-5 and lrs.max() <= 1e-1
    assert all(float(f"{x:.4g}") == x for x in lrs)  # 4 significant digits: the label is the value
    # log-uniform: each decade gets about a quarter of the draws (uniform would put 90% in the last)
    decades = np.histogram(np.log10(lrs), bins=[-5, -4, -3, -2, -1])[0]
    assert decades.min() > 60, decades
    assert all(isinstance(h, int) and 50 <= h <= 500 for h in hidden)
    assert {dict(s.values)["arch"] for s in drawn.settings} == {"mlp", "conv"}
    assert drawn.factors() == []  # random draws are summarised, not paired
    # sweep.json keeps the draws: loading never draws again
    spec.save(tmp_path)
    loaded = load_spec(tmp_path)
    assert [t.id for t in loaded.trials()] == [t.id for t in drawn.trials()]
    assert [t.config for t in loaded.trials()] == [t.config for t in drawn.trials()]
    with pytest.raises(ConfigError, match="replace the grid"):
        replace(spec, grid=parse_grid(["components=4,8"])).materialised()


def test_whole_number_draws_give_each_value_its_share():
    """Every whole number of a range equally likely, the ends too (rounding a uniform draw would
    give them half); on a log range each by its share of the log range. Counted over many draws
    and held against the exact shares within five standard errors."""
    n = 30_000
    for spec, shares in (
        ("components=2:4", {2: 1 / 3, 3: 1 / 3, 4: 1 / 3}),
        (
            "components=1:4:log",
            {
                k: (math.log(k + 0.5) - math.log(k - 0.5)) / (math.log(4.5) - math.log(0.5))
                for k in range(1, 5)
            },
        ),
    ):
        ax = parse_range(spec).check()
        rng = np.random.default_rng(3)
        drawn = [ax.draw(rng) for _ in range(n)]
        for value, share in shares.items():
            count = drawn.count(value)
            assert abs(count - n * share) < 5 * math.sqrt(n * share * (1 - share)), (spec, value, count)
        assert set(drawn) == set(shares)


def test_random_draws_are_different_settings():
    def settings(draws, *ranges):
        spec = SweepSpec(random=tuple(parse_range(r) for r in ranges), draws=draws, seeds=(0, 1))
        return [s.name for s in spec.materialised().settings]

    names = settings(6, "components=2:4", "arch=mlp,conv")  # all six there are, none twice
    assert len(set(names)) == 6
    assert sorted(names) == sorted(f"components={k}, arch={a}" for k in (2, 3, 4) for a in ("mlp", "conv"))
    with pytest.raises(ConfigError, match="hold 6 different settings, fewer than the 7 draws"):
        settings(7, "components=2:4", "arch=mlp,conv")
    assert len(set(settings(40, "lr=1e-3:2e-3"))) == 40


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("seeds", [1e400], "seeds: inf is not a whole number"),
        ("seeds", [2.5], "seeds: 2.5 is not a whole number"),
        ("draws", 1e400, "draws: inf is not a whole number"),
        ("random_seed", "7", "random_seed: '7' is not a whole number"),
        ("eval_iw_samples", 1e400, "eval_iw_samples: inf is not a whole number"),
        ("eval_iw_samples", 0, "eval_iw_samples: 0 is less than 1"),
        ("eval_budget", float("nan"), "eval_budget is nan"),
    ],
)
def test_a_damaged_sweep_json_is_refused_in_one_line(tmp_path, capsys, key, value, message):
    grid_spec().save(tmp_path)
    raw = json.loads((tmp_path / "sweep.json").read_text())
    raw[key] = value
    (tmp_path / "sweep.json").write_text(json.dumps(raw))  # 1e400 and nan as JSON writes them
    with pytest.raises(ConfigError, match=message) as exc:
        load_spec(tmp_path)
    assert str(tmp_path / "sweep.json") in str(exc.value)
    assert main(["sweep", "--resume", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "r.html").exists()


def test_a_spec_round_trips_through_sweep_json(tmp_path):
    spec = grid_spec(eval_budget=0.0, eval_iw_samples=50)
    spec.save(tmp_path)
    raw = json.loads((tmp_path / "sweep.json").read_text())
    assert len(raw["trials"]) == 12 and raw["seeds"] == [0, 1, 2]
    loaded = load_spec(tmp_path)
    assert loaded == spec
    assert [t.config for t in loaded.trials()] == [t.config for t in spec.trials()]
    with pytest.raises(ConfigError, match="holds no sweep"):
        load_spec(tmp_path / "elsewhere")


def test_the_mixture_study_spec_is_four_settings_by_three_seeds():
    from vae_explorer.cli import build_parser
    from vae_explorer.cli.sweep import _spec

    spec, _ = _spec(build_parser().parse_args(["sweep", "--spec", str(STUDY), "--out", "x"]))
    trials = spec.trials()
    assert spec.eval_iw_samples == SWEEP_IW_SAMPLES  # one S for every trial, so that they compare
    assert spec.plan_text() == "12 trials = 4 settings × 3 seeds"
    assert spec.factors() == ["setting"]
    by_setting = {t.setting: t.config for t in trials if t.seed == 0}
    course = by_setting["course"]
    assert course.train.prior_init == "random" and course.model.mixture_weights == "learnable"
    assert course.train.epochs == 30 and course.train.patience >= 30  # the same budget for each
    assert by_setting["k-means"].train.prior_init == "kmeans"
    uniform = by_setting["k-means + uniform weights"]
    assert (uniform.train.prior_init, uniform.model.mixture_weights) == ("kmeans", "uniform")
    warm = by_setting["k-means + KL warm-up"]
    assert (warm.train.prior_init, warm.train.kl_warmup) == ("kmeans", 10)
    assert {t.config.data.limit_train for t in trials} == {None}  # full MNIST


def test_toml_errors_name_what_is_wrong():
    with pytest.raises(ConfigError, match="not valid TOML"):
        spec_from_toml("grid = [")
    with pytest.raises(ConfigError, match="unknown entries"):
        spec_from_toml("grd = 1")
    with pytest.raises(ConfigError, match="list of values"):
        spec_from_toml("[grid]\ncomponents = 4")
    for text, message in [
        ('[random]\ndraws = "eight"', "draws: 'eight' is not a whole number"),
        ("[random]\ndraws = 2\nseed = 1.5", "seed: 1.5 is not a whole number"),
        ('[random]\ndraws = 2\nlr = { low = "a", high = 1e-2 }', "lr: low must be a number, not 'a'"),
        ("[random]\ndraws = 2\nlr = { low = 1e-4, high = 1e-2, lg = true }", "not high, lg, low"),
        ('[random]\ndraws = 2\nlr = { low = 1e-4, high = 1e-2, log = "yes" }', "log must be true or false"),
        ("[random]\ndraws = 2\ncomponents = { values = 4 }", "components: give a list of values"),
        ("base = 3", "[base] must be a table"),
        ("grid = [1]", "[grid] must be a table"),
        ("setting = [1]", "[[setting]] tables"),
        ('workers = "two"', "workers: 'two' is not a whole number"),
        ("workers = 0", "workers: 0 is less than 1"),
        ("scheduler = 3", "scheduler: give a name in quotes"),
    ]:
        with pytest.raises(ConfigError) as caught:
            spec_from_toml(text)
        assert message in str(caught.value), (text, str(caught.value))
    parts = spec_from_toml(
        "[grid]\ncomponents = [4, 16]\n[random]\ndraws = 3\nlr = { low = 1e-4, high = 1e-2, log = true }"
    )
    assert parts["grid"] == (("components", (4, 16)),) and parts["draws"] == 3
    assert parts["random"] == (RandomAxis("lr", 1e-4, 1e-2, True),)


# -- results ---------------------------------------------------------------------------------------
def test_t_quantiles_match_the_tables():
    for df, value in ((1, 12.7062), (2, 4.3027), (5, 2.5706), (10, 2.2281), (30, 2.0423), (1000, 1.9623)):
        assert t_quantile(0.975, df) == pytest.approx(value, abs=1e-4)
    assert t_quantile(0.025, 4) == pytest.approx(-2.7764, abs=1e-4)


def fake_results(spec: SweepSpec, test_nll, status="done") -> list[TrialResult]:
    """Results whose test nll is test_nll(trial plan); other figures left out."""
    out = []
    for plan in spec.trials():
        r = TrialResult(plan, Path(plan.id), status if callable(status) is False else status(plan))
        r.figures = {"test_nll": test_nll(plan), "epochs": 5.0, "seconds": 10.0}
        r.history = History.from_rows([{"epoch": 1, "train_loss": 1.0, "val_nll": 2.0, "seconds": 1.0}])
        out.append(r)
    return out


def test_the_comparison_pairs_trials_by_seed_and_other_axes():
    spec = grid_spec()
    noise = {0: 0.3, 1: -0.2, 2: 0.5}

    def nll(plan):
        v = dict(plan.values)
        return 95.0 - 1.0 * (v["prior-init"] == "kmeans") + 0.01 * v["components"] + noise[plan.seed]

    results = fake_results(spec, nll)
    found = {(c.factor, c.figure): c for c in compare(results, spec)}
    kmeans = found[("prior-init", "test_nll")]
    # the seed noise cancels in each pair: every difference is exactly -1; two pairs per seed
    assert (kmeans.value, kmeans.reference, kmeans.n, kmeans.pairs) == ("kmeans", "random", 3, 6)
    assert kmeans.mean == pytest.approx(-1.0) and kmeans.half_width == pytest.approx(0.0, abs=1e-9)
    k16 = found[("components", "test_nll")]
    assert (k16.value, k16.reference, k16.n, k16.pairs) == ("16", "4", 3, 6)
    assert k16.mean == pytest.approx(0.12)
    assert (
        "prior-init=kmeans vs random: -1.00 ± 0.00 nats test nll (paired by seed: 3 seeds, 6 pairs"
        in kmeans.text()
    )


def test_pairs_of_one_seed_are_averaged_before_the_interval():
    """With another axis, a seed gives a pair per value of it; those pairs share the seed's
    initialisation and data order, so the interval is t with seeds − 1 degrees of freedom over
    the seeds' mean differences (computed here with numpy, independently)."""
    spec = grid_spec()
    effect = {(0, 4): -0.4, (0, 16): -1.0, (1, 4): -1.9, (1, 16): -0.3, (2, 4): 0.2, (2, 16): -1.5}

    def nll(plan):
        v = dict(plan.values)
        kmeans = v["prior-init"] == "kmeans"
        return 95.0 + 0.3 * plan.seed + (effect[(plan.seed, v["components"])] if kmeans else 0.0)

    (c,) = [
        c
        for c in compare(fake_results(spec, nll), spec)
        if (c.factor, c.figure) == ("prior-init", "test_nll")
    ]
    per_seed = np.array([np.mean([effect[(seed, k)] for k in (4, 16)]) for seed in range(3)])
    assert (c.n, c.pairs) == (3, 6)
    assert c.mean == pytest.approx(per_seed.mean())
    assert c.half_width == pytest.approx(4.302653 * per_seed.std(ddof=1) / math.sqrt(3), rel=1e-5)


def test_iw_nlls_of_different_sample_counts_are_neither_averaged_nor_paired():
    spec = SweepSpec(grid=parse_grid(["prior-init=random,kmeans"]), seeds=(0, 1, 2))
    results = fake_results(spec, lambda plan: 90.0)
    for r in results:
        kmeans = r.plan.config.train.prior_init == "kmeans"
        r.figures["iw_nll"] = 86.0 - kmeans - 0.1 * r.plan.seed
        # seed 2's k-means trial got more samples, seed 1's none (its evaluation was stopped)
        r.iw_samples = 500 if kmeans and r.plan.seed == 2 else 100
        if kmeans and r.plan.seed == 1:
            r.figures["iw_nll"], r.iw_samples = None, None
    (c,) = [c for c in compare(results, spec) if c.figure == "iw_nll"]
    assert (c.n, c.mean, c.half_width) == (1, pytest.approx(-1.0), None)  # seed 0's pair alone
    random, kmeans = summary(results)
    assert random.iw_samples == (100,) and random.stats["iw_nll"].n == 3
    assert kmeans.mixed_iw and kmeans.stats["iw_nll"] == (None, None, 0)
    rows = list(csv.DictReader(io.StringIO(summary_csv([random, kmeans], spec))))
    assert [r["iw_nll_samples"] for r in rows] == ["100", "mixed"]
    assert rows[0]["n_iw_nll"] == "3" and rows[1]["mean_iw_nll (nats)"] == ""


def test_the_interval_is_the_paired_t_interval_and_unfinished_trials_stay_out():
    spec = SweepSpec(grid=parse_grid(["prior-init=random,kmeans"]), seeds=(0, 1, 2, 3))
    diffs = {0: -1.2, 1: -0.7, 2: -1.6, 3: 5.0}

    def nll(plan):
        return 90.0 + (diffs[plan.seed] if plan.config.train.prior_init == "kmeans" else 0.0) + plan.seed

    def status(plan):  # seed 3's k-means trial was stopped: it is no pair
        return "stopped" if plan.seed == 3 and plan.config.train.prior_init == "kmeans" else "done"

    results = fake_results(spec, nll, status)
    (c,) = [c for c in compare(results, spec) if c.figure == "test_nll"]
    d = np.array([-1.2, -0.7, -1.6])
    assert c.n == 3
    assert c.mean == pytest.approx(d.mean())
    assert c.half_width == pytest.approx(4.3027 * d.std(ddof=1) / math.sqrt(3), rel=1e-4)
    assert c.beyond_noise is bool(abs(d.mean()) > c.half_width)
    rows = summary(results)
    assert [(r.setting, r.n, r.trials) for r in rows] == [
        ("prior-init=random", 4, 4),
        ("prior-init=kmeans", 3, 4),
    ]
    mean, sd, n = rows[1].stats["test_nll"]
    values = [90 - 1.2, 91 - 0.7, 92 - 1.6]
    assert mean == pytest.approx(np.mean(values)) and sd == pytest.approx(np.std(values, ddof=1))
    assert n == 3


def test_the_csv_files_hold_numbers_with_units_in_the_header():
    spec = grid_spec()
    results = fake_results(spec, lambda plan: 90.0 + plan.seed)
    rows = list(csv.DictReader(io.StringIO(trials_csv(results, spec))))
    assert len(rows) == 12
    assert {
        "trial",
        "components",
        "prior-init",
        "seed",
        "status",
        "test_nll (nats)",
        "iw_nll (nats)",
    } <= set(rows[0])
    assert {
        "iw_nll_samples",
        "fid",
        "inception_score",
        "components_in_use",
        "train_seconds (s)",
        "epochs",
    } <= set(rows[0])
    assert float(rows[1]["test_nll (nats)"]) == 91.0 and rows[1]["iw_nll (nats)"] == ""
    assert int(rows[0]["components"]) == 4 and int(rows[0]["epochs"]) == 5
    summary_rows = list(csv.DictReader(io.StringIO(summary_csv(summary(results), spec))))
    assert len(summary_rows) == 4
    for row in summary_rows:
        assert int(row["n_seeds"]) == 3
        assert float(row["mean_test_nll (nats)"]) == pytest.approx(91.0)
        assert float(row["sd_test_nll (nats)"]) == pytest.approx(1.0)


def test_which_trials_a_resume_runs(tmp_path):
    def folder(outcome=None, last=False):
        f = tmp_path / f"t{len(list(tmp_path.iterdir()))}"
        f.mkdir()
        if outcome is not None:
            status, reason = outcome
            (f / "outcome.json").write_text(json.dumps({"status": status, "reason": reason, "epochs": 2}))
        if last:
            (f / "last.pt").write_bytes(b"x")
        return f

    assert trial_state(folder()) == FRESH
    assert trial_state(folder(last=True)) == RESUME  # killed: goes on from its last.pt
    assert trial_state(folder(("stopped", ev.STOP_USER), last=True)) == RESUME  # Ctrl-C: unfinished
    assert trial_state(folder(("done", ev.STOP_MAX_EPOCHS), last=True)) == FINISHED
    assert trial_state(folder(("early stopped", ev.STOP_EARLY), last=True)) == FINISHED
    assert trial_state(folder(("diverged", ev.STOP_DIVERGED), last=True)) == FINISHED
    assert trial_state(folder(("stopped", ev.STOP_SCHEDULER), last=True)) == FINISHED
    assert trial_state(folder(("nonsense", "x"), last=True)) == RESUME  # unreadable: run it again


def test_the_scheduler_asks_a_trial_to_stop_itself_and_tune_to_go_on():
    from ray.tune.schedulers import TrialScheduler

    from vae_explorer.core.sweep_tune import LIVE, Pruner

    asked = []
    control = SimpleNamespace(stop=SimpleNamespace(remote=lambda *a: asked.append(a)))
    LIVE["k"] = SimpleNamespace(control=control)
    try:
        pruner = Pruner(
            "k", {"a": 8, "b": 8, "c": 8}, time_attr="epoch", metric="val_nll", mode="min",
            max_t=8, grace_period=1, reduction_factor=2, stop_last_trials=False,
        )  # fmt: skip
        trials = {n: SimpleNamespace(trial_id=n, config={"trial": n}) for n in "abc"}
        for t in trials.values():
            pruner.on_trial_add(None, t)
        for name, nll in (("a", 100.0), ("b", 101.0)):
            assert (
                pruner.on_trial_result(None, trials[name], {"epoch": 1, "val_nll": nll})
                == TrialScheduler.CONTINUE
            )
        assert asked == [("b", ev.STOP_SCHEDULER)]  # b was worse than a at the first rung
        decision = pruner.on_trial_result(None, trials["c"], {"epoch": 1, "val_nll": 500.0})
        assert decision == TrialScheduler.CONTINUE and asked[-1] == ("c", ev.STOP_SCHEDULER)
        # a verdict on a trial's last epoch is none: it ends there anyway, with its evaluation
        asked.clear()
        pruner.on_trial_result(None, trials["c"], {"epoch": 8, "val_nll": 900.0})
        assert asked == []
    finally:
        LIVE.pop("k")


# -- the CLI's refusals (no Ray started) -------------------------------------------------------------
TINY = [
    "--limit-train",
    "64",
    "--limit-val",
    "32",
    "--limit-test",
    "32",
    "--hidden",
    "16",
    "--latent-dim",
    "2",
]


def test_plan_lists_the_trials(tmp_path, capsys):
    args = ["sweep", "--grid", "components=2,3", "--seeds", "0-1", "--out", str(tmp_path / "s"), "--plan"]
    assert main([*args, "--workers", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "4 trials = 2 settings × 2 seeds on 2 workers"
    assert out[1].strip() == "components=2,seed=0" and len(out) == 5
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "components=2,0"], "number of mixture components"),
        (["--range", "lr=1e-4:1e-2:log"], "--range needs --random"),
        (["--random", "3"], "--random needs at least one --range"),
        (["--grid", "lr=x"], "not a number"),
    ],
)
def test_bad_sweeps_exit_2_before_anything_starts(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exc:
        main(["sweep", "--out", str(tmp_path / "s"), *TINY, *extra])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_a_frozen_bundle_says_sweeps_need_the_pip_install(tmp_path, capsys, monkeypatch):
    """A PyInstaller bundle has no interpreter for Ray's workers: `sweep` says so before it
    writes anything; --plan, which starts no worker, still works."""
    import sys

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    out = tmp_path / "s"
    assert main(["sweep", "--grid", "components=2,3", "--out", str(out), *TINY]) == 2
    err = capsys.readouterr().err
    assert "need a Python interpreter" in err and "install vae-explorer with pip" in err
    assert not out.exists()
    assert main(["sweep", "--grid", "components=2,3", "--out", str(out), *TINY, "--plan"]) == 0


def test_resume_never_writes_a_trial_through_a_link(tmp_path, capsys):
    """A trial folder replaced by a link to a run elsewhere: resuming would train into that run
    and replace its files. Refused before Ray starts, the run untouched."""
    out = tmp_path / "s"
    out.mkdir()
    spec = grid_spec()
    spec.save(out)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "config.json").write_text("{}")
    (out / spec.trials()[0].id).symlink_to(victim, target_is_directory=True)
    assert main(["sweep", "--resume", "--out", str(out)]) == 2
    assert "is a symbolic link; a trial is never written through a link" in capsys.readouterr().err
    assert sorted(p.name for p in victim.iterdir()) == ["config.json"]


def test_a_second_sweep_into_a_sweep_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "s"
    out.mkdir()
    grid_spec().save(out)
    assert main(["sweep", "--grid", "components=2,3", "--out", str(out), *TINY]) == 2
    assert "already holds a sweep; continue it with --resume" in capsys.readouterr().err
    # a sweep running there holds the folder's lock: a --resume beside it is refused too
    with RunFolderLock(out):
        assert main(["sweep", "--resume", "--out", str(out)]) == 2
    assert "is being written by another vae-explorer" in capsys.readouterr().err
    assert main(["sweep", "--resume", "--out", str(out), "--grid", "components=2"]) == 2
    assert "--resume continues the sweep saved in" in capsys.readouterr().err
    assert main(["sweep", "--resume", "--out", str(out), "--eval-iw-samples", "500"]) == 2
    assert "leave out --eval-iw-samples" in capsys.readouterr().err  # its trials keep their S
    # every option that sweep.json fixes is refused, a 0 included (0 == False let it through)
    for extra, name in [
        (["--eval-budget", "0"], "--eval-budget"),
        (["--random-seed", "0"], "--random-seed"),
        (["--device", "cpu"], "--device"),
        (["--data-root", str(tmp_path)], "--data-root"),
        (["--dataset", "fashion-mnist"], "--dataset"),
        (["--limit-test", "5"], "--limit-test"),
        (["--download"], "--download"),
    ]:
        assert main(["sweep", "--resume", "--out", str(out), *extra]) == 2
        assert f"leave out {name}" in capsys.readouterr().err
    assert main(["sweep", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "cannot resume" in capsys.readouterr().err


@pytest.mark.parametrize("spelling", ["eval-iw-samples", "eval_iw_samples"])
def test_every_trial_gets_the_same_importance_samples(tmp_path, spelling):
    """A sweep's IW-NLLs compare only with one S: 100 unless given, in either spelling of the
    spec file's [base]; a time budget, which gives each trial its own S, is refused."""
    from vae_explorer.cli import build_parser
    from vae_explorer.cli.sweep import _spec

    def spec(*args, base=""):
        path = tmp_path / "s.toml"
        path.write_text(f"seeds = [0, 1]\n[grid]\ncomponents = [2, 3]\n[base]\n{base}\n")
        return _spec(build_parser().parse_args(["sweep", "--spec", str(path), "--out", "x", *args]))[0]

    assert spec().eval_iw_samples == SWEEP_IW_SAMPLES == 100
    assert spec(base=f"{spelling} = 7").eval_iw_samples == 7
    assert spec("--eval-iw-samples", "9", base=f"{spelling} = 7").eval_iw_samples == 9
    none = spec(base=spelling.replace("iw_samples", "budget").replace("iw-samples", "budget") + " = 0")
    assert (none.eval_iw_samples, none.eval_budget) == (None, 0.0)  # no IW-NLL
    for bad in ("--eval-budget", "0.5"), ():
        with pytest.raises(ConfigError, match="same number of importance samples"):
            spec(*bad, base="eval_budget = 0.2" if not bad else "")
    with pytest.raises(ConfigError, match="not a whole number from 1 to 100,000"):
        spec(base=f"{spelling} = 2.5")
    with pytest.raises(ConfigError, match="not a finite number"):  # sweep.json could not hold it
        spec(base=f"eval_budget = inf\n{spelling} = 5")


def test_the_reports_table_says_how_many_seeds_each_figure_has_and_its_s(tmp_path, monkeypatch):
    import vae_explorer.report.sweep as report_sweep

    spec = SweepSpec(grid=parse_grid(["prior-init=random,kmeans"]), seeds=(0, 1, 2))
    spec.save(tmp_path)
    results = fake_results(spec, lambda plan: 90.0 + plan.seed)
    for r in results:
        r.figures["iw_nll"], r.iw_samples = 86.0 + r.plan.seed, 100
    results[0].figures["iw_nll"], results[0].iw_samples = None, None  # random, seed 0: none
    monkeypatch.setattr(report_sweep, "collect", lambda folder, spec: results)
    section = report_sweep.sweep_section(tmp_path)
    iw = section.header.index("IW-NLL (nats, S=100)")
    random, kmeans = section.rows
    assert random[iw] == "87.50 ± 0.71 (2 of 3)" and kmeans[iw] == "87.00 ± 1.00"
    assert random[section.header.index("test nll (nats)")] == "91.00 ± 1.00"
    assert section.notes == []
    results[5].iw_samples = 500  # kmeans, seed 2: more samples
    section = report_sweep.sweep_section(tmp_path)
    iw = section.header.index("IW-NLL (nats)")
    assert section.rows[0][iw] == "87.50 ± 0.71 (2 of 3) (S=100)"
    assert section.rows[1][iw] == "not averaged (mixed S)"
    assert "IW-NLL not averaged for prior-init=kmeans" in section.notes[0] and "(100/500)" in section.notes[0]


def test_resume_goes_on_under_the_scheduler_the_sweep_started_with(tmp_path):
    """A sweep started with ASHA (on the command line or in its spec file) resumed without it: its
    remaining trials all ran to their end. sweep.json keeps the scheduler and --resume takes it."""
    from vae_explorer.core.sweep import load_spec
    from vae_explorer.core.sweep_ray import SweepOptions, SweepRunner

    out = tmp_path / "s"
    out.mkdir()
    started = SweepRunner(grid_spec(), out, options=SweepOptions(scheduler="asha", asha_grace=2))
    started.spec.save(out)
    assert load_spec(out).scheduler == "asha" and load_spec(out).asha_grace == 2
    resumed = SweepRunner(load_spec(out), out, options=SweepOptions(resume=True))
    assert (resumed.options.scheduler, resumed.options.asha_grace) == ("asha", 2)
    assert [t.id for t in resumed.trials] == [t.id for t in started.trials]
    plain = SweepRunner(grid_spec(), tmp_path / "p", options=SweepOptions())
    assert plain.spec.scheduler is None
    raw = json.loads((out / "sweep.json").read_text())
    (out / "sweep.json").write_text(json.dumps({**raw, "scheduler": "hyperband"}))
    with pytest.raises(ConfigError, match="scheduler is 'hyperband'"):
        load_spec(out)


def test_after_ray_starts_its_sigterm_handler_goes_and_the_front_ends_stay():
    """ray.init installs a SIGTERM handler that exits: it goes, and the one before comes back. A
    handler the front end installed meanwhile (a first Ctrl-C during the start arms the abort)
    stays."""
    import signal

    from vae_explorer.core.sweep_ray import _signal_handlers_kept

    def front(signum, frame):
        pass

    def armed(signum, frame):
        pass

    def ray_like(signum, frame):
        pass

    ray_like.__module__ = "ray._private.worker"
    before = signal.signal(signal.SIGTERM, front)
    try:
        with _signal_handlers_kept():
            signal.signal(signal.SIGTERM, ray_like)
        assert signal.getsignal(signal.SIGTERM) is front
        with _signal_handlers_kept():
            signal.signal(signal.SIGTERM, armed)
        assert signal.getsignal(signal.SIGTERM) is armed
    finally:
        signal.signal(signal.SIGTERM, before)
