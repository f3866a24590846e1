"""Loss terms, the image pool, learning-rate policies and the wiring of one CycleGAN step.

Expected values are computed independently with numpy or by hand, not by the code under test.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from models.cycle_gan_model import CycleGANModel, loss_values
from models.image_pool import ImagePool
from models.losses import GANLoss, cycle_loss, gradient_penalty, identity_loss
from models.schedulers import build_scheduler, lr_factor
from support import model_options


@pytest.fixture
def prediction():
    torch.manual_seed(0)
    return torch.randn(2, 1, 5, 5)


@pytest.mark.parametrize("real", [True, False])
def test_lsgan_is_mean_squared_distance_to_label(prediction, real):
    p = prediction.numpy()
    expected = np.mean((p - (1.0 if real else 0.0)) ** 2)
    assert GANLoss("lsgan")(prediction, real).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("real", [True, False])
def test_vanilla_is_binary_cross_entropy_on_logits(prediction, real):
    p = prediction.numpy().astype(np.float64)
    sigmoid = 1 / (1 + np.exp(-p))
    expected = -np.mean(np.log(sigmoid)) if real else -np.mean(np.log(1 - sigmoid))
    assert GANLoss("vanilla")(prediction, real).item() == pytest.approx(expected, rel=1e-5)


def test_wgangp_critic_loss_signs(prediction):
    mean = prediction.mean().item()
    assert GANLoss("wgangp")(prediction, True).item() == pytest.approx(-mean)
    assert GANLoss("wgangp")(prediction, False).item() == pytest.approx(mean)


def test_gan_loss_rejects_unknown_mode():
    with pytest.raises(ValueError):
        GANLoss("hinge")


def test_gradient_penalty_of_a_linear_critic():
    """For D(x) = <w, x> the gradient is w everywhere, so the penalty is weight * (|w| - 1)^2."""
    torch.manual_seed(0)
    w = torch.randn(1, 3, 4, 4)

    class Linear(nn.Module):
        def forward(self, x):
            return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    expected = 10.0 * (w.norm().item() - 1.0) ** 2
    assert gradient_penalty(Linear(), real, fake, weight=10.0).item() == pytest.approx(expected, rel=1e-5)


def test_gradient_penalty_reaches_the_critics_weights():
    critic = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    gradient_penalty(critic, torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)).backward()
    weights = [p for p in critic.parameters() if p.dim() > 1]  # a bias does not change input gradients
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)


def test_cycle_and_identity_are_weighted_l1():
    a, b = torch.randn(2, 3, 6, 6), torch.randn(2, 3, 6, 6)
    l1 = np.mean(np.abs(a.numpy() - b.numpy()))
    assert cycle_loss(a, b, 10.0).item() == pytest.approx(10.0 * l1, rel=1e-6)
    assert identity_loss(a, b, 5.0).item() == pytest.approx(5.0 * l1, rel=1e-6)


# ------------------------------------------------------------------------------------------------ #
# Image pool
# ------------------------------------------------------------------------------------------------ #


def test_pool_of_size_zero_returns_its_input():
    x = torch.randn(3, 3, 4, 4)
    assert ImagePool(0).query(x) is x


def test_pool_fills_then_mixes_history_in():
    pool = ImagePool(4, seed=0)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: images come straight back
    seen = set(range(4))
    swapped = 0
    for step in range(200):
        x = torch.full((1, 1, 1, 1), 100.0 + step)
        out = pool.query(x)
        value = int(out.item())
        assert value == 100 + step or value in seen  # new image, or one handed in earlier
        swapped += value != 100 + step
        seen.add(100 + step)
        assert len(pool.images) == 4
    assert 60 < swapped < 140  # about half the queries return an older image


def test_pool_state_round_trip_gives_same_future():
    pool = ImagePool(3, seed=1)
    for i in range(5):
        pool.query(torch.full((1, 1, 2, 2), float(i)))
    clone = ImagePool(3, seed=99)
    clone.load_state_dict(copy.deepcopy(pool.state_dict()))
    for i in range(10):
        x = torch.full((2, 1, 2, 2), float(10 + i))
        assert torch.equal(pool.query(x), clone.query(x))


# ------------------------------------------------------------------------------------------------ #
# Learning-rate policies
# ------------------------------------------------------------------------------------------------ #


def rates(policy, epochs, first_epoch=1, **kw):
    """The learning rate in each epoch when the scheduler is stepped at the end of every epoch."""
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=0.5)
    sched = build_scheduler(opt, policy, first_epoch=first_epoch, **kw)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()  # no gradients, so no change; keeps the scheduler's call-order check quiet
        sched.step(1.0) if policy == "plateau" else sched.step()
    return out


def test_linear_constant_then_linear_decay():
    got = rates("linear", 7, n_epochs=3, n_epochs_decay=4, lr_decay_iters=50)
    assert got == pytest.approx([0.5, 0.5, 0.5, 0.4, 0.3, 0.2, 0.1])  # by hand: 0.5 * (1 - k/5)


def test_linear_counts_from_epoch_count():
    got = rates("linear", 3, first_epoch=4, n_epochs=3, n_epochs_decay=4, lr_decay_iters=50)
    assert got == pytest.approx([0.4, 0.3, 0.2])


def test_step_divides_by_ten_every_lr_decay_iters_epochs():
    got = rates("step", 5, n_epochs=3, n_epochs_decay=4, lr_decay_iters=2)
    assert got == pytest.approx([0.5, 0.5, 0.05, 0.05, 0.005])


def test_cosine_anneals_over_the_whole_run():
    got = rates("cosine", 8, n_epochs=4, n_epochs_decay=4, lr_decay_iters=50)
    expected = [0.5 * 0.5 * (1 + math.cos(math.pi * k / 8)) for k in range(8)]
    assert got == pytest.approx(expected)
    assert all(a > b for a, b in zip(got, got[1:]))  # never climbs back up


def test_plateau_cuts_rate_after_patience():
    got = rates("plateau", 9, n_epochs=4, n_epochs_decay=4, lr_decay_iters=50)
    # constant loss: best at epoch 1, then 5 epochs without improvement, then x0.2
    assert got[:7] == pytest.approx([0.5] * 7)
    assert got[7] == pytest.approx(0.1)


def test_lr_factor_rejects_plateau():
    with pytest.raises(ValueError):
        lr_factor("plateau", 1, 1, 1, 1)


# ------------------------------------------------------------------------------------------------ #
# One CycleGAN step
# ------------------------------------------------------------------------------------------------ #


def test_step_reports_the_losses_it_defines():
    torch.manual_seed(0)
    model = CycleGANModel(model_options(), torch.device("cpu"))
    A, B = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    G_AB, G_BA, D_B = (copy.deepcopy(n) for n in (model.G_AB, model.G_BA, model.D_B))
    model.set_input({"A": A, "B": B})
    losses = loss_values(model.optimize_parameters())
    with torch.no_grad():  # recompute with the weights from before the step
        fake_B = G_AB(A)
        l1 = lambda x, y: (x - y).abs().mean().item()  # noqa: E731
        assert losses["cycle_A"] == pytest.approx(10.0 * l1(G_BA(fake_B), A), rel=1e-4)
        assert losses["cycle_B"] == pytest.approx(7.0 * l1(G_AB(G_BA(B)), B), rel=1e-4)
        assert losses["idt_A"] == pytest.approx(0.5 * 7.0 * l1(G_AB(B), B), rel=1e-4)
        assert losses["idt_B"] == pytest.approx(0.5 * 10.0 * l1(G_BA(A), A), rel=1e-4)
        assert losses["G_A"] == pytest.approx(((D_B(fake_B) - 1) ** 2).mean().item(), rel=1e-4)
    assert set(losses) == {"D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"}


def test_generator_step_leaves_discriminators_alone_and_d_step_moves_them():
    torch.manual_seed(0)
    model = CycleGANModel(model_options(lambda_identity=0.0), torch.device("cpu"))
    before = {k: v.clone() for k, v in model.D_B.state_dict().items()}
    model.set_input({"A": torch.rand(1, 3, 32, 32), "B": torch.rand(1, 3, 32, 32)})
    losses = loss_values(model.optimize_parameters())
    assert losses["idt_A"] == 0.0 and not hasattr(model, "idt_A")
    after = model.D_B.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(p.requires_grad for p in model.D_B.parameters())


def test_wgangp_step_runs_with_penalty():
    torch.manual_seed(0)
    model = CycleGANModel(model_options(gan_mode="wgangp"), torch.device("cpu"))
    model.set_input({"A": torch.rand(2, 3, 32, 32), "B": torch.rand(2, 3, 32, 32)})
    losses = loss_values(model.optimize_parameters())
    assert all(math.isfinite(v) for v in losses.values())
