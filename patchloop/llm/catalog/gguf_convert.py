"""GGUF -> a plain HF safetensors checkpoint that trainers, serve and PEFT all accept.

transformers reads GGUF (``gguf_file=``, through the ``gguf`` package) and de-quantizes the
weights, but the model it returns refuses ``save_pretrained`` and its config carries a
``quantization_config`` that makes trainers refuse it. So the de-quantized state dict is
re-materialised into a model built from a clean config and saved from there. The GGUF files
of the catalog keep separate input and output embeddings, so ``tie_word_embeddings`` stays
off (tying would silently drop the output layer). Saved in bfloat16, the dtype the models
were released in.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from patchloop.llm.errors import LLMError

# Qwen2.5 chat models end a turn with <|im_end|> and a document with <|endoftext|>.
_EXTRA_EOS = ("<|im_end|>", "<|endoftext|>")


def quiet_transformers() -> None:
    """Keep download and conversion bars and advisories out of the user's terminal."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="transformers")


@contextmanager
def _tensor_progress(progress: Callable[[str, int, int], None]) -> Iterator[None]:
    """Route transformers' own GGUF de-quantization bar (a bare tqdm) to our progress."""
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    original = getattr(gguf_utils, "tqdm", None)

    def reporting(iterable, desc: str = "", **_):
        items = list(iterable)
        for i, item in enumerate(items):
            progress("de-quantize tensors", i, len(items))
            yield item
        progress("de-quantize tensors", len(items), len(items))

    if original is not None:
        gguf_utils.tqdm = reporting
    try:
        yield
    finally:
        if original is not None:
            gguf_utils.tqdm = original


def convert_gguf(gguf: Path, out: Path, progress: Callable[[str, int, int], None] = lambda *a: None) -> dict:
    """Write ``out`` (config, safetensors, tokenizer, generation config); return a few stats."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    src, name = str(gguf.parent), gguf.name
    try:
        progress("read tokenizer", 0, 1)
        tok = AutoTokenizer.from_pretrained(src, gguf_file=name)
        with _tensor_progress(progress):
            loaded = AutoModelForCausalLM.from_pretrained(src, gguf_file=name, dtype=torch.float32)
    except Exception as e:  # noqa: BLE001 -- unsupported architecture or a corrupt file: one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LLMError(f"cannot read GGUF {gguf}: {first}") from None
    config = AutoConfig.for_model(**{k: v for k, v in loaded.config.to_dict().items()
                                     if k not in ("quantization_config", "_name_or_path", "transformers_version")})
    state = loaded.state_dict()
    config.tie_word_embeddings = "lm_head.weight" not in state
    config.dtype = "bfloat16"
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    missing, unexpected = plain.load_state_dict(state, strict=False, assign=True)
    missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise LLMError(f"GGUF {gguf}: weights do not fit the architecture (missing {missing[:3]}, "
                       f"unexpected {unexpected[:3]})")
    plain = plain.to(torch.bfloat16)
    if config.tie_word_embeddings:
        plain.tie_weights()
    eos = [i for i in (tok.convert_tokens_to_ids(t) for t in _EXTRA_EOS) if isinstance(i, int) and i >= 0]
    if eos:
        plain.generation_config.eos_token_id = eos
        plain.generation_config.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else eos[-1]
    progress("write safetensors", 0, 1)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    plain.save_pretrained(str(tmp), safe_serialization=True)
    tok.save_pretrained(str(tmp))
    tmp.rename(out)
    params = sum(p.numel() for p in plain.parameters())
    return {"parameters": params, "context": int(config.max_position_embeddings),
            "architecture": config.architectures[0] if config.architectures else config.model_type}


def copy_hub_snapshot(snapshot: Path, out: Path) -> None:
    """A hub snapshot is already a plain checkpoint: copy it (the hub cache may be pruned)."""
    if not (snapshot / "config.json").is_file():
        raise LLMError(f"hub snapshot {snapshot} has no config.json")
    shutil.copytree(snapshot, out, symlinks=False)
