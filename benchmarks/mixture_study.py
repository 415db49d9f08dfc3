"""The mixture study: train each configuration on the same budget and tabulate what it gives.

Each configuration is one `vae-explorer train` run (full MNIST unless --limit-train is given, one
learning rate, a fixed number of epochs with early stopping disabled), whose end-of-run evaluation
(evaluation.json) holds the test negative ELBO, the IW-NLL, FID and IS and the per-component usage.
A configuration whose run folder already holds an evaluation.json is not trained again, so the
study can be resumed and its table printed again from the folders alone.

    python benchmarks/mixture_study.py --out runs/study --epochs 30 --iw-samples 1000
    python benchmarks/mixture_study.py --out runs/extra --epochs 30 --only conv gaussian

Prints one Markdown table row per configuration: the figures the README's study table shows.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

# name -> extra `vae-explorer train` options
CONFIGURATIONS: dict[str, list[str]] = {
    "course": ["--preset", "course"],
    "uniform weights": ["--preset", "course", "--mixture-weights", "uniform"],
    "KL warm-up 10": ["--preset", "course", "--kl-warmup", "10"],
    "k-means init": ["--preset", "course", "--prior-init", "kmeans"],
    "uniform + k-means": ["--preset", "course", "--mixture-weights", "uniform", "--prior-init", "kmeans"],
    "uniform + k-means + warm-up 10": [
        "--preset",
        "course",
        "--mixture-weights",
        "uniform",
        "--prior-init",
        "kmeans",
        "--kl-warmup",
        "10",
    ],
    # the third prior: the VampPrior with the paper's 500 pseudo-inputs, the course's settings else
    "vampprior": ["--preset", "course", "--prior", "vampprior", "--pseudo-inputs", "500"],
    # the architectures and likelihoods without a converged run elsewhere
    "conv": ["--preset", "course", "--arch", "conv"],
    "gaussian": ["--preset", "course", "--likelihood", "gaussian"],
    "categorical": ["--preset", "course", "--likelihood", "categorical"],
}
STUDY = list(CONFIGURATIONS)[:6]


def folder_name(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def evaluate_again(out: Path, args: argparse.Namespace) -> None:
    """Write evaluation.json anew from the run's model.pt (when the end-of-run evaluation failed)."""
    cmd = [sys.executable, "-m", "vae_explorer", "evaluate", str(out / "model.pt"), "--fid", "--is"]
    cmd += ["--iw-samples", str(args.iw_samples), "--json"]
    print(f"# evaluating {out} again", flush=True)
    result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    (out / "evaluation.json").write_text(json.dumps(result, indent=2) + "\n")


def run(name: str, args: argparse.Namespace) -> Path:
    out = args.out / folder_name(name)
    if (out / "evaluation.json").is_file():
        if "error" in json.loads((out / "evaluation.json").read_text()):
            evaluate_again(out, args)
        return out
    cmd = [
        sys.executable,
        "-m",
        "vae_explorer",
        "train",
        *CONFIGURATIONS[name],
        "--epochs",
        str(args.epochs),
        "--patience",
        str(args.epochs),
        "--threads",
        str(args.threads),
        "--eval-iw-samples",
        str(args.iw_samples),
        "--out",
        str(out),
        "--overwrite",
    ]
    if args.limit_train:
        cmd += ["--limit-train", str(args.limit_train)]
    print(f"# {name}: {' '.join(cmd[3:])}", flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    (out / "study_seconds.txt").write_text(f"{time.perf_counter() - started:.1f}\n")
    if "error" in json.loads((out / "evaluation.json").read_text()):
        evaluate_again(out, args)
    return out


def row(name: str, out: Path) -> str:
    e = json.loads((out / "evaluation.json").read_text())
    with open(out / "metrics.csv") as f:
        history = list(csv.DictReader(f))
    train_s = sum(float(h["seconds"]) for h in history)
    comps = e["components"]
    used = [c for c in comps if c["share"] >= 0.01]
    # cluster purity: the share of test images whose component's dominant digit is their own digit
    purity = sum(c["share"] * c["purity"] for c in comps if c["purity"] is not None)
    heavy = sorted((c["weight"] for c in comps), reverse=True)[:3]
    iw = f"{e['iw_nll']:.2f} ± {e['iw_nll_stderr']:.2f}" if e.get("iw_nll") is not None else "–"
    fid = f"{e['fid']:.1f}" if e.get("fid") is not None else "–"
    isc = f"{e['inception_score']:.2f}" if e.get("inception_score") is not None else "–"
    return (
        f"| {name} | {len(history)} | {e['neg_elbo']:.2f} | {iw} (S={e.get('iw_samples')}) | "
        f"{len(used)}/{len(comps)} | {purity:.3f} | {fid} | {isc} | {e['active_units']}/{e['latent_dim']} | "
        f"{', '.join(f'{w:.2f}' for w in heavy)} | {train_s / 60:.1f} |"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="one run folder per configuration goes here")
    p.add_argument("--epochs", type=int, default=30, help="the budget of every run (default 30)")
    p.add_argument("--iw-samples", type=int, default=1000, help="importance samples of the IW-NLL")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit-train", type=int, help="train on the first N training images")
    p.add_argument("--only", nargs="+", choices=list(CONFIGURATIONS), metavar="NAME", help="these only")
    args = p.parse_args()
    names = args.only or STUDY
    for name in names:
        run(name, args)
    print(
        "| configuration | epochs | test neg. ELBO | IW-NLL | components in use | purity | FID | IS "
        "| active units | 3 largest weights | training (min) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        print(row(name, args.out / folder_name(name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
