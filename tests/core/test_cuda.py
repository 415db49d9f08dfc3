"""The GPU path: captured against eager steps, CPU against GPU runs, a GPU checkpoint on a machine
without CUDA, evaluation on the GPU. Marked `cuda`: skipped where torch sees no CUDA device
(`pytest -m cuda` runs just these; benchmarks/gpu/check.sh runs them on a GPU machine)."""

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from vae_explorer.core import events as ev
from vae_explorer.core.checkpoint import load_checkpoint
from vae_explorer.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vae_explorer.core.data import TEST_BINARISE_SEED, VAL_BINARISE_SEED, load_splits, model_input
from vae_explorer.core.evaluate import negative_elbo
from vae_explorer.core.evaluation import EvaluationRequest, evaluate
from vae_explorer.core.likelihood import iw_nll
from vae_explorer.core.optim import adopt_device_options, device_options
from vae_explorer.core.trainer import Trainer

pytestmark = pytest.mark.cuda

SMALL = ModelConfig(hidden=64, latent_dim=8, components=4)


def config(model: ModelConfig = SMALL, **train) -> RunConfig:
    return RunConfig(DataConfig(), model, TrainConfig(**{"epochs": 2, "device": "cuda", **train}))


@pytest.fixture(scope="module")
def splits_500(tiny_splits):
    """500 training images: 15 full batches of 32 and a last batch of 20."""
    return replace(tiny_splits, train_images=tiny_splits.train_images[:500])


def test_a_cuda_run_trains_and_scores(tiny_splits):
    done = Trainer(config(epochs=1), tiny_splits).run()
    assert done.test_nll is not None and 0 < done.test_nll < 800


