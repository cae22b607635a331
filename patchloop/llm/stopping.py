"""Stop a chat model's row once its code block is closed.

Instruct models answer a coding prompt with a fenced block and then, often, a paragraph
explaining it. Graders read only the code, so every token after the closing fence is time
spent for nothing; in a batch the longest row sets the pace, so one chatty row slows all.
"""

from __future__ import annotations

FENCE = "```"


class CodeBlockClosed:
    """A ``transformers`` stopping criterion: per row, True once the new text holds a closed
    fenced block (an opening and a closing fence)."""

    def __init__(self, tokenizer, prompt_width: int):
        self.tok, self.width = tokenizer, prompt_width
        self.done: dict[int, bool] = {}

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        flags = []
        for i in range(input_ids.shape[0]):
            if not self.done.get(i):
                text = self.tok.decode(input_ids[i, self.width:].tolist(), skip_special_tokens=True)
                self.done[i] = text.count(FENCE) >= 2
            flags.append(self.done[i])
        return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)
