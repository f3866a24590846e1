"""Loss terms of CycleGAN and pix2pix, each a small function with a pointer to what it implements.

``GANLoss`` covers the three ``--gan_mode`` values: lsgan (least squares, Mao et al. 2017; CycleGAN's
choice), vanilla (the cross-entropy of Goodfellow et al. 2014, on logits) and wgangp (the Wasserstein
critic of Gulrajani et al. 2017, whose gradient penalty is :func:`gradient_penalty`).

pix2pix adds :func:`paired_l1_loss`, the distance of a translation to its true pair.

With ``--attention`` each generator's alpha maps are regularised by :func:`attention_mean_loss`
(change little) and :func:`attention_tv_loss` (in smooth regions).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GAN_MODES = ("lsgan", "vanilla", "wgangp")


class GANLoss(nn.Module):
    """Adversarial loss against the label "real" (1) or "fake" (0) for every PatchGAN output."""

    def __init__(self, gan_mode: str, real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        if gan_mode not in GAN_MODES:
            raise ValueError(f"unknown gan_mode {gan_mode!r}; choose from {GAN_MODES}")
        self.gan_mode = gan_mode
        self.real_label, self.fake_label = real_label, fake_label

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        prediction = prediction.float()  # losses in fp32, also under --amp
        if self.gan_mode == "wgangp":
            # The critic maximises D(real) - D(fake); as a loss to minimise: -D(real) and +D(fake).
            return -prediction.mean() if target_is_real else prediction.mean()
        target = torch.full_like(prediction, self.real_label if target_is_real else self.fake_label)
        if self.gan_mode == "lsgan":
            return F.mse_loss(prediction, target)
        return F.binary_cross_entropy_with_logits(prediction, target)


def gradient_penalty(netD: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0,
                     target_norm: float = 1.0) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017, eq. 3): weight * E[(||grad D(x_hat)||_2 - 1)^2].

    ``x_hat`` lies on random straight lines between real and fake samples, one mixing factor per
    sample. The graph is kept so the penalty itself can be back-propagated into D.
    """
    alpha = torch.rand(real.size(0), 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = netD(mixed)
    (grads,) = torch.autograd.grad(scores, mixed, grad_outputs=torch.ones_like(scores), create_graph=True)
    norms = grads.flatten(1).norm(2, dim=1)
    return weight * ((norms - target_norm) ** 2).mean()


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor, weight: float) -> torch.Tensor:
    """Cycle consistency (Zhu et al. 2017, eq. 2): weight * ||F(G(x)) - x||_1."""
    return weight * F.l1_loss(reconstructed, original)


def identity_loss(same: torch.Tensor, original: torch.Tensor, weight: float) -> torch.Tensor:
    """Identity mapping (Zhu et al. 2017, sec. 5.2; Taigman et al. 2017): weight * ||G(y) - y||_1.

    ``weight`` is ``lambda_identity`` times the cycle weight of the domain of ``original``.
    """
    return weight * F.l1_loss(same, original)


def paired_l1_loss(fake: torch.Tensor, target: torch.Tensor, weight: float) -> torch.Tensor:
    """pix2pix's reconstruction term (Isola et al. 2017, eq. 3): weight * ||y - G(x)||_1, the mean
    absolute difference between the translation and the true paired image."""
    return weight * F.l1_loss(fake, target)


def attention_mean_loss(alpha: torch.Tensor, weight: float) -> torch.Tensor:
    """Sparsity of an attention map: weight * mean(alpha), so a pixel the translation does not need
    goes back to the input. GANimation (Pumarola et al. 2018) regularises its attention
    with a term of this kind and a smoothness term like :func:`attention_tv_loss`."""
    return weight * alpha.float().mean()


def attention_tv_loss(alpha: torch.Tensor, weight: float) -> torch.Tensor:
    """Anisotropic total variation of an attention map:
    weight * (mean |alpha[i+1, j] - alpha[i, j]| + mean |alpha[i, j+1] - alpha[i, j]|).

    Means rather than sums over pixels, so the weight does not depend on the batch or image size: a
    speckled map (pixels alternating 0 and 1) costs about 2 * weight, a clean blob about weight times
    the length of its outline over the number of pixels.
    """
    alpha = alpha.float()
    down = (alpha[..., 1:, :] - alpha[..., :-1, :]).abs().mean()
    across = (alpha[..., :, 1:] - alpha[..., :, :-1]).abs().mean()
    return weight * (down + across)
