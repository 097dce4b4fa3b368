"""JSON objects as frozen dataclasses, every field checked on the way in.

The run folder's run.json and the deploy folder's manifest.json are the contracts between
stages; they are read here, so a hand-edited or damaged file is refused with the file and
the field it got wrong, in one line, not with a KeyError or a ValueError deep inside a
command. A field is declared with `json_key(...)` (what it must be, how to test it, and how
to convert a nested record); keys a newer version wrote are kept in `extra` and written
back, so an older reader neither crashes on them nor drops them.

Kept free of torch and transformers: the scorer imports it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from reviewscore.errors import FolderError

_SPEC = "reviewscore.json_records"
R = TypeVar("R", bound="Record")


@dataclass(frozen=True)
class _Spec:
    expected: str  # for the error: "'max_length' must be a positive integer, not ..."
    valid: Callable[[Any], bool]
    load: Callable[[Any, Path, str], Any] | None  # (value, file, field name) -> typed value
    dump: Callable[[Any], Any] | None  # typed value -> JSON value
    null: bool  # written as null when None (else a None field is left out)


def json_key(
    expected: str,
    valid: Callable[[Any], bool],
    *,
    load: Callable[[Any, Path, str], Any] | None = None,
    dump: Callable[[Any], Any] | None = None,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | None = None,
    null: bool = False,
) -> Any:
    """A record field read from the JSON key of the same name. Without a default the key is
    required; with `default=None` it may be missing (and is left out when None), or with
    `null=True` be JSON null (and is written as null)."""
    metadata = {_SPEC: _Spec(expected, valid, load, dump, null)}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=None if null else default, metadata=metadata)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Record:
    """Base of a record: `from_dict` checks each `json_key` field, `to_dict` gives the JSON
    back, in field order, with the keys it did not know at the end."""

    # What a user should do about a refused file (the end of the error line).
    repair: ClassVar[str] = "re-create it with the reviewscore command that wrote it"
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True, repr=False)

    @classmethod
    def from_dict(cls: type[R], data: Any, where: Path, prefix: str = "") -> R:
        """The record in `data`, read from file `where`; `prefix` names where a nested
        record sits in that file (`variants.fp32.`), for the error messages."""
        if not isinstance(data, dict):
            what = repr(prefix.rstrip(".")) if prefix else "its content"
            raise FolderError(
                f"{where}: {what} must be a JSON object, not {_shown(data)}; {cls.repair}"
            )
        values: dict[str, Any] = {}
        known = set()
        for item in fields(cls):
            spec = item.metadata.get(_SPEC)
            if spec is None:
                continue
            known.add(item.name)
            name = prefix + item.name
            if item.name not in data:
                if item.default is MISSING and item.default_factory is MISSING:
                    raise FolderError(f"{where}: no {name!r}; {cls.repair}")
                continue
            value = data[item.name]
            if value is None and spec.null:
                values[item.name] = None
                continue
            if not spec.valid(value):
                raise FolderError(
                    f"{where}: {name!r} must be {spec.expected}, not {_shown(value)}; {cls.repair}"
                )
            values[item.name] = spec.load(value, where, name) if spec.load else value
        extra = {key: value for key, value in data.items() if key not in known}
        return cls(**values, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for item in fields(self):
            spec = item.metadata.get(_SPEC)
            if spec is None:
                continue
            value = getattr(self, item.name)
            if value is None:
                if spec.null:
                    out[item.name] = None
                continue
            out[item.name] = spec.dump(value) if spec.dump else copy.deepcopy(value)
        return out | copy.deepcopy(self.extra)


# Predicates and converters the records share.


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_count(value: Any) -> bool:
    return is_int(value) and value >= 0


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_str(value: Any) -> bool:
    return isinstance(value, str)


def is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def is_object(value: Any) -> bool:
    return isinstance(value, dict)


def is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def as_tuple(value: list[Any], where: Path, name: str) -> tuple[Any, ...]:
    return tuple(value)


def record_of(record: type[Record]) -> Callable[[Any, Path, str], Any]:
    """Load a JSON object nested in a record as a `record`."""

    def load(value: dict[str, Any], where: Path, name: str) -> Any:
        return record.from_dict(value, where, f"{name}.")

    return load


def records_of(record: type[Record]) -> Callable[[Any, Path, str], tuple[Any, ...]]:
    """Load a JSON list of `record` objects as a tuple."""

    def load(value: list[Any], where: Path, name: str) -> tuple[Any, ...]:
        return tuple(record.from_dict(item, where, f"{name}.{i}.") for i, item in enumerate(value))

    return load


def record_map(record: type[Record]) -> Callable[[Any, Path, str], dict[str, Any]]:
    """Load a JSON object of name -> `record` object as a dict of records."""

    def load(value: dict[str, Any], where: Path, name: str) -> dict[str, Any]:
        return {key: record.from_dict(item, where, f"{name}.{key}.") for key, item in value.items()}

    return load


def dump_record(value: Record) -> dict[str, Any]:
    return value.to_dict()


def dump_records(value: tuple[Record, ...]) -> list[dict[str, Any]]:
    return [item.to_dict() for item in value]


def dump_record_map(value: dict[str, Record]) -> dict[str, dict[str, Any]]:
    return {key: item.to_dict() for key, item in value.items()}
