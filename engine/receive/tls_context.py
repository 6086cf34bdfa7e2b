"""The server SSLContext of the syslog TLS listener, built from the `[tls]` PEM files, with
errors that name the file and the reason. Imports only `ssl`: the supervisor and
`--check-config` use it to refuse bad files before any worker starts."""

from __future__ import annotations

import re
import ssl

from engine.config import Tls
from engine.errors import LogjetError

_CERT_MARK = "-----BEGIN CERTIFICATE-----"
_KEY_MARK = "PRIVATE KEY-----"
_CERT_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\s*", re.S)


class TlsConfigError(LogjetError):
    """A `[tls]` file cannot be used; the message names the key, the file and the reason."""


def _read(key: str, path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("ascii", "replace")
    except OSError as exc:
        raise TlsConfigError(f"tls.{key} {path}: cannot read it: {exc.strerror or exc}") from None


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key's passphrase.
    raise TlsConfigError("encrypted")


def _why(exc: ssl.SSLError) -> str:
    return exc.reason.lower().replace("_", " ") if exc.reason else str(exc)


def _check_cert_pem(key: str, path: str, text: str) -> None:
    if _CERT_MARK not in text:
        raise TlsConfigError(f"tls.{key} {path}: not a PEM certificate (no '{_CERT_MARK}' line)")
    blocks = "".join(_CERT_BLOCK.findall(text))
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=blocks)
    except (ssl.SSLError, ValueError) as exc:
        reason = _why(exc) if isinstance(exc, ssl.SSLError) else str(exc)
        raise TlsConfigError(f"tls.{key} {path}: bad PEM certificate ({reason})") from None


def build_context(tls: Tls) -> ssl.SSLContext:
    """A server context for `tls`; raises TlsConfigError. TLS 1.2 at least; client certificates
    are required and verified against `client_ca_file` when it is set."""
    cert_text = _read("cert_file", tls.cert_file)
    key_text = _read("key_file", tls.key_file)
    _check_cert_pem("cert_file", tls.cert_file, cert_text)
    if _KEY_MARK not in key_text:
        raise TlsConfigError(f"tls.key_file {tls.key_file}: not a PEM private key (no '...{_KEY_MARK}' line)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file, password=_no_password)
    except TlsConfigError:
        raise TlsConfigError(
            f"tls.key_file {tls.key_file}: the key is encrypted; logjet needs it "
            "unencrypted (openssl pkey -in KEY -out PLAIN)"
        ) from None
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
            raise TlsConfigError(
                f"tls.key_file {tls.key_file}: does not match the certificate in tls.cert_file {tls.cert_file}"
            ) from None
        raise TlsConfigError(
            f"tls.key_file {tls.key_file}: cannot load it with tls.cert_file {tls.cert_file} ({_why(exc)})"
        ) from None
    except OSError as exc:  # the file vanished between the checks and the load
        raise TlsConfigError(f"tls files {tls.cert_file}, {tls.key_file}: {exc.strerror or exc}") from None
    if tls.client_ca_file:
        ca_text = _read("client_ca_file", tls.client_ca_file)
        _check_cert_pem("client_ca_file", tls.client_ca_file, ca_text)
        ctx.load_verify_locations(cafile=tls.client_ca_file)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
