#!/usr/bin/env bash
# The GPU checks, in one go, for a machine with one CUDA GPU (CI has none; run this where one is lent):
#
#   1. python -m benchmarks.mfu --nanogpt NANOGPT: GPT-2 small's training tokens/s and MFU, eager and
#      compiled, in bf16, beside nanoGPT's own bench.py on the same GPU   -> benchmarks/results/mfu.json
#   2. tests/test_cuda.py: the fused attention against the readable one, the KV cache, bf16 autocast,
#      torch.compile and Muon, on CUDA
#   3. experiment cramming --scale gpu: the baseline and the best recipe at GPT-2 small's shape, a
#      short budget each (a smoke run of the GPU config, not a result)
#
#   scripts/device_check.sh NANOGPT CORPUS [OUT]
#       NANOGPT  a checkout of karpathy/nanoGPT (copied, never modified)
#       CORPUS   a text file for the cramming run, e.g. tinyshakespeare.txt
#       OUT      where the logs, mfu.json and the cramming summary go (default runs/device-check)
#
# Each step has its own time limit and a failing step does not stop the next; the whole takes about
# 8 minutes on an H200. Commit first: the MFU result refuses a tree with uncommitted changes.
set -u
if [ $# -lt 2 ]; then echo "usage: scripts/device_check.sh NANOGPT CORPUS [OUT]" >&2; exit 2; fi
nanogpt=$1 corpus=$2 out=${3:-runs/device-check}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

# step NAME LIMIT_S COMMAND...: run it with a time limit, its output into OUT/NAME.log, then its tail
step() {
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    echo "== $name (at most ${limit} s): $*"
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local code=$?
    echo "== $name: exit $code after $((SECONDS - start)) s"
    tail -n 30 "$out/$name.log"
}

# - the machine and the code
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
"$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
git log -1 --format='commit %H' 2>/dev/null && git status --porcelain | head -5

step mfu 270 "$py" -m benchmarks.mfu --device cuda --batch_size 16 --nanogpt "$nanogpt"
cp benchmarks/results/mfu.json "$out/" 2>/dev/null

step cuda_tests 120 "$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py

step cramming 150 "$py" -m scratchformer.cli.main experiment cramming --scale gpu --budget 45s --seeds 1 \
    --variants baseline,best --curve_points 4 --train.warmup_steps 10 --data.corpus "$corpus" --out_dir /tmp/cramming-gpu
cp /tmp/cramming-gpu/summary.md "$out/cramming_summary.md" 2>/dev/null
cp /tmp/cramming-gpu/rows.jsonl "$out/cramming_rows.jsonl" 2>/dev/null
