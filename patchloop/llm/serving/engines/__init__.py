"""Inference engines other than ``transformers`` that serve a model with ``LocalModel``'s shape.

An engine has ``name``, ``context``, ``tokenizer`` (``encode``/``decode`` as Hugging Face
tokenizers spell them), ``render(messages, tools) -> token ids`` and ``generate(prompt_ids,
...) -> Generation``: exactly what ``patchloop serve`` calls on its model.
"""
