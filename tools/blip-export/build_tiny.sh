#!/usr/bin/env bash
# The whole tiny-model recipe, seeded and resumable: train (resumes from runs/tiny/train_state.pt),
# export the three fine-tuned checkpoints as one model directory, evaluate on the held-out split,
# write the parity fixtures. Usage: bash tools/blip-export/build_tiny.sh [run-dir]
set -euo pipefail
cd "$(dirname "$0")"
REPO=$(cd ../.. && pwd)
RUN=${1:-$REPO/runs/tiny}
MODEL=$REPO/models/blip-tiny-shapes
PY=/usr/bin/python3

[ -f "$REPO/datasets/shapes-test/labels.jsonl" ] || $PY -m shapes.make_data test-split --out "$REPO/datasets/shapes-test" --n 500 --seed 1234
[ -f "$REPO/datasets/shapes-samples/samples.json" ] || $PY -m shapes.make_data samples --out "$REPO/datasets/shapes-samples" --seed 7
$PY -m shapes.train --out "$RUN"
rm -rf "$MODEL"
$PY -m blip.export_onnx --layout trained-here --name blip-tiny-shapes --vocab "$RUN/vocab.txt" --out "$MODEL" \
  --checkpoint "$RUN/model_tiny_caption.pth" --checkpoint "$RUN/model_tiny_itm.pth" --checkpoint "$RUN/model_tiny_vqa.pth"
$PY -m shapes.evaluate --run "$RUN" --split "$REPO/datasets/shapes-test" --out "$MODEL/eval.json"
$PY -m shapes.fixtures --run "$RUN" --samples "$REPO/datasets/shapes-samples" --model "$MODEL"
cp "$RUN/train_log.jsonl" "$MODEL/"  # provenance: the training curve
du -sh "$MODEL"
