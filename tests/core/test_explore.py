"""Explorer maths: component sampling, lerp/slerp, interpolation endpoints, the PCA projection."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from vae_explorer.cli import main
from vae_explorer.core.config import ModelConfig
from vae_explorer.core.explore import (
    all_components,
    component_order,
    decode_latents,
    fit_projection,
    format_weight,
    interpolation_path,
    lerp,
    slerp,
)
from vae_explorer.core.model import VAE


def test_component_samples_use_exactly_component_k():
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=3, components=4, hidden=16))
    with torch.no_grad():
        model.prior.means.copy_(torch.arange(12.0).view(4, 3))
        model.prior.log_vars.copy_(torch.log(torch.tensor([0.5, 1.0, 2.0, 4.0]))[:, None].expand(4, 3))
    n = 40_000
    for k in range(4):
        for temperature in (1.0, 0.5):
            z = model.prior.sample_component(k, n, torch.Generator().manual_seed(k), temperature)
            sigma = temperature * math.sqrt([0.5, 1.0, 2.0, 4.0][k])
            assert torch.all((z.mean(0) - model.prior.means[k]).abs() < 4 * sigma / math.sqrt(n))
            assert torch.allclose(z.std(0), torch.full((3,), sigma), rtol=0.03)
    grid = all_components(model, 5, seed=1)
    assert grid.shape == (4, 5, 784) and grid.min() >= 0 and grid.max() <= 1
    assert np.array_equal(grid, all_components(model, 5, seed=1))  # reproducible


def test_component_order():
    assert component_order(np.array([0.1, 0.5, 0.4]), True).tolist() == [1, 2, 0]
    assert component_order(np.array([0.1, 0.5, 0.4]), False).tolist() == [0, 1, 2]


def test_format_weight():
    assert format_weight(0.49861) == "0.499"
    assert format_weight(2.7e-11) == "2.7e-11"  # never a misleading "0.000"


def test_slerp_on_known_vectors():
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    ts = np.linspace(0, 1, 7)
    path = slerp(a, b, ts)
    np.testing.assert_allclose(path[3], (a + b) / math.sqrt(2), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0, atol=1e-12)
    angles = np.arccos(np.clip(path @ a, -1, 1))
    np.testing.assert_allclose(angles, ts * math.pi / 2, atol=1e-9)  # constant angular speed
    assert np.array_equal(path[0], a) and np.array_equal(path[-1], b)
    # unequal lengths: the angle still grows as t * omega, the length linearly
    rng = np.random.default_rng(0)
    c, d = rng.normal(size=40), 3.0 * rng.normal(size=40)
    ts = np.linspace(0, 1, 11)
    path = slerp(c, d, ts)
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    omega = math.acos(float(unit(c) @ unit(d)))
    angles = np.arccos(np.clip(np.array([unit(p) @ unit(c) for p in path]), -1, 1))
    np.testing.assert_allclose(angles, ts * omega, atol=1e-9)
    lengths = (1 - ts) * np.linalg.norm(c) + ts * np.linalg.norm(d)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), lengths, rtol=1e-12)
    # and the path stays in the plane of c and d
    basis = np.linalg.qr(np.stack([c, d], axis=1))[0]
    np.testing.assert_allclose(path - (path @ basis) @ basis.T, 0.0, atol=1e-9)
    ts = np.linspace(0, 1, 7)
    # nearly parallel vectors fall back to lerp
    np.testing.assert_allclose(slerp(a, 2 * a, ts), lerp(a, 2 * a, ts))
    np.testing.assert_allclose(lerp(a, b, [0.25])[0], [0.75, 0.25, 0.0])


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolation_endpoints_decode_to_the_endpoints_own_decodings(method):
    torch.manual_seed(0)
    model = VAE(ModelConfig(latent_dim=6, components=3, hidden=32))
    x = torch.bernoulli(torch.full((2, 784), 0.3))
    za, zb = model.encode(x).numpy()
    path = interpolation_path(za, zb, 10, method)
    assert path.shape == (10, 6)
    decoded = decode_latents(model, path)
    np.testing.assert_allclose(decoded[0], decode_latents(model, za[None])[0], atol=1e-6)
    np.testing.assert_allclose(decoded[-1], decode_latents(model, zb[None])[0], atol=1e-6)
    with pytest.raises(ValueError):
        interpolation_path(za, zb, 1)


def test_projection_matches_numpy_svd():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 7)) @ rng.normal(size=(7, 7)) + 3.0
    proj = fit_projection(z)
    centred = z - z.mean(0)
    _u, s, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T
    coords = proj.project(z)
    for axis in range(2):  # equal up to the sign of each axis
        sign = np.sign(coords[0, axis]) * np.sign(expected[0, axis])
        np.testing.assert_allclose(coords[:, axis], sign * expected[:, axis], atol=1e-9)
    np.testing.assert_allclose(proj.explained, s[:2] ** 2 / (s**2).sum())
    # a point on the plane maps back to itself
    on_plane = proj.unproject(coords[:5])
    np.testing.assert_allclose(proj.project(on_plane), coords[:5], atol=1e-9)
    np.testing.assert_allclose(proj.unproject(np.zeros(2)), z.mean(0))


def test_projection_is_the_identity_for_two_dimensions():
    z = np.random.default_rng(1).normal(size=(50, 2))
    proj = fit_projection(z)
    np.testing.assert_allclose(proj.project(z), z)
    np.testing.assert_allclose(proj.unproject(z), z)


TINY = [
    "--limit-train",
    "200",
    "--limit-val",
    "64",
    "--limit-test",
    "64",
    "--hidden",
    "32",
    "--latent-dim",
    "4",
    "--components",
    "3",
]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("explore")
    assert main(["train", "--epochs", "1", *TINY, "--out", str(out)]) == 0
    return out / "model.pt"


def test_components_and_interpolate_commands(model_path, tmp_path, capsys):
    assert (
        main(
            ["components", str(model_path), "--n", "5", "--sort-by-weight", "--out", str(tmp_path / "c.png")]
        )
        == 0
    )
    with Image.open(tmp_path / "c.png") as im:
        im.verify()
    assert main(["components", str(model_path), "--out", str(tmp_path / "c.pdf")]) == 0
    assert (tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    assert (
        main(
            [
                "interpolate",
                str(model_path),
                "--from",
                "3",
                "--to",
                "7",
                "--steps",
                "6",
                "--method",
                "spherical",
                "--out",
                str(tmp_path / "i.svg"),
            ]
        )
        == 0
    )
    assert b"<svg" in (tmp_path / "i.svg").read_bytes()[:500]
    assert (
        main(
            ["interpolate", str(model_path), "--from", "0", "--to", "10000", "--out", str(tmp_path / "x.png")]
        )
        == 2
    )
    assert "not a test-set index" in capsys.readouterr().err
    assert main(["components", str(model_path), "--out", str(tmp_path / "c.gif")]) == 2
    assert main(["components", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "m.png")]) == 2
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    assert (
        main(["interpolate", str(corrupt), "--from", "0", "--to", "1", "--out", str(tmp_path / "m.png")]) == 2
    )
    assert not (tmp_path / "m.png").exists()


def test_binary_component_samples_are_draws_of_the_images_shown_as_probabilities():
    from vae_explorer.core.model import new_model

    model = new_model(ModelConfig(latent_dim=3, components=4, hidden=16), torch.Generator().manual_seed(2))
    with torch.no_grad():  # sharp pixels: a draw of an image agrees with its rounded probabilities
        for p in model.decoder.net.parameters():
            p.mul_(40.0)
    probs = all_components(model, 6, seed=3)
    binary = all_components(model, 6, seed=3, binary=True)
    assert set(np.unique(binary)) <= {0.0, 1.0}
    agree = (binary == (probs > 0.5)).mean()
    assert agree > 0.95, agree
    other = all_components(model, 6, seed=4, binary=True)  # other latents: far less agreement
    assert (other == (probs > 0.5)).mean() < agree - 0.1


@pytest.mark.parametrize("prior", ["mog", "vampprior"])
def test_components_command_leads_a_vampprior_row_with_its_framed_pseudo_input(prior, tmp_path, monkeypatch):
    from vae_explorer import figures
    from vae_explorer.core.checkpoint import save_checkpoint
    from vae_explorer.core.config import RunConfig
    from vae_explorer.core.model import new_model

    config = RunConfig(model=ModelConfig(prior=prior, components=3, latent_dim=3, hidden=16))
    model = new_model(config.model, torch.Generator().manual_seed(5))
    if prior == "vampprior":  # pseudo-inputs that differ from each other, some beyond [0, 1]
        with torch.no_grad():
            model.prior.pseudo.copy_(
                torch.linspace(-0.3, 1.3, model.prior.pseudo.numel()).view_as(model.prior.pseudo)
            )
    path = save_checkpoint(tmp_path / "model.pt", model.state_dict(), config)
    drawn = {}
    real_save = figures.save_component_rows

    def spy(samples, labels, out, side=28, pseudo=False):
        drawn.update(samples=samples, labels=labels, pseudo=pseudo)
        real_save(samples, labels, out, side, pseudo)

    monkeypatch.setattr(figures, "save_component_rows", spy)
    assert main(["components", str(path), "--n", "4", "--out", str(tmp_path / "c.png")]) == 0
    samples = drawn["samples"]
    if prior == "mog":
        assert samples.shape == (3, 4, 784) and drawn["pseudo"] is False
        return
    assert samples.shape == (3, 5, 784) and drawn["pseudo"] is True
    u = model.prior.pseudo.detach().clamp(0.0, 1.0).numpy()  # the images the pseudo-inputs show
    np.testing.assert_allclose(samples[:, 0], u, atol=1e-6)
    # the frame is there as a reader sees it: strong red pixels in the PNG, none without it
    with Image.open(tmp_path / "c.png") as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    red = (rgb[..., 0] > 150) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)
    assert red.sum() > 3 * 40  # three frames of 4 x 29 pixels each, partly antialiased
    figures.save_component_rows(samples, drawn["labels"], tmp_path / "plain.png")
    with Image.open(tmp_path / "plain.png") as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    assert not ((rgb[..., 0] > 150) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)).any()


def test_interpolate_encodes_the_images_the_app_encodes(model_path, tmp_path, monkeypatch):
    """The app binarises the whole test set with the fixed seed and picks images from it; the
    command must encode those very draws, not a fresh binarisation of the two images alone."""
    from vae_explorer import figures
    from vae_explorer.core.checkpoint import load_checkpoint
    from vae_explorer.core.data import TEST_BINARISE_SEED, load_splits, model_input
    from vae_explorer.core.explore import decode_latents, encode_means, interpolation_path

    drawn = {}
    monkeypatch.setattr(figures, "save_strip", lambda path, out, *a, **k: drawn.setdefault("path", path))
    args = ["interpolate", str(model_path), "--from", "5", "--to", "9", "--steps", "4"]
    assert main([*args, "--out", str(tmp_path / "i.png")]) == 0
    model, config, _ = load_checkpoint(model_path)
    test = load_splits(config.data.test_only()).test_images
    x = model_input(test, config.model.likelihood, TEST_BINARISE_SEED)  # as the app's test_inputs
    a, b = encode_means(model, x[[5, 9]])
    expected = decode_latents(model, interpolation_path(a, b, 4, "linear"))
    np.testing.assert_array_equal(np.asarray(drawn["path"]), np.asarray(expected))
