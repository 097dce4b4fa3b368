"""Graph optimisation with onnxruntime's transformer optimiser (attention, LayerNorm, GELU
and embedding fusions), falling back to onnxruntime's basic graph optimisation for model
types it has no fusion patterns for.

Every architecture we support exports with BERT-like encoder blocks, so all of them go to
the optimiser's "bert" family: bert/roberta/distilbert/electra get Attention and
EmbedLayerNormalization fused; xlnet, xlm and mpnet (their attention has relative
positions or other shapes the patterns do not match) still get LayerNorm and GELU fused.
The parity gate checks the fused graph against PyTorch, so an unsound fusion cannot ship.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LEVELS = ("fusions", "basic", "none")
OPTIMIZER_FAMILY = {
    model_type: "bert"
    for model_type in (
        "bert",
        "roberta",
        "xlm-roberta",
        "camembert",
        "distilbert",
        "electra",
        "mpnet",
        "xlm",
        "xlnet",
    )
}


def _heads_and_hidden(config: Any) -> tuple[int, int]:
    """num_heads/hidden_size under the names each architecture's config uses."""
    heads = next(
        (
            getattr(config, n)
            for n in ("num_attention_heads", "n_heads", "n_head")
            if hasattr(config, n)
        ),
        0,
    )
    hidden = next(
        (
            getattr(config, n)
            for n in ("hidden_size", "dim", "d_model", "emb_dim")
            if hasattr(config, n)
        ),
        0,
    )
    return int(heads), int(hidden)


def optimize_graph(
    src: Path, dst: Path, *, model_type: str, config: Any, level: str = "fusions"
) -> dict[str, Any]:
    """Write the optimised graph of `src` to `dst`; returns what was applied, for the
    manifest (level used, optimiser family, count of each fused operator)."""
    from onnxruntime.transformers.optimizer import optimize_model

    if level not in ("fusions", "basic"):
        raise ValueError(f"unknown optimisation level {level!r}; choose from {LEVELS}")
    family = OPTIMIZER_FAMILY.get(model_type) if level == "fusions" else None
    if family is None:
        # onnxruntime's basic level: constant folding, redundant-node removal; portable.
        optimized = optimize_model(str(src), opt_level=1, only_onnxruntime=True)
        optimized.save_model_to_file(str(dst))
        reason = None if level == "basic" else f"no fusion patterns for {model_type!r}"
        return {"level": "basic", "requested": level, "reason": reason}
    heads, hidden = _heads_and_hidden(config)
    optimized = optimize_model(str(src), model_type=family, num_heads=heads, hidden_size=hidden)
    optimized.save_model_to_file(str(dst))
    fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    return {"level": "fusions", "optimizer_model_type": family, "fusions": fused}
