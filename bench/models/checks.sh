#!/usr/bin/env bash
# The full-size checks of issue 15 (hours each on a 2-core CPU; run them on an idle machine):
#   1. a 2-layer attention model solves MQAR with 64 keys at L 256 (accuracy > 0.99);
#   2. an H3 model solves H3's associative recall (V 20, L 40; accuracy > 0.95);
#   3. the same backbones without a sequence mixer stay at chance on both.
# Each run writes DIR/log.jsonl, DIR/curves.png and DIR/checkpoint.safetensors; rerun a line with
# --resume appended to continue after an interruption. The final line of each run prints the micro
# and macro accuracy; copy them with the command into bench/NOTES.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ref="dotnet run -c Release --project src/Reference.Cli --"
out=${OUT:-bench-out}
mkdir -p "$out"
mqar=(--task mqar --task-option vocab=8192 --task-option length=256 --task-option pairs=64 --task-option train=100000 --task-option test=3000)
recall=(--task h3-recall)
$ref train "${mqar[@]}" --model bench/models/attention-2layer.json --steps 20000 --batch 64 --lr 1e-3 --weight-decay 0.1 --eval-every 1000 --out "$out/mqar-attention" "$@"
$ref train "${mqar[@]}" --model bench/models/no-mixer.json --steps 2000 --batch 64 --lr 1e-3 --eval-every 500 --out "$out/mqar-none" "$@"
$ref train "${recall[@]}" --model bench/models/h3-2layer.json --steps 62800 --batch 32 --lr 5e-4 --weight-decay 0.1 --eval-every 2000 --out "$out/recall-h3" "$@"
$ref train "${recall[@]}" --model bench/models/no-mixer.json --steps 5000 --batch 32 --lr 5e-4 --eval-every 1000 --out "$out/recall-none" "$@"
