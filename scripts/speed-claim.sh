#!/usr/bin/env bash
# The paper's speed claim, measured: a larger batch in the same memory. For each run below, under a memory limit
# tight enough that the pool's largest batch is small, `pgmo train|infer --batch max --memory-limit SIZE
# --compare-allocators` finds each allocator's largest batch under the limit (dry runs through its own policy, then
# one confirming real iteration) and times pool, torch-pool and planned at their own batches side by side in one
# process, interleaved. Then, for each network of the runs, `pgmo train|infer --batch B` (planned) at batches 1, 2, 4,
# ... up to past the largest that fits gives the samples/s-against-batch curve: where batch size pays.
# Writes docs/speed-claim-ACC.jsonl (one line per run) and docs/speed-curves-ACC.jsonl (one line per network and batch),
# ACC the accelerator, each line with the machine and its load, then runs scripts/paper-experiment.fsx, which turns
# them into the speed-claim table and one SVG curve per network (docs/speed-curve-ACC-MODE-MODEL.svg) in
# docs/results.md.
# Run from anywhere:   bash scripts/speed-claim.sh          (CPU: about an hour on 2 idle cores)
#   ACCELERATOR=cuda   on a GPU machine (the default is cpu)      STEPS=K   timed iterations per run (default 3)
#   RUNS="MODE MODEL SIZE LIMIT;..."   other runs     CURVE_BATCHES="1 2 4 ..."   other batches for the curves
#   OUT_DIR=DIR        write the two files there, and do not render (scripts/gpu-check.sh, where no SDK runs fsi)
#   PGMO_DLL=FILE      run this build of pgmo instead of building one (DOTNET=PATH: the dotnet host that runs it)
#   QUICK=1            small images and batches, one timed iteration: checks that the script runs (minutes); with no
#                      OUT_DIR it writes to a temporary folder, never to docs/
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "speed-claim: $*" >&2; exit 1; }
command -v python3 >/dev/null || die "python3 not found (it reads pgmo's JSON lines)"
acc=${ACCELERATOR:-cpu}
steps=${STEPS:-3}
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || die "STEPS must be a positive integer, got '$steps'"
quick=${QUICK:-}
if [ -n "${PGMO_DLL:-}" ]; then pgmo_dll=$PGMO_DLL
else
    dotnet build -c Release src/Runtime.CSharp -v q -nologo >&2
    pgmo_dll=src/Runtime.CSharp/bin/Release/net10.0/pgmo.dll
fi
pgmo() { "${DOTNET:-dotnet}" "$pgmo_dll" "$@"; }

# MODE MODEL IMAGE-SIZE LIMIT: limits where the pool's largest batch is at most 8 at 224 px (the dry runs through each
# allocator's own policy decide the batches, so they are the same on any accelerator).
runs=("train vgg16 224 2GiB" "train resnet50 224 800MiB" "infer resnet50 224 180MiB" "infer alexnet 224 250MiB" "train resnet 8 8MiB")
curve_batches="1 2 4 8 16"
out_dir=${OUT_DIR:-}
if [ -n "$quick" ]; then
    runs=("train resnet 8 4MiB" "infer resnet50 32 110MiB")
    curve_batches="1 2 4"
    steps=1
    [ -n "$out_dir" ] || out_dir=$(mktemp -d)
