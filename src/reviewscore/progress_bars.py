"""transformers' own progress bars ("Loading weights", "Writing model shards", the hub's
downloads) are on by default, wherever stderr goes; ours show only on a terminal (tqdm's
`disable=None`). The model loaders call `transformers_bars_on_terminal_only` first, so a log
or a pipe gets none of them.

Imports transformers, so the scorer must never import this module.
"""

from __future__ import annotations

import sys


def transformers_bars_on_terminal_only() -> None:
    """Switch transformers' (and so the hub's) bars off unless stderr is a terminal; on a
    terminal they stay as the user's settings have them."""
    if sys.stderr.isatty():
        return
    from transformers.utils import logging

    logging.disable_progress_bar()
