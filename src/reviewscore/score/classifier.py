"""A deploy folder as a classifier: texts in, logits out, in input order.

This is the scorer's own batching (tokenise, sort by length, token-budget batches, dynamic
padding, restore order). `reviewscore export` checks parity through this very class, so the
figures in the manifest describe what `reviewscore score` computes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reviewscore.deploy_folder import TEXT_INPUTS, Manifest, Variant, load_manifest
from reviewscore.errors import FolderError, TextError
from reviewscore.padding import Ragged, pad_batch
from reviewscore.score.batching import DEFAULT_BATCH_TOKENS, plan_batches
from reviewscore.score.session import Session, open_session

if TYPE_CHECKING:
    from reviewscore.score.auto_variant import AutoVariant


@dataclass(frozen=True)
class Encoded:
    """Token ids of a list of texts, unpadded (padding is per batch, after sorting)."""

    ids: Ragged
    type_ids: Ragged | None

    @property
    def lengths(self) -> np.ndarray:
        return self.ids.lengths

    def __len__(self) -> int:
        return len(self.ids)


def takes_text(variant: Variant) -> bool:
    """Whether a manifest variant is a strings-in (edge) file: raw texts in, the tokenizer in
    its graph, for runtimes with onnxruntime-extensions; the scorer feeds token ids."""
    return variant.inputs == TEXT_INPUTS


def scorer_variants(manifest: Manifest) -> list[str]:
    """The variants the scorer can feed (token ids; not strings-in ones), in manifest order:
    what `verify --all` checks and `--variant auto` measures."""
    return [name for name, entry in manifest.variants.items() if not takes_text(entry)]


def refuse_text_variant(manifest: Manifest, name: str | None) -> None:
    """The scorer's engines (local, Ray, serve) feed token ids: variant `name` (default: the
    folder's default) must be one the folder has (`Manifest.variant` refuses others) and
    not a strings-in one, which is refused with the variants they can run."""
    name = manifest.default_variant if name is None else name
    if takes_text(manifest.variant(name)):
        usable = scorer_variants(manifest)
        raise FolderError(
            f"{manifest.folder}: variant {name!r} takes raw texts (the tokenizer is in its "
            "graph, for runtimes that register onnxruntime-extensions; see docs/edge.md); "
            f"reviewscore scores with a token-id variant: {', '.join(usable)}"
        )


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _check_outputs(model_file: Path, manifest: Manifest, session: Session) -> None:
    """The manifest's labels must match the model's output width: a mismatch would fail in
    the middle of a run, or write the wrong label names."""
    name = manifest.outputs[0].name
    shapes = {out.name: out.shape for out in session.inner.get_outputs()}  # type: ignore[attr-defined]
    if name not in shapes:
        raise FolderError(
            f"{model_file}: the model has no output {name!r} (it has {', '.join(shapes)}); "
            "re-export the folder"
        )
    width = shapes[name][-1]
    if isinstance(width, int) and width != len(manifest.labels):
        raise FolderError(
            f"{model_file}: the model scores {width} classes but the manifest lists "
            f"{len(manifest.labels)} labels; re-export the folder"
        )


def unencodable_text(texts: list[str]) -> None:
    """Raise a TextError for the first text the tokenizer cannot take, if there is one."""
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TextError(index, f"is not a string but {type(text).__name__}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise TextError(
                index,
                f"cannot be encoded as UTF-8: character {exc.start + 1} is "
                f"{text[exc.start]!r}, a lone surrogate (half of a UTF-16 pair); send "
                "valid Unicode text",
            ) from None


class DeployedClassifier:
    """One variant of a verified deploy folder, with its tokenizer and onnxruntime session.

    Stable API (the export's parity gate and calibration call it): `open`, `encode`,
    `feeds`, `logits_encoded`, `logits`, `probabilities`, `predict`; results are in input
    order.
    """

    def __init__(
        self,
        deploy_dir: Path,
        manifest: Manifest,
        variant_name: str,
        session: Session,
        tokenizer: Any,
        auto: AutoVariant | None = None,
    ) -> None:
        self.deploy_dir = deploy_dir
        self.manifest = manifest
        self.variant_name = variant_name
        self.variant = manifest.variant(variant_name)
        self.session = session
        self.tokenizer = tokenizer
        self.labels = list(manifest.labels)
        self.input_names = [spec.name for spec in manifest.inputs]
        self.output_name = manifest.outputs[0].name
        self.padding = manifest.padding
        self.auto = auto  # how `--variant auto` chose this variant, when it did

    @classmethod
    def open(
        cls,
        deploy_dir: str | Path,
        variant: str | None = None,
        *,
        provider: str = "cpu",
        threads: int | None = None,
        max_length: int | None = None,
        require_finished: bool = True,
        allow_batch_dependent: bool = False,
        remeasure: bool = False,
    ) -> DeployedClassifier:
        """Verify the folder against its manifest (sha256), then load tokenizer and model.
        `require_finished=False` is for the export's checks on its own staging folder.

        `variant="auto"`: the fastest variant that passes the parity gate here, measured with
        this provider and thread count or read from the cache (score/auto_variant.py);
        `allow_batch_dependent` lets it pick a batch-dependent one, `remeasure` skips the
        cache. The choice is kept as `.auto`."""
        from tokenizers import Tokenizer

        from reviewscore.score.auto_variant import (
            AUTO,
            check_allow_batch_dependent,
            resolve_auto_variant,
        )

        deploy_dir = Path(deploy_dir)
        check_allow_batch_dependent(variant, allow_batch_dependent)
        auto = None
        if variant == AUTO:
            auto = resolve_auto_variant(
                deploy_dir,
                provider=provider,
                threads=threads,
                allow_batch_dependent=allow_batch_dependent,
                remeasure=remeasure,
            )
            variant = auto.variant
        manifest = load_manifest(deploy_dir, verify=True, require_finished=require_finished)
        name = manifest.default_variant if variant is None else variant
        entry = manifest.variant(name)
        refuse_text_variant(manifest, name)
        limit = manifest.max_length
        if max_length is not None:
            if max_length > limit:
                raise FolderError(
                    f"--max-length {max_length} exceeds the model's max length {limit}"
                )
            limit = max_length
        tokenizer = Tokenizer.from_file(str(deploy_dir / manifest.tokenizer))
        tokenizer.no_padding()
        tokenizer.enable_truncation(limit)
        model_file = deploy_dir / entry.file
        session = open_session(model_file, provider=provider, threads=threads)
        _check_outputs(model_file, manifest, session)
        return cls(deploy_dir, manifest, name, session, tokenizer, auto)

    @property
    def provider(self) -> str:
        return self.session.provider

    def encode(self, texts: list[str]) -> Encoded:
        """Batch-encode with the Rust tokenizer (releases the GIL: can overlap inference).

        A text that is not a string, or that UTF-8 cannot encode (a lone surrogate), is a
        TextError naming its index: the tokenizer's own TypeError names neither the text
        nor the problem, and every entry point (score, serve, Ray, Python) reaches it here."""
        try:
            encodings = self.tokenizer.encode_batch(texts)
        except Exception:
            unencodable_text(texts)  # raises the TextError when one is the cause
            raise
        ids = Ragged.from_lists([e.ids for e in encodings])
        if "token_type_ids" not in self.input_names:
            return Encoded(ids, None)
        return Encoded(ids, Ragged.from_lists([e.type_ids for e in encodings]))

    def logits_encoded(
        self,
        encoded: Encoded,
        batch_tokens: int = DEFAULT_BATCH_TOKENS,
        batches: Iterable[np.ndarray] | None = None,
    ) -> np.ndarray:
        """`batches`: the row indices of each session run, when the caller plans them (the
        server's micro-batches); by default `plan_batches` within `batch_tokens`."""
        out = np.empty((len(encoded), len(self.labels)), dtype=np.float32)
        if batches is None:
            batches = plan_batches(encoded.lengths, batch_tokens)
        for rows in batches:
            out[rows] = self._run(self.feeds(encoded, rows))
        return out

    def feeds(self, encoded: Encoded, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The model's inputs for `rows` of `encoded`: padded as this model pads, and only
        the inputs its graph takes. Calibration and benchmarks build batches here too, so
        they feed exactly what scoring feeds."""
        batch = pad_batch(encoded.ids, encoded.type_ids, rows, self.padding)
        return {name: batch[name] for name in self.input_names}

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        session = self.session.inner
        if not self.session.on_cuda:
            return session.run([self.output_name], feeds)[0]  # type: ignore[attr-defined]
        # CUDA: bind inputs and output explicitly, so onnxruntime copies once per batch.
        binding = session.io_binding()  # type: ignore[attr-defined]
        for name, array in feeds.items():
            binding.bind_cpu_input(name, array)
        binding.bind_output(self.output_name)
        session.run_with_iobinding(binding)  # type: ignore[attr-defined]
        return binding.copy_outputs_to_cpu()[0]

    def logits(self, texts: list[str], batch_tokens: int = DEFAULT_BATCH_TOKENS) -> np.ndarray:
        """(len(texts), n_labels) float32 logits, in the order of `texts`."""
        return self.logits_encoded(self.encode(texts), batch_tokens)

    def probabilities(
        self, texts: list[str], batch_tokens: int = DEFAULT_BATCH_TOKENS
    ) -> np.ndarray:
        return softmax(self.logits(texts, batch_tokens))

    def predict(self, texts: list[str], batch_tokens: int = DEFAULT_BATCH_TOKENS) -> np.ndarray:
        return self.logits(texts, batch_tokens).argmax(axis=1)
