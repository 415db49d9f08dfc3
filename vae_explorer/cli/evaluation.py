"""`vae-explorer evaluate` (the figures of a checkpoint) and `vae-explorer classifier train`."""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

from vae_explorer.core.config import DATASETS, DEVICES
from vae_explorer.core.evaluation import MAX_ASKED_IW_SAMPLES

from .args import (
    MAX_THREADS,
    SEED,
    UserError,
    add_accept_unchecked,
    add_data_args,
    data_root,
    ensure_writable_dir,
    int_at_least,
    load_model,
)


def add_commands(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser(
        "evaluate", help="the test figures of a checkpoint: bound, IW-NLL, latent use, FID, IS"
    )
    e.add_argument("model", metavar="MODEL", help="a checkpoint (model.pt)")
    add_data_args(e)
    e.add_argument(
        "--iw-samples",
        type=int_at_least(1, MAX_ASKED_IW_SAMPLES),
        metavar="S",
        help="importance-weighted NLL with S samples per image (5000 for published comparisons)",
    )
    e.add_argument("--fid", action="store_true", help="Fréchet distance to the test images, with its floor")
    e.add_argument(
        "--is", dest="inception", action="store_true", help="Inception Score in the classifier's labels"
    )
    e.add_argument(
        "--exact",
        action="store_true",
        help="a 2-D model's exact NLL by quadrature on a grid, refined until it converges",
    )
    e.add_argument("--seed", type=SEED, default=0, help="seed of the evaluation's draws (default 0)")
    e.add_argument("--device", choices=DEVICES, default="auto")
    e.add_argument(
        "--json", action="store_true", help="print one JSON object (stable keys) instead of a table"
    )
    add_accept_unchecked(e)
    e.set_defaults(func=cmd_evaluate, command_parser=e)

    c = sub.add_parser("classifier", help="the digit classifier whose spaces FID and IS are measured in")
    csub = c.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = csub.add_parser("train", help="train it on the 50,000 training images of the course's split")
    t.add_argument("--dataset", choices=DATASETS, default="mnist")
    t.add_argument(
        "--data-root", type=data_root, metavar="DIR", help="a torchvision-layout root (MNIST is bundled)"
    )
    t.add_argument("--download", action="store_true", help="let torchvision fetch the data (online)")
    t.add_argument("--epochs", type=int_at_least(1), default=10)
    t.add_argument("--seed", type=SEED, default=0)
    t.add_argument(
        "--threads",
        type=int_at_least(1, MAX_THREADS),
        metavar="N",
        help=f"CPU threads (default: torch's choice, at most {MAX_THREADS})",
    )
    t.add_argument(
        "--out",
        metavar="FILE",
        help="where to save it (default: the per-user data folder, where evaluate looks first)",
    )
    t.set_defaults(func=cmd_classifier_train, command_parser=t)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from vae_explorer.core.classifier import ClassifierError
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.evaluation import EvaluationRequest, evaluate, load_classifier_for, size_notes
    from vae_explorer.core.likelihood import Cancelled

    model, config, payload = load_model(args.model, args.device, args.accept_unchecked)
    data = replace(
        config.data,
        dataset=args.dataset or config.data.dataset,
        root=args.data_root if args.data_root else (None if args.dataset else config.data.root),
        download=args.download,
        limit_train=None,
        limit_val=None,
        limit_test=args.limit_test,
    )
    if data.dataset != config.data.dataset:
        raise UserError(f"{args.model} was trained on {config.data.dataset}, not {data.dataset}")
    splits = load_splits(data)
    request = EvaluationRequest(args.iw_samples, args.fid, args.inception, args.seed)
    from .console import TerminalProgress, warn

    progress = TerminalProgress(sys.stderr)
    notes: list[str] = []
    try:
        classifier = (
            load_classifier_for(data.dataset, next(model.parameters()).device, notes)
            if args.fid or args.inception
            else None
        )
        notes += size_notes(request, splits)
        for note in notes:
            warn(f"note: {note}")
        with torch.no_grad():
            result = evaluate(
                model, replace(config, data=data), splits, request, classifier, progress=progress.show
            )
    except (ClassifierError, ValueError) as exc:
        raise UserError(str(exc)) from None
    except (Cancelled, KeyboardInterrupt):
        progress.clear()
        warn("evaluation cancelled")
        return 130
    progress.clear()
    if args.exact:
        from vae_explorer.core.exact2d import exact_figures, exact_inputs

        def grid_done(points: int, nll: float) -> None:
            progress.show(f"quadrature: {points}² points, nll {nll:.3f}", points.bit_length() - 6, 4)

        result.update(exact_figures(model, exact_inputs(model, config, splits), grid_done))
        progress.clear()
    result = {"checkpoint": str(args.model), "epoch": payload.get("metrics", {}).get("epoch"), **result}
    if notes:
        result["notes"] = notes
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


# lines a metric's own line is followed by, in this table only: (label, key, format)
DETAILS = {
    "neg_elbo": (
        ("  reconstruction -E log p(x|z)", "reconstruction", ",.2f"),
        ("  KL-like E[log q(z|x) - log p(z)]", "kl", ",.2f"),
        ("exact NLL by quadrature (nats)", "exact_nll", ",.4f"),
        ("  grid points a side", "exact_grid", ",d"),
        ("  change in the last refinement", "exact_change", ".2g"),
    ),
}


def format_table(result: dict) -> str:
    """The figures as aligned text lines, one per metric of core.metrics' table (written as the
    app and the report write them); what was not asked for is left out."""
    from vae_explorer.core.metrics import METRICS

    lines = [
        f"{result['checkpoint']} (epoch {result['epoch']}), {result['images']} {result['dataset']} test images"
    ]
    for m in METRICS:
        text = m.text(result)
        if text is None:
            continue
        label = f"{m.label} ({m.unit})" if m.unit else m.label
        lines.append(f"{label:<38} {text}")
        for detail, key, spec in DETAILS.get(m.key, ()):
            value = result.get(key)
            if isinstance(value, int if spec.endswith("d") else (int, float)) and not isinstance(value, bool):
                lines.append(f"{detail:<38} {value:{spec}}")
    if result.get("exact_note"):
        lines.append(f"{'exact NLL':<38} {result['exact_note']}")
    if result.get("class_histogram") is not None:
        lines.append(
            f"{'generated digits per class (0-9)':<38} {' '.join(str(c) for c in result['class_histogram'])}"
        )
    used = [c for c in result["components"] if c["share"] > 0]
    if len(result["components"]) > 1:
        lines.append("component  weight   share  digit  purity")
        for c in sorted(used, key=lambda c: -c["share"]):
            purity = f"{c['purity']:.2f}" if c["purity"] is not None else "–"
            lines.append(
                f"{c['component']:>9}  {c['weight']:.4f}  {c['share']:.3f}  {c['dominant_digit']!s:>5}  {purity:>6}"
            )
    seconds = ", ".join(f"{k} {v:.1f} s" for k, v in result["seconds"].items())
    lines.append(f"time: {seconds}")
    return "\n".join(lines)


def cmd_classifier_train(args: argparse.Namespace) -> int:
    import torch

    from vae_explorer.core.classifier import accuracy, save_classifier, train_classifier
    from vae_explorer.core.config import DataConfig
    from vae_explorer.core.data import load_splits
    from vae_explorer.core.evaluation import user_classifier_path

    out = Path(args.out) if args.out else user_classifier_path(args.dataset)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / (args.dataset + '.pt')}")
    ensure_writable_dir(out.parent)
    if args.threads:
        torch.set_num_threads(args.threads)
    splits = load_splits(DataConfig(dataset=args.dataset, root=args.data_root, download=args.download))
    print(
        f"training a digit classifier on {len(splits.train_images)} {args.dataset} images, {args.epochs} epochs",
        flush=True,
    )

    def report(epoch: int, epochs: int, loss: float, val: float | None) -> None:
        print(f"epoch {epoch}/{epochs}  loss={loss:.4f}  validation accuracy={val:.4f}", flush=True)

    trained = train_classifier(
        splits.train_images,
        splits.train_labels,
        splits.val_images,
        splits.val_labels,
        epochs=args.epochs,
        generator=torch.Generator().manual_seed(args.seed),
        progress=report,
    )
    test_accuracy = accuracy(trained.model, splits.test_images, splits.test_labels)
    save_classifier(trained.model, out, args.dataset, test_accuracy)
    print(
        f"test accuracy {test_accuracy:.4f} ({len(splits.test_images)} images) after "
        f"{math.ceil(trained.seconds)} s; saved {out}"
    )
    return 0
