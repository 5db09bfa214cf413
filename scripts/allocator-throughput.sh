#!/usr/bin/env bash
# The paper's speed-up from larger batches, measured: for each (network, memory limit) below, `pgmo train --batch max
# --memory-limit SIZE --compare-allocators` finds the largest batch of each allocator (pool, torch-pool, planned) under
# the same limit (dry runs through the allocator's own policy, then one confirming real step) and times their steady-state
# steps side by side in one process (interleaved), on the CPU accelerator. Each run's JSON line goes to
# docs/throughput.jsonl, which scripts/paper-experiment.fsx turns into the throughput table of docs/results.md.
# Run from the repository root:   bash scripts/allocator-throughput.sh     (about 10 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release src/Runtime.CSharp -v q -nologo
pgmo() { dotnet src/Runtime.CSharp/bin/Release/net10.0/pgmo.dll "$@"; }
out=docs/throughput.jsonl
tmp=$(mktemp "docs/.throughput.jsonl.XXXXXXXX.tmp")   # a name no other run uses, removed on any failure
trap 'rm -f "$tmp"' EXIT
for run in "resnet 8MiB" "cnn 4MiB"; do
  set -- $run
  pgmo train --model "$1" --memory-limit "$2" --batch max --allocator planned --steps 6 --accelerator cpu --compare-allocators --json \
    | tail -n 1 | jq -c '{model, memoryLimit, accelerator, allocators}' >> "$tmp"
done
sync "$tmp"
mv "$tmp" "$out"
