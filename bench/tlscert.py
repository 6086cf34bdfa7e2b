"""Throwaway TLS certificates made with the `openssl` command line: a CA, certificates it signs,
and self-signed ones. For the TLS benchmark and the tests (tests/tlsca.py); never for production.

Keys are EC P-256 (fast to make and to handshake with; rsyslog, syslog-ng and Python all take
them). Serial numbers are random, so two certificates made for the same name differ.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from typing import NamedTuple

from engine.errors import LogjetError

DAYS = 7  # long enough for any test or benchmark run, short enough to be obviously throwaway


class OpensslMissing(LogjetError, RuntimeError):
    """The `openssl` command line is not installed."""


class CertFiles(NamedTuple):
    cert: pathlib.Path
    key: pathlib.Path


def _openssl(*args: str, cwd: pathlib.Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise OpensslMissing("the openssl command line is needed to make test certificates (apt-get install openssl)")
    proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")


def _serial() -> str:
    return "0x" + os.urandom(8).hex()


def _new_key(path: pathlib.Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path), cwd=path.parent)
    path.chmod(0o600)


def _self_signed(folder: pathlib.Path, name: str, subject: str, extensions: list[str]) -> CertFiles:
    """A self-signed certificate with `extensions` (each an -addext value) and its new key."""
    folder.mkdir(parents=True, exist_ok=True)
    files = CertFiles(folder / f"{name}.crt", folder / f"{name}.key")
    _new_key(files.key)
    addext = [arg for ext in extensions for arg in ("-addext", ext)]
    _openssl(
        "req", "-x509", "-new", "-key", str(files.key), "-out", str(files.cert), "-days", str(DAYS),
        "-subj", subject, "-set_serial", _serial(), *addext, cwd=folder,
    )  # fmt: skip
    return files


def make_ca(folder: pathlib.Path, name: str = "ca", subject: str = "/CN=logjet throwaway CA") -> CertFiles:
    """A self-signed CA certificate and its key: `folder/name.crt`, `folder/name.key`."""
    return _self_signed(
        folder, name, subject, ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]
    )


def make_cert(
    folder: pathlib.Path,
    name: str,
    ca: CertFiles,
    common_name: str,
    client: bool = False,
    san: str = "DNS:localhost,IP:127.0.0.1",
) -> CertFiles:
    """A certificate signed by `ca`: a server certificate with `san`, or (`client`) a client one."""
    folder.mkdir(parents=True, exist_ok=True)
    files = CertFiles(folder / f"{name}.crt", folder / f"{name}.key")
    csr = folder / f"{name}.csr"
    ext = folder / f"{name}.ext"
    usage = "clientAuth" if client else "serverAuth"
    lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", f"extendedKeyUsage={usage}"]
    if san:
        lines.append(f"subjectAltName={san}")
    ext.write_text("\n".join(lines) + "\n")
    _new_key(files.key)
    _openssl("req", "-new", "-key", str(files.key), "-out", str(csr), "-subj", f"/CN={common_name}", cwd=folder)
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca.cert),
        "-CAkey",
        str(ca.key),
        "-out",
        str(files.cert),
        "-days",
        str(DAYS),
        "-set_serial",
        _serial(),
        "-extfile",
        str(ext),
        cwd=folder,
    )
    csr.unlink()
    ext.unlink()
    return files


def make_self_signed(
    folder: pathlib.Path, name: str, common_name: str = "localhost", san: str = "DNS:localhost,IP:127.0.0.1"
) -> CertFiles:
    """A self-signed leaf certificate (no CA): the benchmark's server certificate, or a rogue one."""
    return _self_signed(folder, name, f"/CN={common_name}", [f"subjectAltName={san}"])


def engine_tls_args(folder: str) -> list[str]:
    """`logjet serve` arguments for a TLS listener on a free loopback port, with a fresh
    self-signed certificate and a configuration file holding its `[tls]` table, in `folder`."""
    path = pathlib.Path(folder) / "tls"
    files = make_self_signed(path, "server")
    config = path / "logjet-tls.toml"
    config.write_text(f'[tls]\ncert_file = "{files.cert}"\nkey_file = "{files.key}"\n')
    return ["--syslog-tls", "127.0.0.1:0", "--config", str(config)]
