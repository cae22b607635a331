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


class EndAfterCodeBlock:
    """A ``transformers`` logits processor: once a row's new text holds a closed fenced block,
    its next token is forced to be the end-of-turn token.

    The row then ends the way a finished reply does (an end token, not a cut), so a trainer
    that treats a completion without one as truncated (GRPO's masking) scores it normally, and
    the chat template's turn structure stays intact for training. The prompt width is read
    from the first call, which sees exactly the (left-padded) prompt."""

    def __init__(self, tokenizer, end_id: int):
        self.tok, self.end_id = tokenizer, int(end_id)
        self.width: int | None = None
        self.closed: dict[int, bool] = {}

    def __call__(self, input_ids, scores):
        if self.width is None:
            self.width = input_ids.shape[1]
        for i in range(input_ids.shape[0]):
            if not self.closed.get(i):
                text = self.tok.decode(input_ids[i, self.width:].tolist(), skip_special_tokens=True)
                self.closed[i] = text.count(FENCE) >= 2
            if self.closed[i]:
                scores[i, :] = float("-inf")
                scores[i, self.end_id] = 0.0
        return scores
