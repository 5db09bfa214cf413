#!/usr/bin/env bash
# The GPU checks of the runtime, for a machine with an NVIDIA GPU and its CUDA driver:
#   1. the CUDA kernel tests (AcceleratorParityTests and CudaTests; they must run on the GPU, not skip);
#   2. pgmo bench-kernels on CUDA;
#   3. pgmo train --data synthetic --compare-allocators of each paper network at batch 32, 224 px: the pool, torch-pool
#      and planned allocators side by side in one process;
#   4. pgmo infer --compare-allocators of each paper network at batch 32, 224 px, the same way;
#   5. where the time goes: train (resnet50, batch 64) and infer (resnet50, batch 32) with --op-times;
#   6. TF32: the same train and infer runs without and with --tf32;
#   7. the paper's speed claim (scripts/speed-claim.sh with ACCELERATOR=cuda): each allocator at its own largest batch
#      under a tight limit (vgg16 training within 2 GiB, resnet50 inference within 180 MiB), side by side, and
#      samples/s against batch; its two JSON-lines files go to docs/speed-claim-cuda.jsonl and
#      docs/speed-curves-cuda.jsonl, which scripts/paper-experiment.fsx turns into docs/results.md and SVG curves
#      wherever the SDK runs;
#   8. the larger-batch claim on the GPU: train --batch max --memory-limit 4GiB --compare-allocators (resnet50 and
#      vgg16, 224 px);
#   9. the whole runtime test suite, on a machine where `auto` picks CUDA;
#  10. trade-offs on CUDA (issue 17): resnet50 at 64 px, batch 32, trained with --trade offload under a limit 10 % below its plan
#      must give the losses of the run without a limit (the copies on their own stream, ordered by events), and
#      resnet50 and vgg16 at 224 px within 4 GiB: the pool's largest batch beside the plan's with --trade both.
# With the .NET 10 SDK there, it builds the solution itself. Without it (the lent GPU machines have neither the SDK nor
# a network), it runs from the archive that scripts/gpu-bundle.sh makes: .gpu/pgmo-gpu-bundle.tar.xz, or PGMO_BUNDLE.
# Each step has a time limit and a failed step does not stop the others; the script exits 1 if any step failed.
# It writes the card, the test results, the kernel table, step times and peaks to docs/gpu-results.md (atomically), and
# every log to LOG_DIR when that is set. An out-of-memory training run is a result (recorded as such), not a failure.
# BUDGET=S bounds the whole run (default 1800 s): each step gets at most what is left, and steps that no time is left for
# are reported as not run, so the report is always written.
# PARTS="infer op-times tf32 speed-claim trades" runs only those of steps 4-7 and 10 (default: all; the other steps
# always run), to fit a short device budget: steps 4-7 start about 25 pgmo processes, the speed claim most of them.
# Usage: scripts/gpu-check.sh        (STEPS=N training steps per run, default 6; LOG_DIR=DIR to keep the logs)
set -uo pipefail
cd "$(dirname "$0")/.."

