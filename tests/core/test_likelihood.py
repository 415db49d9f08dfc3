"""IW-NLL against exact likelihoods (closed form and quadrature) and latent statistics by brute force."""

import math
from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from vae_explorer.core.config import ModelConfig
from vae_explorer.core.evaluate import eval_batch_size
from vae_explorer.core.likelihood import (
    GPU_DECODER_FLOATS,
    MAX_DECODER_FLOATS,
    Cancelled,
    iw_batching,
    iw_nll,
    latent_statistics,
)
from vae_explorer.core.model import VAE

LOG_2PI = math.log(2 * math.pi)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two cores are shared with other work; one torch thread keeps the timings steady."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _diag_normal(z, mu, log_var):
    return -0.5 * (LOG_2PI + log_var + (z - mu) ** 2 / log_var.exp()).sum(-1)


class _Encoder(nn.Module):
    def __init__(self, mean_fn, log_var_fn):
        super().__init__()
        self.mean_fn, self.log_var_fn = mean_fn, log_var_fn

    def forward(self, x):
        return self.mean_fn(x), self.log_var_fn(x)

    @staticmethod
    def log_prob(z, mu, log_var):
        return _diag_normal(z, mu, log_var)


class _GaussianDecoder(nn.Module):
    def __init__(self, weight, bias, noise_var):
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.noise_var = noise_var

    def log_prob(self, x, z):
        mean = z @ self.weight.T + self.bias
        return _diag_normal(x, mean, torch.full_like(x, math.log(self.noise_var)))


class _StandardPrior(nn.Module):
    def log_prob(self, z):
        return -0.5 * (LOG_2PI + z**2).sum(-1)


class LinearGaussian(nn.Module):
    """z ~ N(0, I_2), x | z ~ N(W z + b, s2 I_4), with orthogonal columns of W so that the exact
    posterior N(P W^T (x - b) / s2, P), P = (I + W^T W / s2)^-1, is diagonal. The encoder is that
    posterior, its mean shifted by `shift` and its variance scaled by `scale`."""

    def __init__(self, shift=0.0, scale=1.0):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(4, 2, generator=_gen(3), dtype=torch.float64))
        self.W = q * torch.tensor([2.0, 0.7], dtype=torch.float64)  # columns orthogonal, norms 2 and 0.7
        self.b = torch.tensor([0.5, -1.0, 0.0, 2.0], dtype=torch.float64)
        self.s2 = 0.3
        self.post_var = 1.0 / (1.0 + (self.W**2).sum(0) / self.s2)  # diag of P
        self.decoder = _GaussianDecoder(self.W, self.b, self.s2)
        self.prior = _StandardPrior()
        self.encoder = _Encoder(
            lambda x: self.post_var * ((x - self.b) @ self.W) / self.s2 + shift,
            lambda x: torch.log(self.post_var * scale).expand(len(x), 2),
        )

    def exact_log_px(self, x):
        cov = self.W @ self.W.T + self.s2 * torch.eye(4, dtype=torch.float64)
        return torch.distributions.MultivariateNormal(self.b, cov).log_prob(x)

    def exact_neg_elbo(self, x):
        """(-E_q log p(x|z), KL(q || N(0, I))) per image, in closed form."""
        mu, log_var = self.encoder(x)
        var = log_var.exp()
        residual = ((x - self.b - mu @ self.W.T) ** 2).sum(-1) + (var * (self.W**2).sum(0)).sum(-1)
        recon = 0.5 * 4 * math.log(2 * math.pi * self.s2) + residual / (2 * self.s2)
        kl = 0.5 * (var + mu**2 - 1 - log_var).sum(-1)
        return recon, kl


def _data(n=40, seed=7):
    return torch.randn(n, 4, generator=_gen(seed), dtype=torch.float64) * 1.5


@pytest.mark.parametrize(("samples", "chunk", "batch_images"), [(1, None, 100), (10, 3, 2), (64, None, 7)])
def test_exact_posterior_gives_the_exact_nll_for_any_samples(samples, chunk, batch_images):
    model, x = LinearGaussian(), _data(9)
    result = iw_nll(model, x, samples, _gen(0), batch_images=batch_images, chunk=chunk)
    exact = -model.exact_log_px(x).numpy()
    np.testing.assert_allclose(result.per_image, exact, rtol=0, atol=1e-9)
    assert result.gap == pytest.approx(0.0, abs=1e-9)  # q = posterior: the ELBO is tight
    assert result.mean == pytest.approx(exact.mean(), abs=1e-9)
    assert result.stderr == pytest.approx(exact.std(ddof=1) / 3.0, rel=1e-9)


