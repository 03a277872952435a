"""The CPU signature that training records and benchmarks print."""

import pytest

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


@pytest.fixture
def cpuinfo(monkeypatch, tmp_path):
    """Point the module at a cpuinfo file of the test's choosing (None: no such file); the parsed fields are
    cached, so the cache is cleared on the way in and out."""

    def use(text: str | None) -> None:
        path = tmp_path / "cpuinfo"
        if text is not None:
            path.write_text(text)
        monkeypatch.setattr(machine, "CPUINFO", path)
        machine._cpuinfo_fields.cache_clear()

    yield use
    machine._cpuinfo_fields.cache_clear()


def test_signature_names_family_model_and_widest_extension(cpuinfo):
    cpuinfo(AVX2_ONLY)
    assert machine.cpu_signature() == "AMD EPYC (family 25 model 1, avx2)"
    cpuinfo(AVX2_ONLY.replace("avx2 fma", "avx2 avx512f fma"))
    assert machine.vector_extensions() == "avx512"


def test_signature_without_cpuinfo_falls_back_to_the_platform(cpuinfo):
    cpuinfo(None)
    assert machine.cpu_signature()  # some name, never an exception
    assert "family" not in machine.cpu_signature()
