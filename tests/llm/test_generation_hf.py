"""The in-process engine behind the generation interface, on the tiny model: the same
contract as the server engines (text decodes the ids, a logprob per token, finish reasons,
the stop rule), and the order of results is the order of requests."""

from __future__ import annotations

import math

import pytest

from patchloop.llm.generation import GenRequest

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def hf_gen(tiny_model_dir):
    from patchloop.llm.generation.engines import open_generator

    gen = open_generator("hf", str(tiny_model_dir), batch_size=4)
    yield gen
    gen.close()


def test_results_keep_the_contract_and_the_request_order(hf_gen):
    prompts = [hf_gen.render(p) for p in ("import os\n", "def f(x):\n", [{"role": "user", "content": "hi"}])]
    seen = []
    results = hf_gen.generate([GenRequest(p, max_tokens=6 + i) for i, p in enumerate(prompts)],
                              on_result=lambda i, r: seen.append(i))
    assert sorted(seen) == [0, 1, 2]
    for i, (p, r) in enumerate(zip(prompts, results)):
        assert r.prompt_tokens == len(p) and len(r.token_ids) <= 6 + i
        assert hf_gen.tokenizer.decode(r.token_ids, skip_special_tokens=True) == r.text
        assert len(r.logprobs) == len(r.token_ids) and all(math.isfinite(x) and x <= 0 for x in r.logprobs)
        assert r.finish_reason == ("length" if len(r.token_ids) == 6 + i else "stop")
    alone = hf_gen.generate([GenRequest(prompts[1], max_tokens=7)])[0]
    assert alone.token_ids == results[1].token_ids  # batching does not change a greedy answer


def test_settled_ends_a_row_where_the_rule_first_holds(hf_gen):
    ids = hf_gen.render("x = 1\n")
    full = hf_gen.generate([GenRequest(ids, max_tokens=30)])[0]
    assert len(full.token_ids) > 4
    marker = hf_gen.tokenizer.decode(full.token_ids[:3], skip_special_tokens=True)
    cut = hf_gen.generate([GenRequest(ids, max_tokens=30, settled=lambda s: s.startswith(marker))])[0]
    assert cut.finish_reason == "stop" and cut.token_ids == full.token_ids[:3]


def test_a_trained_adapter_merged_samples_what_the_adapter_samples(hf_gen, tiny_model_dir, tmp_path):
    from patchloop.llm.generation.merge import merged_checkpoint
    from tests.llm.lora_helpers import save_lora

    adapter = save_lora(tiny_model_dir, tmp_path / "adapter", scale=2.0)
    ids = hf_gen.render("def g(y):\n")
    base = hf_gen.generate([GenRequest(ids, max_tokens=10)])[0]
    with_adapter = hf_gen.generate([GenRequest(ids, max_tokens=10, adapter=str(adapter))])[0]
    assert with_adapter.token_ids != base.token_ids  # the adapter matters here

    merged = merged_checkpoint(str(tiny_model_dir), str(adapter), tmp_path / "cache")
    assert merged_checkpoint(str(tiny_model_dir), str(adapter), tmp_path / "cache") == merged  # made once
    from patchloop.llm.generation.local_hf import LocalHFGenerator

    plain = LocalHFGenerator(str(merged))
    assert plain.generate([GenRequest(ids, max_tokens=10)])[0].token_ids == with_adapter.token_ids
