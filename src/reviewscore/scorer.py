"""The Python scoring API: `reviewscore.load(deploy_dir)` opens a deploy folder once, and the
`Scorer` it returns labels texts as often as asked, in memory or file to file.

It is the command line's own path, not a second one: `reviewscore score` and `verify`, the
HTTP server and the Ray actors all score through a `Scorer` (the classifier underneath
tokenises, sorts by length, batches within a token budget and restores the input order).
Needs the base install only: no torch, no transformers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from os import PathLike, fspath
from pathlib import Path
from types import TracebackType
from typing import Union

import numpy as np

from reviewscore.data import Columns
from reviewscore.data.reader import DEFAULT_CHUNK_ROWS
from reviewscore.deploy_folder import Manifest, load_manifest
from reviewscore.errors import UsageError
from reviewscore.parity.verify import Verification, verify_classifier, verify_folder
from reviewscore.score.auto_variant import AUTO
from reviewscore.score.batching import DEFAULT_BATCH_TOKENS
from reviewscore.score.classifier import DeployedClassifier, scorer_variants, softmax
from reviewscore.score.inputs import resolve_inputs
from reviewscore.score.pipeline import ScoreOptions, score_files
from reviewscore.score.session import DEFAULT_PROVIDER
from reviewscore.score.summary import ScoreSummary

StrPath = Union[str, "PathLike[str]"]
_SCORE = ScoreOptions()  # the defaults `score_file` shares with `reviewscore score`
_COLUMNS = Columns()


def as_texts(texts: Iterable[str]) -> list[str]:
    """`texts` as a list of `str`, checked before any work: any iterable (list, tuple,
    generator, numpy array, pandas Series) whose items are all `str` (numpy's `str_` too).
    A single string or bytes, or an item of another type, is a TypeError naming its index."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(
            f"texts must be an iterable of str, not a single {type(texts).__name__}; "
            "wrap one text in a list: [text]"
        )
    try:
        items = list(texts)
    except TypeError:
        raise TypeError(f"texts must be an iterable of str, not {type(texts).__name__}") from None
    for index, item in enumerate(items):
        if type(item) is not str:
            if not isinstance(item, str):
                raise TypeError(f"texts[{index}] is {type(item).__name__} ({item!r:.40}), not str")
            items[index] = str.__str__(item)  # a str subclass (numpy.str_) as a plain str
    return items


