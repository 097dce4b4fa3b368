"""Writes that never leave a half-written file or folder where a complete one is expected,
and never replace a folder the user did not give away.

Files and folders are created with the modes any Unix tool would give them under the
current umask (0644 / 0755 under 022): a deploy folder exported in CI must be readable by
the service account that scores on another machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from reviewscore.errors import FolderError

STAGING_MARK = "reviewscore-staging"


def current_umask() -> int:
    """The process umask. It can only be read by setting it, so it is set to 077 for that
    instant: a file another thread creates meanwhile comes out private, never public."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def follow_umask(folder: Path) -> None:
    """Give the files directly in `folder` a new file's mode under the umask: a library
    that writes through a private temporary file (transformers' save_pretrained writes
    model.safetensors 0600) would otherwise leave a run unreadable to the service account
    that exports or scores it."""
    mode = 0o666 & ~current_umask()
    for entry in folder.iterdir():
        if entry.is_file() and not entry.is_symlink():
            entry.chmod(mode)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds.

    Same directory, so the final rename is atomic on POSIX: a reader (or a killed run) sees
    either the old file or the complete new one, never a truncated one. The file gets the
    mode a new file gets (mkstemp's is 0600), also when it replaces an existing one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a file for writing that appears at `path` only once closed without error."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write pretty JSON atomically (run and deploy folders are read by other tools)."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=2, sort_keys=False)
        handle.write("\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file that reviewscore wrote; a damaged one (cut short by a full disk,
    hand-edited) is a FolderError naming the file and the place, not a parser traceback."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    except UnicodeDecodeError:
        where = "not UTF-8 text"
    raise FolderError(
        f"{path}: damaged JSON ({where}); re-create it with the reviewscore command that wrote it"
    )


def check_replaceable(
    target: str | os.PathLike[str],
    kind: str,
    is_own: Callable[[Path], bool],
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Refuse (FolderError) to replace anything but a new or empty folder or a `kind`
    folder (`is_own`), and never `/`, home, the working directory, a folder holding one of
    them or an input, or a folder inside an input. Returns the resolved target."""
    given = Path(target)
    path = given.resolve()

    def refuse(why: str) -> FolderError:
        return FolderError(f"refusing to replace {given}: {why}")

    if path.parent == path:
        raise refuse("it is the root folder")
    for name, place in (("the working directory", Path.cwd()), ("your home folder", _home())):
        if place is not None and place.resolve().is_relative_to(path):
            raise refuse(f"it is or holds {name}")
    for source in inputs:
        source_path = Path(source).resolve()
        if source_path.is_relative_to(path):
            raise refuse(f"it is or holds the input {source}")
        if path.is_relative_to(source_path):
            raise refuse(f"it lies inside the input {source}")
    if path.exists():
        if not path.is_dir():
            raise refuse(f"it is a file, not a {kind}")
        if any(path.iterdir()) and not is_own(path):
            raise refuse(f"it is not empty and not a {kind}; choose a new or empty folder")
    return path


@contextlib.contextmanager
def replace_folder(
    target: str | os.PathLike[str],
    kind: str,
    is_own: Callable[[Path], bool],
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[Path]:
    """Yield a new folder to build; when the block succeeds it replaces `target`.

    `target` is checked first (`check_replaceable`), so a refused one is never touched.
    The folder is built inside a hidden staging sibling (same filesystem: the swap is two
    renames), which is deleted if the block fails; staging folders that a killed process
    left beside `target` are deleted on the way.
    """
    path = check_replaceable(target, kind, is_own, inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(path)
    staging = _staging_dir(path)
    try:
        build = staging / "new"
        build.mkdir()  # mode from the umask (the staging folder itself is 0700)
        yield build
        move_into_place(build, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def move_into_place(new: Path, target: Path) -> None:
    """Replace folder `target` (if any) by folder `new` on the same filesystem.

    The old folder is renamed into a hidden staging sibling, `new` renamed in, then the old
    one deleted: a crash leaves either folder whole, never a mix, and a killed process's
    leftover is cleaned by the next call.
    """
    clean_stale_staging(target)
    if not target.exists():
        os.rename(new, target)
        return
    aside = _staging_dir(target)
    try:
        os.rename(target, aside / "old")
        os.rename(new, target)
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def _staging_prefix(target: Path) -> str:
    return f".{target.name}.{STAGING_MARK}."


def _staging_dir(target: Path) -> Path:
    """A new hidden sibling of `target`, named after its owner (host and process id) so
    that a later run can tell a dead process's leftover from a live one's work."""
    owner = f"{socket.gethostname()}.{os.getpid()}."
    return Path(tempfile.mkdtemp(prefix=_staging_prefix(target) + owner, dir=target.parent))


def clean_stale_staging(target: Path) -> None:
    """Delete the staging siblings of `target` whose process, on this host, has ended;
    those of live processes (a concurrent export) and of other hosts are left alone."""
    prefix = _staging_prefix(target)
    host = socket.gethostname()
    for entry in target.parent.iterdir():
        if not entry.name.startswith(prefix):
            continue
        owner = entry.name[len(prefix) :].rpartition(".")[0]  # HOST.PID, then mkdtemp's
        owner_host, _, pid = owner.rpartition(".")
        if owner_host == host and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another account's process
        pass
    return True


def _home() -> Path | None:
    try:
        return Path.home()
    except (RuntimeError, KeyError):  # no HOME and no passwd entry
        return None
