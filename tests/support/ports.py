"""Free loopback ports for processes a test starts (tests never use fixed ports)."""

from __future__ import annotations

import random
import socket


def free_port_block(count: int, *, host: str = "127.0.0.1", attempts: int = 200) -> int:
    """A base port ``b`` such that ``b + 1 .. b + count`` are free now (for ``metrics.base_port``)."""
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(20_000, 60_000 - count)
        sockets = []
        try:
            for offset in range(1, count + 1):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((host, base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no block of {count} free ports found in {attempts} attempts")
