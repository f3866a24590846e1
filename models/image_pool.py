"""History of generated images for the discriminator (Shrivastava et al. 2017, sec. 2.3).

Showing D a mix of current and older fakes damps the oscillation between G and D. The pool holds up
to ``pool_size`` images; each new fake is either returned as it is or, with probability 1/2 once the
pool is full, swapped for a random older one that is returned instead (the CycleGAN recipe).
"""
from __future__ import annotations

import random

import torch


class ImagePool:
    def __init__(self, pool_size: int, seed: int | None = None):
        self.pool_size = pool_size
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch of the same shape: new fakes mixed with fakes from earlier steps."""
        if self.pool_size <= 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                out.append(image)
            elif self.rng.random() > 0.5:
                slot = self.rng.randrange(self.pool_size)
                out.append(self.images[slot])
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        return {"images": [img.cpu() for img in self.images], "rng": list(self.rng.getstate()[1]),
                "rng_version": self.rng.getstate()[0], "rng_gauss": self.rng.getstate()[2]}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.images = [img.to(device) for img in state["images"]]
        self.rng.setstate((state["rng_version"], tuple(state["rng"]), state["rng_gauss"]))
