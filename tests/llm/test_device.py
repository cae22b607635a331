"""Which dtype a bf16 checkpoint runs in on the CPU follows what the processor really speeds up."""

import pytest

from patchloop.llm import device


@pytest.mark.parametrize(("flags", "expected"), [
    ({"avx2", "fma"}, "float32"),
    # a Xeon with AVX-512-BF16 but no AMX: bf16 prefill and batched decoding were slower there
    ({"avx512f", "avx512_bf16"}, "float32"),
    ({"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}, "bfloat16"),
])
def test_cpu_dtype_of_a_bf16_checkpoint_needs_amx(flags, expected, monkeypatch):
    monkeypatch.delenv("PATCHLOOP_DTYPE", raising=False)
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset(flags))
    assert device.best_dtype_name("cpu", "bfloat16") == expected
    assert device.best_dtype_name("cpu", "float32") == "float32"  # a float32 checkpoint never goes down


def test_the_dtype_can_be_forced(monkeypatch):
    monkeypatch.setattr(device, "cpu_flags", lambda: frozenset({"avx2"}))
    monkeypatch.setenv("PATCHLOOP_DTYPE", "bfloat16")
    assert device.best_dtype_name("cpu", "float32") == "bfloat16"