@pytest.mark.parametrize("optimizer", ["adamax", "adam", "sgd"])
@pytest.mark.parametrize("kl_warmup", [0, 1])
def test_captured_and_eager_steps_give_the_same_losses(splits_500, optimizer, kl_warmup):
    """Two runs from one seed, one replaying the captured graph, one eager: the same batches (the
    run's generator draws the binarisation, then the noise, in both) and, step by step, the same
    loss. The eager run's optimiser is made capturable too: that variant computes Adam's bias
    corrections on the GPU in float32 rather than on the host in float64, a systematic difference
    of ~1e-5 a step that would hide what this test is about. What is left is the graph running the
    very kernels the eager step launches, on the same inputs, and the warm-up weight being a tensor
    there and a float here (~1e-7 relative a step), so 1e-5 relative over two epochs leaves room
    and still catches a wrong batch, noise or update (each changes the loss by far more)."""
    cfg = config(optimizer=optimizer, kl_warmup=kl_warmup, lr=3e-3)
    graph, eager = Trainer(cfg, splits_500), Trainer(cfg, splits_500, cuda_graph=False)
    adopt_device_options(eager.optimizer, {**device_options(eager.optimizer), "capturable": True})
    graph.choose_step()
    eager.choose_step()
    assert graph.step_mode == ev.STEP_CUDA_GRAPH and eager.step_mode == ev.STEP_EAGER
    for _ in range(2):
        sizes = []
        for a, b in zip(graph.batches, eager.batches, strict=True):
            assert torch.equal(a, b)
            sizes.append(len(a))
            la, lb = float(graph.train_step(a)), float(eager.train_step(b))
            assert la == pytest.approx(lb, rel=1e-5), f"batch {len(sizes)}"
        assert sizes[-1] == 20  # the last, smaller batch ran (eagerly) beside the captured ones
    for p, q in zip(graph.model.parameters(), eager.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_a_vampprior_sees_every_replayed_step(splits_500):
    """With every batch full (480 images, 15 batches of 32) each step is a replay, which updates
    the weights outside autograd: the prior's kept components must still follow them, so the
    validation bound equals one computed with the prior worked out afresh."""
    cfg = config(replace(SMALL, prior="vampprior"), epochs=1)
    splits = replace(splits_500, train_images=splits_500.train_images[:480])
    t = Trainer(cfg, splits)
    t.choose_step()
    assert t.step_mode == ev.STEP_CUDA_GRAPH
    with torch.no_grad():
        t.model.prior.log_prob(torch.zeros(1, 8, device="cuda"))  # components kept before training
    for x in t.batches:
        t.train_step(x)
    kept = negative_elbo(t.model, t.val)
    t.model.prior.forget_components()
    assert kept == pytest.approx(negative_elbo(t.model, t.val), rel=1e-6)


def test_a_captured_run_resumes_exactly(tiny_splits, tmp_path):
    """The capture's warm-up steps leave no trace: a run stopped after epoch 1 and resumed (a new
    capture) gives the uninterrupted run's validation figures."""
    whole = Trainer(config(epochs=3), tiny_splits)
    whole.run()
    Trainer(config(epochs=1), tiny_splits, tmp_path).run()
    resumed = Trainer(config(epochs=3), tiny_splits, tmp_path, resume_from=tmp_path / "last.pt")
    assert resumed.resumed_exactly
    resumed.run()
    assert [h["val_nll"] for h in resumed.history] == pytest.approx(
        [h["val_nll"] for h in whole.history], rel=1e-6
    )


def test_cpu_and_gpu_runs_of_one_seed_agree():
    """The GPU run draws from a CUDA generator, whose stream differs from the CPU's, so the two
    runs differ as two seeds do. Measured on the CPU (default model, 2,000/1,000 images, 3
    epochs, seeds 0-7): validation nll 200.37, standard deviation 1.27 nats between seeds, so two
    runs differ with s.d. 1.8; 8 nats is 4.5 of those, while a broken GPU path (wrong binarisation,
    no update, stale noise) is tens of nats off. Evaluation uses a CPU generator and the fixed
    binarisation, so the same weights score within rounding on either device."""
    data = DataConfig(limit_train=2000, limit_val=1000, limit_test=1000)
    splits = load_splits(data)
    runs = {}
    for device in ("cpu", "cuda"):
        cfg = RunConfig(data, ModelConfig(), TrainConfig(epochs=3, seed=0, device=device))
        trainer = Trainer(cfg, splits)
        trainer.run()
        runs[device] = trainer
    cpu, gpu = (runs[d].history[-1]["val_nll"] for d in ("cpu", "cuda"))
    assert abs(cpu - gpu) < 8.0, (cpu, gpu)
    assert runs["cuda"].history[-1]["val_nll"] < runs["cuda"].history[0]["val_nll"]
    # the same weights on both devices: the same figure up to float rounding
    weights = runs["cuda"].model.state_dict()
    on_cpu = runs["cpu"].model
    on_cpu.load_state_dict({k: v.cpu() for k, v in weights.items()})
    val = model_input(splits.val_images, "bernoulli", VAL_BINARISE_SEED)
    one_batch = len(val)  # the GPU's batch: the same noise draws in the same shapes on the CPU
    assert negative_elbo(on_cpu, val, batch_size=one_batch) == pytest.approx(
        negative_elbo(runs["cuda"].model, val.cuda()), rel=1e-4
    )


def test_a_gpu_checkpoint_loads_and_resumes_where_there_is_no_cuda(tiny_splits, tmp_path):
    """Saved on the GPU (capturable optimiser, CUDA generator state); read in a process that sees
    no CUDA device: the model loads, evaluates, and the run resumes on the CPU."""
    Trainer(config(epochs=1), tiny_splits, tmp_path).run()
    check = f"""
import torch
assert not torch.cuda.is_available()
from vae_explorer.core.checkpoint import load_checkpoint
model, config, payload = load_checkpoint({str(tmp_path / "model.pt")!r})
assert next(model.parameters()).device.type == "cpu"
print("loaded", config.train.device)
"""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "loaded cuda" in out.stdout, out.stderr
    resume = [
        sys.executable, "-m", "vae_explorer", "train", "--resume", str(tmp_path / "last.pt"),
        "--device", "cpu", "--epochs", "2", "--out", str(tmp_path / "on_cpu"), "--eval-iw-samples", "10",
    ]  # fmt: skip
    out = subprocess.run(resume, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    outcome = json.loads((tmp_path / "on_cpu" / "outcome.json").read_text())
    assert outcome["device"] == "cpu" and outcome["epochs"] == 2
    assert "eager" in outcome["training_step"]


@contextlib.contextmanager
def full_float32_convolutions():
    """cuDNN convolutions in IEEE float32 rather than TF32 (torch's default for them on a GPU),
    so that the classifier's features, and FID, compare with the CPU's to rounding."""
    conv = torch.backends.cudnn.conv
    before = conv.fp32_precision
    conv.fp32_precision = "ieee"
    try:
        yield
    finally:
        conv.fp32_precision = before


def test_gpu_evaluation_matches_the_cpu(tiny_splits, tmp_path):
    """The end-of-run figures on the GPU. The ELBO and the sample-quality figures use CPU draws, so
    they match the CPU's to rounding (FID with TF32 convolutions off: TF32 alone moves it ~3e-4).
    IW-NLL, given the same CPU draws on both devices, matches per image; with the GPU's own draws
    (how the evaluation runs there: hundreds of millions of numbers at S=5000) it differs only by
    Monte Carlo noise, judged image by image against the spread of those differences."""
    Trainer(config(epochs=2, model=ModelConfig()), tiny_splits, tmp_path).run()
    request = EvaluationRequest(iw_samples=200, fid=True, inception=True)
    results, models = {}, {}
    for device in ("cpu", "cuda"):
        models[device], cfg, _ = load_checkpoint(tmp_path / "model.pt", device)
        with full_float32_convolutions():
            results[device] = evaluate(models[device], cfg, tiny_splits, request)
    cpu, gpu = results["cpu"], results["cuda"]
    assert gpu["neg_elbo"] == pytest.approx(cpu["neg_elbo"], rel=1e-4)
    assert gpu["fid"] == pytest.approx(cpu["fid"], rel=1e-4)
    assert gpu["inception_score"] == pytest.approx(cpu["inception_score"], rel=1e-4)
    spread = (cpu["iw_nll_stderr"] ** 2 + gpu["iw_nll_stderr"] ** 2) ** 0.5
    assert abs(gpu["iw_nll"] - cpu["iw_nll"]) < 4 * spread

    test = model_input(tiny_splits.test_images, cfg.model.likelihood, TEST_BINARISE_SEED)
    n = len(test)  # one batch and one chunk on both devices: the same draws in the same shape

    def per_image(device, generator):
        return iw_nll(models[device], test.to(device), 200, generator, batch_images=n, chunk=200).per_image

    on_cpu = per_image("cpu", torch.Generator().manual_seed(1))
    np.testing.assert_allclose(per_image("cuda", torch.Generator().manual_seed(1)), on_cpu, rtol=1e-4)
    diff = per_image("cuda", torch.Generator("cuda").manual_seed(1)) - on_cpu
    assert abs(diff.mean()) < 4 * diff.std(ddof=1) / np.sqrt(n)
