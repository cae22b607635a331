"""``patchloop serve`` and the engines that decode on this machine.

``server`` speaks the OpenAI Chat Completions API over a model; ``local`` is the
``transformers`` model both ``serve`` and the local chat client decode with; ``batcher``,
``batched`` and ``continuous`` decode many requests together (``row_sampling`` gives each row
its own sampler, ``prefix_cache`` reuses a conversation's KV prefix, ``cpu_attention`` the CPU
decoding kernel); ``continuation`` keeps token ids exact across turns; ``engines/`` holds
engines other than ``transformers`` with ``local``'s shape.
"""
