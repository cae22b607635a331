"""Build a tiny, untrained Qwen2-style chat model entirely offline.

No model hub is reachable on the machines patchloop tests on, yet the agent, ``serve`` and
the RL trainers all need a real Hugging Face checkpoint. This module makes one: a
byte-level BPE tokenizer trained with ``tokenizers`` on the Python standard library's own
source (always present, and code-shaped), a few-million-parameter ``Qwen2ForCausalLM`` with
random weights, and a ChatML template with tools. Everything is seeded and the corpus is
read in sorted order, so the same seed on the same Python gives byte-identical files.
"""

from __future__ import annotations

import sysconfig
from collections.abc import Iterable, Iterator
from pathlib import Path

# Chat and tool tokens, Qwen2.5 spelling, so TRL/vLLM tooling that knows Qwen parses them.
# "special" tokens are dropped by decode(skip_special_tokens=True); the tool tags are not,
# because the tool-call parser needs to see them in decoded text.
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TEXT_TOKENS = [
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
]
# Qwen2's pre-tokenizer split: digits one by one, runs of spaces kept whole (indentation
# becomes single tokens), newlines separate from the indentation that follows them.
_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
VOCAB_SIZE = 8192
CORPUS_BYTES = 3_000_000  # enough for 8k merges; keeps training to a few seconds
CONTEXT = 4096
TEMPLATE_PATH = Path(__file__).with_name("chat_template.j2")


def stdlib_corpus(max_bytes: int = CORPUS_BYTES) -> Iterator[str]:
    """Yield stdlib ``.py`` sources in sorted path order until ``max_bytes`` is reached.

    Tests and site-packages are left out: the former are repetitive, the latter differ
    between machines and would make the tokenizer depend on what else is installed.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    total = 0
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if rel[0] in ("site-packages", "dist-packages", "test", "idlelib", "lib2to3") or "tests" in rel:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        yield text
        total += len(text)
        if total >= max_bytes:
            return


def train_tokenizer(texts: Iterable[str], vocab_size: int = VOCAB_SIZE):
    """A byte-level BPE ``tokenizers.Tokenizer`` (every byte encodable, so no ``<unk>``)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(SPECIAL_TOKENS) - len(TEXT_TOKENS),
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def _hf_tokenizer(tok):
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TEXT_TOKENS])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=CONTEXT,
        padding_side="left",  # decoder-only batched generation pads on the left
        chat_template=TEMPLATE_PATH.read_text(encoding="utf-8"),
        clean_up_tokenization_spaces=False,  # would eat spaces in code
    )


def _model(vocab_size: int, eos_ids: list[int], pad_id: int, seed: int):
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=192,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=6,
        num_key_value_heads=2,
        max_position_embeddings=CONTEXT,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_ids[0],
        pad_token_id=pad_id,
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=eos_ids,
        pad_token_id=pad_id,
        do_sample=True,
        temperature=0.7,
        top_p=0.9,
        max_new_tokens=256,
    )
    return model


def init_tiny(out_dir: str | Path, seed: int = 0, extra_texts: Iterable[str] = ()) -> Path:
    """Write a tokenizer + random Qwen2 model to ``out_dir``; return the directory.

    ``extra_texts`` are added to the tokenizer corpus (e.g. task prompts the model will
    see), so their words get merges too.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    extra = list(extra_texts)
    tok = train_tokenizer([*stdlib_corpus(), *extra])
    hf_tok = _hf_tokenizer(tok)
    eos_ids = hf_tok.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    model = _model(len(hf_tok), eos_ids, hf_tok.pad_token_id, seed)
    hf_tok.save_pretrained(out)
    model.save_pretrained(out)
    return out