die() { echo "gpu-check: $*" >&2; exit 1; }
say() { echo "gpu-check: $*" >&2; }
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: this needs a machine with an NVIDIA GPU and its driver"
card=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n 1)
[ -n "$card" ] || die "nvidia-smi lists no GPU"
steps=${STEPS:-6}
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || die "STEPS must be a positive integer, got '$steps'"
budget=${BUDGET:-1800}
[[ "$budget" =~ ^[1-9][0-9]*$ ]] || die "BUDGET must be a positive number of seconds, got '$budget'"
# limit S: the time limit for the next step, S seconds or what is left of the budget (keeping 10 s for the report).
limit() { local left=$(( budget - SECONDS - 10 )); (( left < $1 )) && echo $(( left > 0 ? left : 1 )) || echo "$1"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
logs=${LOG_DIR:-$work/logs}
mkdir -p "$logs"
failures=()
fail() { failures+=("$1"); say "FAILED: $1"; }
parts=${PARTS:-all}
# want PART: true when PARTS names it (or is all)
want() { [[ " $parts " == *" all "* || " $parts " == *" $1 "* ]]; }
say "$card"

# --- the programs: built here with the SDK, or unpacked from the bundle --------------------------------------------
bundle=${PGMO_BUNDLE:-}
if [ -z "$bundle" ] && ! command -v dotnet >/dev/null; then bundle=.gpu/pgmo-gpu-bundle.tar.xz; fi
if [ -n "$bundle" ]; then
    [ -f "$bundle" ] || die "no .NET SDK here and no bundle at $bundle: run scripts/gpu-bundle.sh on a machine with the SDK and carry .gpu/"
    mkdir -p "$work/b" && tar -C "$work/b" -xJf "$bundle" || die "cannot unpack $bundle"
    export DOTNET_ROOT=$work/b/dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1
    dotnet=$work/b/dotnet/dotnet
    app=$work/b/app
    built="bundle of commit $(cat "$work/b/COMMIT")"
    # ScriptTests run `dotnet fsi`, which needs the SDK: the one class left out here.
    test_cmd=(env DOTNET_ROLL_FORWARD=Major "$dotnet" "$work/b/xunit/xunit.console.dll" "$app/Runtime.Tests.dll" -nocolor
              -noclass Pgmo.Tests.Cli.ScriptTests)
    cuda_test_args=(-verbose -class Pgmo.Tests.AcceleratorParityTests -class Pgmo.Tests.CudaTests)
else
    dotnet=dotnet
    dotnet build -c Release Hybrid.sln -v q -nologo > "$logs/build.log" 2>&1 || { cat "$logs/build.log" >&2; die "the build failed"; }
    app=tests/Runtime.Tests/bin/Release/net10.0
    built="commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), built here"
    test_cmd=(dotnet test tests/Runtime.Tests -c Release --no-build)
    cuda_test_args=(--filter "FullyQualifiedName~AcceleratorParityTests|FullyQualifiedName~CudaTests" --logger "console;verbosity=normal")
fi

# --- the CUDA libraries: ILGPU asks for libcuda.so and cuBLAS for libcublas.so.10/11/12 -----------------------------
# Drivers often ship only libcuda.so.1, and CUDA 13 ships libcublas.so.13: link the names ILGPU asks for to what is
# there (cuBLAS's v2 entry points that pgmo calls exist in every one of these versions).
mkdir -p "$work/lib"
find_lib() { { ldconfig -p 2>/dev/null | awk -v n="$1" '$1 ~ "^"n { print $NF }'; \
               find /usr/local/nvidia /usr/local/cuda* /usr/lib/x86_64-linux-gnu /opt /usr/local/lib -name "$1*" 2>/dev/null; } \
             | grep -v -e stubs -e '\.a$' | head -n 1; }
libcuda=$(find_lib libcuda.so.1)
[ -n "$libcuda" ] && ln -sf "$libcuda" "$work/lib/libcuda.so"
libcublas=$(find_lib libcublas.so.12); [ -n "$libcublas" ] || libcublas=$(find_lib libcublas.so.13)
if [ -n "$libcublas" ]; then
    ln -sf "$libcublas" "$work/lib/libcublas.so.12"
    export LD_LIBRARY_PATH="$work/lib:$(dirname "$libcublas"):${LD_LIBRARY_PATH:-}"
else
    export LD_LIBRARY_PATH="$work/lib:${LD_LIBRARY_PATH:-}"
fi
say "libcuda: ${libcuda:-not found}; libcublas: ${libcublas:-not found (the tiled GEMM kernel will run)}"

# --- 1. the CUDA kernel tests --------------------------------------------------------------------------------------
say "CUDA kernel tests (must run on the GPU, not skip)"
timeout "$(limit 300)" "${test_cmd[@]}" "${cuda_test_args[@]}" > "$logs/cuda-tests.log" 2>&1
rc=$?
cuda_passed=$(grep -E '[Cc]uda' "$logs/cuda-tests.log" | grep -cE '\[FINISHED\]|^\s*Passed ' || true)
cuda_skipped=$(grep -cE '\[SKIP\]|^\s*Skipped ' "$logs/cuda-tests.log" || true)
if [ "$rc" -ne 0 ]; then fail "CUDA kernel tests exited with $rc (see cuda-tests.log)"
elif [ "$cuda_skipped" -gt 0 ]; then fail "CUDA kernel tests were skipped: ILGPU found no CUDA device"
fi
cuda_summary=$(grep -E 'Total: |Passed!|Failed!|Total tests' "$logs/cuda-tests.log" | tail -n 1 | sed 's/^ *//')

# --- 2. bench-kernels ----------------------------------------------------------------------------------------------
say "bench-kernels"
bench_table="(failed)"; bench_json=""
if timeout "$(limit 180)" "$dotnet" "$app/pgmo.dll" bench-kernels --accelerator cuda --sizes 256,512,1024,2048 --json > "$logs/bench-kernels.txt" 2>&1; then
    bench_json=$(tail -n 1 "$logs/bench-kernels.txt")
    bench_table=$(sed '$d' "$logs/bench-kernels.txt")
else
    fail "bench-kernels --accelerator cuda (see bench-kernels.txt)"
fi

# field NAME JSON: the value of a top-level number or string field of a flat JSON object.
field() { sed -nE "s/.*\"$1\":\"?([^,\"}]*)\"?[,}].*/\1/p" <<<"$2" | head -n 1; }

# --- 3. the paper networks: each in one process, the three allocators interleaved (median steady-state steps) --------
rows=""
for m in alexnet vgg16 googlenet resnet50 inception3; do
    if [ "$(limit 200)" -lt 30 ]; then rows+="| $m | | not run: out of time | | | |"$'\n'; fail "train --model $m: not run, out of time"; continue; fi
    say "train $m, pool, torch-pool and planned side by side"
    log="$logs/train-$m.log"
    timeout "$(limit 200)" "$dotnet" "$app/pgmo.dll" train --model "$m" --data synthetic --batch 32 --image-size 224 --steps "$steps" \
        --allocator planned --accelerator cuda --compare-allocators --json > "$log" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ]; then
        if grep -qi "out of memory" "$log"; then rows+="| $m | | out of memory | | | |"$'\n'; continue; fi
        rows+="| $m | | failed (exit $rc) | | | |"$'\n'
        fail "train --model $m exited with $rc (see $(basename "$log"))"
        continue
    fi
    # one table row per allocator from the last JSON line: its median step, samples/s and peak reserved bytes
    if ! table=$(grep '^{' "$log" | tail -n 1 | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["accelerator"] == "cuda", "ran on " + str(j["accelerator"])
for a in j["allocators"]:
    print("| %s | %s | %.1f ± %.1f | %.1f | %.0f | %s |" % (j["model"], a["allocator"], a["stepMillis"], a["stepSpreadMillis"],
          a["samplesPerSecond"], a["peakBytes"] / 1048576, j["finalLoss"]))' 2>> "$log"); then
        rows+="| $m | | no result | | | |"$'\n'; fail "train --model $m printed no usable JSON (see $(basename "$log"))"; continue
    fi
    rows+="$table"$'\n'
done

# --- 4. inference of the paper networks: the three allocators interleaved in one process each ------------------------
infer_rows=""
want infer || infer_rows="| (not run: PARTS) | | | | |"$'\n'
for m in alexnet vgg16 googlenet resnet50 inception3; do
    want infer || break
    if [ "$(limit 120)" -lt 30 ]; then infer_rows+="| $m | | not run: out of time | | |"$'\n'; fail "infer --model $m: not run, out of time"; continue; fi
    say "infer $m, pool, torch-pool and planned side by side"
    log="$logs/infer-$m.log"
    if ! timeout "$(limit 120)" "$dotnet" "$app/pgmo.dll" infer --model "$m" --batch 32 --image-size 224 --steps 10 \
            --allocator planned --accelerator cuda --compare-allocators --json > "$log" 2>&1; then
        infer_rows+="| $m | | failed | | |"$'\n'; fail "infer --model $m (see $(basename "$log"))"; continue
    fi
    if ! table=$(grep '^{' "$log" | tail -n 1 | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["accelerator"] == "cuda", "ran on " + str(j["accelerator"])
for a in j["allocators"]:
    print("| %s | %s | %.2f ± %.2f | %.1f | %.0f |" % (j["model"], a["allocator"], a["latencyMillis"], a["latencySpreadMillis"] / 2,
          a["samplesPerSecond"], a["peakBytes"] / 1048576))' 2>> "$log"); then
        infer_rows+="| $m | | no result | | |"$'\n'; fail "infer --model $m printed no usable JSON (see $(basename "$log"))"; continue
    fi
    infer_rows+="$table"$'\n'
done

# --- 5. where the time goes, and 6. TF32 against FP32 ----------------------------------------------------------------
# run_figure PART NAME LIMIT ARGS...: runs pgmo ARGS into LOG_DIR/NAME.txt; prints the samples/s of its JSON line
run_figure() {
    local part=$1 name=$2 secs=$3; shift 3
    if ! want "$part"; then echo "not run (PARTS)"; return; fi
    if [ "$(limit "$secs")" -lt 20 ]; then fail "$name: not run, out of time"; echo "not run"; return; fi
    if timeout "$(limit "$secs")" "$dotnet" "$app/pgmo.dll" "$@" --accelerator cuda --json > "$logs/$name.txt" 2>&1; then
        grep '^{' "$logs/$name.txt" | tail -n 1 | python3 -c 'import json, sys; j = json.load(sys.stdin); print("%.1f" % j["samplesPerSecond"])' 2>/dev/null || echo "no result"
    else
        fail "$name (see $name.txt)"; echo "failed"
    fi
}
op_train_args=(train --model resnet50 --data synthetic --batch 64 --image-size 224 --steps 6 --allocator planned)
op_infer_args=(infer --model resnet50 --batch 32 --image-size 224 --steps 10 --allocator planned)
say "op times of resnet50 training and inference"
op_train=$(run_figure op-times op-times-train 200 "${op_train_args[@]}" --op-times)
op_infer=$(run_figure op-times op-times-infer 120 "${op_infer_args[@]}" --op-times)
say "TF32 against FP32: resnet50 training and inference"
fp32_train=$(run_figure tf32 fp32-train 200 "${op_train_args[@]}")
tf32_train=$(run_figure tf32 tf32-train 200 "${op_train_args[@]}" --tf32)
fp32_infer=$(run_figure tf32 fp32-infer 120 "${op_infer_args[@]}")
tf32_infer=$(run_figure tf32 tf32-infer 120 "${op_infer_args[@]}" --tf32)
op_table() { [ -f "$logs/$1.txt" ] && sed -n '/op times of/,/^ *step /p' "$logs/$1.txt"; }

# --- 7. the paper's speed claim ------------------------------------------------------------------------------------
# speed_markdown CLAIM.jsonl CURVES.jsonl: the speed-claim table and the curves' points, in markdown
speed_markdown() { python3 - "$1" "$2" <<'PY'
import json, sys
claims = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
curves = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
print("| run | limit | allocator | batch | peak MiB | ms per iteration | samples/s | vs pool |")
print("|---|---:|---|---:|---:|---:|---:|---:|")
for c in claims:
    pool = next(a for a in c["allocators"] if a["allocator"] == "pool")["samplesPerSecond"]
    for a in c["allocators"]:
        ms = "%.1f" % a["millis"] if a["millis"] is not None else "-"
        print("| %s %s, %d px | %s | %s | %d | %.0f | %s | %.1f | %s |" % (c["model"], c["mode"], c["imageSize"], c["limit"], a["allocator"], a["batch"],
              a["peakBytes"] / 1048576, ms, a["samplesPerSecond"], "x%.2f" % (a["samplesPerSecond"] / pool) if pool > 0 else "-"))
print()
print("Samples/s against batch (the curves; planned allocator):")
print()
for c in claims:
    points = sorted((p["batch"], p["samplesPerSecond"]) for p in curves if p["mode"] == c["mode"] and p["model"] == c["model"])
    print("- %s %s: %s" % (c["model"], c["mode"], ", ".join("batch %d: %.1f" % p for p in points)))
PY
}
speed_runs="train vgg16 224 2GiB;infer resnet50 224 180MiB"
speed_table="(not run)"
if ! want speed-claim; then speed_table="(not run: PARTS)"
elif [ "$(limit 400)" -lt 60 ]; then fail "the speed claim: not run, out of time"
else
    say "the speed claim: $speed_runs, each allocator at its largest batch, then samples/s against batch"
    mkdir -p "$work/speed"
    if timeout "$(limit 400)" env OUT_DIR="$work/speed" PGMO_DLL="$app/pgmo.dll" DOTNET="$dotnet" ACCELERATOR=cuda STEPS=3 RUNS="$speed_runs" \
            CURVE_BATCHES="1 4 16 64" bash scripts/speed-claim.sh > "$logs/speed-claim.log" 2>&1; then :
    else fail "the speed claim (see speed-claim.log)"; fi
    if [ -s "$work/speed/speed-claim-cuda.jsonl" ]; then
        cp "$work/speed/speed-claim-cuda.jsonl" "$work/speed/speed-curves-cuda.jsonl" "$logs/" 2>/dev/null || true
        speed_table=$(speed_markdown "$work/speed/speed-claim-cuda.jsonl" "$work/speed/speed-curves-cuda.jsonl") || speed_table="(no usable result)"
    fi
fi

# --- 8. the larger batch under one memory limit ----------------------------------------------------------------------
throughput=""
for m in resnet50 vgg16; do
    say "train --model $m --batch max --memory-limit 4GiB --compare-allocators"
    if timeout "$(limit 240)" "$dotnet" "$app/pgmo.dll" train --model "$m" --data synthetic --image-size 224 --memory-limit 4GiB --batch max \
            --allocator planned --steps 4 --accelerator cuda --compare-allocators > "$logs/throughput-$m.txt" 2>&1; then
        throughput+="$(sed -n '/allocators side by side/,$p' "$logs/throughput-$m.txt")"$'\n'
    else
        throughput+="$m: failed"$'\n'
        fail "train --model $m --batch max --compare-allocators (see throughput-$m.txt)"
    fi
done

# --- 9. the whole runtime suite ------------------------------------------------------------------------------------
say "the runtime test suite"
timeout "$(limit 400)" "${test_cmd[@]}" > "$logs/tests.log" 2>&1
rc=$?
if [ "$rc" -eq 124 ]; then fail "the runtime test suite: stopped at its time limit, the time left of BUDGET (see tests.log)"
elif [ "$rc" -ne 0 ]; then fail "the runtime test suite exited with $rc (see tests.log)"; fi
suite_note=""
[ -n "$bundle" ] && suite_note=' (From the bundle: without the SDK, ScriptTests, which run `dotnet fsi`, are left out.)'
suite_summary=$(grep -E 'Total: |Passed!|Failed!|Total tests' "$logs/tests.log" | tail -n 1 | sed 's/^ *//')

# --- 10. trade-offs on CUDA ----------------------------------------------------------------------------------------
# trade_run NAME ARGS...: pgmo train ARGS --accelerator cuda --json into LOG_DIR/NAME.txt; prints its JSON line
trade_run() {
    local name=$1; shift
    timeout "$(limit 240)" "$dotnet" "$app/pgmo.dll" train "$@" --data synthetic --allocator planned --accelerator cuda --json \
        > "$logs/$name.txt" 2>&1 && grep '^{' "$logs/$name.txt" | tail -n 1
}
trade_rows=""; trade_same="not run (PARTS)"
if want trades; then
    say "trade-offs on CUDA: offload beside no limit (resnet50, 64 px), then the largest batches within 4 GiB"
    small=(--model resnet50 --image-size 64 --batch 32 --steps 3)
    if plain=$(trade_run trade-plain "${small[@]}") && [ -n "$plain" ]; then
        lim=$(python3 -c 'import json, sys; print(int(json.loads(sys.argv[1])["planPeakBytes"] * 0.9))' "$plain")
        if off=$(trade_run trade-offload "${small[@]}" --memory-limit "$lim" --trade offload) && [ -n "$off" ]; then
            trade_same=$(python3 - "$plain" "$off" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
t = b["trades"]
same = a["finalLoss"] == b["finalLoss"]
print("%s: final loss %r without a limit, %r with --trade offload within %d B (%d buffers, %.1f MiB offloaded per step; step %.1f against %.1f ms)"
      % ("same" if same else "DIFFERENT", a["finalLoss"], b["finalLoss"], b["memoryLimit"], t["offloadedPerStep"] or 0,
         (t["offloadedBytesPerStep"] or 0) / 2**20, b["stepMillis"], a["stepMillis"]))
PY
)
            [[ "$trade_same" == same* ]] || fail "trade-offs: --trade offload on CUDA changed the loss or traded nothing (see trade-offload.txt)"
        else trade_same="failed"; fail "trade-offs: train --trade offload (see trade-offload.txt)"; fi
    else trade_same="failed"; fail "trade-offs: train resnet50 32 px without a limit (see trade-plain.txt)"; fi
    for m in resnet50 vgg16; do
        big=(--model "$m" --image-size 224 --memory-limit 4GiB --batch max --steps 4)
        for how in pool both; do
            if [ "$how" = pool ]; then j=$(timeout "$(limit 240)" "$dotnet" "$app/pgmo.dll" train "${big[@]}" --data synthetic --allocator pool --accelerator cuda --json > "$logs/trade-$m-pool.txt" 2>&1 && grep '^{' "$logs/trade-$m-pool.txt" | tail -n 1)
            else j=$(trade_run "trade-$m-both" "${big[@]}" --trade both); fi
            row=$(python3 -c '
import json, sys
j = json.loads(sys.argv[3]); t = j.get("trades") or {}
print("| %s | %s | %d | %.1f | %.1f | %s | %s |" % (sys.argv[1], sys.argv[2], j["batch"], j["stepMillis"], j["samplesPerSecond"], j["finalLoss"],
      "%d offloaded, %d recomputed; modelled %.1f ms" % (t.get("offloadedPerStep") or 0, t.get("recomputedPerStep") or 0, t.get("modelledExtraMillis") or 0) if t else ""))' "$m" "$how" "$j" 2>/dev/null) \
                || { row="| $m | $how | failed | | | | |"; fail "trade-offs: $m with $how within 4 GiB (see trade-$m-$how.txt)"; }
            trade_rows+="$row"$'\n'
        done
    done
fi

# --- the report ----------------------------------------------------------------------------------------------------
{
    echo "# GPU results"
    echo
    echo "Written by \`scripts/gpu-check.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') from the $built."
    echo
    echo "Card (name, memory, driver): **$card**. libcuda: \`${libcuda:-not found}\`; cuBLAS: \`${libcublas:-not found}\`."
    echo
    if [ ${#failures[@]} -eq 0 ]; then echo "Every step passed."; else
        echo "Failed steps:"; for f in "${failures[@]}"; do echo "- $f"; done; fi
    echo
    echo "- CUDA kernel tests (AcceleratorParityTests, CudaTests): ${cuda_summary:-no summary}, $cuda_passed CUDA cases finished."
    echo "- The runtime suite with CUDA present: ${suite_summary:-no summary}.${suite_note}"
    echo
    echo "## Kernels (\`pgmo bench-kernels --accelerator cuda\`)"
    echo
    echo '```'
    echo "$bench_table"
    echo '```'
    echo
    [ -n "$bench_json" ] && printf 'GEMM 512³: %.0f GFLOP/s with %s (plain C# loop on the host: %.2f GFLOP/s).\n' \
        "$(field gemmGflops "$bench_json")" "$(field gemm "$bench_json")" "$(field loopGflops "$bench_json")"
    echo
    echo "## Training (\`pgmo train --model M --data synthetic --batch 32 --image-size 224 --steps $steps --accelerator cuda --compare-allocators --json\`)"
    echo
    echo "One process per network runs the three allocators interleaved. Step time is the median of the steady-state steps"
    echo "± half their interquartile range; peak is the allocator's peak reserved device memory."
    echo
    echo "| model | allocator | step ms | samples/s | peak MiB | final loss |"
    echo "|---|---|---:|---:|---:|---:|"
    printf '%s' "$rows"
    echo
    echo "## Inference (\`pgmo infer --model M --batch 32 --image-size 224 --steps 10 --accelerator cuda --compare-allocators --json\`)"
    echo
    echo "One process per network runs the three allocators interleaved. Latency is the median batch (upload, forward,"
    echo "logits back) ± half its interquartile range."
    echo
    echo "| model | allocator | batch ms | samples/s | peak MiB |"
    echo "|---|---|---:|---:|---:|"
    printf '%s' "$infer_rows"
    echo
    echo "## Where the time goes (\`--op-times\`) and TF32 (\`--tf32\`)"
    echo
    echo "\`pgmo ${op_train_args[*]} --accelerator cuda\` and \`pgmo ${op_infer_args[*]} --accelerator cuda\`, each without"
    echo "and with \`--tf32\` (samples/s), and once more with \`--op-times\` (which waits for the device around every op)."
    echo
    echo "| run | FP32 samples/s | TF32 samples/s | with --op-times (FP32) |"
    echo "|---|---:|---:|---:|"
    echo "| resnet50 training, batch 64 | $fp32_train | $tf32_train | $op_train |"
    echo "| resnet50 inference, batch 32 | $fp32_infer | $tf32_infer | $op_infer |"
    echo
    echo '```'
    op_table op-times-train
    echo
    op_table op-times-infer
    echo '```'
    echo
    echo "## The paper's speed claim (\`OUT_DIR=... ACCELERATOR=cuda RUNS=\"$speed_runs\" CURVE_BATCHES=\"1 4 16 64\" bash scripts/speed-claim.sh\`)"
    echo
    echo "Each allocator at its own largest batch under the limit, side by side in one process; then the planned allocator"
    echo "at each batch of the curve. The JSON lines are docs/speed-claim-cuda.jsonl and docs/speed-curves-cuda.jsonl;"
    echo "\`dotnet fsi scripts/paper-experiment.fsx\` draws their curves into docs/results.md."
    echo
    echo "$speed_table"
    echo
    echo "## The largest batch under 4 GiB (\`pgmo train --model M --data synthetic --image-size 224 --memory-limit 4GiB --batch max --allocator planned --steps 4 --accelerator cuda --compare-allocators\`, M = resnet50, vgg16)"
    echo
    echo '```'
    echo "$throughput"
    echo '```'
    echo
    echo "## Trade-offs on CUDA (\`pgmo train --trade ...\`, issue 17)"
    echo
    echo "Offload with its copies on a second stream: \`train ${small[*]:-} --data synthetic --allocator planned --accelerator cuda\`"
    echo "without a limit, then with \`--memory-limit\` 10 % below that run's plan and \`--trade offload\`: $trade_same."
    echo
    echo "Within 4 GiB at 224 px (\`train --model M --image-size 224 --memory-limit 4GiB --batch max --steps 4 --data synthetic"
    echo "--accelerator cuda\`, with \`--allocator pool\`, and with \`--allocator planned --trade both\`):"
    echo
    echo "| model | allocator | batch | step ms | samples/s | final loss | trades per step |"
    echo "|---|---|---:|---:|---:|---:|---|"
    printf '%s' "$trade_rows"
} > "$work/gpu-results.md"
mkdir -p docs
publish() {   # publish FILE TARGET: through a name no other run uses, flushed before the rename
    local tmp; tmp=$(mktemp "$(dirname "$2")/.$(basename "$2").XXXXXXXX.tmp")
    cp "$1" "$tmp" && sync "$tmp" && mv "$tmp" "$2" || { rm -f "$tmp"; return 1; }
}
publish "$work/gpu-results.md" docs/gpu-results.md || exit 1
for f in speed-claim-cuda.jsonl speed-curves-cuda.jsonl; do
    [ -s "$work/speed/$f" ] && publish "$work/speed/$f" "docs/$f"
done
cp docs/gpu-results.md "$logs/" 2>/dev/null || true
say "wrote docs/gpu-results.md"
[ ${#failures[@]} -eq 0 ] || { say "${#failures[@]} step(s) failed"; exit 1; }
