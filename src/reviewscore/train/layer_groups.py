"""Split a *ForSequenceClassification model into layer groups: embeddings, each encoder
layer, head. Found from the module tree, not from a per-architecture table:

- the base model is `model.base_model`; everything outside it (classifier, XLNet's
  sequence summary, DistilBERT's pre-classifier) is head;
- the encoder layers are the ModuleLists inside the base model whose length is the
  config's layer count; layer i is element i of each (XLM keeps attention, feed-forward and
  norms in four parallel lists, BERT-likes in one);
- the base model's other parameters are embeddings if their top-level child of the base
  model comes before (or holds) the layers in registration order, head if after (BERT's
  pooler). Module registration order is the order of the forward pass in every Hugging Face
  encoder, which is why this works without naming modules.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from reviewscore.errors import ReviewscoreError


@dataclass
class LayerGroup:
    name: str
    params: list[nn.Parameter]


def layer_lists(base: nn.Module, num_layers: int) -> list[tuple[str, nn.ModuleList]]:
    """(name in `base`, ModuleList) of length `num_layers`, outermost only (a layer may hold
    lists itself): the encoder layers, found as `find_layer_groups` and distill find them."""
    found: list[tuple[str, nn.ModuleList]] = []
    for name, module in base.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) != num_layers:
            continue
        if any(name.startswith(outer + ".") for outer, _ in found):
            continue
        found.append((name, module))
    return found


def find_layer_groups(model: nn.Module) -> list[LayerGroup]:
    """Groups from the bottom (embeddings) to the top (head); every parameter in exactly one."""
    base = model.base_model
    num_layers = int(model.config.num_hidden_layers)
    lists = layer_lists(base, num_layers)
    if not lists:  # e.g. ALBERT, whose layers share one module: nothing to group
        raise ReviewscoreError(
            f"{type(model).__name__} cannot be split into layer groups (no list of its "
            f"{num_layers} encoder layers in the base model); choose a model whose layers "
            "are separate modules (BERT, RoBERTa, DistilBERT, XLNet, XLM, MPNet, ELECTRA)"
        )
    layers: list[list[nn.Parameter]] = [[] for _ in range(num_layers)]
    in_layers: set[int] = set()
    for _, module_list in lists:
        for i, layer in enumerate(module_list):
            for param in layer.parameters():
                if id(param) not in in_layers:
                    in_layers.add(id(param))
                    layers[i].append(param)

    # The first top-level child of the base model that holds a layer list: children up to
    # and including it feed the layers (embeddings), children after it read their output.
    top_names = [name.split(".")[0] for name, _ in lists]
    children = [name for name, _ in base.named_children()]
    holder = min(children.index(name) for name in top_names)
    after = set(children[holder + 1 :]) - set(top_names)

    embeddings: list[nn.Parameter] = []
    head: list[nn.Parameter] = []
    seen = set(in_layers)
    for name, param in base.named_parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        (head if name.split(".")[0] in after else embeddings).append(param)
    for param in model.parameters():  # outside the base model: the classification head
        if id(param) not in seen:
            seen.add(id(param))
            head.append(param)

    groups = [LayerGroup("embeddings", embeddings)]
    groups += [LayerGroup(f"layer{i}", params) for i, params in enumerate(layers)]
    groups.append(LayerGroup("head", head))
    return groups


def trainable_count(stage: str, n_groups: int) -> int:
    """'all' or N (top N groups) -> how many groups, from the top, a stage trains."""
    return n_groups if stage == "all" else min(int(stage), n_groups)


def set_trainable(groups: list[LayerGroup], n_top: int, frozen: set[int] | None = None) -> None:
    """Train the top `n_top` groups, freeze the rest; `frozen` ids stay frozen regardless
    (--freeze-embeddings keeps the word-embedding matrix fixed)."""
    frozen = frozen or set()
    for index, group in enumerate(groups):
        train = index >= len(groups) - n_top
        for param in group.params:
            param.requires_grad_(train and id(param) not in frozen)


def discriminative_lrs(lr: float, n_groups: int, decay: float) -> list[float]:
    """Learning rate per group, bottom to top: the head gets `lr`, each group below gets the
    rate above it divided by `decay` (ULMFiT's 2.6; 1 = one rate for all)."""
    return [lr / decay ** (n_groups - 1 - i) for i in range(n_groups)]
