"""The captured training step's CPU-side parts: noise given as an input, the undoing of the
capture's warm-up steps, the eager fallback and its log line, and optimiser state saved with a GPU's
options resuming on the CPU. The capture itself needs CUDA: tests/gpu."""

import pytest
import torch

from vae_explorer.core import events as ev
from vae_explorer.core.checkpoint import read_checkpoint, signed
from vae_explorer.core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vae_explorer.core.distributions import normal_noise
from vae_explorer.core.graphstep import CapturedStep, CaptureError, _first_cause, restore, snapshot
from vae_explorer.core.model import new_model
from vae_explorer.core.optim import make_optimizer
from vae_explorer.core.trainer import Trainer

SMALL = ModelConfig(hidden=64, latent_dim=8, components=4)


def config(**train) -> RunConfig:
    return RunConfig(DataConfig(), SMALL, TrainConfig(**{"epochs": 2, **train}))


def batch(seed: int, n: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.rand(n, 784, generator=g), generator=g)


def test_noise_given_as_input_equals_noise_drawn_inside():
    model = new_model(SMALL, torch.Generator().manual_seed(0))
    x = batch(1)
    drawn = model(x, torch.Generator().manual_seed(5), reduction="none")
    eps = normal_noise((32, SMALL.latent_dim), torch.Generator().manual_seed(5), x)
    given = model(x, None, reduction="none", eps=eps)
    assert torch.equal(drawn, given)
    with pytest.raises(ValueError, match="generator or the noise"):
        model(x, None)


def test_a_tensor_warm_up_weight_gives_the_float_weight_loss():
    model = new_model(SMALL, torch.Generator().manual_seed(0))
    x = batch(2)
    as_float = model(x, torch.Generator().manual_seed(1), kl_weight=0.3)
    as_tensor = model(x, torch.Generator().manual_seed(1), kl_weight=torch.tensor(0.3))
    torch.testing.assert_close(as_float, as_tensor)


@pytest.mark.parametrize("name", ["adamax", "adam", "adamw", "sgd", "rmsprop"])
@pytest.mark.parametrize("fresh", [True, False])
def test_restore_undoes_the_capture_warm_up_steps(name, fresh):
    """After snapshot, warm-up steps and restore, the next step is exactly the step a model that
    never warmed up takes: the parameters and (lazily created or existing) optimiser state match."""

    def setup():
        model = new_model(SMALL, torch.Generator().manual_seed(0))
        opt = make_optimizer(name, model.parameters(), 1e-3)
        if not fresh:  # an optimiser with moments already (a resumed run)
            step(model, opt, batch(9))
        return model, opt

    def step(model, opt, x):
        opt.zero_grad(set_to_none=True)
        model(x, None, eps=torch.ones(len(x), SMALL.latent_dim) * 0.1).backward()
        opt.step()

    warmed, warmed_opt = setup()
    saved = snapshot(warmed, warmed_opt)
    for i in range(3):
        step(warmed, warmed_opt, batch(20 + i))
    restore(warmed, warmed_opt, saved)
    plain, plain_opt = setup()
    for p, q in zip(warmed.parameters(), plain.parameters(), strict=True):
        assert torch.equal(p, q)
    for i in range(2):
        step(warmed, warmed_opt, batch(40 + i))
        step(plain, plain_opt, batch(40 + i))
    for p, q in zip(warmed.parameters(), plain.parameters(), strict=True):
        assert torch.equal(p, q)


def test_capture_needs_a_cuda_device():
    model = new_model(SMALL, torch.Generator().manual_seed(0))
    with pytest.raises(CaptureError, match="CUDA device"):
        CapturedStep(model, make_optimizer("adamax", model.parameters(), 1e-3), 32)


def test_the_cpu_says_its_steps_run_eagerly(tiny_splits):
    events = []
    trainer = Trainer(config(epochs=1), tiny_splits, on_event=events.append)
    trainer.run()
    chosen = [e for e in events if isinstance(e, ev.StepChosen)]
    assert len(chosen) == 1 and chosen[0].mode == ev.STEP_EAGER and trainer.step_mode == ev.STEP_EAGER
    assert chosen[0].text() == "eager (on the CPU each parameter is updated inside backward)"


class FailingCapture:
    """Stands in for a CapturedStep whose capture fails (as it can on a GPU)."""

    batch_size = 32

    def capture(self):
        raise CaptureError("RuntimeError: operation not permitted when stream is capturing")

    def __call__(self, *args):
        raise AssertionError("a failed capture must not be replayed")


def test_a_failed_capture_falls_back_to_eager_steps_and_says_why(tiny_splits):
    events = []
    trainer = Trainer(config(), tiny_splits, on_event=events.append)
    trainer._graph = FailingCapture()
    trainer.run()
    chosen = [e for e in events if isinstance(e, ev.StepChosen)]
    assert len(chosen) == 1 and chosen[0].mode == ev.STEP_EAGER
    assert "capture failed: RuntimeError: operation not permitted" in chosen[0].text()
    plain = Trainer(config(), tiny_splits)
    plain.run()
    assert [h["val_nll"] for h in trainer.history] == [h["val_nll"] for h in plain.history]


def test_optimiser_state_saved_with_gpu_options_resumes_on_the_cpu(tiny_splits, tmp_path):
    """A GPU run saves its optimiser with capturable=True (and the step counts on the GPU, which
    reading maps to the CPU); a CPU resume keeps its own options and continues exactly."""
    whole = Trainer(config(epochs=3), tiny_splits)
    whole.run()
    Trainer(config(epochs=1), tiny_splits, tmp_path).run()
    payload = read_checkpoint(tmp_path / "last.pt")
    for group in payload["optimizer"]["param_groups"]:
        group["capturable"] = True
    torch.save(signed(payload), tmp_path / "last.pt")  # as a GPU run saves it
    resumed = Trainer(config(epochs=3), tiny_splits, tmp_path, resume_from=tmp_path / "last.pt")
    assert resumed.resumed_exactly
    assert resumed.optimizer.param_groups[0]["capturable"] is False
    assert resumed._in_backward is not None  # the CPU's update inside backward still applies
    resumed.run()
    assert [h["val_nll"] for h in resumed.history] == [h["val_nll"] for h in whole.history]


def test_a_capture_error_names_the_operation_that_broke_the_capture():
    """A capture broken by an operation inside it is reported by capture_end, raised while the
    first error unwinds; the message names the first."""
    try:
        try:
            raise RuntimeError("operation not permitted when stream is capturing\nCUDA kernel errors")
        except RuntimeError:
            # implicitly chained, as torch's graph context raises it from its exit
            raise RuntimeError("CUDA error: operation failed due to a previous error during capture")  # noqa: B904
    except RuntimeError as exc:
        assert _first_cause(exc) == "RuntimeError: operation not permitted when stream is capturing"
    assert _first_cause(ValueError("")) == "ValueError: "
