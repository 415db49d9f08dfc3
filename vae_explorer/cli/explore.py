"""CLI sub-commands that draw from a trained model: `sample`, `components`, `interpolate`."""

from __future__ import annotations

import argparse
import math

from .args import SEED, UserError, int_at_least, load_model, output_file, positive_float

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the model sub-commands on the main parser."""
    s = sub.add_parser("sample", help="decode samples from a trained model's prior")
    s.add_argument("model", metavar="MODEL", help="a checkpoint (model.pt)")
    s.add_argument("--n", type=int_at_least(1), default=16)
    s.add_argument(
        "--component", type=int_at_least(0), metavar="K", help="sample only mixture component K (0-based)"
    )
    s.add_argument("--binary", action="store_true", help="draw binary pixels instead of probabilities")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--out", required=True, metavar="FILE", help="a .png or .pdf file")
    s.set_defaults(func=cmd_sample, command_parser=s)

    c = sub.add_parser("components", help="a row of samples from every mixture component")
    c.add_argument("model", metavar="MODEL", help="a checkpoint (model.pt)")
    c.add_argument("--n", type=int_at_least(1), default=8, help="samples per component (default 8)")
    c.add_argument("--temperature", type=positive_float, default=1.0, help="scales each sigma_k")
    c.add_argument("--sort-by-weight", action="store_true", help="heaviest component first")
    c.add_argument("--binary", action="store_true", help="binary draws instead of probabilities")
    c.add_argument("--seed", type=SEED, default=0)
    c.add_argument("--out", required=True, metavar="FILE", help="a .png, .pdf or .svg file")
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
    i.add_argument("--steps", type=int_at_least(2), default=10)
    i.add_argument("--method", choices=("linear", "spherical"), default="linear")
    i.add_argument("--out", required=True, metavar="FILE", help="a .png, .pdf or .svg file")
    i.set_defaults(func=cmd_interpolate, command_parser=i)


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from vae_explorer import figures

    out = output_file(args.out)
    model, config, _ = load_model(args.model)
    generator = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        if args.component is None:
            z = model.prior.sample(args.n, generator)
        else:
            k = model.prior.num_components
            if args.component >= k:
                raise UserError(f"--component must be below the model's {k} components, not {args.component}")
            z = model.prior.sample_component(args.component, args.n, generator)
        images = model.decode(z, binary=args.binary, generator=generator).numpy()
    figures.save_image_grid(images, [out], config.model.image_size, cols=math.ceil(math.sqrt(args.n)))
    print(f"wrote {out}")
    return 0


def cmd_components(args: argparse.Namespace) -> int:
    from vae_explorer import figures
    from vae_explorer.core.explore import all_components, component_order, format_weight

    out = output_file(args.out, FIGURE_SUFFIXES)
    model, config, _ = load_model(args.model)
    weights = model.prior.component_params()[0].numpy()
    samples = all_components(model, args.n, args.temperature, args.binary, args.seed)
    order = component_order(weights, args.sort_by_weight)
    figures.save_component_rows(
        samples[order], [f"k={k}\nw={format_weight(weights[k])}" for k in order], out, config.model.image_size
    )
    print(f"wrote {out}")
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from vae_explorer import figures
    from vae_explorer.core.data import TEST_BINARISE_SEED, load_splits, model_input
    from vae_explorer.core.explore import decode_latents, encode_means, interpolation_path

    out = output_file(args.out, FIGURE_SUFFIXES)
    model, config, _ = load_model(args.model)
    splits = load_splits(config.data.test_only())
    n = len(splits.test_images)
    for name, index in (("--from", args.start), ("--to", args.end)):
        if index >= n:
            raise UserError(f"{name} {index} is not a test-set index (0 to {n - 1})")
    x = model_input(splits.test_images[[args.start, args.end]], config.model.likelihood, TEST_BINARISE_SEED)
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
