"""Training the agent on its own rollouts: the agent's tools, prompts and sandbox unchanged, the
SWE harness's verdict as the reward. ``rollouts`` runs and grades them, ``samples`` turns a
trajectory into the exact token ids the model saw and sampled, ``rft`` and ``dpo`` learn from
them offline, ``grpo`` online (the policy in training acts, ``grpo_rollouts``)."""
