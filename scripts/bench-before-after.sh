#!/usr/bin/env bash
# Planning time and peaks of this tree against a base commit, side by side, on the generated DNN-like chains of
# `pgmo bench` (problems without gaps, pins or hints). Builds the base commit in a temporary folder and this tree in
# Release, then runs `pgmo bench --sizes N --algorithms A --repeats R --json` of the two builds alternately (the order
# swapped every round), ROUNDS times per size and algorithm, so that a busy machine slows both alike. Prints, per size
# and algorithm, the median over the rounds of each build's time (bench's statistic: the median of its R repeats),
# their ratio, and whether every round's peaks agree; and the machine's load (uptime) before and after.
#   bash scripts/bench-side-by-side.sh [BASE_COMMIT (d28f118)] [ROUNDS (5)] [SIZES (1000,10000,100000)] [ALGORITHMS (all but search)] [REPEATS (3)]
# Never run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-d28f118}
rounds=${2:-5}
sizes=${3:-1000,10000,100000}
algorithms=${4:-best-fit,greedy-size,xla-spatial,xla-temporal,first-fit,pool,torch-pool}
repeats=${5:-3}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
work=$(mktemp -d /tmp/pgmo-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
git archive "$base" | tar -x -C "$work"
echo "building $base and this tree (Release)..." >&2
dotnet build -c Release "$work/src/Runtime.CSharp" -v q -nologo > "$work/build-base.log" 2>&1 || { cat "$work/build-base.log" >&2; exit 1; }
dotnet build -c Release src/Runtime.CSharp -v q -nologo > "$work/build-new.log" 2>&1 || { cat "$work/build-new.log" >&2; exit 1; }
# a copy of this tree's build, so that rebuilding the tree while the script runs changes nothing
cp -r src/Runtime.CSharp/bin/Release/net10.0 "$work/new"
baseDll="$work/src/Runtime.CSharp/bin/Release/net10.0/pgmo.dll"
newDll="$work/new/pgmo.dll"
echo "load before: $(uptime)"
results="$work/results.tsv"
: > "$results"
for n in ${sizes//,/ }; do
  for a in ${algorithms//,/ }; do
    for r in $(seq 1 "$rounds"); do
      if (( r % 2 )); then order="base new"; else order="new base"; fi
      for which in $order; do
        dll=$baseDll; [[ $which == new ]] && dll=$newDll
        line=$(dotnet "$dll" bench --sizes "$n" --algorithms "$a" --repeats "$repeats" --json 2>/dev/null | tail -1)
        printf '%s\t%s\t%s\t%s\n' "$n" "$a" "$which" "$line" >> "$results"
      done
    done
  done
done
echo "load after:  $(uptime)"
python3 - "$results" "$base" "$rounds" "$repeats" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    n, a, which, text = line.rstrip("\n").split("\t", 3)
    r = json.loads(text)["rows"][0]
    rows.setdefault((int(n), a), {"base": [], "new": []})[which].append((r["millis"], r["peak"], r["buffers"]))
print(f"median of {sys.argv[3]} rounds of `pgmo bench --repeats {sys.argv[4]}` (its median, ms), base = {sys.argv[2]}, new = this tree")
print(f"{'buffers':>8} {'algorithm':<13} {'base ms':>10} {'new ms':>10} {'new/base':>9}  peaks")
for (n, a), v in sorted(rows.items()):
    b = statistics.median(m for m, _, _ in v["base"]); w = statistics.median(m for m, _, _ in v["new"])
    peaks = {p for _, p, _ in v["base"]} | {p for _, p, _ in v["new"]}
    same = "equal" if len(peaks) == 1 else ("new lower" if min(p for _, p, _ in v["new"]) < min(p for _, p, _ in v["base"]) else "DIFFER")
    print(f"{v['base'][0][2]:>8} {a:<13} {b:>10.1f} {w:>10.1f} {w / b:>9.3f}  {same}")
EOF
