"""How well a sweep uses the machine: the same 4 trials one after another (`vae-explorer train
--threads 1` each) and as one `vae-explorer sweep --workers 2` on a local Ray instance.

    python benchmarks/sweep_scaling.py --out runs/scaling            # full MNIST, 5 epochs a trial
    python benchmarks/sweep_scaling.py --out /tmp/scaling --quick    # a tiny check of the commands

The trials are the course protocol with the mixture placed at random or by k-means, seeds 0 and 1,
on full MNIST (each at least a minute on one core of a 2-core machine). Run it on a quiet machine:
Ray starts its workers at niceness 15, so other work, even at the lowest priority (niceness 19),
takes a real share from the sweep's trials but almost none from the serial runs (niceness 0). The
load average before each part is printed so that a reader can tell.
Prints, last:

    sweep_parallel_efficiency=<sum of the serial trials' times / (workers × the sweep's wall time)>

with Ray's start-up and the per-trial overhead in seconds (what each trial costs on Ray beyond its
serial time: (workers × (sweep wall − start-up) − sum of serial times) / trials).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

GRID = ["--grid", "prior-init=random,kmeans", "--seeds", "0,1"]
TRIALS = [("random", 0), ("random", 1), ("kmeans", 0), ("kmeans", 1)]
QUICK = [
    "--limit-train",
    "512",
    "--limit-val",
    "64",
    "--limit-test",
    "64",
    "--hidden",
    "32",
    "--latent-dim",
    "4",
]


def run(args: list[str]) -> tuple[float, str]:
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "vae_explorer", *args], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): vae-explorer {' '.join(args)}\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, help="a folder for the runs (replaced)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per trial (default 5: about a minute)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny data: checks the commands, not the speed")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    base = ["--preset", "course", "--epochs", str(args.epochs), "--patience", "1000", "--device", "cpu"]
    base += QUICK if args.quick else []

    print(f"load average before the serial trials: {os.getloadavg()[0]:.2f}", flush=True)
    serial = []
    for placement, seed in TRIALS:
        folder = out / f"serial-{placement}-{seed}"
        options = ["--prior-init", placement, "--seed", str(seed), "--threads", "1", "--out", str(folder)]
        seconds, _ = run(["train", *base, *options])
        serial.append(seconds)
        print(f"serial trial prior-init={placement} seed={seed}: {seconds:.1f} s", flush=True)

    sweep_dir = out / "sweep"
    print(f"load average before the sweep: {os.getloadavg()[0]:.2f}", flush=True)
    wall, stdout = run(["sweep", *GRID, *base, "--workers", str(args.workers), "--out", str(sweep_dir)])
    found = re.search(r"ray ready in ([0-9.]+)s", stdout)
    startup = float(found.group(1)) if found else float("nan")
    with open(sweep_dir / "trials.csv", newline="") as fh:
        statuses = [row["status"] for row in csv.DictReader(fh)]
    if statuses != ["done"] * len(TRIALS):
        sys.exit(f"the sweep's trials did not all finish: {statuses}")
    # the serial runs' folders hold the same curves as the sweep's: same settings, same seeds
    total = sum(serial)
    overhead = (args.workers * (wall - startup) - total) / len(TRIALS)
    print(f"serial: {len(TRIALS)} trials one after another, 1 thread each: {total:.1f} s", flush=True)
    print(f"sweep: {args.workers} workers, {wall:.1f} s wall, of which Ray's start-up {startup:.1f} s")
    if args.quick:
        print("(--quick: tiny trials; the figures below say nothing about the speed)")
    print(f"ray_startup_seconds={startup:.2f}")
    print(f"per_trial_overhead_seconds={overhead:.2f}")
    print(f"sweep_parallel_efficiency={total / (args.workers * wall):.3f}")


if __name__ == "__main__":
    main()