def test_iw_approaches_the_exact_nll_from_above_as_samples_grow():
    model, x = LinearGaussian(shift=0.8, scale=3.0), _data(40)
    exact = -model.exact_log_px(x).numpy()
    excess = {s: iw_nll(model, x, s, _gen(s)).per_image - exact for s in (1, 10, 1000)}
    means = {s: e.mean() for s, e in excess.items()}
    assert means[1] > means[10] > means[1000] > -3 * excess[1000].std(ddof=1) / math.sqrt(40)
    assert means[1] > 0.5  # a poor q: the single-sample bound is loose
    assert means[1000] < 0.05  # ... and 1000 samples close most of the gap


def test_single_sample_iw_is_the_negative_elbo_in_expectation():
    model, x = LinearGaussian(shift=0.5, scale=2.0), _data(5)
    recon, kl = model.exact_neg_elbo(x)
    repeats = x.repeat(2000, 1)  # 2000 independent single-sample estimates per image
    result = iw_nll(model, repeats, 1, _gen(1), batch_images=1000)
    per_image = result.per_image.reshape(2000, 5)
    stderr = per_image.std(axis=0, ddof=1) / math.sqrt(2000)
    assert np.all(np.abs(per_image.mean(axis=0) - (recon + kl).numpy()) < 4 * stderr)
    assert result.gap == pytest.approx(0.0, abs=1e-9)  # one sample: IW and ELBO estimates coincide
    # the decomposition from many samples matches the closed-form terms (Monte Carlo standard errors
    # are about 0.024 and 0.010 nats here; the tolerances are four to five of them)
    many = iw_nll(model, x, 4000, _gen(2))
    assert many.reconstruction == pytest.approx(float(recon.mean()), abs=0.1)
    assert many.kl == pytest.approx(float(kl.mean()), abs=0.05)
    assert many.neg_elbo == pytest.approx(many.reconstruction + many.kl)
    assert many.gap > 0


