"""The `reviewscore` command line: parses options and calls the stages, nothing more."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reviewscore import __version__
from reviewscore.errors import ReviewscoreError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reviewscore")
def cli() -> None:
    """Fine-tune a transformer for 5-class review sentiment, export it to ONNX, score files.

    \b
    reviewscore train   --data train.tsv.gz --out runs/NAME    (needs the [train] extra)
    reviewscore export  runs/NAME --out deploy/NAME            (needs the [train] extra)
    reviewscore score   deploy/NAME reviews.tsv -o scored.csv  (base install)
    """


# --- train commands ---


# --- export commands ---


@cli.command("export")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Deploy folder to write (replaced only once the export has succeeded).",
)
@click.option("--opset", default=17, show_default=True, help="ONNX opset version.")
def export_command(run_dir: Path, out_dir: Path, opset: int) -> None:
    """Convert the model of RUN_DIR (from `reviewscore train`) into a deploy folder."""
    from reviewscore.export.deploy import export_run

    manifest = export_run(run_dir, out_dir, opset=opset)
    click.echo(f"wrote {out_dir} ({', '.join(manifest['files'])})")


# --- score commands ---


def main() -> None:
    """Entry point: user-facing errors become one line on stderr and a non-zero exit."""
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
