#!/usr/bin/env bash
# The prepared GPU check (one H100/H200, under 10 minutes): HumanEval greedy of the 1.5B through
# vLLM, then 20 GRPO steps of the 0.5B whose groups are sampled by vLLM through the generation
# interface (engine=vllm: TRL's rollout_func, the step's adapter handed to the engine), on
# procedural function tasks. Prints the figures and writes them under $OUT (or runs/gpu-check).
#
# A GPU machine here reaches no network: the Python packages (torch, vllm, trl, peft,
# transformers) and both models must already be on it. Give the models' HF directories:
#   MODEL_15B=/path/to/qwen2.5-coder-1.5b-instruct/hf MODEL_05B=/path/to/qwen2.5-coder-0.5b-instruct/hf \
#     bash bench/gpu_check.sh
# Anything missing is named in one line and the script exits 3 without starting the GPU work.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
need() { echo "gpu_check: $1" >&2; exit 3; }

command -v nvidia-smi >/dev/null 2>&1 || need "no nvidia-smi: not a GPU machine"
"$PY" -c "import torch, vllm, trl, peft, transformers; assert torch.cuda.is_available()" 2>/dev/null \
    || need "$PY lacks torch (with CUDA), vllm, trl, peft or transformers"
[ -f "${MODEL_15B:-/nonexistent}/config.json" ] || need "MODEL_15B is not a model directory: ${MODEL_15B:-unset}"
[ -f "${MODEL_05B:-/nonexistent}/config.json" ] || need "MODEL_05B is not a model directory: ${MODEL_05B:-unset}"
"$PY" -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 || need "cannot install patchloop itself"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"

t0=$(date +%s)
timeout 300 "$PY" -m patchloop eval func --dataset humaneval --model "$MODEL_15B" --engine vllm \
    --prompt-format chat --max-new-tokens 512 --backend local --k 1 --no-progress --out "$OUT/humaneval-1.5b" \
    | tail -1
echo "humaneval 1.5B through vLLM: $(( $(date +%s) - t0 )) s including the engine's start"

timeout 120 "$PY" -m patchloop datagen functions --n 200 --out "$OUT/tasks" --backend local --no-progress | tail -1
t1=$(date +%s)
timeout 240 "$PY" -m patchloop train grpo --config configs/qwen0.5b-cpu-grpo.yaml \
    model.name_or_path="$MODEL_05B" data.path="$OUT/tasks" train.output_dir="$OUT/grpo" engine=vllm \
    train.max_steps=20 train.per_device_train_batch_size=32 num_generations=4 max_completion_length=512 \
    validation.before=false data.validation_size=0 reward.backend=local train.report_to=[] \
    | tail -3
echo "20 GRPO steps of the 0.5B with vLLM sampling: $(( $(date +%s) - t1 )) s"
"$PY" - "$OUT/grpo/metrics.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(x) for x in open(sys.argv[1]) if "time/step_s" in x]
for k in ("step_s", "generation_s", "sync_s", "reward_s", "optimisation_s"):
    vals = [r.get(f"time/{k}", 0.0) for r in rows[1:] or rows]
    print(f"median {k}: {statistics.median(vals):.1f}")
print("reward by step:", [round(r.get("reward", 0.0), 3) for r in rows])
EOF
