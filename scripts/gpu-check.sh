#!/usr/bin/env bash
# The GPU checks of the runtime, for a machine with an NVIDIA GPU and its CUDA driver:
#   1. the CUDA kernel tests (AcceleratorParityTests and CudaTests; they must run on the GPU, not skip);
#   2. pgmo bench-kernels on CUDA;
#   3. pgmo train --data synthetic --compare-allocators of each paper network at batch 32, 224 px: the pool, torch-pool
#      and planned allocators side by side in one process;
#   4. the larger-batch claim on the GPU: train --batch max --memory-limit 4GiB --compare-allocators (resnet50 and
#      vgg16, 224 px);
#   5. the whole runtime test suite, on a machine where `auto` picks CUDA.
# With the .NET 10 SDK there, it builds the solution itself. Without it (the lent GPU machines have neither the SDK nor
# a network), it runs from the archive that scripts/gpu-bundle.sh makes: .gpu/pgmo-gpu-bundle.tar.xz, or PGMO_BUNDLE.
# Each step has a time limit and a failed step does not stop the others; the script exits 1 if any step failed.
# It writes the card, the test results, the kernel table, step times and peaks to docs/gpu-results.md (atomically), and
# every log to LOG_DIR when that is set. An out-of-memory training run is a result (recorded as such), not a failure.
# BUDGET=S bounds the whole run (default 1800 s): each step gets at most what is left, and steps that no time is left for
# are reported as not run, so the report is always written.
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

# --- 4. the larger batch under one memory limit ----------------------------------------------------------------------
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

# --- 5. the whole runtime suite ------------------------------------------------------------------------------------
say "the runtime test suite"
timeout "$(limit 400)" "${test_cmd[@]}" > "$logs/tests.log" 2>&1
rc=$?
if [ "$rc" -eq 124 ]; then fail "the runtime test suite: stopped at its time limit, the time left of BUDGET (see tests.log)"
elif [ "$rc" -ne 0 ]; then fail "the runtime test suite exited with $rc (see tests.log)"; fi
suite_note=""
[ -n "$bundle" ] && suite_note=' (From the bundle: without the SDK, ScriptTests, which run `dotnet fsi`, are left out.)'
suite_summary=$(grep -E 'Total: |Passed!|Failed!|Total tests' "$logs/tests.log" | tail -n 1 | sed 's/^ *//')

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
    echo "## The largest batch under 4 GiB (\`pgmo train --model M --data synthetic --image-size 224 --memory-limit 4GiB --batch max --allocator planned --steps 4 --accelerator cuda --compare-allocators\`, M = resnet50, vgg16)"
    echo
    echo '```'
    echo "$throughput"
    echo '```'
} > "$work/gpu-results.md"
mkdir -p docs
results_tmp=$(mktemp docs/.gpu-results.md.XXXXXXXX.tmp)   # a name no other run uses
cp "$work/gpu-results.md" "$results_tmp" && sync "$results_tmp" && mv "$results_tmp" docs/gpu-results.md || { rm -f "$results_tmp"; exit 1; }
cp docs/gpu-results.md "$logs/" 2>/dev/null || true
say "wrote docs/gpu-results.md"
[ ${#failures[@]} -eq 0 ] || { say "${#failures[@]} step(s) failed"; exit 1; }