def check_settings(threads: int | None, batch_tokens: int, chunk_rows: int) -> None:
    """What the command's option types refuse (click.IntRange(min=1)), refused here too."""
    for name, value in (("threads", threads), ("batch_tokens", batch_tokens)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1, not {value}")
    if chunk_rows < 1:
        raise UsageError(f"chunk_rows must be at least 1, not {chunk_rows}")


class Scorer:
    """A deploy folder's variant, open and ready: texts in, labels or probabilities out.

    Get one with `reviewscore.load`. Results come in input order and equal `reviewscore
    score`'s for the same variant and batch settings (`batch_tokens`, `chunk_rows`).

    Thread safety: one Scorer may be used from several threads at once. It holds no state
    that a call changes: onnxruntime's `InferenceSession.run` is thread-safe, the Rust
    tokenizer is configured once at load and only read after, and each call keeps its own
    buffers. Concurrent calls share the session's intra-op threads (`threads`), so they
    overlap tokenising with inference rather than multiplying throughput. `close()` lets
    calls already running finish; calls after it raise ValueError.

    Example:
        >>> with reviewscore.load("deploy/minilm") as scorer:
        ...     labels = scorer.predict(["a gorgeous film", "dull"])
        ...     names = [scorer.label_names[i] for i in labels]
    """

    def __init__(
        self,
        classifier: DeployedClassifier,
        *,
        batch_tokens: int = DEFAULT_BATCH_TOKENS,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        """Wrap an open classifier (its provider and threads are its session's);
        `reviewscore.load` is the way to get one."""
        check_settings(None, batch_tokens, chunk_rows)
        self._classifier: DeployedClassifier | None = classifier
        self._manifest = classifier.manifest
        self._variant = classifier.variant_name
        self._deploy_dir = Path(classifier.deploy_dir)
        self._batch_tokens = batch_tokens
        self._chunk_rows = chunk_rows
        self.verification: Verification | None = None
        """The parity report of `load(..., verify=True)`; None otherwise."""

    @property
    def label_names(self) -> tuple[str, ...]:
        """Name of each label, by label id: `label_names[predict(texts)[i]]`."""
        return self._manifest.labels

    @property
    def variant(self) -> str:
        """The manifest variant scoring (fp32, int8-static, ...)."""
        return self._variant

    @property
    def manifest(self) -> Manifest:
        """The deploy folder's manifest, checked: labels, variants, parity figures, hashes."""
        return self._manifest

    @property
    def deploy_dir(self) -> Path:
        return self._deploy_dir

    @property
    def provider(self) -> str:
        """The onnxruntime execution provider running the model (CPUExecutionProvider, ...)."""
        return self.classifier.provider

    @property
    def batch_tokens(self) -> int:
        """Token budget of one session run (rows x longest row), as `score --batch-tokens`."""
        return self._batch_tokens

    @property
    def chunk_rows(self) -> int:
        """Rows tokenised and batched together, as `score --chunk-rows`."""
        return self._chunk_rows

    @property
    def classifier(self) -> DeployedClassifier:
        """The classifier underneath, for callers that plan their own batches (the HTTP
        server's micro-batches); ValueError once closed."""
        if self._classifier is None:
            raise ValueError(f"this Scorer of {self._deploy_dir} is closed")
        return self._classifier

    def predict_proba(self, texts: Iterable[str]) -> np.ndarray:
        """Class probabilities, float32, shape (len(texts), len(label_names)), rows in
        input order; (0, n_labels) for no texts.

        >>> scorer.predict_proba(["a gorgeous film", "dull"]).shape
        (2, 5)
        """
        items = as_texts(texts)
        classifier = self.classifier  # held for the whole call: close() cannot cut it short
        probs = np.empty((len(items), len(self.label_names)), dtype=np.float32)
        for start in range(0, len(items), self._chunk_rows):
            chunk = items[start : start + self._chunk_rows]
            logits = classifier.logits_encoded(classifier.encode(chunk), self._batch_tokens)
            probs[start : start + len(chunk)] = softmax(logits)
        return probs

    def predict(self, texts: Iterable[str]) -> np.ndarray:
        """Label ids, int64, shape (len(texts),), in input order (the most probable class,
        as `reviewscore score` writes it); `label_names[i]` names label i.

        >>> labels = scorer.predict(text for text in ("dull", "great fun"))
        >>> labels.dtype, labels.shape
        (dtype('int64'), (2,))
        """
        return np.asarray(self.predict_proba(texts).argmax(axis=1), dtype=np.int64)

    def score_file(
        self,
        inputs: StrPath | Sequence[StrPath],
        output: StrPath | None = None,
        *,
        format: str = _SCORE.fmt,
        probs: bool = _SCORE.probs,
        text_column: str = _COLUMNS.text,
        id_column: str = _COLUMNS.id,
        label_column: str = _COLUMNS.label,
        on_bad_line: str = _SCORE.on_bad_line,
        evaluate: bool = _SCORE.evaluate,
        progress: bool | None = None,
    ) -> ScoreSummary:
        """Score review files into `output`, exactly as `reviewscore score` does with this
        Scorer's variant and batch settings; returns the run's summary (rows, seconds,
        `bad_lines`, `metrics` with `evaluate`, warnings as `describe(summary)` lines).

        `inputs`: TSV/CSV files (gzip too), globs, or "-" for standard input. `output`: a
        file written atomically (`.gz` compresses), or None / "-" for standard output.
        `format`: csv, tsv, jsonl or kaggle; `probs` adds the probabilities; the columns,
        `on_bad_line` ("error" or "skip") and `evaluate` are the command's options.

        >>> summary = scorer.score_file("test.tsv.gz", "submission.csv", format="kaggle")
        >>> summary.rows, summary.bad_lines
        """
        listed = [inputs] if isinstance(inputs, (str, PathLike)) else list(inputs)
        options = ScoreOptions(
            fmt=format,
            probs=probs,
            columns=Columns(text=text_column, label=label_column, id=id_column),
            batch_tokens=self._batch_tokens,
            chunk_rows=self._chunk_rows,
            on_bad_line=on_bad_line,
            evaluate=evaluate,
        )
        paths = resolve_inputs([fspath(path) for path in listed])
        target = None if output is None else fspath(output)
        return score_files(self.classifier, paths, target, options, progress=progress)

    def verify(self) -> Verification:
        """Re-run the export's parity check of this variant on this machine, as `reviewscore
        verify --variant VARIANT`, on this Scorer's own session (same provider and threads;
        no second copy of the model is loaded); returns the report, whose `passed` says the
        verdict (`check()` raises ParityError on a failure). ValueError once closed.

        >>> report = scorer.verify()
        >>> report.passed, report.lines()
        """
        return verify_classifier(self.classifier)

    def close(self) -> None:
        """Release the onnxruntime session and tokenizer (calls already running finish)."""
        self._classifier = None

    @property
    def closed(self) -> bool:
        return self._classifier is None

    def __enter__(self) -> Scorer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.classifier.provider
        return f"Scorer({str(self._deploy_dir)!r}, variant={self._variant!r}, {state})"


def load(
    deploy_dir: StrPath,
    variant: str | None = None,
    provider: str = DEFAULT_PROVIDER,
    threads: int | None = None,
    verify: bool = False,
    *,
    max_length: int | None = None,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    allow_batch_dependent: bool = False,
) -> Scorer:
    """Open a deploy folder (from `reviewscore export`) for scoring; returns a `Scorer`.

    Every file is checked against the manifest's sha256 first. Needs only the base install
    (onnxruntime, tokenizers, numpy; no torch): `import reviewscore` loads none of them.

    Args:
        deploy_dir: the deploy folder.
        variant: a variant of its manifest, as `reviewscore score --variant` takes it
            (fp32, int8-static, int8-dynamic, fp16; default: the folder's default), or
            "auto": the fastest variant that passes the parity gate on this machine,
            measured with this provider and thread count (cached under
            $REVIEWSCORE_CACHE; `scorer.classifier.auto` says what was picked and why).
            int8-dynamic is not batch-invariant: a text's label may depend on the texts
            batched with it; "auto" picks it only with `allow_batch_dependent=True`.
        provider: "auto" (CUDA when onnxruntime offers it, else CPU), "cpu" or "cuda"
            (an error if CUDA cannot run).
        threads: onnxruntime intra-op threads (default: the physical cores).
        verify: re-run the export's parity check on this machine first (as `reviewscore
            verify`); a failure raises ParityError carrying the figures. With "auto", the
            measurement that picks the variant is the check (made now, not cached).
        max_length: truncate texts to this many tokens (default: the model's).
        batch_tokens, chunk_rows: the batching, as `reviewscore score`'s options of the
            same names; the same settings give the same results as the command.

    Returns a Scorer: `predict(texts)` (int64 label ids), `predict_proba(texts)` (float32,
    n x len(label_names)), `label_names`, `variant`, `manifest`, `score_file(...)`,
    `verify()`; a context manager (`close()` releases the session). `texts` is any
    iterable of str: list, tuple, generator, numpy array, pandas Series; an item of another
    type is a TypeError naming its index. One Scorer may be shared by threads.

    Raises FolderError (not a deploy folder, a changed file, an unknown variant),
    ProviderError (provider cannot run), ParityError (verify failed); all are
    `reviewscore.ReviewscoreError`.

    Example:
        >>> import reviewscore
        >>> scorer = reviewscore.load("deploy/minilm", variant="int8-static")
        >>> labels = scorer.predict(["a gorgeous, moving film", "a dull mess"])
        >>> [scorer.label_names[i] for i in labels]
    """
    check_settings(threads, batch_tokens, chunk_rows)
    auto = variant == AUTO
    classifier = DeployedClassifier.open(
        Path(deploy_dir),
        variant,
        provider=provider,
        threads=threads,
        max_length=max_length,
        allow_batch_dependent=allow_batch_dependent,
        remeasure=verify and auto,
    )
    scorer = Scorer(
        classifier,
        batch_tokens=batch_tokens,
        chunk_rows=chunk_rows,
    )
    if verify and classifier.auto is not None and classifier.auto.verification is not None:
        # auto picked a variant that passed this very check: no second one.
        scorer.verification = classifier.auto.verification
    elif verify:
        try:
            report = scorer.verify()
            report.check()
        except BaseException:
            scorer.close()
            raise
        scorer.verification = report
    return scorer


def verify(
    deploy_dir: StrPath,
    variants: Sequence[str] | None = None,
    *,
    all_variants: bool = False,
    provider: str = DEFAULT_PROVIDER,
    threads: int | None = None,
) -> Verification:
    """Re-run a deploy folder's parity check on this machine, as `reviewscore verify`: each
    of `variants` (default: the folder's default; `all_variants`: every variant the scorer
    runs) is scored on the export's stored parity rows and judged against PyTorch's logits
    with the export's thresholds. Returns the report (`passed`, `figures`, `lines()`,
    `to_json()`); `report.check()` raises ParityError when a variant failed.

    >>> report = reviewscore.verify("deploy/minilm", all_variants=True)
    >>> report.passed, report.lines()
    """
    if all_variants and variants:
        raise UsageError("give --variant or --all, not both")
    chosen = list(variants) if variants else None
    if all_variants:
        chosen = scorer_variants(load_manifest(Path(deploy_dir), verify=False))
    return verify_folder(Path(deploy_dir), chosen, provider=provider, threads=threads)
