"""The scorer's allocator tuning takes effect where the C library supports it."""

from __future__ import annotations

import platform

from alstream.agents.scorer.native_tuning import reuse_freed_memory


def test_reuse_freed_memory_applies_on_glibc() -> None:
    assert reuse_freed_memory() is (platform.libc_ver()[0] == "glibc")
