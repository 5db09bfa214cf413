#!/usr/bin/env bash
# Regenerates datasets/traces/: dry-run traces of one training iteration of the paper's five networks at batch
# 32, 64 and 128, and the largest batch within 16 GiB and 80 GiB under each pool (pool, torch-pool) and under the
# best-fit plan.
# Run from the repository root:   bash scripts/profile-paper-traces.sh
# (a few seconds after the build; everything is deterministic, so the committed files come out byte for byte).
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release src/Runtime.CSharp -v q -nologo
pgmo() { dotnet src/Runtime.CSharp/bin/Release/net10.0/pgmo.dll "$@"; }
out=datasets/traces
mkdir -p "$out"
for model in alexnet vgg16 googlenet resnet50 inception3; do
  for batch in 32 64 128; do
    pgmo profile --model "$model" --batch "$batch" --dry-run --out "$out/$model-b$batch.csv"
  done
done
tmp=$(mktemp "$out/.max-batch.jsonl.XXXXXXXX.tmp")   # a name no other run uses, removed on any failure
trap 'rm -f "$tmp"' EXIT
for model in alexnet vgg16 googlenet resnet50 inception3; do
  for budget in 16GiB 80GiB; do
    # the last line of --json output is one JSON object; millis is dropped so the file does not change between runs
    pgmo max-batch --model "$model" --budget "$budget" --json | tail -n 1 | jq -c 'del(.millis)' >> "$tmp"
  done
done
sync "$tmp"
mv "$tmp" "$out/max-batch.jsonl"
