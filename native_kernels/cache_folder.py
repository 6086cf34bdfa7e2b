"""Where numba's compiled kernels are kept: the first writable of a few folders, each keyed by
a hash of the kernel sources, so kernels compile once per install and survive restarts.

Candidates, in order (`candidates`):

1. `$LOGJET_KERNEL_CACHE/<key>`: the operator's choice (the systemd unit points it at its
   `CacheDirectory=`);
2. `$XDG_CACHE_HOME/logjet/numba/<key>`, or `~/.cache/logjet/numba/<key>`: the user's cache,
   writable for any user and kept across reinstalls of the package;
3. `<package>/__pycache__/numba-<key>`: beside the sources (a checkout, an editable install);
4. none: numba's own default (which caches nothing for a read-only install).

`<key>` hashes numba's version and every source file of the package: numba checks only the
file of the function it compiled, yet kernels call kernels in other modules, so an edit
anywhere must start a fresh folder (this module aside: it holds no kernel). Folders of other
keys are pruned (`prune`) once no install has used them for `PRUNE_AFTER_S`: installs of
different versions may share one cache root (several virtualenvs, checkouts), and removing each
other's kernels on every start would make every start a first one. This module decides names
only; `jit` applies the choice.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import pathlib
import re
import shutil
import time
from collections.abc import Mapping

ENV_FOLDER = "LOGJET_KERNEL_CACHE"
USER_SUBFOLDER = ("logjet", "numba")  # under $XDG_CACHE_HOME or ~/.cache
PACKAGE_PREFIX = "numba-"  # in the package's __pycache__
KEY_CHARS = 16
SELF = pathlib.Path(__file__).name
PRUNE_AFTER_S = 86400.0

_KEY_NAME = re.compile(r"^(?:numba-)?[0-9a-f]{%d}$" % KEY_CHARS)


PACKAGE = pathlib.Path(__file__).resolve().parent


def numba_version() -> str:
    """The installed numba's version, read without importing numba (the supervisor asks too)."""
    try:
        return importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def sources_key(package: pathlib.Path, numba_version: str) -> str:
    """A hash of numba's version and every source file of `package`."""
    digest = hashlib.sha256(numba_version.encode())
    for path in sorted(package.glob("*.py")):
        if path.name == SELF:
            continue  # names folders, holds no kernel: editing it must not throw kernels away
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:KEY_CHARS]


def candidates(env: Mapping[str, str], package: pathlib.Path, key: str) -> list[pathlib.Path]:
    """The folders to try, best first (see the module docstring)."""
    found = []
    chosen = env.get(ENV_FOLDER, "")
    if chosen:
        found.append(pathlib.Path(chosen) / key)
    xdg = env.get("XDG_CACHE_HOME", "")
    home = env.get("HOME", "")
    # XDG: a relative XDG_CACHE_HOME is invalid and to be ignored.
    if xdg and os.path.isabs(xdg):
        found.append(pathlib.Path(xdg, *USER_SUBFOLDER, key))
    elif home and os.path.isabs(home):
        found.append(pathlib.Path(home, ".cache", *USER_SUBFOLDER, key))
    found.append(package / "__pycache__" / (PACKAGE_PREFIX + key))
    return found


def usable(folder: pathlib.Path) -> bool:
    """Make `folder` if needed; whether this process can write in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def choose(env: Mapping[str, str], package: pathlib.Path, key: str) -> pathlib.Path | None:
    """The first usable candidate, marked as used now; None when none is (numba's default)."""
    for folder in candidates(env, package, key):
        if usable(folder):
            try:
                os.utime(folder)  # its last use, for `prune` run by other installs
            except OSError:
                pass
            return folder
    return None


def prune(folder: pathlib.Path, now: float | None = None, after_s: float = PRUNE_AFTER_S) -> list[pathlib.Path]:
    """Remove the sibling folders of `folder` named like a key that nobody used for `after_s`
    (by their modification time, which `choose` sets). Returns the folders removed."""
    now = time.time() if now is None else now
    removed: list[pathlib.Path] = []
    try:
        siblings = list(folder.parent.iterdir())
    except OSError:
        return removed
    for other in siblings:
        if other.name == folder.name or not _KEY_NAME.match(other.name) or not other.is_dir():
            continue
        try:
            idle = now - other.stat().st_mtime
        except OSError:
            continue
        if idle > after_s:
            shutil.rmtree(other, ignore_errors=True)
            removed.append(other)
    return removed


def configured(env: Mapping[str, str]) -> pathlib.Path | None:
    """This install's kernel cache folder (`choose` for this package), or None when numba keeps
    its own: NUMBA_CACHE_DIR set (the operator's folder, theirs to manage) or nothing writable."""
    if env.get("NUMBA_CACHE_DIR"):
        return None
    return choose(env, PACKAGE, sources_key(PACKAGE, numba_version()))
