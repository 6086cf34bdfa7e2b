"""API tokens: their text form, the salted scrypt hash kept in the auth file, and the file itself.

A token is `<name>.<secret>`: the name says which entry of the auth file to check (so one scrypt
run per new token, not one per entry), the secret is 32 random bytes, URL-safe base64. The file
keeps only a hash of the secret:

    [[token]]
    name = "promtail"
    hash = "scrypt$16384$8$1$<salt, base64>$<key, base64>"
    roles = ["ingest"]

The hash is hashlib's scrypt (n=2**14, r=8, p=1, 16-byte salt, 32-byte key), compared in constant
time. The parameters are part of the hash text, so a file written with stronger ones still reads.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
import tomllib
from dataclasses import dataclass

from engine.errors import LogjetError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
SECRET_BYTES = 32
# scrypt's memory is 128 * n * r bytes; these bounds keep a hostile file from asking for gigabytes.
MAX_SCRYPT_N = 1 << 20
MAX_SCRYPT_R = 32
MAX_SCRYPT_P = 16
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class Role(enum.Enum):
    """What a token may do. `admin` implies the other two."""

    INGEST = "ingest"
    QUERY = "query"
    ADMIN = "admin"


class AuthFileError(LogjetError):
    """The auth file (or `[auth]` tokens) cannot be used; the message names the entry and why."""


@dataclass(frozen=True)
class TokenEntry:
    """One token of the auth file: who it is, the hash of its secret, what it may do."""

    name: str
    hash: str
    roles: frozenset[Role]

    def allows(self, role: Role) -> bool:
        return role in self.roles or Role.ADMIN in self.roles


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    """The hash text stored for `secret` (a fresh random salt unless one is given)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    key = hashlib.scrypt(
        secret.encode(),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=KEY_BYTES,
        maxmem=_maxmem(SCRYPT_N, SCRYPT_R),
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def _maxmem(n: int, r: int) -> int:
    return 128 * n * r + (1 << 20)


def _parse_hash(text: str) -> tuple[int, int, int, bytes, bytes]:
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not a scrypt$n$r$p$salt$key hash")
    n, r, p = (int(x) for x in parts[1:4])
    if not (2 <= n <= MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= MAX_SCRYPT_R and 1 <= p <= MAX_SCRYPT_P):
        raise ValueError(f"scrypt parameters n={n} r={r} p={p} are out of bounds")
    salt, key = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    if not salt or not key:
        raise ValueError("empty salt or key")
    return n, r, p, salt, key


def check_hash(text: str) -> None:
    """Raise ValueError when `text` is not a usable hash."""
    _parse_hash(text)


def verify_secret(secret: str, hash_text: str) -> bool:
    """Whether `secret` hashes to `hash_text` (constant-time comparison of the keys)."""
    try:
        n, r, p, salt, key = _parse_hash(hash_text)
    except ValueError:
        return False
    got = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=len(key), maxmem=_maxmem(n, r))
    return hmac.compare_digest(got, key)


def split_token(token: str) -> tuple[str, str] | None:
    """(name, secret) of a token's text, or None when it is not `<name>.<secret>`."""
    name, dot, secret = token.partition(".")
    if not dot or not secret or not NAME_RE.fullmatch(name):
        return None
    return name, secret


def new_token(name: str, roles: list[str]) -> tuple[str, str]:
    """A fresh token for `name`: (the token text, to hand out once; the auth file entry, TOML)."""
    if not NAME_RE.fullmatch(name):
        raise AuthFileError(f"token name {name!r}: use 1-64 letters, digits, '-' or '_'")
    parsed = _roles(roles, name)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    token = f"{name}.{secret}"
    listed = ", ".join(f'"{r.value}"' for r in sorted(parsed, key=lambda r: r.value))
    entry = f'[[token]]\nname = "{name}"\nhash = "{hash_secret(secret)}"\nroles = [{listed}]\n'
    return token, entry


def _roles(values: object, name: str) -> frozenset[Role]:
    if not isinstance(values, list) or not values:
        raise AuthFileError(f"token {name!r}: roles must be a non-empty list of ingest, query, admin")
    out = set()
    for value in values:
        try:
            out.add(Role(value))
        except ValueError:
            raise AuthFileError(f"token {name!r}: unknown role {value!r} (ingest, query, admin)") from None
    return frozenset(out)


def parse_entries(items: object, where: str) -> list[TokenEntry]:
    """Token entries from a list of tables (`[[token]]` of an auth file, `[[auth.tokens]]`)."""
    if not isinstance(items, list):
        raise AuthFileError(f"{where}: tokens must be a list of tables")
    entries: dict[str, TokenEntry] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise AuthFileError(f"{where}: token #{i + 1} is not a table")
        unknown = set(item) - {"name", "hash", "roles"}
        if unknown:
            raise AuthFileError(f"{where}: token #{i + 1}: unknown keys {sorted(unknown)}")
        name = item.get("name")
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise AuthFileError(f"{where}: token #{i + 1}: name must be 1-64 letters, digits, '-' or '_'")
        if name in entries:
            raise AuthFileError(f"{where}: token {name!r} is listed twice")
        hash_text = item.get("hash")
        if not isinstance(hash_text, str):
            raise AuthFileError(f"{where}: token {name!r}: hash missing (the secret itself is never stored)")
        try:
            check_hash(hash_text)
        except ValueError as exc:
            raise AuthFileError(f"{where}: token {name!r}: bad hash: {exc}") from None
        entries[name] = TokenEntry(name, hash_text, _roles(item.get("roles"), name))
    return list(entries.values())


def load_auth_file(path: str) -> list[TokenEntry]:
    """The tokens of an auth file (TOML with `[[token]]` tables); AuthFileError naming the problem."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise AuthFileError(f"auth file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AuthFileError(f"auth file {path}: {exc}") from None
    unknown = set(doc) - {"token"}
    if unknown:
        raise AuthFileError(f"auth file {path}: unknown keys {sorted(unknown)} (only [[token]] tables)")
    return parse_entries(doc.get("token", []), f"auth file {path}")


def load_tokens(file: str, inline: list[dict[str, object]]) -> list[TokenEntry]:
    """Every configured token: `[[auth.tokens]]` of the config, then those of the auth file (a
    name in both is refused: which one wins would be a guess)."""
    entries = parse_entries(inline, "auth.tokens")
    if file:
        names = {e.name for e in entries}
        for entry in load_auth_file(file):
            if entry.name in names:
                raise AuthFileError(f"token {entry.name!r} is in both auth.tokens and {file}")
            entries.append(entry)
    return entries
