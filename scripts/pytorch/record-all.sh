#!/usr/bin/env bash
# Records datasets/pytorch/: allocation logs of PyTorch's CPU allocator over two training steps of torchvision's
# alexnet, vgg16, googlenet, resnet50 and inception_v3 and of a GPT-style transformer, at two sizes each.
#
# Needs Debian's PyTorch (apt-get install python3-torch python3-torchvision) at /usr/bin/python3 and a C compiler.
# Never run in CI. From the repository root:
#   bash scripts/pytorch/record-all.sh            # all twelve logs (about ten minutes on 2 cores)
#   bash scripts/pytorch/record-all.sh resnet50   # the logs of the models named
# Each log is gzipped (gzip -n: no name or time stamp). Addresses change from run to run (ASLR); the events,
# sizes and their order do not.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-/usr/bin/python3}
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cc -O2 -Wall -Wextra -fPIC -shared -o "$build/alloc-log.so" scripts/pytorch/alloc-log.c -ldl -lpthread
out=datasets/pytorch
mkdir -p "$out"

# name model batch size
runs=(
  "alexnet-b2-96 alexnet 2 96"          "alexnet-b8-224 alexnet 8 224"
  "vgg16-b2-96 vgg16 2 96"              "vgg16-b8-224 vgg16 8 224"
  "googlenet-b2-96 googlenet 2 96"      "googlenet-b8-224 googlenet 8 224"
  "resnet50-b2-96 resnet50 2 96"        "resnet50-b8-224 resnet50 8 224"
  "inception_v3-b2-96 inception_v3 2 96" "inception_v3-b8-299 inception_v3 8 299"
  "gpt-small-b4-64 gpt-small 4 64"      "gpt-medium-b8-128 gpt-medium 8 128"
)
for run in "${runs[@]}"; do
  read -r name model batch size <<< "$run"
  if [ $# -gt 0 ] && [[ ! " $* " =~ " $model " ]]; then continue; fi
  echo "recording $name" >&2
  log="$build/$name.log"
  start=$(date +%s)
  PGMO_ALLOC_LOG="$log" LD_PRELOAD="$build/alloc-log.so" OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} \
    "$python" scripts/pytorch/record.py --model "$model" --batch "$batch" --size "$size" --steps 2
  gzip -n -9 -c "$log" > "$out/$name.log.gz.tmp"
  mv "$out/$name.log.gz.tmp" "$out/$name.log.gz"
  echo "  $(grep -c '^alloc' "$log") allocs, $(grep -c '^free' "$log") frees, $(( $(date +%s) - start )) s: $out/$name.log.gz" >&2
done