fi
if [ -n "${RUNS:-}" ]; then IFS=';' read -r -a runs <<<"$RUNS"; fi
curve_batches=${CURVE_BATCHES:-$curve_batches}
render=
[ -n "$out_dir" ] || { out_dir=docs; render=1; }
mkdir -p "$out_dir"
claim=$out_dir/speed-claim-$acc.jsonl curves=$out_dir/speed-curves-$acc.jsonl
tmp_claim=$(mktemp "$claim.XXXXXX") tmp_curves=$(mktemp "$curves.XXXXXX")
trap 'rm -f "$tmp_claim" "$tmp_curves"' EXIT
machine="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores"
[ "$acc" = cuda ] && command -v nvidia-smi >/dev/null && machine="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1); host $machine"
load() { cut -d' ' -f1 /proc/loadavg; }
failed=()
# claim_line MODE LIMIT MACHINE LOAD < JSON: the run's line of speed-claim-ACC.jsonl, from pgmo's --json line
claim_line() { python3 -c '
import json, sys
j = json.loads(sys.stdin.read()); mode, limit, machine, load = sys.argv[1:5]
runs = [{"allocator": a["allocator"], "batch": a["batch"], "peakBytes": a["peakBytes"],
         "millis": a.get("stepMillis", a.get("latencyMillis")), "spreadMillis": a.get("stepSpreadMillis", a.get("latencySpreadMillis")),
         "samplesPerSecond": a["samplesPerSecond"]} for a in j["allocators"]]
print(json.dumps({"mode": mode, "model": j["model"], "imageSize": j["imageSize"], "memoryLimit": j["memoryLimit"], "limit": limit,
                  "accelerator": j["accelerator"], "machine": machine, "load": load, "allocators": runs}, separators=(",", ":")))' "$@"; }
# curve_line MODE MACHINE LOAD < JSON: one point of speed-curves-ACC.jsonl (infer: the median batch; train: the mean
# step after the first, from --op-times)
curve_line() { python3 -c '
import json, sys
j = json.loads(sys.stdin.read()); mode, machine, load = sys.argv[1:4]
ms = j["latencyMillis"] if mode == "infer" else j["opTimes"]["stepMillis"]
print(json.dumps({"mode": mode, "model": j["model"], "imageSize": j["imageSize"], "batch": j["batch"], "accelerator": j["accelerator"],
                  "machine": machine, "load": load, "millis": ms, "samplesPerSecond": j["batch"] * 1000.0 / ms}, separators=(",", ":")))' "$@"; }
# batches_of MODE MODEL < CLAIM.jsonl: the batches the allocators of that run fit
batches_of() { python3 -c '
import json, sys
for text in sys.stdin:
    j = json.loads(text)
    if j["mode"] == sys.argv[1] and j["model"] == sys.argv[2]: print(" ".join(str(a["batch"]) for a in j["allocators"]))' "$@" | tail -n 1; }

for run in "${runs[@]}"; do
    read -r mode model size limit <<<"$run"
    echo "speed-claim: $mode $model at ${size} px within $limit: each allocator at its largest batch, side by side" >&2
    before=$(load)
    if ! result=$(pgmo "$mode" --model "$model" --image-size "$size" --memory-limit "$limit" --batch max --allocator planned \
                      --compare-allocators --steps "$steps" --accelerator "$acc" --json | tail -n 1); then
        failed+=("$run"); echo "speed-claim: FAILED: $run" >&2; continue
    fi
    claim_line "$mode" "$limit" "$machine" "$before $(load)" <<<"$result" >> "$tmp_claim"
done

# the curves: one per (mode, network) of the runs, up to twice the largest batch any allocator fit
for run in "${runs[@]}"; do
    read -r mode model size limit <<<"$run"
    fitted=$(batches_of "$mode" "$model" < "$tmp_claim")
    [ -n "$fitted" ] || continue
    largest=$(tr ' ' '\n' <<<"$fitted" | sort -n | tail -n 1)
    for b in $(tr ' ' '\n' <<<"$curve_batches $fitted" | sort -n -u); do
        [ "$b" -ge 1 ] && [ "$b" -le $(( 2 * largest > 16 ? 2 * largest : 16 )) ] || continue
        echo "speed-claim: $mode $model at ${size} px, batch $b" >&2
        before=$(load)
        # infer: the median timed batch after a warm-up; train: the mean step after the first (--op-times), K + 1 steps
        if [ "$mode" = infer ]; then timing=(--steps "$steps"); else timing=(--steps $(( steps + 1 )) --op-times); fi
        if ! result=$(pgmo "$mode" --model "$model" --image-size "$size" --batch "$b" --allocator planned "${timing[@]}" --accelerator "$acc" --json | tail -n 1); then
            failed+=("$mode $model batch $b"); echo "speed-claim: FAILED: $mode $model batch $b" >&2; continue
        fi
        curve_line "$mode" "$machine" "$before $(load)" <<<"$result" >> "$tmp_curves"
    done
done
sync "$tmp_claim" "$tmp_curves"
mv "$tmp_claim" "$claim"
mv "$tmp_curves" "$curves"
echo "speed-claim: wrote $claim and $curves" >&2
if [ -n "$render" ]; then
    dotnet build -c Release src/Planner.FSharp -v q -nologo >&2
    dotnet fsi scripts/paper-experiment.fsx
fi
[ ${#failed[@]} -eq 0 ] || die "${#failed[@]} run(s) failed: ${failed[*]}"
