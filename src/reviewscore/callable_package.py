"""Let a stage's package be called as its Python API function: `reviewscore.train(...)`,
`reviewscore.export(...)`, `reviewscore.distill(...)`.

The names are taken by the packages `reviewscore.train`, `reviewscore.export` and
`reviewscore.distill`, and Python binds a package's submodule onto it as it is imported,
so a plain function of that name would be replaced by the package (or, kept by force,
would break `import reviewscore.train.loop`). Instead the package module itself becomes
callable (the module-class swap of the Python docs, "Customizing module attribute
access"): calling it runs the function, and its submodules stay where they are. The
function's module is imported on the first call, so the package stays cheap to import.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from typing import Any


class CallablePackage(types.ModuleType):
    """A package whose call is the function named by its `__call_target__`
    ("module:function")."""

    def _target(self) -> Any:
        module, _, name = self.__dict__["__call_target__"].partition(":")
        return getattr(importlib.import_module(module), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._target()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        """The function's, for `inspect.signature` and `help`."""
        return inspect.signature(self._target())


def make_callable(package: str, target: str) -> None:
    """Make the (imported) package `package` callable as `target`, "module:function"."""
    module = sys.modules[package]
    module.__call_target__ = target  # type: ignore[attr-defined]
    module.__class__ = CallablePackage
