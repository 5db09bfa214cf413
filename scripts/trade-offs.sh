#!/usr/bin/env bash
# The largest batch under one memory limit for the pool, torch-pool, the plan and the plan with offload
# (`train --trade offload`), with the mean step time of each, on the CPU accelerator, as one markdown table.
# Usage: scripts/trade-offs.sh [MODEL:LIMIT[:IMAGE]]...   (default: the four digits networks at 4MiB;
# torch-pool takes 2 MiB segments, so below 2 MiB it fits nothing)
# Each cell is one `pgmo train --model M --data synthetic --batch max --memory-limit LIMIT --steps 5 --json` run;
# step times are measured in separate runs, not interleaved: on a loaded machine compare them with care.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=("$@")
[ ${#runs[@]} -eq 0 ] && runs=(mlp:4MiB cnn:4MiB lenet:4MiB resnet:4MiB)
dotnet build -c Release src/Runtime.CSharp -v q -nologo >/dev/null
pgmo=(dotnet src/Runtime.CSharp/bin/Release/net10.0/pgmo.dll)
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| network | limit | pool | torch-pool | plan | plan + offload | offloaded per step | modelled extra | plan + offload / pool |"
echo "|---|---|---|---|---|---|---|---|---|"
for run in "${runs[@]}"; do
  IFS=: read -r model limit image <<< "$run"
  size=()
  [ -n "${image:-}" ] && size=(--image-size "$image")
  cells=()
  declare -A batch=()
  extra="" offloaded=""
  for kind in pool:none torch-pool:none planned:none planned:offload; do
    IFS=: read -r allocator trade <<< "$kind"
    json=$("${pgmo[@]}" train --model "$model" "${size[@]}" --data synthetic --batch max --memory-limit "$limit" --allocator "$allocator" \
             --trade "$trade" --steps 5 --accelerator cpu --json 2>/dev/null | tail -1) || json="{}"
    read -r b ms off ex <<< "$(python3 -c '
import json, sys
d = json.loads(sys.argv[1] or "{}")
t = d.get("trades") or {}
print(d.get("batch", 0), "%.1f" % d.get("stepMillis", 0), "%d_buffers,_%.0f_KiB" % (t.get("offloadedPerStep", 0), t.get("offloadedBytesPerStep", 0) / 1024), "%.3f_ms" % t.get("modelledExtraMillis", 0))
' "$json")"
    batch[$kind]=$b
    if [ "$b" = 0 ]; then cells+=("none fits"); else cells+=("$b ($ms ms)"); fi
    if [ "$trade" = offload ]; then offloaded=${off//_/ }; extra=${ex//_/ }; fi
  done
  ratio=$(python3 -c 'import sys; p, o = int(sys.argv[1]), int(sys.argv[2]); print("%.2fx" % (o / p) if p else "-")' "${batch[pool:none]}" "${batch[planned:offload]}")
  echo "| $model${image:+ (${image} px)} | $limit | ${cells[0]} | ${cells[1]} | ${cells[2]} | ${cells[3]} | $offloaded | $extra | $ratio |"
  unset batch
done
