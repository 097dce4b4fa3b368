"""The `reviewscore` command line: declares each command's options and hands them to the
stage that owns them (stages.py, score_commands.py, serve/server.py), nothing more. Every
default comes from that stage's options object; options several commands take are
declared once, in cli_options.py."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from reviewscore import __version__
from reviewscore.cli_options import (
    ALLOW_BATCH_DEPENDENT,
    DATA_HELP,
    DEPLOY_DIR,
    DEVICE,
    EPOCHS_HELP,
    FIT_OPTIONS,
    RUN_DIR,
    SPLIT_OPTIONS,
    ChoiceWithOldNames,
    data_options,
    provider,
    rate,
    threads,
    train_schedule_options,
    variant,
    with_options,
)
from reviewscore.cluster.options import ACTOR_THREADS, OUTPUT_FORMATS, ClusterOptions
from reviewscore.distill.options import KEEP_CHOICES, DistillOptions
from reviewscore.errors import ReviewscoreError, UsageError
from reviewscore.export.deploy import (
    OLD_QUANTIZE_NAMES,
    QUANTIZE_CHOICES,
    VARIANT_FILES,
    ExportOptions,
)
from reviewscore.help_sections import SectionedCommand
from reviewscore.score.pipeline import BAD_LINE_CHOICES, ScoreOptions
from reviewscore.score_commands import DEFAULT_ENGINE, ENGINES, FORMAT_CHOICES
from reviewscore.serve.options import ServeOptions
from reviewscore.train.config import RECIPE_DEFAULTS, LrFindOptions, TrainConfig

# Each stage's defaults, as its options object holds them.
_EXPORT = ExportOptions()
_DISTILL = DistillOptions(teacher=Path())
_SWEEP = LrFindOptions()
_LOCAL = ScoreOptions()
_RAY = ClusterOptions()
_SERVE = ServeOptions()


@contextlib.contextmanager
def _usage_errors() -> Iterator[None]:
    """Options that do not go together, refused where the policy lives (an engine's options,
    the Python API), shown as click's usage error: exit code 2 with the command's usage."""
    try:
        yield
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reviewscore")
def cli() -> None:
    """Fine-tune a transformer for 5-class review sentiment, export it to ONNX, score files.

    \b
    reviewscore train   --data train.tsv.gz --out runs/NAME    (needs the [train] extra)
    reviewscore distill runs/NAME --data train.tsv.gz --layers 3 --out runs/SMALL
    reviewscore export  runs/NAME --out deploy/NAME            (needs the [train] extra)
    reviewscore score   deploy/NAME reviews.tsv -o scored.csv  (base install)
    reviewscore verify  deploy/NAME --all                      (base install)
    reviewscore serve   deploy/NAME --port 8000                (needs the [serve] extra)
    """


# --- train commands ---


_ULMFIT = RECIPE_DEFAULTS["ulmfit"]
# train's --help, its figures the recipes' defaults (train/config.py)
TRAIN_HELP = "\n".join(
    [
        "Fine-tune a classifier on labelled phrases into the run folder --out.",
        "",
        "\b",
        f"--recipe plain:  all layers, one rate, {TrainConfig.warmup:.0%} linear warm-up then "
        "linear decay (default:",
        "                 more accurate at the same number of examples, bench/train_compare.py)",
        f"--recipe ulmfit: gradual unfreezing (--unfreeze {','.join(_ULMFIT['unfreeze'])}), "
        "discriminative rates",
        f"                 (--lr-decay {_ULMFIT['lr_decay']}), one cycle per stage (fastai "
        "defaults); about half",
        "                 the training time per example seen",
    ]
)


@cli.command("train", help=TRAIN_HELP)
@data_options
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Run folder to create: new or empty, or an earlier run (with --overwrite, --resume).",
)
@train_schedule_options
@with_options(*FIT_OPTIONS)
@click.option("--resume", is_flag=True, help="Continue --out from its last completed stage.")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace --out if it is an earlier run folder (has run.json), once the new run has "
    "saved its first checkpoint. Never a folder holding other files, the --data file or the "
    "--model, nor the working directory, home or /.",
)
def train_command(out: Path, device: str, resume: bool, overwrite: bool, **options: Any) -> None:
    """`reviewscore train` (its --help is TRAIN_HELP)."""
    from reviewscore.stages import train

    with _usage_errors():
        train(
            options.pop("data"),
            out,
            resume=resume,
            overwrite=overwrite,
            device=device,
            echo=click.echo,
            **options,
        )


@cli.command("distill")
@click.argument("teacher", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--data", required=True, help=DATA_HELP)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Student run folder.")
@click.option("--layers", type=int, help="Student = the teacher with N of its layers kept.")
@click.option("--student", help="Student = this pretrained model (minilm, mpnet, a folder...).")
@click.option(
    "--keep",
    type=click.Choice(KEEP_CHOICES),
    default=_DISTILL.keep,
    show_default=True,
    help="With --layers: the bottom N layers, or every (depth/N)-th from the bottom.",
)
@click.option("--temperature", type=float, default=_DISTILL.temperature, show_default=True)
@click.option(
    "--alpha",
    type=float,
    default=_DISTILL.alpha,
    show_default=True,
    help="Weight of the soft-label term.",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder keeping the teacher's logits, shared by students of the same rows.",
)
@click.option("--epochs", type=float, help=f"Epochs {EPOCHS_HELP}")
@click.option(
    "--lr", type=float, help=f"Peak learning rate ({rate(RECIPE_DEFAULTS['plain']['lr'])})."
)
@with_options(*SPLIT_OPTIONS, *FIT_OPTIONS)
@click.option("--overwrite", is_flag=True, help="Replace --out if it is an earlier run folder.")
def distill_command(teacher: Path, out: Path, **options: Any) -> None:
    """Train a smaller student on TEACHER's (a finished run folder) soft labels.

    \b
    The loss mixes alpha x T^2 x KL(teacher || student, both at temperature T) with
    (1 - alpha) x cross-entropy on the labels. The teacher's logits are computed once per
    training row. Data, split, schedule, precision and run folder are train's (plain
    recipe); the student's sentences never include the teacher's valid.csv ones.
    """
    from reviewscore.stages import distill

    distill(teacher, options.pop("data"), out, echo=click.echo, **options)


@cli.command("lr-find")
@data_options
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for plots.")
@click.option(
    "--unfreeze", "stage", default=_SWEEP.unfreeze, show_default=True, help="Groups to train."
)
@click.option("--start-lr", type=float, default=_SWEEP.start_lr, show_default=True)
@click.option("--end-lr", type=float, default=_SWEEP.end_lr, show_default=True)
@click.option(
    "--num-iter", type=int, default=_SWEEP.num_iter, show_default=True, help="Batches at most."
)
@DEVICE
def lr_find_command(
    out: Path,
    stage: str,
    start_lr: float,
    end_lr: float,
    num_iter: int,
    device: str,
    **options: Any,
) -> None:
    """Learning-rate range test: writes lr_find.png/json to --out and prints a suggestion."""
    from reviewscore.stages import lr_find

    sweep = LrFindOptions(stage, start_lr, end_lr, num_iter)
    with _usage_errors():
        lr_find(options.pop("data"), out, sweep, device=device, echo=click.echo, **options)


@cli.command("evaluate")
@RUN_DIR
@click.argument("labelled", metavar="LABELLED_FILE")
@click.option("--batch-size", type=int, default=TrainConfig.eval_batch_size, show_default=True)
@DEVICE
def evaluate_command(run_dir: Path, labelled: str, batch_size: int, device: str) -> None:
    """Accuracy, macro-F1 and confusion matrix of RUN_DIR's model on a labelled file
    (columns as the run was trained with)."""
    from reviewscore.metrics import format_metrics
    from reviewscore.train.evaluate import evaluate_file

    metrics = evaluate_file(run_dir, labelled, batch_size=batch_size, device=device)
    click.echo(format_metrics(metrics))


# --- export commands ---


@cli.command("export")
@RUN_DIR
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Deploy folder to write: new, empty, or an earlier deploy folder (has its "
    "manifest.json), which is replaced only once the export has succeeded. Never a folder "
    "holding other files or RUN_DIR, nor the working directory, home or /.",
)
@click.option(
    "--quantize",
    type=ChoiceWithOldNames(QUANTIZE_CHOICES, OLD_QUANTIZE_NAMES),
    multiple=True,
    help="Add an int8 variant (repeatable). int8-static: QDQ, activation scales calibrated "
    "at export, batch-invariant. int8-dynamic: scales computed per batch, so NOT "
    "batch-invariant (a phrase's label can change with its batch).",
)
@click.option("--fp16", is_flag=True, help="Add an fp16 variant (for the CUDA provider).")
@click.option(
    "--edge",
    is_flag=True,
    help="Add a strings-in variant per fp32/int8 variant (edge-fp32, ...): raw texts in, "
    "logits, probabilities and label ids out, the tokenizer in the graph "
    "(onnxruntime-extensions, the [edge] extra), for runtimes that register that library. "
    "Needs a BERT WordPiece tokenizer.",
)
@click.option(
    "--optimize",
    type=click.Choice(["fusions", "basic", "none"]),
    default=_EXPORT.optimize,
    show_default=True,
    help="fp32 graph: onnxruntime transformer fusions (attention, LayerNorm, GELU), "
    "falling back to basic where the architecture has none. int8-dynamic and fp16 are "
    "built from it; int8-static from the unfused graph (the QDQ quantiser cannot see "
    "inside fused Attention), which onnxruntime fuses at load time.",
)
@click.option(
    "--default-variant",
    type=click.Choice(tuple(VARIANT_FILES)),
    default=_EXPORT.default_variant,
    show_default=True,
    help="The variant `reviewscore score` uses unless told otherwise.",
)
@click.option("--opset", default=_EXPORT.opset, show_default=True, help="ONNX opset version.")
@click.option(
    "--check/--no-check",
    default=_EXPORT.check,
    show_default=True,
    help="Run the parity gate against PyTorch (exit 3 when a check fails).",
)
@click.option(
    "--parity-data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Labelled rows for the gate (default: the run's valid.csv).",
)
@click.option(
    "--parity-rows", type=click.IntRange(min=1), default=_EXPORT.parity_rows, show_default=True
)
@click.option(
    "--calibration",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Rows to calibrate static int8 on (default: the parity data, after its parity rows).",
)
@click.option(
    "--calibration-rows",
    type=click.IntRange(min=1),
    default=_EXPORT.calibration_rows,
    show_default=True,
)
@click.option(
    "--max-logit-diff",
    type=float,
    default=_EXPORT.thresholds.max_abs_logit_diff,
    show_default=True,
    help="fp32 gate: largest allowed |ONNX - PyTorch| logit difference.",
)
@click.option(
    "--min-agreement",
    type=click.FloatRange(0, 1),
    default=_EXPORT.thresholds.min_agreement,
    show_default=True,
    help="int8/fp16 gate: least share of labels equal to PyTorch's.",
)
@click.option(
    "--max-accuracy-drop",
    type=click.FloatRange(0, 1),
    default=_EXPORT.thresholds.max_accuracy_drop,
    show_default=True,
    help="int8/fp16 gate: most accuracy lost (0.01 = 1 point).",
)
@click.option(
    "--max-labels-moved",
    type=click.FloatRange(0, 1),
    default=_EXPORT.thresholds.max_labels_moved,
    show_default=True,
    help="Batch-invariant variants: most labels allowed to move between two batchings.",
)
def export_command(run_dir: Path, out_dir: Path, **options: Any) -> None:
    """Convert the model of RUN_DIR (from `reviewscore train`) into a deploy folder.

    \b
    Variants (files side by side, listed in manifest.json):
      fp32          model.onnx               exact, batch-invariant (the default)
      int8-static   model.int8-static.onnx   QDQ, calibrated scales, batch-invariant
      int8-dynamic  model.int8-dynamic.onnx  per-batch scales: NOT batch-invariant
      fp16          model.fp16.onnx          for CUDA; not checked where CPU cannot run it
      edge-fp32     model.edge.onnx          with --edge: texts in, tokenizer in the graph
                                             (also edge-int8-*, from each int8 variant)

    Exit code 3 means a parity check failed: the folder is written, with the figures and
    `passed: false` in its manifest, but should not be deployed. The parity rows and
    PyTorch's logits are stored in the folder (parity_reference.npz), so `reviewscore
    verify` can repeat the check where the folder is deployed.
    """
    from reviewscore.stages import export

    with _usage_errors():
        manifest = export(run_dir, out_dir, echo=lambda line: click.echo(line, err=True), **options)
    click.echo(f"wrote {out_dir}: {', '.join(manifest.files)}")


# --- score commands ---


@cli.command(
    "score",
    cls=SectionedCommand,
    sections={
        "Input": ["text_column", "id_column", "label_column", "on_bad_line"],
        "Output": ["output", "fmt", "probs", "evaluate", "progress"],
        "Model": ["variant", "allow_batch_dependent", "max_length", "verify"],
        "Performance": ["provider", "threads", "batch_tokens", "chunk_rows"],
        "Cluster": ["engine", "address", "actors", "gpus_per_actor"],
    },
)
@DEPLOY_DIR
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    default=None,
    help="Output file (written to a temporary file, renamed into place on success, "
    "replacing any file there; `.gz` compresses). Default: standard output. With --engine "
    "ray: a folder (required): new, empty, or an earlier job's output (has _SUCCESS), "
    "which is replaced.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_CHOICES),
    default=None,
    help="kaggle: exactly `PhraseId,Sentiment`; the others: id, label, label name. "
    f"Default: {_LOCAL.fmt}; with --engine ray: {_RAY.output_format} (ray writes "
    f"{' or '.join(OUTPUT_FORMATS)} shards).",
)
@click.option("--probs", is_flag=True, help="Add the class probabilities (not with kaggle).")
@click.option("--text-column", default=_LOCAL.columns.text, show_default=True)
@click.option(
    "--id-column",
    default=_LOCAL.columns.id,
    show_default=True,
    help="Kept in the output; rows are numbered from 1 when a file has none.",
)
@click.option(
    "--label-column",
    default=_LOCAL.columns.label,
    show_default=True,
    help="Gold labels for --evaluate; also the label header of the output.",
)
@variant(
    "Model variant from the deploy manifest (default: its default variant), or auto: "
    "the fastest variant that passes the parity gate on this machine, batch-invariant "
    "ones only unless --allow-batch-dependent (measured with these --provider and "
    "--threads on the first run, then cached; with --engine ray, measured on the driver). "
    "int8-dynamic is NOT batch-invariant (nor any variant its manifest marks so): labels "
    "may depend on batching (--batch-tokens, neighbouring rows); the run warns."
)
@ALLOW_BATCH_DEPENDENT
@provider("auto: CUDA when onnxruntime offers it, else CPU; cuda: fail if unusable.")
@threads(f"; with --engine ray: per actor, default {ACTOR_THREADS}")
@click.option(
    "--batch-tokens",
    type=click.IntRange(min=1),
    default=_LOCAL.batch_tokens,
    show_default=True,
    help="Token budget per batch (rows x longest row, after sorting by length).",
)
@click.option(
    "--max-length",
    type=click.IntRange(min=2),
    default=None,
    help="Truncate longer texts to this many tokens (default: the model's).",
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=_LOCAL.chunk_rows,
    show_default=True,
    help="Rows read, scored and written at a time (memory stays flat); with --engine ray, "
    "the rows an actor takes at a time.",
)
@click.option(
    "--on-bad-line",
    type=click.Choice(BAD_LINE_CHOICES),
    default=None,
    help="A row with the wrong number of fields: stop, or skip it and report it. "
    f"Default: {_LOCAL.on_bad_line}; with --engine ray: {_RAY.on_bad_line} (listed in the "
    "folder's bad_rows.tsv).",
)
@click.option(
    "--evaluate",
    is_flag=True,
    help="Also report accuracy, macro-F1 and the confusion matrix (needs labels).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar (default: only when stderr is a terminal).",
)
@click.option(
    "--verify",
    "verify",
    is_flag=True,
    help="Before scoring, re-run the export's parity check of the variant on this machine "
    "(as `reviewscore verify`); exit 3 without scoring if it fails. With --variant auto, "
    "auto's measurement is that check of every variant, made now instead of read from the "
    "cache. Local engine only.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=DEFAULT_ENGINE,
    show_default=True,
    help="local: this process; ray: a pool of actors on Ray Data, writing a folder of "
    "shards (needs the [cluster] extra).",
)
@click.option(
    "--address",
    default=None,
    help="Ray only: join this cluster (auto, ray://HOST:10001); default: start Ray here.",
)
@click.option(
    "--actors",
    type=click.IntRange(min=1),
    default=None,
    help="Ray only: scoring actors, each with one model session and --threads CPUs "
    "(default: fill the cluster's CPUs, or its GPUs with --gpus-per-actor).",
)
@click.option(
    "--gpus-per-actor",
    type=click.FloatRange(min=0),
    default=_RAY.gpus_per_actor,
    help="Ray only: GPUs each actor reserves (0.5: two actors share a GPU; use with "
    "onnxruntime-gpu and --provider cuda).",
)
def score_command(**values: Any) -> None:
    """Score INPUTS (TSV/CSV files, gzip too, globs, or - for stdin) with DEPLOY_DIR.

    Rows come out in input order, one per input row. Needs only the base install.

    With --engine ray, INPUTS may also be folders and Parquet files, and -o is a folder of
    shards with _SUCCESS, summary.json and bad_rows.tsv (see docs/ray.md).
    """
    from reviewscore.score_commands import score

    with _usage_errors():
        score(values, click.echo)


@cli.command("verify")
@DEPLOY_DIR
@click.option(
    "--variant",
    "variants",
    multiple=True,
    help="Variant to check (repeatable; default: the folder's default variant).",
)
@click.option(
    "--all",
    "all_variants",
    is_flag=True,
    help="Check every variant the scorer runs (not the strings-in edge-* variants, which "
    "the export checked against the scorer).",
)
@provider("As for `score`: check the provider that will score.")
@threads()
@click.option(
    "--allow-batch-dependent",
    is_flag=True,
    help="With --all: say what --variant auto --allow-batch-dependent would pick.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout.")
def verify_command(deploy_dir: Path, variants: tuple[str, ...], **options: Any) -> None:
    """Re-run DEPLOY_DIR's parity check on this machine, with the base install only.

    The export stored its parity rows and PyTorch's logits for them (parity_reference.npz,
    hash-checked); this scores them with the local onnxruntime through the scorer's own
    batching and judges agreement, max |logit diff|, labels moved by batching and accuracy
    change against the manifest's thresholds. int8 kernels differ between CPU families
    (AVX2 vs AVX-512 VNNI / AMX), so an int8 variant's export figures hold where they were
    measured: verify where it will score. On a CPU without VNNI or AMX the scorer, and so
    this check, asks onnxruntime for exact int8 products ("exact int8 mode" on the line;
    REVIEWSCORE_EXACT_INT8=1 or 0 forces it). One line per variant (with --json, the lines
    go to stderr).

    With --all, every variant is also timed here (the scorer's batching, these --provider
    and --threads), and one table shows each verdict, its figures and its speed, then the
    variant `score --variant auto` would pick and why (that measurement is cached for it).

    Exit 0 when every variant passes, 3 when one fails, 1 for a folder without a stored
    reference (re-export it).
    """
    from reviewscore.score_commands import verify

    with _usage_errors():
        verify(deploy_dir, variants, click.echo, **options)


# --- serve command ---


@cli.command("serve")
@DEPLOY_DIR
@click.option(
    "--host",
    default=_SERVE.host,
    show_default=True,
    help="Address to listen on; 0.0.0.0 exposes the service to the network.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=_SERVE.port, show_default=True)
@variant(
    "Model variant (default: the folder's default), or auto: the fastest variant that "
    "passes the parity gate on this machine, measured with these --threads on the first "
    "start, then cached (see `score --help`)."
)
@ALLOW_BATCH_DEPENDENT
@threads()
@click.option(
    "--max-batch-tokens",
    type=click.IntRange(min=1),
    default=_SERVE.batch.max_batch_tokens,
    show_default=True,
    help="Tokens of a micro-batch (before padding); each session run also stays within it "
    "padded, as score's --batch-tokens.",
)
@click.option(
    "--max-wait-ms",
    type=click.FloatRange(min=0),
    default=_SERVE.batch.max_wait_s * 1000,
    show_default=True,
    help="Longest a request waits for others to join its micro-batch.",
)
@click.option(
    "--max-queue-rows",
    type=click.IntRange(min=1),
    default=_SERVE.batch.max_queue_rows,
    show_default=True,
    help="Texts waiting at most; beyond, requests get 503 with Retry-After.",
)
@click.option(
    "--max-request-texts",
    type=click.IntRange(min=1),
    default=_SERVE.max_request_texts,
    show_default=True,
    help="Texts per request at most (413 beyond); at most --max-queue-rows.",
)
@click.option(
    "--max-text-chars",
    type=click.IntRange(min=1),
    default=_SERVE.max_text_chars,
    show_default=True,
    help="Characters per text at most (413 beyond).",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1),
    default=_SERVE.max_body_bytes,
    show_default=True,
    help="Request body size at most (413 beyond).",
)
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=_SERVE.api_key_file,
    help="Require 'Authorization: Bearer <key>' with the key in this file (not on /healthz, "
    "/readyz).",
)
@click.option(
    "--batching/--no-batching",
    default=_SERVE.batch.batching,
    show_default=True,
    help="--no-batching: one session run per request (the baseline for comparisons).",
)
@click.option(
    "--timeout-header",
    type=click.FloatRange(min=0, min_open=True),
    default=_SERVE.connections.header_timeout_s,
    show_default=True,
    help="Seconds for a request's line and headers to arrive, from the connection's start "
    "or the request's first byte (408 beyond; a connection that sent nothing is closed).",
)
@click.option(
    "--timeout-body",
    type=click.FloatRange(min=0, min_open=True),
    default=_SERVE.connections.body_timeout_s,
    show_default=True,
    help="Seconds for a request's body to arrive once its headers have (408 beyond).",
)
@click.option(
    "--timeout-keep-alive",
    type=click.FloatRange(min=0, min_open=True),
    default=_SERVE.connections.keep_alive_s,
    show_default=True,
    help="Seconds an idle keep-alive connection stays open. Behind a load balancer, set "
    "it above the balancer's own idle timeout.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=_SERVE.connections.max_connections,
    show_default=True,
    help="Open connections at most; one more is closed as soon as it is accepted.",
)
@click.option(
    "--serve-unverified",
    is_flag=True,
    help="Score even when the model fails its parity re-check on this CPU (logged as an "
    "ERROR, shown by /readyz). Without it, such a server answers /v1/score with 503.",
)
def serve_command(deploy_dir: Path, **flags: Any) -> None:
    """Serve DEPLOY_DIR over HTTP: POST /v1/score, GET /v1/model, /healthz, /readyz, /metrics.

    Requests wait in a bounded queue; one worker scores what has arrived as one micro-batch
    (up to --max-batch-tokens, or once the oldest has waited --max-wait-ms), through the same
    path as `reviewscore score`. SIGTERM or Ctrl-C: stop accepting, answer every request
    already received (with Connection: close), give idle keep-alive connections a moment
    to deliver one in flight, exit 0. Needs the [serve] extra.
    """
    from reviewscore.serve.server import serve

    serve(deploy_dir, ServeOptions.from_command(**flags))


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so temporary outputs are removed, never left behind."""
    sys.exit(128 + signum)


def main() -> None:
    """Entry point: user-facing errors become one line on stderr and a non-zero exit."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ReviewscoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
