"""Fixtures for the authentication / transport-security tests: a CA and broker certificate made here
with ``cryptography``, and a broker behind the SCRAM + TLS gateway (see alstream.security.gateway)."""

from __future__ import annotations

import datetime
import ipaddress
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from alstream.security.gateway import SecureGateway, gated_cluster
from tests.support.secure_cluster import USERS


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path  # a CA that did not sign the broker certificate


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _ca(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA, a broker certificate for 127.0.0.1/localhost signed by it, and an unrelated CA."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _ca("alstream test CA")
    _, other = _ca("some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = Pki(folder / "ca.pem", folder / "broker.pem", folder / "broker.key", folder / "other-ca.pem")
    paths.ca.write_bytes(ca_cert.public_bytes(pem))
    paths.other_ca.write_bytes(other.public_bytes(pem))
    paths.cert.write_bytes(cert.public_bytes(pem))
    paths.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture(scope="module")
def sasl_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureGateway]:
    """SASL_PLAINTEXT: SCRAM required, no TLS."""
    broker, gateway = gated_cluster(USERS, log_file=tmp_path_factory.mktemp("b") / "tansu.log")
    yield gateway
    gateway.stop()
    broker.stop()


@pytest.fixture(scope="module")
def sasl_ssl_gateway(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureGateway]:
    """SASL_SSL: TLS with the test CA's broker certificate, SCRAM required."""
    broker, gateway = gated_cluster(
        USERS, cert=pki.cert, key=pki.key, log_file=tmp_path_factory.mktemp("b") / "tansu.log"
    )
    yield gateway
    gateway.stop()
    broker.stop()


@pytest.fixture(scope="module")
def ssl_gateway(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureGateway]:
    """SSL only (no SASL): transport encryption without logins."""
    broker, gateway = gated_cluster(
        (),
        cert=pki.cert,
        key=pki.key,
        require_sasl=False,
        log_file=tmp_path_factory.mktemp("b") / "tansu.log",
    )
    yield gateway
    gateway.stop()
    broker.stop()


@pytest.fixture
def quiet_librdkafka() -> logging.Logger:
    """A logger for librdkafka's own log lines, so refused logins do not flood the output."""
    logger = logging.getLogger("alstream.tests.librdkafka")
    logger.propagate = True
    return logger
