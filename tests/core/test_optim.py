"""The in-backward optimiser step against torch.optim's own step, optimiser by optimiser."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from vae_explorer.core.optim import StepInBackward, make_optimizer, supports

OPTIMIZERS = ["adamax", "adam", "adamw", "sgd", "rmsprop"]


def tiny_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    # a parameter used twice checks that the hook sees the summed gradient
    net = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    net.shared = nn.Parameter(torch.randn(3))
    return net


def loss_of(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = net(x) + net.shared
    return (out**2).sum() + (net.shared.sin() * out).mean()


def step_both(reference, ref_opt, fused, x) -> None:
    """One ordinary torch.optim step on `reference`, one in-backward step on `fused`."""
    ref_opt.zero_grad()
    loss_of(reference, x).backward()
    ref_opt.step()
    loss_of(fused, x).backward()


def assert_same_parameters(reference, fused) -> None:
    for a, b in zip(reference.parameters(), fused.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_matches_torch_step_for_step(name):
    reference, fused = tiny_net(3), tiny_net(3)
    ref_opt = make_optimizer(name, reference.parameters(), 1e-2)
    opt = make_optimizer(name, fused.parameters(), 1e-2)
    StepInBackward(opt)
    gen = torch.Generator().manual_seed(0)
    for _ in range(12):
        x = torch.randn(4, 6, generator=gen)
        step_both(reference, ref_opt, fused, x)
        for p in fused.parameters():
            assert p.grad is None  # the gradient is dropped once applied
    assert_same_parameters(reference, fused)
    # the state is torch's, in torch's layout: checkpoints do not depend on the step style
    ref_state, state = ref_opt.state_dict(), opt.state_dict()
    assert ref_state["param_groups"] == state["param_groups"]
    assert ref_state["state"].keys() == state["state"].keys()
    for i, entry in ref_state["state"].items():
        assert entry.keys() == state["state"][i].keys()
        for key, value in entry.items():
            torch.testing.assert_close(state["state"][i][key], value, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["adamax", "sgd"])
def test_state_loaded_from_a_plain_optimizer_carries_on(name):
    """Resume: a state saved by an ordinary optimiser continues exactly under the hook."""
    reference, fused = tiny_net(5), tiny_net(5)
    ref_opt = make_optimizer(name, reference.parameters(), 1e-2)
    gen = torch.Generator().manual_seed(1)
    xs = [torch.randn(4, 6, generator=gen) for _ in range(6)]
    for x in xs[:3]:
        ref_opt.zero_grad()
        loss_of(reference, x).backward()
        ref_opt.step()
    fused.load_state_dict(reference.state_dict())
    # as the Trainer does: hooks first, then the saved state (whose lr wins, as with torch)
    opt = make_optimizer(name, fused.parameters(), 0.5)
    StepInBackward(opt)
    opt.load_state_dict(copy.deepcopy(ref_opt.state_dict()))  # as if read from a file
    for x in xs[3:]:
        step_both(reference, ref_opt, fused, x)
    assert_same_parameters(reference, fused)


def test_remove_restores_ordinary_backward():
    net = tiny_net(0)
    hook = StepInBackward(make_optimizer("adamax", net.parameters(), 1e-2))
    hook.remove()
    before = [p.detach().clone() for p in net.parameters()]
    loss_of(net, torch.randn(2, 6)).backward()
    assert all(p.grad is not None for p in net.parameters())
    for a, p in zip(before, net.parameters(), strict=True):
        assert torch.equal(a, p)


def test_unsupported_options_are_refused():
    params = [nn.Parameter(torch.zeros(2))]
    assert supports(torch.optim.Adamax(params))
    assert not supports(torch.optim.Adam(params, amsgrad=True))
    assert not supports(torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True))
    assert not supports(torch.optim.Adagrad(params))
    with pytest.raises(ValueError, match="Adagrad"):
        StepInBackward(torch.optim.Adagrad(params))


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: torch.optim.Adamax(ps, lr=1e-2, eps=0.1),
        lambda ps: torch.optim.Adam(ps, lr=1e-2, eps=0.1),
        lambda ps: torch.optim.RMSprop(ps, lr=1e-2, eps=0.1),
        lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.5, dampening=0.3),
        lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.3, betas=(0.8, 0.9)),
    ],
    ids=["adamax-eps", "adam-eps", "rmsprop-eps", "sgd-dampening", "adamw-decay"],
)
def test_matches_torch_with_options_far_from_the_defaults(make):
    """Options large enough that a misplaced eps, decay or dampening shows."""
    reference, fused = tiny_net(7), tiny_net(7)
    ref_opt, opt = make(list(reference.parameters())), make(list(fused.parameters()))
    StepInBackward(opt)
    gen = torch.Generator().manual_seed(2)
    for _ in range(8):
        x = torch.randn(4, 6, generator=gen) * 0.05  # small gradients, so eps matters
        step_both(reference, ref_opt, fused, x)
    assert_same_parameters(reference, fused)


def test_parameters_whose_gradients_share_one_buffer():
    """Autograd can hand two parameters views of one gradient; neither update may spoil the other."""

    def pair():
        torch.manual_seed(4)
        return nn.Parameter(torch.randn(3, 1)), nn.Parameter(torch.randn(3, 1))

    (a0, b0), (a1, b1) = pair(), pair()
    ref_opt = make_optimizer("adamax", [a0, b0], 0.1)
    opt = make_optimizer("adamax", [a1, b1], 0.1)
    StepInBackward(opt)
    target = torch.tensor([1.0, -2.0, 0.5])
    for _ in range(3):
        ref_opt.zero_grad()
        ((a0.view(3) + b0.view(3) - target) ** 2).sum().backward()
        ref_opt.step()
        ((a1.view(3) + b1.view(3) - target) ** 2).sum().backward()
    torch.testing.assert_close(a1, a0)
    torch.testing.assert_close(b1, b0)


def test_plain_sgd_is_left_to_the_ordinary_step():
    assert not supports(torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=0.1))


def test_trainer_on_the_cpu_steps_inside_backward_and_matches_plain_steps(tiny_splits):
    from vae_explorer.core.config import ModelConfig, RunConfig, TrainConfig
    from vae_explorer.core.trainer import Trainer

    config = RunConfig(
        model=ModelConfig(hidden=32, latent_dim=4, components=3), train=TrainConfig(device="cpu", seed=3)
    )
    trainer = Trainer(config, tiny_splits)
    assert trainer._in_backward is not None
    reference = copy.deepcopy(trainer.model)
    for p in reference.parameters():
        p._post_accumulate_grad_hooks = None  # a plain copy, without the in-backward hooks
    ref_opt = make_optimizer("adamax", reference.parameters(), config.train.lr)
    batches = iter(trainer.batches)
    for _ in range(5):
        x = next(batches)
        state = trainer.generator.get_state()  # the same reparameterisation noise for both
        loss = trainer.train_step(x)
        ref_loss = reference(x, torch.Generator().set_state(state), reduction="mean")
        ref_opt.zero_grad()
        ref_loss.backward()
        assert all(p.grad is not None for p in reference.parameters())  # no hooks on the copy
        ref_opt.step()
        assert torch.equal(loss, ref_loss.detach())
        assert all(p.grad is None for p in trainer.model.parameters())
    assert_same_parameters(reference, trainer.model)


def test_resuming_a_state_with_other_options_falls_back_to_plain_steps(tiny_splits, tmp_path):
    from vae_explorer.core.checkpoint import save_checkpoint
    from vae_explorer.core.config import ModelConfig, RunConfig, TrainConfig
    from vae_explorer.core.trainer import Trainer

    config = RunConfig(
        model=ModelConfig(hidden=32, latent_dim=4, components=3), train=TrainConfig(device="cpu")
    )
    first = Trainer(config, tiny_splits)
    first.train_step(next(iter(first.batches)))
    state = first.optimizer.state_dict()
    state["param_groups"][0]["weight_decay"] = 0.1  # saved by some other program
    path = save_checkpoint(tmp_path / "last.pt", first.model.state_dict(), config, {"epoch": 1}, state)
    resumed = Trainer(config, tiny_splits, resume_from=path)
    assert resumed._in_backward is None
    resumed.train_step(next(iter(resumed.batches)))  # the ordinary step, with the weight decay
    assert resumed.optimizer.param_groups[0]["weight_decay"] == 0.1
