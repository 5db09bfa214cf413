#!/usr/bin/env bash
# The GPU checks of the runtime, for a machine with an NVIDIA GPU (CUDA driver) and the .NET SDK:
#   1. the test suites, and the CUDA kernel tests on their own (they must run, not skip);
#   2. pgmo bench-kernels on CUDA;
#   3. pgmo train --data synthetic of each paper network at batch 32, 224 px, with the pool and the planned allocator.
# Writes the card, the kernel table, step times and peaks to docs/gpu-results.md (atomically; a failed run leaves the
# old file). Any error stops the script with a message and a non-zero exit; an out-of-memory training run is a result
# (recorded as such), not an error.
# Usage: scripts/gpu-check.sh            (STEPS=N to change the training steps per run, default 5)
set -euo pipefail
trap 'echo "gpu-check: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."

die() { echo "gpu-check: $*" >&2; exit 1; }
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: this needs a machine with an NVIDIA GPU and its driver"
command -v dotnet >/dev/null || die "dotnet not found: install the .NET SDK 10"
card=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n 1)
[ -n "$card" ] || die "nvidia-smi lists no GPU"
steps=${STEPS:-5}
[[ "$steps" =~ ^[1-9][0-9]*$ ]] || die "STEPS must be a positive integer, got '$steps'"
models=(alexnet vgg16 googlenet resnet50 inception3)
allocators=(pool planned)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "gpu-check: $card" >&2
dotnet build -c Release Hybrid.sln
pgmo=(dotnet src/Runtime.CSharp/bin/Release/net10.0/pgmo.dll)

echo "gpu-check: test suites" >&2
dotnet test Hybrid.sln -c Release --no-build 2>&1 | tee "$work/tests.log"
echo "gpu-check: CUDA kernel tests (must run on the GPU, not skip)" >&2
dotnet test tests/Runtime.Tests -c Release --no-build --filter "FullyQualifiedName~AcceleratorParityTests|FullyQualifiedName~CudaTests" \
    --logger "console;verbosity=normal" 2>&1 | tee "$work/cuda-tests.log"
grep -E '^\s*Skipped ' "$work/cuda-tests.log" && die "CUDA kernel tests were skipped: ILGPU found no CUDA device"
cuda_passed=$(grep -cE '^\s*Passed .*(cuda|Cuda)' "$work/cuda-tests.log" || true)
[ "$cuda_passed" -ge 3 ] || die "expected the CUDA kernel tests to pass, saw $cuda_passed passing"

echo "gpu-check: bench-kernels" >&2
"${pgmo[@]}" bench-kernels --accelerator cuda --sizes 256,512,1024,2048 --json > "$work/bench.txt"
bench_json=$(tail -n 1 "$work/bench.txt")
bench_table=$(sed '$d' "$work/bench.txt")

# field NAME JSON: the value of a top-level number or string field of a flat JSON object.
field() { sed -nE "s/.*\"$1\":\"?([^,\"}]*)\"?[,}].*/\1/p" <<<"$2"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }

rows=""
for m in "${models[@]}"; do
    for a in "${allocators[@]}"; do
        echo "gpu-check: train $m, $a allocator" >&2
        set +e
        "${pgmo[@]}" train --model "$m" --data synthetic --batch 32 --image-size 224 --steps "$steps" \
            --allocator "$a" --accelerator cuda --json > "$work/train.out" 2> "$work/train.err"
        rc=$?
        set -e
        if [ "$rc" -ne 0 ]; then
            if grep -qi "out of memory" "$work/train.out" "$work/train.err"; then
                rows+="| $m | $a | out of memory | | | |"$'\n'
                continue
            fi
            cat "$work/train.out" "$work/train.err" >&2
            die "train --model $m --allocator $a exited with $rc"
        fi
        j=$(tail -n 1 "$work/train.out")
        step=$(field stepMillis "$j"); sps=$(field samplesPerSecond "$j"); peak=$(field peakBytes "$j")
        loss=$(field finalLoss "$j"); acc=$(field accelerator "$j")
        [ -n "$step" ] && [ -n "$peak" ] || die "train --model $m --allocator $a printed no stepMillis/peakBytes: $j"
        [ "$acc" = "cuda" ] || die "train --model $m ran on '$acc', not cuda"
        rows+="| $m | $a | $(printf '%.1f' "$step") | $(printf '%.1f' "$sps") | $(mib "$peak") | $loss |"$'\n'
    done
done

{
    echo "# GPU results"
    echo
    echo "Written by \`scripts/gpu-check.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
    echo
    echo "Card (name, memory, driver): **$card**. Tests: the suites passed and the CUDA kernel tests ran on the GPU."
    echo
    echo "## Kernels (\`pgmo bench-kernels --accelerator cuda\`)"
    echo
    echo '```'
    echo "$bench_table"
    echo '```'
    echo
    echo "GEMM 512³: $(field gemmGflops "$bench_json") GFLOP/s with $(field gemm "$bench_json") (plain C# loop on the host: $(field loopGflops "$bench_json") GFLOP/s)."
    echo
    echo "## Training (\`pgmo train --data synthetic --batch 32 --image-size 224 --steps $steps\`)"
    echo
    echo "Step time is the mean over the training steps; peak is the allocator's peak reserved device memory."
    echo
    echo "| model | allocator | step ms | samples/s | peak MiB | final loss |"
    echo "|---|---|---:|---:|---:|---:|"
    printf '%s' "$rows"
} > "$work/gpu-results.md"
mkdir -p docs
mv "$work/gpu-results.md" docs/gpu-results.md.tmp && mv docs/gpu-results.md.tmp docs/gpu-results.md
echo "gpu-check: wrote docs/gpu-results.md" >&2
