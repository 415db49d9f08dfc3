"""The in-backward optimiser step against torch.optim's own step, optimiser by optimiser."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from vae_explorer.core.optim import StepInBackward, supports
from vae_explorer.core.trainer import make_optimizer

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


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_matches_torch_step_for_step(name):
    reference, fused = tiny_net(3), tiny_net(3)
    ref_opt = make_optimizer(name, reference.parameters(), 1e-2)
    opt = make_optimizer(name, fused.parameters(), 1e-2)
    StepInBackward(opt)
    gen = torch.Generator().manual_seed(0)
    for _ in range(12):
        x = torch.randn(4, 6, generator=gen)
        ref_opt.zero_grad()
        loss_of(reference, x).backward()
        ref_opt.step()
        loss_of(fused, x).backward()
        for p in fused.parameters():
            assert p.grad is None  # the gradient is dropped once applied
    for a, b in zip(reference.parameters(), fused.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)
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
        ref_opt.zero_grad()
        loss_of(reference, x).backward()
        ref_opt.step()
        loss_of(fused, x).backward()
    for a, b in zip(reference.parameters(), fused.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)


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
