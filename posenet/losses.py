"""Heatmap loss of the seed: mean squared error per joint, weighted by the target weight."""

from __future__ import annotations

import torch
from torch import nn


class JointsMSELoss(nn.Module):
    """0.5 x MSE averaged over joints; joints with target weight 0 (unlabelled or outside the
    crop) add nothing when `use_target_weight`."""

    def __init__(self, use_target_weight: bool = True) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(
        self, output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor
    ) -> torch.Tensor:
        output = output.float().flatten(2)  # (B, K, h*w); the loss in float32 under autocast
        target = target.float().flatten(2)
        if self.use_target_weight:
            w = target_weight.float().view(output.shape[0], output.shape[1], 1)
            output, target = output * w, target * w
        return 0.5 * ((output - target) ** 2).mean(dim=(0, 2)).mean()
