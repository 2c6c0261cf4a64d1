"""A private Mosquitto that refuses anonymous clients (password file) and, optionally,
speaks only TLS with a certificate of a throw-away CA: the broker of a real deployment."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.brokers import MOSQUITTO, free_port
from tests.conftest import port_open

USER = "centralita"
PASSWORD = "mqtt-pass-Ñ-42"


@dataclass
class SecuredBroker:
    host: str
    port: int
    workdir: Path
    ca_file: Path | None  # the CA that signed the broker's certificate (TLS only)


def _require(binary: str) -> str:
    found = shutil.which(binary) or (binary if Path(binary).exists() else None)
    if found is None:
        if os.environ.get("CENTRALITA_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{binary} is not installed and CENTRALITA_REQUIRE_SERVICES=1")
        pytest.skip(f"{binary} is not installed")
    return found


def _run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def make_certificates(workdir: Path) -> Path:
    """A CA and a broker certificate for 127.0.0.1/localhost signed by it; the CA's path."""
    openssl = _require("openssl")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _run(openssl, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
         "-subj", "/CN=centralita test CA", cwd=workdir)  # fmt: skip
    _run(openssl, "req", *ec, "-keyout", "server.key", "-out", "server.csr",
         "-subj", "/CN=127.0.0.1", cwd=workdir)  # fmt: skip
    (workdir / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _run(openssl, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext",
         cwd=workdir)  # fmt: skip
    return workdir / "ca.crt"


def secured_broker(workdir: Path, *, tls: bool) -> Iterator[SecuredBroker]:
    """Start one; skip when mosquitto (or openssl for TLS) is missing, fail under
    CENTRALITA_REQUIRE_SERVICES=1."""
    mosquitto = _require(MOSQUITTO)
    passwd = _require("mosquitto_passwd")
    workdir.mkdir(parents=True, exist_ok=True)
    password_file = workdir / "passwd"
    _run(passwd, "-b", "-c", str(password_file), USER, PASSWORD, cwd=workdir)
    password_file.chmod(0o600)
    port = free_port()
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {password_file}",
        f"user {getpass.getuser()}",
        "log_dest none",
    ]
    ca_file = None
    if tls:
        ca_file = make_certificates(workdir)
        lines += [
            f"cafile {ca_file}",
            f"certfile {workdir / 'server.crt'}",
            f"keyfile {workdir / 'server.key'}",
        ]
    conf = workdir / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([mosquitto, "-c", str(conf)])
    try:
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", port):
            assert proc.poll() is None, "secured mosquitto exited at start"
            assert time.monotonic() < deadline, "secured mosquitto did not start"
            time.sleep(0.02)
        yield SecuredBroker("127.0.0.1", port, workdir, ca_file)
    finally:
        proc.terminate()
        proc.wait(10)
