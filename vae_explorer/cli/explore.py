"""CLI sub-commands that draw from a trained model: `sample`, `components`, `interpolate`."""

from __future__ import annotations

import argparse
import math

import numpy as np

from vae_explorer.core.explore import (
    DRAW_BATCH,
    MAX_COMPONENT_ROWS,
    MAX_COMPONENT_SAMPLES,
    MAX_SAMPLES,
    MAX_STEPS,
)

from .args import SEED, UserError, add_accept_unchecked, int_at_least, load_model, output_to, positive_float

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the model sub-commands on the main parser."""
    s = sub.add_parser("sample", help="decode samples from a trained model's prior")
    s.add_argument("model", metavar="MODEL", help="a checkpoint (model.pt)")
    s.add_argument(
        "--n",
        type=int_at_least(1, MAX_SAMPLES),
        default=16,
        help=f"how many images (default 16, at most {MAX_SAMPLES})",
    )
    s.add_argument(
        "--component", type=int_at_least(0), metavar="K", help="sample only mixture component K (0-based)"
    )
    s.add_argument("--binary", action="store_true", help="draw binary pixels instead of probabilities")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--out", required=True, metavar="FILE", help="a .png, .pdf or .svg file")
    add_accept_unchecked(s)
    s.set_defaults(func=cmd_sample, command_parser=s)

    c = sub.add_parser("components", help="a row of samples from every mixture component")
    c.add_argument("model", metavar="MODEL", help="a checkpoint (model.pt)")
    c.add_argument(
        "--n",
        type=int_at_least(1, MAX_COMPONENT_SAMPLES),
        default=8,
        help=f"samples per component (default 8, at most {MAX_COMPONENT_SAMPLES})",
    )
    c.add_argument("--temperature", type=positive_float, default=1.0, help="scales each sigma_k")
    c.add_argument("--sort-by-weight", action="store_true", help="heaviest component first")
    c.add_argument("--binary", action="store_true", help="binary draws instead of probabilities")
    c.add_argument("--seed", type=SEED, default=0)
    c.add_argument("--out", required=True, metavar="FILE", help="a .png, .pdf or .svg file")
    add_accept_unchecked(c)
    c.set_defaults(func=cmd_components, command_parser=c)

    i = sub.add_parser("interpolate", help="decode a path between two test images' latents")
    i.add_argument("model", metavar="MODEL", help="a checkpoint (model.pt)")
    i.add_argument(
        "--from",
        dest="start",
        type=int_at_least(0),
        required=True,
        metavar="I",
        help="test-set index of the first image",
    )
    i.add_argument(
        "--to",
        dest="end",
        type=int_at_least(0),
        required=True,
        metavar="J",
        help="test-set index of the last image",
    )
    i.add_argument(
        "--steps",
        type=int_at_least(2, MAX_STEPS),
        default=10,
        help=f"frames, both ends included (default 10, at most {MAX_STEPS})",
    )
    i.add_argument("--method", choices=("linear", "spherical"), default="linear")
    i.add_argument("--out", required=True, metavar="FILE", help="a .png, .pdf or .svg file")
    add_accept_unchecked(i)
    i.set_defaults(func=cmd_interpolate, command_parser=i)


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from vae_explorer import figures

    with output_to(args.out, FIGURE_SUFFIXES) as out:
        model, config, _ = load_model(args.model, accept_unchecked=args.accept_unchecked)
        generator = torch.Generator().manual_seed(args.seed)
        k = model.prior.num_components
        if args.component is not None and args.component >= k:
            raise UserError(f"--component must be below the model's {k} components, not {args.component}")
        parts = []
        with torch.no_grad():
            for start in range(0, args.n, DRAW_BATCH):
                n = min(DRAW_BATCH, args.n - start)
                if args.component is None:
                    z = model.prior.sample(n, generator)
                else:
                    z = model.prior.sample_component(args.component, n, generator)
                parts.append(model.decode(z, binary=args.binary, generator=generator).cpu().numpy())
        images = np.concatenate(parts)
        figures.save_image_grid(images, [out], config.model.image_size, cols=math.ceil(math.sqrt(args.n)))
        print(f"wrote {out}")
        return 0


def cmd_components(args: argparse.Namespace) -> int:
    from vae_explorer import figures
    from vae_explorer.core.explore import component_order, component_rows, format_weight
    from vae_explorer.core.vampprior import has_pseudo_inputs

    with output_to(args.out, FIGURE_SUFFIXES) as out:
        model, config, _ = load_model(args.model, accept_unchecked=args.accept_unchecked)
        if model.prior.num_components > MAX_COMPONENT_ROWS:
            raise UserError(
                f"the model has {model.prior.num_components} components; a components figure shows "
                f"at most {MAX_COMPONENT_ROWS}"
            )
        weights = model.prior.component_params()[0].cpu().numpy()
        samples = component_rows(model, args.n, args.temperature, args.binary, args.seed)
        pseudo = has_pseudo_inputs(model)  # then each row starts with the pseudo-input u_k
        order = component_order(weights, args.sort_by_weight)
        labels = [f"k={k}\nw={format_weight(weights[k])}" for k in order]
        figures.save_component_rows(samples[order], labels, out, config.model.image_size, pseudo)
        if pseudo:
            print("each row starts with its component's pseudo-input u_k (framed), then samples z ~ q(z|u_k)")
        print(f"wrote {out}")
        return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from vae_explorer import figures
    from vae_explorer.core.data import TEST_BINARISE_SEED, load_splits, model_input
    from vae_explorer.core.explore import decode_latents, encode_means, interpolation_path

    with output_to(args.out, FIGURE_SUFFIXES) as out:
        model, config, _ = load_model(args.model, accept_unchecked=args.accept_unchecked)
        splits = load_splits(config.data.test_only())
        n = len(splits.test_images)
        for name, index in (("--from", args.start), ("--to", args.end)):
            if index >= n:
                raise UserError(f"{name} {index} is not a test-set index (0 to {n - 1})")
        # the whole test set binarised, then the two picked: the same draws the app's panel uses
        x = model_input(splits.test_images, config.model.likelihood, TEST_BINARISE_SEED)[
            [args.start, args.end]
        ]
        a, b = encode_means(model, x)
        path = decode_latents(model, interpolation_path(a, b, args.steps, args.method))
        figures.save_strip(
            path,
            out,
            config.model.image_size,
            title=f"test #{args.start} → test #{args.end}, {args.method}, {args.steps} steps",
        )
        print(f"wrote {out}")
        return 0
