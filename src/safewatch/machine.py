"""What CPU this is, in the terms that decide whether numeric results reproduce.

Trained heads depend on the CPU bit for bit: int8 kernels and float training round differently on another
instruction set (an AVX-512 machine and an AVX2-only one give different heads from the same data and seed). So
training records the CPU it ran on, `train --check` names both when they differ, and the benchmarks record it
beside their numbers.
"""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


@lru_cache(maxsize=1)
def _cpuinfo_fields() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo; empty where there is none (not Linux)."""
    fields: dict[str, str] = {}
    if not CPUINFO.exists():
        return fields
    for line in CPUINFO.read_text(errors="replace").splitlines():
        if not line.strip():
            break  # the first processor's block ends at the first blank line
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_name() -> str:
    """The CPU's marketing name ("AMD EPYC", "Intel(R) Xeon(R) ..."), or what the platform says."""
    return _cpuinfo_fields().get("model name") or platform.processor() or "unknown CPU"


def vector_extensions() -> str:
    """The widest SIMD extension the kernels can use: "avx512", "avx2", "avx", or the architecture's name."""
    flags = set(_cpuinfo_fields().get("flags", "").split())
    for name, flag in (("avx512", "avx512f"), ("avx2", "avx2"), ("avx", "avx")):
        if flag in flags:
            return name
    return platform.machine() or "unknown"


def cpu_signature() -> str:
    """Name, family/model and SIMD level: two machines with the same signature train the same heads."""
    info = _cpuinfo_fields()
    family = f"family {info['cpu family']} model {info['model']}, " if "cpu family" in info and "model" in info else ""
    return f"{cpu_name()} ({family}{vector_extensions()})"
