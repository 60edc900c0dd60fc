"""Server side of SASL SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677), as Kafka brokers run it.

Used by :mod:`alstream.security.gateway` so the clients' real SCRAM code (librdkafka, aiokafka) is
exercised end to end against a verifier that behaves like Kafka's: a wrong password, an unknown user
or a different mechanism all fail the exchange at the client's proof.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
ITERATIONS = 4096


class ScramFailure(Exception):
    """The client's SCRAM exchange is malformed or its proof is wrong."""


@dataclass(frozen=True)
class ScramCredential:
    """What a broker stores for a user: never the password itself."""

    mechanism: str
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    @classmethod
    def create(cls, mechanism: str, password: str, *, iterations: int = ITERATIONS) -> ScramCredential:
        if mechanism not in HASHES:
            raise ValueError(f"unsupported SCRAM mechanism {mechanism!r}; use one of {sorted(HASHES)}")
        name = HASHES[mechanism]
        salt = secrets.token_bytes(16)
        salted = hashlib.pbkdf2_hmac(name, password.encode(), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", name).digest()
        return cls(
            mechanism=mechanism,
            salt=salt,
            iterations=iterations,
            stored_key=hashlib.new(name, client_key).digest(),
            server_key=hmac.new(salted, b"Server Key", name).digest(),
        )


def _attributes(message: str) -> dict[str, str]:
    parts = {}
    for item in message.split(","):
        if len(item) < 2 or item[1] != "=":
            raise ScramFailure(f"malformed SCRAM attribute {item[:20]!r}")
        parts[item[0]] = item[2:]
    return parts


class ScramServerSession:
    """One login: ``first()`` answers the client-first message, ``final()`` checks the proof."""

    def __init__(self, mechanism: str, credentials: dict[str, ScramCredential]) -> None:
        if mechanism not in HASHES:
            raise ScramFailure(f"unsupported mechanism {mechanism}")
        self.mechanism = mechanism
        self._hash = HASHES[mechanism]
        self._credentials = credentials
        self.username: str | None = None
        self._credential: ScramCredential | None = None
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""

    def first(self, client_first: bytes) -> bytes:
        text = client_first.decode("utf-8", errors="strict")
        if not text.startswith(("n,", "y,")):
            raise ScramFailure("channel binding is not supported")
        gs2_end = text.index(",", 2)
        self._client_first_bare = text[gs2_end + 1 :]
        attrs = _attributes(self._client_first_bare)
        self.username = attrs.get("n", "").replace("=2C", ",").replace("=3D", "=")
        client_nonce = attrs.get("r", "")
        if not client_nonce:
            raise ScramFailure("client nonce missing")
        credential = self._credentials.get(self.username)
        if credential is None or credential.mechanism != self.mechanism:
            # Like Kafka: carry on with a throwaway credential so an unknown user looks like a bad password.
            credential = ScramCredential.create(self.mechanism, secrets.token_hex(16))
            self._credential = None
        else:
            self._credential = credential
        self._fake = credential
        self._nonce = client_nonce + secrets.token_urlsafe(18)
        salt = base64.b64encode(credential.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={credential.iterations}"
        return self._server_first.encode()

    def final(self, client_final: bytes) -> bytes:
        text = client_final.decode("utf-8", errors="strict")
        without_proof, _, proof_part = text.rpartition(",p=")
        attrs = _attributes(without_proof)
        if attrs.get("r") != self._nonce:
            raise ScramFailure("nonce mismatch")
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        credential = self._credential or self._fake
        signature = hmac.new(credential.stored_key, auth_message, self._hash).digest()
        try:
            proof = base64.b64decode(proof_part, validate=True)
        except ValueError as exc:
            raise ScramFailure("client proof is not base64") from exc
        if len(proof) != len(signature):
            raise ScramFailure("client proof has the wrong length")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        valid = hmac.compare_digest(hashlib.new(self._hash, client_key).digest(), credential.stored_key)
        if not valid or self._credential is None:
            raise ScramFailure("invalid credentials")
        server_signature = hmac.new(credential.server_key, auth_message, self._hash).digest()
        return b"v=" + base64.b64encode(server_signature)
