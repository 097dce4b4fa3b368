"""Write the tokenizer as one `tokenizer.json` that the `tokenizers` library loads alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reviewscore.errors import FolderError
from reviewscore.padding import Padding


def write_tokenizer_json(tokenizer: Any, path: Path) -> Padding:
    """Save the fast tokenizer without padding/truncation (the scorer sets both itself) and
    return how the scorer must pad to pad exactly as the model was trained."""
    from tokenizers import Tokenizer

    if not getattr(tokenizer, "is_fast", False):
        raise FolderError(
            f"the run's tokenizer ({type(tokenizer).__name__}) has no fast version; the scorer "
            "needs a tokenizer.json (convert it with transformers' convert_slow_tokenizer)"
        )
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_padding()
    backend.no_truncation()
    backend.save(str(path))
    return Padding(
        pad_token_id=int(tokenizer.pad_token_id),
        pad_token_type_id=int(getattr(tokenizer, "pad_token_type_id", 0)),
        side=tokenizer.padding_side,
    )
