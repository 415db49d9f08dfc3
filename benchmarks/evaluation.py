"""How long the published-comparison evaluation of a model takes: the IW-NLL with S=5,000 over the
whole test set, and FID + IS over as many generated images (10,000 for MNIST).

Run: `python benchmarks/evaluation.py runs/default/model.pt [--limit-test N] [--threads N]`.
With --limit-test the IW time is also given scaled to 10,000 images (it grows linearly with them).
The last line is `iw_test_seconds=<value> iw_samples=<S> fid10k_seconds=<value>` (S is 5,000
unless --samples says otherwise).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI sets it (see DESIGN.md)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument(
        "--limit-test", type=int, default=None, help="test images for the IW-NLL (default all)"
    )
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--accept-unchecked",
        action="store_true",
        help="load a checkpoint saved before the whole-content checksum (as `vae-explorer evaluate`)",
    )
    args = parser.parse_args()

    import torch

    from vae_explorer.core.checkpoint import load_checkpoint
    from vae_explorer.core.data import TEST_BINARISE_SEED, load_splits, model_input
    from vae_explorer.core.evaluate import negative_elbo
    from vae_explorer.core.evaluation import EvaluationRequest, evaluate, load_classifier_for
    from vae_explorer.core.likelihood import iw_nll

    if args.threads:
        torch.set_num_threads(args.threads)
    model, config, _ = load_checkpoint(args.checkpoint, args.device, args.accept_unchecked)
    splits = load_splits(replace(config.data, limit_train=None, limit_val=None, limit_test=None))
    classifier = load_classifier_for(config.data.dataset, args.device)
    print(
        f"torch {torch.__version__}, threads={torch.get_num_threads()}, cores={os.cpu_count()}, "
        f"device={args.device}, model {config.model.arch} hidden={config.model.hidden} "
        f"latent={config.model.latent_dim} K={config.model.components}",
        flush=True,
    )

    started = time.perf_counter()
    quality = evaluate(model, config, splits, EvaluationRequest(fid=True, inception=True), classifier)
    fid_seconds = time.perf_counter() - started
    print(
        f"FID={quality['fid']:.3f} (floor {quality['fid_floor']:.3f}), IS={quality['inception_score']:.3f} "
        f"± {quality['inception_score_std']:.3f} over {quality['generated']} generated images: "
        f"{fid_seconds:.1f} s (bound and latent statistics included)",
        flush=True,
    )

    test = model_input(
        splits.test_images[: args.limit_test].to(args.device), config.model.likelihood, TEST_BINARISE_SEED
    )
    last = [time.perf_counter()]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 30 or done == total:
            last[0] = time.perf_counter()
            print(f"  IW-NLL: {done}/{total} images, {last[0] - started_iw:.0f} s", flush=True)

    # the bound of the same images as the IW-NLL: the gap of the whole test set's bound and an
    # IW-NLL of its first N images would mix two samples
    bound = negative_elbo(model, test)
    started_iw = time.perf_counter()
    result = iw_nll(model, test, args.samples, torch.Generator(args.device).manual_seed(0), progress=progress)
    scaled = result.seconds * len(splits.test_images) / len(test)
    print(
        f"IW-NLL (S={args.samples}) over {len(test)} test images = {result.mean:.4f} ± {result.stderr:.4f} "
        f"(negative ELBO of the same images {bound:.4f}, gap {bound - result.mean:.4f}) "
        f"in {result.seconds:.1f} s"
        + (
            f"; scaled to {len(splits.test_images)} images: {scaled:.0f} s"
            if len(test) < len(splits.test_images)
            else ""
        )
    )
    print(f"iw_test_seconds={scaled:.1f} iw_samples={args.samples} fid10k_seconds={fid_seconds:.1f}")


if __name__ == "__main__":
    main()
