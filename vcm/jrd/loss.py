"""DT-JRD's loss: soft cross-entropy against a Gaussian over the 64 QP classes centred on the true JRD.

Neighbouring QPs give nearly the same detection result, so a one-hot target punishes a prediction one QP
off as hard as one forty QPs off; the Gaussian (sigma 3 by default, as the authors) ranks them by distance.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from vcm.jrd.base import NUM_CLASSES


def gaussian_soft_labels(targets: torch.Tensor, num_classes: int = NUM_CLASSES, sigma: float = 3.0) -> torch.Tensor:
    """Integer targets (B,) -> (B, num_classes) rows exp(-(c - t)^2 / 2 sigma^2), each normalised to sum 1."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    classes = torch.arange(num_classes, dtype=torch.float32, device=targets.device)
    d = classes[None, :] - targets.float()[:, None]
    w = torch.exp(-0.5 * (d / sigma) ** 2)
    return w / w.sum(dim=1, keepdim=True)


def soft_cross_entropy(logits: torch.Tensor, soft_targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -sum_c q_c log softmax(logits)_c."""
    return -(soft_targets * F.log_softmax(logits.float(), dim=-1)).sum(dim=-1).mean()


class JRDLoss(torch.nn.Module):
    """`kind="gaussian"` (soft labels, sigma) or `kind="ce"` (plain cross-entropy on the integer class)."""

    def __init__(self, kind: str = "gaussian", sigma: float = 3.0, num_classes: int = NUM_CLASSES):
        super().__init__()
        if kind not in ("gaussian", "ce"):
            raise ValueError(f"unknown loss {kind!r}: use gaussian or ce")
        self.kind, self.sigma, self.num_classes = kind, float(sigma), int(num_classes)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.kind == "ce":
            return F.cross_entropy(logits.float(), targets.long())
        return soft_cross_entropy(logits, gaussian_soft_labels(targets, self.num_classes, self.sigma))
