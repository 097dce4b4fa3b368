"""The distillation loss (Hinton et al. 2015): KL divergence from the teacher's
temperature-softened distribution to the student's, scaled by T^2 so its gradients keep
their size as T changes, mixed with cross-entropy on the true labels:

    loss = alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(s, y)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over rows of KL(teacher || student) at `temperature`, without the T^2 factor."""
    return F.kl_div(
        F.log_softmax(student.float() / temperature, dim=-1),
        F.log_softmax(teacher.float() / temperature, dim=-1),
        log_target=True,
        reduction="batchmean",
    )


def distillation_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    kl = soft_kl(student, teacher, temperature) * temperature**2
    return alpha * kl + (1 - alpha) * F.cross_entropy(student.float(), labels)


def make_loss_fn(temperature: float, alpha: float):
    """The train loop's loss: the batch carries the teacher's logits as `targets`."""

    def loss_fn(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k not in ("labels", "targets")}
        logits = model(**inputs).logits
        return distillation_loss(logits, batch["targets"], batch["labels"], temperature, alpha)

    return loss_fn
