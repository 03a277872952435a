"""The CPU signature that training records and benchmarks print."""

import safewatch.machine as machine

AVX2_ONLY = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 fma

processor\t: 1
model name\t: Something Else
"""


def _with_cpuinfo(monkeypatch, tmp_path, text):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    monkeypatch.setattr(machine, "CPUINFO", path)
    machine._cpuinfo_fields.cache_clear()


def test_signature_names_family_model_and_widest_extension(monkeypatch, tmp_path):
    _with_cpuinfo(monkeypatch, tmp_path, AVX2_ONLY)
    try:
        assert machine.cpu_signature() == "AMD EPYC (family 25 model 1, avx2)"
        _with_cpuinfo(monkeypatch, tmp_path, AVX2_ONLY.replace("avx2 fma", "avx2 avx512f fma"))
        assert machine.vector_extensions() == "avx512"
    finally:
        machine._cpuinfo_fields.cache_clear()


def test_signature_without_cpuinfo_falls_back_to_the_platform(monkeypatch, tmp_path):
    monkeypatch.setattr(machine, "CPUINFO", tmp_path / "missing")
    machine._cpuinfo_fields.cache_clear()
    try:
        assert machine.cpu_signature()  # some name, never an exception
        assert "family" not in machine.cpu_signature()
    finally:
        machine._cpuinfo_fields.cache_clear()
