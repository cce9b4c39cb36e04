"""What ``precision=auto`` means, decided without importing torch (``describe`` prints it).

On CUDA, auto is bf16 autocast (fp16 + loss scaling on GPUs without bf16). On CPU it depends on
the plugin and the CPU, because bf16 is not always faster there: each plugin's Config declares
``auto_cpu_precision``, set from a measurement of that plugin's training step:

* ``"fp32"``: bf16 autocast measured slower than fp32 for this plugin, even on a CPU with AMX;
* ``"bf16"``: bf16 measured faster on every CPU tried;
* ``"bf16-native"``: bf16 where the CPU computes bf16 natively (AMX tiles or AVX-512 BF16
  dot products, e.g. AMD Zen 4 EPYC), else fp32: plugins measured faster in bf16 on such a CPU
  without AMX (style transfer: 1.4x on an AMD EPYC with avx512_bf16);
* ``"bf16-amx-or-amd"``: bf16 where the CPU has AMX tiles, or is an AMD CPU with AVX-512 BF16
  (Zen 4 and later), else fp32: the Nature-DQN update ran 1.45x faster in bf16 on a 2-core AMD
  EPYC with avx512_bf16 (2026-12-06) but 0.6x as fast on an Intel Xeon with AVX-512 BF16 and no
  AMX (2026-11-26), so the flag alone does not decide it;
* ``"bf16-with-amx"`` (the default): bf16 only where the CPU has AMX tiles (Intel Sapphire
  Rapids and later), whose bf16 matrix units make convolutions and matmuls faster; without
  them bf16 runs through conversions and AVX-512 at best, measured slower than fp32 (the
  Nature-DQN update: 0.6x; the nanoGPT-size GPT step: 0.5x, on a 2-core Xeon without AMX).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

CPU_AUTO_CHOICES = ("fp32", "bf16", "bf16-native", "bf16-amx-or-amd", "bf16-with-amx")


@lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """The CPU's vendor id and feature flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return "", frozenset()
    vendor, flags = "", frozenset()
    for line in text.splitlines():
        if line.startswith("vendor_id") and not vendor:
            vendor = line.partition(":")[2].strip()
        elif line.startswith("flags") and not flags:
            flags = frozenset(line.partition(":")[2].split())
    return vendor, flags


def _cpu_flags() -> frozenset[str]:
    return _cpuinfo()[1]


def cpu_is_amd() -> bool:
    return _cpuinfo()[0] == "AuthenticAMD"


def cpu_has_amx() -> bool:
    """True where the CPU advertises AMX bf16 tiles."""
    return {"amx_bf16", "amx_tile"} <= _cpu_flags()


def cpu_has_native_bf16() -> bool:
    """True where the CPU computes bf16 natively: AMX tiles or AVX-512 BF16."""
    return cpu_has_amx() or "avx512_bf16" in _cpu_flags()


def auto_cpu(cpu_auto: str) -> str:
    """``precision=auto`` on CPU for a plugin whose Config says ``auto_cpu_precision=cpu_auto``."""
    if cpu_auto not in CPU_AUTO_CHOICES:
        raise ValueError(f"auto_cpu_precision must be one of {CPU_AUTO_CHOICES}; got {cpu_auto!r}")
    if cpu_auto == "bf16-with-amx":
        return "bf16" if cpu_has_amx() else "fp32"
    if cpu_auto == "bf16-native":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if cpu_auto == "bf16-amx-or-amd":
        return "bf16" if cpu_has_amx() or (cpu_is_amd() and cpu_has_native_bf16()) else "fp32"
    return cpu_auto


def describe_auto(cpu_auto: str) -> str:
    """One line for ``workbench describe``: what auto resolves to, and why."""
    here = auto_cpu(cpu_auto)
    rule = {"fp32": "fp32 on every CPU (bf16 measured slower for this plugin)",
            "bf16": "bf16 on every CPU (measured faster for this plugin)",
            "bf16-native": "bf16 on CPUs with native bf16 (AMX or AVX-512 BF16), else fp32",
            "bf16-amx-or-amd": "bf16 on CPUs with AMX and on AMD CPUs with AVX-512 BF16, else fp32",
            "bf16-with-amx": "bf16 on CPUs with AMX, else fp32"}[cpu_auto]
    has = "has AMX" if cpu_has_amx() else ("has AVX-512 BF16 but no AMX" if cpu_has_native_bf16()
                                         else "has no native bf16")
    if cpu_is_amd():
        has = "is AMD and " + has
    return (f"precision=auto: on CPU {rule}; this CPU {has}, so CPU runs use {here}. "
            "On CUDA: bf16 (fp16 + loss scaling where bf16 is missing). A plugin computes in it "
            "only inside ctx.autocast(); run.json and W&B record the precision a run really "
            "used (fp32 for a plugin that never enters autocast).")
