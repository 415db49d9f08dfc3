"""Which recipe reaches the recommended preset's early quality fastest on 10,000 training images.

`time_to_quality.py --subset` compares the fast preset with the recommended one on 10,000 images;
this script asks whether any batch size, rate or optimiser could do what the fast preset does on
full MNIST there. It trains the recommended preset for --epochs epochs (its best validation nll by
then is the target), then each recipe (settings over the fast preset's) for as many epochs, all in
one process on the same 10,000 images, and prints for each: seconds per epoch (wall, validation
included), validation nll at a third, two thirds and the end, and the minutes until it reached the
target with their ratio to the recommended preset's (inf: never within --epochs).

    python benchmarks/subset_recipes.py                   # the built-in recipes, 30 epochs each
    python benchmarks/subset_recipes.py --epochs 20 --recipes '[{"batch_size": 64, "lr": 0.003}]'

A recipe with the cosine schedule decays over its --epochs unless it names "epochs" itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

RECIPES = [
    {"batch_size": 32, "lr": 3e-3, "warmup_epochs": 1},
    {"batch_size": 64, "lr": 3e-3, "warmup_epochs": 1},
    {"batch_size": 128, "lr": 5e-3, "warmup_epochs": 1},
    {"batch_size": 256, "lr": 3e-3, "warmup_epochs": 2, "epochs": 150},  # the fast preset itself
    {"batch_size": 256, "lr": 1e-2, "warmup_epochs": 1},
    {"batch_size": 256, "lr": 6e-3, "warmup_epochs": 1, "optimizer": "adam"},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--recipes", default=None, help="a JSON list of settings over the fast preset")
    parser.add_argument("--out", default=None, help="where the run folders go (default: a temporary folder)")
    args = parser.parse_args()

    from time_to_quality import train

    from vae_explorer.core import events as ev
    from vae_explorer.core.config import DataConfig, RunConfig, apply_preset
    from vae_explorer.core.data import load_splits

    recipes = json.loads(args.recipes) if args.recipes else RECIPES
    out = Path(args.out or tempfile.mkdtemp(prefix="vae-explorer-recipes-"))
    data = DataConfig(limit_train=10_000)
    splits = load_splits(data)

    def run(name: str, config):
        events, walls = train(config, splits, out / name, stop_when=lambda e: e.epoch >= args.epochs)
        return [e.val_nll for e in events if isinstance(e, ev.EpochEnd)], walls

    rec = apply_preset("recommended", RunConfig(data=data))
    rec_vals, rec_walls = run("recommended", replace(rec, train=replace(rec.train, epochs=args.epochs)))
    target = min(rec_vals)
    rec_minutes = rec_walls[rec_vals.index(target)] / 60  # when it first reached its best
    print(
        f"target: the recommended preset's val nll {target:.2f} by epoch {args.epochs}, {rec_minutes:.2f} min"
    )
    marks = sorted({max(1, args.epochs // 3), max(1, 2 * args.epochs // 3), args.epochs})
    header = (
        "| recipe | s/epoch | " + " | ".join(f"val nll ep {k}" for k in marks) + " | min to target | ratio |"
    )
    print(header)
    print("|---" * (len(marks) + 4) + "|")

    def row(label: str, vals: list[float], walls: list[float]) -> None:
        hit = next((w / 60 for v, w in zip(vals, walls) if v <= target), None)
        at = " | ".join(f"{vals[k - 1]:.2f}" if k <= len(vals) else "-" for k in marks)
        reach = f"{hit:.2f} | {hit / rec_minutes:.3f}" if hit is not None else "never | inf"
        print(f"| {label} | {walls[-1] / len(walls):.2f} | {at} | {reach} |", flush=True)

    row("recommended (32, 1e-3 adamax, constant)", rec_vals, rec_walls)
    fast = apply_preset("fast", RunConfig(data=data))
    for i, settings in enumerate(recipes):
        settings = {"epochs": args.epochs, **settings}
        config = replace(fast, train=replace(fast.train, **settings))
        vals, walls = run(f"recipe{i}", config)
        t = config.train
        label = f"{t.batch_size}, {t.lr:g} {t.optimizer}, cosine over {t.epochs}"
        row(label, vals, walls)


if __name__ == "__main__":
    main()
