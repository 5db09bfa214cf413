#!/usr/bin/env bash
# The largest batch under one memory limit for the pool, torch-pool, the plan, and the plan with each trade-off
# (`train --trade offload|recompute|both`), with the mean step time of each, on the CPU accelerator, as one markdown table.
# Usage: scripts/trade-offs.sh [MODEL:LIMIT[:IMAGE]]...   (default: the four digits networks at 4MiB;
# torch-pool takes 2 MiB segments, so below 2 MiB it fits nothing)
# Each cell is one `pgmo train --model M --data synthetic --batch max --memory-limit LIMIT --steps 5 --json` run;
# step times are measured in separate runs, not interleaved: on a loaded machine compare them with care. The last
# columns come from the `--trade both` run: what it offloaded and recomputed per step, its extra time per step as the
# planner modelled it and as measured (a stopwatch around the copies and the recompute kernels, the mean of the steps
# after the first), and the costs it planned with (measured once per run: copies to the host and back, element passes).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=("$@")
[ ${#runs[@]} -eq 0 ] && runs=(mlp:4MiB cnn:4MiB lenet:4MiB resnet:4MiB)
dotnet build -c Release src/Runtime.CSharp -v q -nologo >/dev/null
pgmo=(dotnet src/Runtime.CSharp/bin/Release/net10.0/pgmo.dll)
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| network | limit | pool | torch-pool | plan | plan + offload | plan + recompute | plan + both | both: per step | both: extra per step, modelled / measured | both: costs (copies, element passes) | plan + both / pool |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for run in "${runs[@]}"; do
  IFS=: read -r model limit image <<< "$run"
  size=()
  [ -n "${image:-}" ] && size=(--image-size "$image")
  cells=()
  declare -A batch=()
  traded="" extra="" costs=""
  for kind in pool:none torch-pool:none planned:none planned:offload planned:recompute planned:both; do
    IFS=: read -r allocator trade <<< "$kind"
    json=$("${pgmo[@]}" train --model "$model" "${size[@]}" --data synthetic --batch max --memory-limit "$limit" --allocator "$allocator" \
             --trade "$trade" --steps 5 --accelerator cpu --json 2>/dev/null | tail -1) || json="{}"
    read -r b ms per ex co <<< "$(python3 -c '
import json, sys
d = json.loads(sys.argv[1] or "{}")
t = d.get("trades") or {}
kib = lambda n: "%.0f_KiB" % (n / 1024)
per = "%d_offloaded_(%s),_%d_recomputed_(%s)" % (t.get("offloadedPerStep", 0), kib(t.get("offloadedBytesPerStep", 0)), t.get("recomputedPerStep", 0), kib(t.get("recomputedBytesPerStep", 0)))
measured = t.get("measuredExtraMillis")
extra = "%.3f_/_%s_ms" % (t.get("modelledExtraMillis", 0), "-" if measured is None else "%.3f" % measured)
costs = "%.1f,_%.1f_GB/s" % (t.get("offloadBytesPerUs", 0) / 1000, t.get("elementwiseBytesPerUs", 0) / 1000)
print(d.get("batch", 0), "%.1f" % d.get("stepMillis", 0), per, extra, costs)
' "$json")"
    batch[$kind]=$b
    if [ "$b" = 0 ]; then cells+=("none fits"); else cells+=("$b ($ms ms)"); fi
    if [ "$trade" = both ]; then traded=${per//_/ }; extra=${ex//_/ }; costs=${co//_/ }; fi
  done
  ratio=$(python3 -c 'import sys; p, o = int(sys.argv[1]), int(sys.argv[2]); print("%.2fx" % (o / p) if p else "-")' "${batch[pool:none]}" "${batch[planned:both]}")
  echo "| $model${image:+ (${image} px)} | $limit | ${cells[0]} | ${cells[1]} | ${cells[2]} | ${cells[3]} | ${cells[4]} | ${cells[5]} | $traded | $extra | $costs | $ratio |"
  unset batch
done
echo
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
