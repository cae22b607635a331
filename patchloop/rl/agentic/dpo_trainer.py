"""TRL's ``DPOTrainer`` on trajectories already in token ids, their tool outputs masked.

Two small extensions, nothing else of TRL changes:

- ``TrajectoryPreferenceCollator``: TRL's ``DataCollatorForPreference`` marks every completion
  token as trained on; here each side's ``chosen_mask``/``rejected_mask`` (1 on tokens the model
  sampled) replaces those ones, so the log-probabilities DPO compares are sums over the model's
  own tokens, never over tool outputs the environment wrote into the sequence.
- ``TrajectoryDPOTrainer``: a dataset that already has ``prompt_ids`` is used as it is (TRL
  would otherwise look for text to render and tokenize), and the mask columns are kept through
  TRL's removal of unused columns.

Imported lazily (it imports TRL), by ``patchloop.rl.agentic.dpo``.
"""

from __future__ import annotations

from typing import Any

import torch
from trl import DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

MASK_COLUMNS = ("chosen_mask", "rejected_mask")


class TrajectoryPreferenceCollator(DataCollatorForPreference):
    """``DataCollatorForPreference`` with the dataset's model masks as the completion mask."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        out = super().torch_call(examples)
        masks = [[0] * len(e["prompt_ids"]) + list(e[col]) for col in MASK_COLUMNS for e in examples]
        if self.max_length is not None:  # cut exactly as the parent cut the ids
            sl = slice(None, self.max_length) if self.truncation_mode == "keep_start" else slice(-self.max_length, None)
            masks = [m[sl] for m in masks]
        mask = torch.zeros_like(out["completion_mask"])
        for row, m in enumerate(masks):
            mask[row, : len(m)] = torch.tensor(m, dtype=mask.dtype)
        out["completion_mask"] = mask
        return out


class TrajectoryDPOTrainer(DPOTrainer):
    """``DPOTrainer`` that takes pre-tokenized trajectory pairs as they are (see module doc).

    Two private hooks, as TRL has no public way to hand DPO token ids it must not re-tokenise
    (the sampled ids of a trajectory) nor to keep extra columns (the tool-output masks) through
    its collator: ``_prepare_dataset`` and ``_set_signature_columns_if_needed``. trl is pinned to
    the tested minor version in pyproject.toml for that reason."""

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        if "prompt_ids" in (dataset.column_names or []):
            return dataset
        return super()._prepare_dataset(dataset, processing_class, args, dataset_name)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        self._signature_columns = [*self._signature_columns, *MASK_COLUMNS]
