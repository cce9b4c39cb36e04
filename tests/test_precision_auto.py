"""precision=auto on CPU follows each plugin's measured preference and the CPU's AMX tiles."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import cli
from workbench import precision, registry
from workbench.runtime import resolve_precision


@pytest.fixture
def amx(monkeypatch):
    """Pretend the CPU has (True) or lacks (False) AMX tiles."""

    def set_amx(present: bool) -> None:
        monkeypatch.setattr(precision, "cpu_has_amx", lambda: present)

    return set_amx


@pytest.mark.parametrize("present, expected", [(True, "bf16"), (False, "fp32")])
def test_bf16_with_amx_means_bf16_only_on_cpus_with_amx(amx, present, expected):
    amx(present)
    assert resolve_precision("auto", torch.device("cpu"), "bf16-with-amx").name == expected


@pytest.mark.parametrize("present", [True, False])
def test_a_plugin_measured_slower_in_bf16_stays_fp32_whatever_the_cpu(amx, present):
    amx(present)
    assert resolve_precision("auto", torch.device("cpu"), "fp32").name == "fp32"
    assert resolve_precision("auto", torch.device("cpu"), "bf16").name == "bf16"
    # an explicit precision is never overridden by the preference
    assert resolve_precision("bf16", torch.device("cpu"), "fp32").name == "bf16"


def test_each_plugin_declares_a_valid_cpu_preference_and_the_sequence_models_stay_fp32():
    registry.load_all()
    for spec in registry.PLUGINS.values():
        cfg_cls = registry.load_config_class(spec)
        assert cfg_cls.auto_cpu_precision in precision.CPU_AUTO_CHOICES, spec.name
    for name in ("text-lm", "music-lm"):
        assert registry.load_config_class(registry.PLUGINS[name]).auto_cpu_precision == "fp32"


def test_an_unknown_preference_is_a_clear_error():
    with pytest.raises(ValueError, match="auto_cpu_precision must be one of"):
        precision.auto_cpu("fp8")


def test_describe_says_what_auto_resolves_to_on_this_cpu():
    out = cli("describe", "gpt-shakespeare").stdout
    here = precision.auto_cpu("fp32")
    assert f"CPU runs use {here}" in out and "bf16 measured slower for this plugin" in out
    out = cli("describe", "dqn-pong").stdout
    amd_bf16 = precision.cpu_is_amd() and precision.cpu_has_native_bf16()
    expected = "bf16" if precision.cpu_has_amx() or amd_bf16 else "fp32"
    assert f"CPU runs use {expected}" in out
    assert "bf16 on CPUs with AMX and on AMD CPUs with AVX-512 BF16, else fp32" in out


def test_amx_detection_reads_the_cpu_flags(tmp_path, monkeypatch):
    def detect(flags: str, check=precision.cpu_has_amx, vendor="GenuineIntel") -> bool:
        fake = tmp_path / "cpuinfo"
        fake.write_text(f"processor\t: 0\nvendor_id\t: {vendor}\nflags\t\t: {flags}\n")
        monkeypatch.setattr(precision, "Path", lambda _: fake)
        precision._cpuinfo.cache_clear()
        try:
            return check()
        finally:
            precision._cpuinfo.cache_clear()

    assert detect("fpu avx512f avx512_bf16 amx_bf16 amx_tile amx_int8")
    assert not detect("fpu avx512f avx512_bf16")
    # bf16-native: AVX-512 BF16 (AMD Zen 4) counts, plain AVX-512 does not
    assert detect("fpu avx512f avx512_bf16", precision.cpu_has_native_bf16)
    assert not detect("fpu avx2 avx512f", precision.cpu_has_native_bf16)
    # bf16-amx-or-amd: AVX-512 BF16 counts on AMD (Zen 4: DQN 1.45x) but not on Intel (0.6x)
    amd_rule = lambda: precision.auto_cpu("bf16-amx-or-amd") == "bf16"  # noqa: E731
    assert detect("fpu avx512f avx512_bf16", amd_rule, vendor="AuthenticAMD")
    assert not detect("fpu avx512f avx512_bf16", amd_rule, vendor="GenuineIntel")
    assert detect("fpu avx512f avx512_bf16 amx_bf16 amx_tile", amd_rule, vendor="GenuineIntel")
    assert not detect("fpu avx2", amd_rule, vendor="AuthenticAMD")


def test_bf16_native_follows_the_cpu(monkeypatch):
    for amx, native, expected in ((True, True, "bf16"), (False, True, "bf16"),
                                  (False, False, "fp32")):
        monkeypatch.setattr(precision, "cpu_has_amx", lambda a=amx: a)
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda n=native: n)
        assert precision.auto_cpu("bf16-native") == expected