def _tiny_vae(prior: str, seed: int) -> VAE:
    """A 1-D-latent VAE on 4x4 binary images, its weights drawn from our own generator."""
    model = VAE(ModelConfig(latent_dim=1, hidden=8, prior=prior, components=3, image_size=4)).double()
    g = _gen(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.6 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


def _quadrature_log_px(model: VAE, x: torch.Tensor) -> np.ndarray:
    """log p(x) = log of the integral of p(x|z) p(z) over z on [-12, 12] (trapezoid, 24,001 points)."""
    grid = torch.linspace(-12, 12, 24_001, dtype=torch.float64).unsqueeze(1)
    log_dz = math.log(float(grid[1] - grid[0]))
    with torch.no_grad():
        log_pz = model.prior.log_prob(grid)
        out = []
        for xi in x:
            log_joint = model.decoder.log_prob(xi.expand(len(grid), -1), grid) + log_pz
            log_joint[[0, -1]] -= math.log(2)  # trapezoid end weights
            out.append(float(torch.logsumexp(log_joint, 0)) + log_dz)
    return np.array(out)


@pytest.mark.parametrize("prior", ["mog", "standard"])
def test_iw_matches_quadrature_on_a_one_dimensional_vae(prior):
    model = _tiny_vae(prior, seed=11)
    x = torch.bernoulli(torch.full((20, 16), 0.4, dtype=torch.float64), generator=_gen(4))
    exact = -_quadrature_log_px(model, x)
    one = iw_nll(model, x, 1, _gen(5))
    many = iw_nll(model, x, 2000, _gen(6))
    assert one.mean - exact.mean() > 0.05
    diff = many.per_image - exact
    assert abs(diff.mean()) < max(0.02, 4 * diff.std(ddof=1) / math.sqrt(len(diff)))
    assert many.neg_elbo - many.mean == pytest.approx(many.gap)


def test_decoder_calls_stay_within_the_memory_bound_and_modes_are_restored():
    model = VAE(ModelConfig(latent_dim=2, hidden=8, components=2))  # 784 pixels
    x = torch.bernoulli(torch.full((50, 784), 0.3), generator=_gen(0))
    rows, original = [], model.decoder.log_prob

    def spy(xb, z):
        rows.append(len(xb))
        return original(xb, z)

    model.decoder.log_prob = spy
    model.train()
    before = torch.random.get_rng_state()
    seen = []
    result = iw_nll(model, x, 120, _gen(0), batch_images=20, progress=lambda d, n: seen.append((d, n)))
    assert model.training
    assert torch.equal(before, torch.random.get_rng_state())  # the global generator is never used
    assert max(rows) * 784 <= MAX_DECODER_FLOATS and sum(rows) == 50 * 120
    assert seen == [(20, 50), (40, 50), (50, 50)]
    again = iw_nll(model, x, 120, _gen(0), batch_images=20)
    np.testing.assert_array_equal(result.per_image, again.per_image)  # same generator seed, same numbers
    assert result.samples == 120 and result.seconds >= 0 and np.all(np.isfinite(result.per_image))


@pytest.mark.parametrize("likelihood", ["bernoulli", "categorical"])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_batches_keep_one_decoder_call_within_the_device_budget(likelihood, device):
    """The sizes chosen for a device (no GPU needed to choose them): a decoder call's outputs,
    chunk * images * 784 pixels * (256 logits a pixel for the categorical likelihood, else 1),
    stay within that device's budget, and the scoring passes within the GPU's."""
    model = VAE(ModelConfig(latent_dim=2, hidden=8, components=2, likelihood=likelihood))
    per_image = 784 * (256 if likelihood == "categorical" else 1)
    budget = GPU_DECODER_FLOATS if device == "cuda" else MAX_DECODER_FLOATS
    for samples in (1, 200, 5000):
        images, chunk = iw_batching(model, 784, samples, torch.device(device))
        assert images * chunk * per_image <= budget and 1 <= chunk <= samples
        full = min(1000 if device == "cuda" else 100, budget // per_image)
        assert images == full  # as large as the budget allows, up to the device's batch
    assert iw_batching(model, 784, 50, torch.device(device), batch_images=7, chunk=3) == (7, 3)
    passes = eval_batch_size(model, 784, torch.device(device))
    if device == "cuda":
        assert passes * per_image <= GPU_DECODER_FLOATS
        assert passes == (10_000 if likelihood == "bernoulli" else GPU_DECODER_FLOATS // per_image)
    else:
        assert passes == 1000


def test_bad_sample_counts_and_cancellation():
    model, x = LinearGaussian(), _data(4)
    with pytest.raises(ValueError, match="at least 1"):
        iw_nll(model, x, 0, _gen(0))
    with pytest.raises(Cancelled):
        iw_nll(model, x, 10, _gen(0), chunk=2, cancel=lambda: True)
    single = iw_nll(model, x[:1], 3, _gen(0))
    assert single.stderr == 0.0


class _FixedMeans(nn.Module):
    """Encoder means read from the first two input columns; variances irrelevant."""

    def forward(self, x):
        return x[:, :2], torch.zeros(len(x), 2, dtype=x.dtype)


class _KnownMixture(nn.Module):
    def __init__(self, weights, means, log_vars):
        super().__init__()
        self.params = (torch.tensor(weights), torch.tensor(means), torch.tensor(log_vars))

    @property
    def num_components(self):
        return len(self.params[0])

    def component_params(self):
        return self.params


class _HandMade(nn.Module):
    def __init__(self, prior):
        super().__init__()
        self.encoder, self.prior = _FixedMeans(), prior


def _brute_force_component(m, weights, means, log_vars):
    best, best_score = None, -math.inf
    for k, (w, mk, lvk) in enumerate(zip(weights, means, log_vars)):
        score = math.log(w) if w > 0 else -math.inf
        for mi, mki, lv in zip(m, mk, lvk):
            score += -0.5 * (math.log(2 * math.pi) + lv + (mi - mki) ** 2 / math.exp(lv))
        if score > best_score:
            best, best_score = k, score
    return best


def test_latent_statistics_match_a_brute_force_count():
    g = _gen(8)
    # dimension 0 spreads widely (active), dimension 1 barely moves (inactive)
    centres = [(-4.0, 0.0), (0.0, 0.0), (4.0, 0.0)]
    picks = torch.randint(0, 3, (300,), generator=g)
    mu = torch.stack([torch.tensor(centres[int(k)]) for k in picks]) + torch.randn(
        300, 2, generator=g
    ) * torch.tensor([0.8, 0.05])
    labels = (picks * 3 + torch.randint(0, 2, (300,), generator=g)).numpy()  # two digits per cluster
    weights = [0.3, 0.3, 0.39, 0.01]
    means = [[-4.0, 0.0], [0.0, 0.0], [4.0, 0.0], [0.0, 50.0]]  # the last explains nothing
    log_vars = [[0.0, -1.0], [0.5, -1.0], [-0.5, -1.0], [0.0, 0.0]]
    x = torch.cat([mu, torch.zeros(300, 3)], dim=1).double()
    stats = latent_statistics(
        _HandMade(_KnownMixture(weights, means, log_vars)), x, torch.as_tensor(labels), nearest=5
    )

    m = mu.double().numpy()
    variances = [sum((v - sum(col) / 300) ** 2 for v in col) / 299 for col in m.T]
    np.testing.assert_allclose(stats.variances, variances, rtol=1e-10)
    assert stats.active.tolist() == [v > 0.01 for v in variances] == [True, False]
    assert stats.active_units == 1
    expected = [_brute_force_component(row, weights, means, log_vars) for row in m]
    assert stats.assignments.tolist() == expected
    for k, comp in enumerate(stats.components):
        mine = [lab for lab, e in zip(labels, expected) if e == k]
        assert comp.count == len(mine) and comp.share == pytest.approx(len(mine) / 300)
        assert comp.weight == pytest.approx(weights[k])
        if mine:
            counts = Counter(mine)
            hits = max(counts.values())
            assert comp.dominant_label == min(
                d for d, c in counts.items() if c == hits
            )  # ties: smaller digit
            assert comp.purity == pytest.approx(hits / len(mine))
        else:
            assert comp.dominant_label is None and math.isnan(comp.purity)
        assert comp.class_counts == tuple(mine.count(d) for d in range(max(labels) + 1))

        # the 5 images of this component whose mean is most likely under it, by brute force
        def density(row, k=k):
            return sum(
                -0.5 * (math.log(2 * math.pi) + lv + (mi - mk) ** 2 / math.exp(lv))
                for mi, mk, lv in zip(row, means[k], log_vars[k])
            )

        members = [i for i, e in enumerate(expected) if e == k]
        assert list(comp.nearest) == sorted(members, key=lambda i: -density(m[i]))[:5]
        assert comp.in_use == (len(mine) >= 3)
    assert stats.components_in_use == sum(
        sum(e == k for e in expected) >= 0.01 * 300 for k in range(4)
    )  # share >= 1% of the images
    assert stats.components_in_use == 3


def test_latent_statistics_with_the_standard_prior():
    model = VAE(ModelConfig(latent_dim=3, hidden=8, prior="standard", image_size=4))
    x = torch.bernoulli(torch.full((50, 16), 0.5), generator=_gen(1))
    labels = torch.tensor([1] * 30 + [2] * 20)
    stats = latent_statistics(model, x, labels)
    assert len(stats.components) == 1 and stats.components_in_use == 1
    only = stats.components[0]
    assert only.count == 50 and only.share == 1.0 and only.weight == 1.0
    assert only.dominant_label == 1 and only.purity == pytest.approx(0.6)
    assert stats.variances.shape == (3,) and stats.assignments.tolist() == [0] * 50
    assert latent_statistics(model, x, None).components[0].dominant_label is None


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", id="gpu-sizes")])  # no GPU needed
def test_a_vampprior_is_sized_as_a_mixture_of_as_many_components(device):
    """Scoring a latent under K pseudo-inputs' posteriors takes a (K, L) block, as under K
    Gaussians: the batches chosen for the two priors are the same (the VampPrior has no `means`
    to count, and was sized as a prior of one component)."""
    from vae_explorer.core.likelihood import prior_floats_per_latent

    mog = VAE(ModelConfig(latent_dim=40, hidden=8, components=500))
    vamp = VAE(ModelConfig(latent_dim=40, hidden=8, components=500, prior="vampprior"))
    assert prior_floats_per_latent(vamp) == prior_floats_per_latent(mog) == 500 * 40
    assert prior_floats_per_latent(VAE(ModelConfig(latent_dim=40, hidden=8, prior="standard"))) == 0
    where = torch.device(device)
    assert iw_batching(vamp, 784, 5000, where) == iw_batching(mog, 784, 5000, where)
    assert eval_batch_size(vamp, 784, where) == eval_batch_size(mog, 784, where)
