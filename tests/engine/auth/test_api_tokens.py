"""Tokens: hashing, the auth file, and the access decision for every kind of request."""

from __future__ import annotations

import asyncio
import base64
import tomllib

import pytest

from engine.auth.policy import Anonymous, Authenticator, is_loopback, required_role, token_of
from engine.auth.tokens import (
    AuthFileError,
    Role,
    hash_secret,
    load_auth_file,
    new_token,
    parse_entries,
    verify_secret,
)


def test_hash_verifies_only_its_secret():
    h = hash_secret("s3cret")
    assert h.startswith("scrypt$16384$8$1$")
    assert "s3cret" not in h
    assert verify_secret("s3cret", h)
    assert not verify_secret("s3cret!", h)
    assert not verify_secret("s3cret", "plain-text")
    assert hash_secret("s3cret") != h  # salted


def test_new_token_prints_an_entry_that_loads(tmp_path):
    token, entry = new_token("promtail", ["ingest", "query"])
    name, _, secret = token.partition(".")
    assert name == "promtail" and len(secret) >= 40
    assert secret not in entry
    path = tmp_path / "auth.toml"
    path.write_text(entry)
    (loaded,) = load_auth_file(str(path))
    assert loaded.name == "promtail" and loaded.roles == {Role.INGEST, Role.QUERY}
    assert verify_secret(secret, loaded.hash)


@pytest.mark.parametrize(
    "doc, message",
    [
        ('[[token]]\nname = "a"\nroles = ["query"]\n', "hash missing"),
        ('[[token]]\nname = "a"\nhash = "x"\nroles = ["query"]\n', "bad hash"),
        ('[[token]]\nname = "a b"\nhash = "x"\nroles = ["query"]\n', "name must be"),
        ('[[token]]\nname = "a"\nhash = "H"\nroles = ["root"]\n', "unknown role 'root'"),
        ('[[token]]\nname = "a"\nhash = "H"\nroles = []\n', "non-empty list"),
        ('[[token]]\nname = "a"\nhash = "H"\nroles = ["query"]\nsecret = "x"\n', "unknown keys"),
        (
            '[[token]]\nname = "a"\nhash = "H"\nroles = ["query"]\n' * 2,
            "listed twice",
        ),
        ("tokens = 1\n", "unknown keys"),
        ("[[token]\n", "auth file"),
        ('[[token]]\nname = "a"\nhash = "scrypt$3$8$1$AAAA$AAAA"\nroles = ["query"]\n', "out of bounds"),
        ('[[token]]\nname = "a"\nhash = "scrypt$1073741824$8$1$AAAA$AAAA"\nroles = ["query"]\n', "out of bounds"),
    ],
)
def test_bad_auth_files_are_refused_naming_the_problem(tmp_path, doc, message):
    good_hash = hash_secret("x")
    path = tmp_path / "auth.toml"
    path.write_text(doc.replace('"H"', f'"{good_hash}"'))
    with pytest.raises(AuthFileError, match=message):
        load_auth_file(str(path))


def test_missing_auth_file_names_the_path(tmp_path):
    with pytest.raises(AuthFileError, match="nope.toml"):
        load_auth_file(str(tmp_path / "nope.toml"))


def test_token_of_reads_bearer_and_basic():
    assert token_of(None) is None
    assert token_of("Bearer abc.def") == "abc.def"
    assert token_of("bearer   abc.def ") == "abc.def"
    basic = base64.b64encode(b"grafana:abc.def").decode()
    assert token_of(f"Basic {basic}") == "abc.def"
    user_only = base64.b64encode(b"abc.def:").decode()
    assert token_of(f"Basic {user_only}") == "abc.def"
    assert token_of("Basic !!!") == ""
    assert token_of("Digest x") == ""


@pytest.mark.parametrize(
    "address, loopback",
    [
        ("127.0.0.1", True),
        ("127.9.8.7", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("2001:db8::1", False),
        (None, False),
        ("garbage", False),
    ],
)
def test_loopback(address, loopback):
    assert is_loopback(address) is loopback


def test_routes_need_their_roles_and_unknown_routes_need_admin():
    assert required_role("GET", "/healthz", False) is None
    assert required_role("HEAD", "/readyz", False) is None
    assert required_role("GET", "/metrics", False) is None
    assert required_role("GET", "/metrics", True) is Role.QUERY
    assert required_role("POST", "/api/v1/ingest", False) is Role.INGEST
    assert required_role("GET", "/api/v1/query", False) is Role.QUERY
    assert required_role("GET", "/api/v1/silences", False) is Role.QUERY
    assert required_role("POST", "/api/v1/silences", False) is Role.ADMIN
    assert required_role("DELETE", "/api/v1/silences/{id}", False) is Role.ADMIN
    assert required_role("GET", "/api/v1/something-new", False) is Role.ADMIN
    assert required_role("GET", "", False) is Role.ADMIN


def _authenticator(anonymous: Anonymous) -> tuple[Authenticator, dict[str, str]]:
    tokens, entries = {}, []
    for name, roles in (("shipper", ["ingest"]), ("reader", ["query"]), ("root", ["admin"])):
        token, entry = new_token(name, roles)
        tokens[name] = token
        entries += parse_entries(tomllib.loads(entry)["token"], "test")
    return Authenticator(entries, anonymous), tokens


def _decide(auth, method, path, peer, token=None):
    header = f"Bearer {token}" if token is not None else None
    return asyncio.run(auth.decide(method, path, peer, header))


def test_decisions_by_role_and_origin():
    auth, t = _authenticator(Anonymous.LOOPBACK)
    remote, local = "192.0.2.7", "127.0.0.1"
    assert _decide(auth, "GET", "/healthz", remote).status == 0
    assert _decide(auth, "GET", "/api/v1/query", local).who == "anonymous"
    assert _decide(auth, "GET", "/api/v1/query", remote).status == 401
    assert _decide(auth, "GET", "/api/v1/query", remote, t["reader"]).status == 0
    assert _decide(auth, "GET", "/api/v1/query", remote, t["shipper"]).status == 403
    assert _decide(auth, "POST", "/api/v1/ingest", remote, t["shipper"]).who == "shipper"
    assert _decide(auth, "POST", "/api/v1/silences", remote, t["reader"]).status == 403
    assert _decide(auth, "POST", "/api/v1/silences", remote, t["root"]).status == 0
    assert _decide(auth, "POST", "/api/v1/ingest", remote, t["root"]).status == 0  # admin implies all
    # Credentials sent from loopback are still checked.
    assert _decide(auth, "GET", "/api/v1/query", local, "reader.wrong").status == 401
    assert _decide(auth, "GET", "/api/v1/query", remote, "nodot").status == 401
    assert _decide(auth, "GET", "/api/v1/query", remote, "ghost.secret").status == 401


def test_anonymous_modes():
    none_auth, _ = _authenticator(Anonymous.NONE)
    assert _decide(none_auth, "GET", "/api/v1/query", "127.0.0.1").status == 401
    any_auth, _ = _authenticator(Anonymous.ANY)
    assert _decide(any_auth, "DELETE", "/api/v1/silences/{id}", "192.0.2.7").status == 0


def test_replacing_tokens_forgets_verified_ones():
    auth, t = _authenticator(Anonymous.NONE)
    assert _decide(auth, "GET", "/api/v1/query", "192.0.2.7", t["reader"]).status == 0
    auth.replace_tokens([])
    assert _decide(auth, "GET", "/api/v1/query", "192.0.2.7", t["reader"]).status == 401
