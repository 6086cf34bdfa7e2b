"""Every exception class logjet defines derives from `LogjetError`, so one `except` catches them all."""

from __future__ import annotations

import importlib
import pkgutil

import bench
import engine
import native_kernels
from engine.errors import LogjetError


def _import_everything() -> None:
    for package in (engine, native_kernels, bench):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)


def _subclasses(cls: type[BaseException]) -> list[type[BaseException]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_exception_class_of_logjet_derives_from_logjet_error() -> None:
    _import_everything()
    ours = {
        cls
        for cls in _subclasses(BaseException)
        if cls.__module__.split(".")[0] in ("engine", "native_kernels", "bench") and cls is not LogjetError
    }
    names = {cls.__qualname__ for cls in ours}
    assert {"ConfigError", "RulesError", "PartDamaged", "PatternError", "UnitError"} <= names  # the walk found them
    assert sorted(f"{c.__module__}.{c.__qualname__}" for c in ours if not issubclass(c, LogjetError)) == []


def test_errors_callers_catch_as_value_errors_still_are() -> None:
    from engine.alert.silences import SilenceError
    from engine.units import UnitError
    from native_kernels.patterns import PatternError

    assert all(issubclass(cls, ValueError) for cls in (SilenceError, UnitError, PatternError))
