"""Chat models with tool calls, as LangChain ``BaseChatModel`` s the agent talks to.

``openai_compat``: any OpenAI-compatible endpoint (vLLM, ``patchloop serve``, llama.cpp's
server, a hosted API). ``hf``: a local ``transformers`` checkpoint (with a LoRA adapter),
decoded in this process by :mod:`patchloop.llm.serving.local`. Build either through
:func:`patchloop.llm.load_chat_model`.
"""
