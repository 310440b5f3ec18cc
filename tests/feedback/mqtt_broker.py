"""A private Mosquitto for tests that need what the shared broker does not have.

The broker on 127.0.0.1:1883 allows anonymous clients and has no TLS. Tests of passwords,
TLS and the per-device ACL start their own ``mosquitto`` on a free port with a test CA,
a password file and the ACL example from docs/feedback.md, and stop it afterwards.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)
PASSWD = shutil.which("mosquitto_passwd")


@dataclass(frozen=True)
class Broker:
    port: int
    ca_file: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_certificates(where: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1 / localhost: (ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, server_key = _key(), _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "careloop test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = where / "ca.pem", where / "server.pem", where / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    _pem_key(server_key, key_file)
    return ca_file, cert_file, key_file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def private_broker(where: Path, *, users: dict[str, str], acl: str) -> Iterator[Broker]:
    """Mosquitto with TLS only, no anonymous clients, ``users`` and the ``acl`` text."""
    assert MOSQUITTO
    assert PASSWD
    ca_file, cert_file, key_file = make_certificates(where)
    passwd = where / "passwd"
    passwd.touch(mode=0o600)
    for user, password in users.items():
        subprocess.run([PASSWD, "-b", str(passwd), user, password], check=True)
    (where / "acl").write_text(acl)
    port = _free_port()
    conf = where / "mosquitto.conf"
    conf.write_text(
        f"user root\npersistence false\nallow_anonymous false\n"
        f"password_file {passwd}\nacl_file {where / 'acl'}\n"
        f"listener {port} 127.0.0.1\ncafile {ca_file}\ncertfile {cert_file}\nkeyfile {key_file}\n"
    )
    with _running(conf, port):
        yield Broker(port, ca_file)


@contextmanager
def _running(conf: Path, port: int) -> Iterator[None]:
    """Mosquitto on ``conf`` until the block ends, once it listens on ``port``."""
    assert MOSQUITTO
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def anonymous_broker(where: Path) -> Iterator[int]:
    """A plain Mosquitto of this test's own (anonymous, no TLS) on a free port: its port.

    For tests whose client ids must not meet another test's on the shared broker."""
    port = _free_port()
    conf = where / "mosquitto-plain.conf"
    conf.write_text(
        f"user root\npersistence false\nallow_anonymous true\nlistener {port} 127.0.0.1\n"
    )
    with _running(conf, port):
        yield port
