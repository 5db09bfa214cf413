#!/usr/bin/env bash
# Planning time and plans of this tree against a base commit (default d28f118, before the one problem model), side by
# side in one run, printed as markdown:
#  1. speed: `pgmo bench` (generated DNN-like layer chains: plain problems, no gaps, pins or hints) from the two builds
#     alternately, the order swapped every round (AB BA AB ...), ROUNDS rounds per size, so that a busy machine slows
#     both alike; each algorithm in a process of its own, so that none is timed among another's garbage. The table
#     gives, before and after, the least time (bench's fastest of its --repeats runs, the median of that over the
#     rounds) and their ratio, the verdict's statistic; then the same for bench's median of its repeats; and each
#     build's peak (the plans must be unchanged or better). The least time is the verdict's because in a fresh
#     process the first runs of a few repeats also pay for JIT compilation and for the GC growing its heap, which
#     differ between two builds more than the algorithm does (first-fit at 10k: median of 7 repeats 38 ms before and
#     20 ms after, fastest 10 ms both);
#     With --in-process, `pgmo bench` is replaced by scripts/plan-time.fsx run in `dotnet fsi` against each build's
#     Pgmo.Planner.dll: the same harness code for both builds, every timed run after a full garbage collection, so
#     what differs between the builds is the planner alone (`pgmo bench` of each build is its own code, and the
#     garbage its own earlier runs left);
#  2. plans: `pgmo compare datasets/minimalloc --json` of both builds: every algorithm's peak on every instance,
#     before and after (search and the solver are time-bounded, so a loaded machine may move them either way).
# The base commit is built in a temporary `git worktree` under /tmp, removed at the end; this tree (with any
# uncommitted change) is built in place and copied, so rebuilding while the script runs changes nothing.
#   bash scripts/bench-before-after.sh [--base REV] [--rounds N] [--sizes N,...] [--repeats K] [--algorithms A,B]
#                                      [--search-time-limit S] [--solver-time-limit S] [--no-compare] [--in-process]
# Defaults: d28f118, 5 rounds, 1000,10000,100000 buffers, 5 repeats below 100k buffers and 2 from 100k (the fastest
# is then a run after the JIT-compiling first; one run of greedy-size or xla-spatial takes ~30 s there), every
# algorithm both builds have but search in bench (its time is its limit), search 1 s and the solver 10 s per instance
# in compare. The 100k runs take most of the time (one bench run of the seven algorithms at 100k: 104 s at load 24 on
# 2 cores). Run it on a quiet machine: the load (uptime) is printed before and after. Never run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
base=d28f118 rounds=5 sizes=1000,10000,100000 repeats="" algorithms="" search=1 solver=10 compare=1 inprocess=0
while (( $# )); do
  case $1 in
    --base) base=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --algorithms) algorithms=$2; shift 2 ;;
    --search-time-limit) search=$2; shift 2 ;;
    --solver-time-limit) solver=$2; shift 2 ;;
    --no-compare) compare=0; shift ;;
    --in-process) inprocess=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "bench-before-after.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
baseCommit=$(git rev-parse --verify "$base^{commit}") || { echo "bench-before-after.sh: '$base' is not a commit" >&2; exit 2; }
after="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- && echo "" || echo "+uncommitted")"
work=$(mktemp -d /tmp/pgmo-before-after-XXXXXX)
cleanup() { git worktree remove --force "$work/before" 2>/dev/null || true; git worktree prune; rm -rf "$work"; }
trap cleanup EXIT
git worktree add --detach --quiet "$work/before" "$baseCommit"
echo "building $base and this tree (Release)..." >&2
dotnet build -c Release "$work/before/src/Runtime.CSharp" -v q -nologo > "$work/build-before.log" 2>&1 || { cat "$work/build-before.log" >&2; exit 1; }
dotnet build -c Release src/Runtime.CSharp -v q -nologo > "$work/build-after.log" 2>&1 || { cat "$work/build-after.log" >&2; exit 1; }
cp -r "$work/before/src/Runtime.CSharp/bin/Release/net10.0" "$work/before-bin"
cp -r src/Runtime.CSharp/bin/Release/net10.0 "$work/after-bin"
declare -A dll=([before]="$work/before-bin/pgmo.dll" [after]="$work/after-bin/pgmo.dll")
# --in-process: this tree's harness after a reference to each build's planner
for which in before after; do
  printf '#r "%s"\n#load "%s"\n' "$work/$which-bin/Pgmo.Planner.dll" "$PWD/scripts/plan-time.fsx" > "$work/time-$which.fsx"
done
pgmo() { local which=$1; shift; dotnet "${dll[$which]}" "$@"; }

# the algorithms both builds have (the after build's order): the rows of a quick compare on the smallest instance
names() {
  pgmo "$1" compare datasets/minimalloc/input.12.csv --time-limit 0.1 --solver-time-limit 0 --json 2>/dev/null | tail -1 \
    | python3 -c 'import json, sys; print("\n".join(r["algorithm"] for r in json.load(sys.stdin)["rows"]))'
}
common=$(grep -Fxf <(names before) <(names after) | grep -vx 'lower-bound\|solver' | paste -sd, -)
if [[ -z $algorithms ]]; then algorithms=$(tr , '\n' <<< "$common" | grep -vx search | paste -sd, -); fi

echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "load before: $(uptime)"
results="$work/bench.tsv"
: > "$results"
for r in $(seq 1 "$rounds"); do
  for n in ${sizes//,/ }; do
    if (( r % 2 )); then order="before after"; else order="after before"; fi
    # one process per algorithm: none is timed among the garbage another left
    for a in ${algorithms//,/ }; do
      for which in $order; do
        echo "round $r/$rounds, n=$n, $a: $which" >&2
        k=${repeats:-$(( n < 100000 ? 5 : 2 ))}
        if (( inprocess )); then
          line=$(cd "$work" && PLAN_TIME_SIZES=$n PLAN_TIME_ALGORITHMS=$a PLAN_TIME_REPEATS=$k dotnet fsi "$work/time-$which.fsx" 2>/dev/null | tail -1)
        else
          line=$(pgmo "$which" bench --sizes "$n" --algorithms "$a" --repeats "$k" --time-limit "$search" --json 2>/dev/null | tail -1)
        fi
        printf '%s\t%s\t%s\n' "$which" "$r" "$line" >> "$results"
      done
    done
  done
done
if (( compare )); then
  for which in before after; do
    echo "compare datasets/minimalloc: $which" >&2
    pgmo "$which" compare datasets/minimalloc --algorithms "$common" --time-limit "$search" --solver-time-limit "$solver" --json 2>/dev/null \
      | tail -1 > "$work/compare-$which.json"
  done
fi
echo "load after:  $(uptime)"
python3 - "$results" "$work" "$base" "$after" "$rounds" "${repeats:-5 below 100k buffers, 2 from 100k}" "$search" "$solver" "$compare" "$inprocess" <<'PY'
import json, os, statistics, sys
results, work, base, after, rounds, repeats, search, solver, compare, inprocess = sys.argv[1:]
harness = "scripts/plan-time.fsx (one harness, a full GC before each run)" if inprocess == "1" else "`pgmo bench`"
cells = {}
for line in open(results):
    which, _, text = line.rstrip("\n").split("\t", 2)
    for row in json.loads(text)["rows"]:
        c = cells.setdefault((row["algorithm"], row["buffers"]), {"before": [], "after": []})
        c[which].append((row["millis"], row["peak"], row.get("minMillis", row["millis"])))
print()
print(f"### planning time: before = {base}, after = {after}")
print()
print(f"{rounds} rounds (alternating), one process per algorithm and build; {harness}: the fastest and the median of the repeats ({repeats}),")
print("each the median over the rounds, in ms")
print()
print("| algorithm | buffers | least before | least after | after / before | median before | median after | after / before | peak before | peak after | plan |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
worst = 0.0
for (a, n), c in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    if not c["before"] or not c["after"]: continue
    b = statistics.median(m for m, _, _ in c["before"]); w = statistics.median(m for m, _, _ in c["after"])
    lb = statistics.median(l for _, _, l in c["before"]); lw = statistics.median(l for _, _, l in c["after"])
    pb = max(p for _, p, _ in c["before"]); pa = max(p for _, p, _ in c["after"])
    same = len({p for _, p, _ in c["before"]} | {p for _, p, _ in c["after"]}) == 1
    verdict = "unchanged" if same else ("better" if pa < min(p for _, p, _ in c["before"]) else "WORSE" if pa > pb else "differs")
    ratio = w / b if b > 0 else float("nan")
    least = lw / lb if lb > 0 else float("nan")
    worst = max(worst, least)
    print(f"| {a} | {n} | {lb:.1f} | {lw:.1f} | {least:.3f} | {b:.1f} | {w:.1f} | {ratio:.3f} | {pb} | {pa} | {verdict} |")
print()
print(f"slowest after / before, least time: {worst:.3f} (the target: at most 1.05)")
if compare == "1":
    rows = {w: json.load(open(os.path.join(work, f"compare-{w}.json")))["rows"] for w in ("before", "after")}
    peaks = {w: {(r["problem"], r["algorithm"]): r["peak"] for r in rows[w] if r["algorithm"] != "lower-bound"} for w in rows}
    bounds = {w: {r["problem"]: r["lowerBound"] for r in rows[w]} for w in rows}
    keys = sorted(set(peaks["before"]) & set(peaks["after"]))
    algorithms = sorted({a for _, a in keys}, key=lambda a: [k[1] for k in keys].index(a))
    problems = sorted({p for p, _ in keys})
    print()
    print(f"### compare datasets/minimalloc: before = {base}, after = {after} (search {search} s, solver {solver} s per instance)")
    print()
    print("search and the solver stop at their time limit: on a loaded machine their peaks move either way; the others are deterministic")
    print()
    print("| algorithm | instances | unchanged | better | worse | sum of peaks before | after |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    changed = []
    for a in algorithms:
        ks = [(p, a) for p in problems if (p, a) in peaks["before"] and (p, a) in peaks["after"]]
        d = [(k, peaks["before"][k], peaks["after"][k]) for k in ks]
        better = sum(1 for _, b, w in d if w < b); worse = sum(1 for _, b, w in d if w > b)
        changed += [(k, b, w) for k, b, w in d if w != b]
        print(f"| {a} | {len(d)} | {len(d) - better - worse} | {better} | {worse} | {sum(b for _, b, _ in d)} | {sum(w for _, _, w in d)} |")
    if changed:
        print()
        print("| instance | algorithm | peak before | peak after |")
        print("|---|---|---:|---:|")
        for (p, a), b, w in changed: print(f"| {p} | {a} | {b} | {w} |")
    diff = [p for p in problems if bounds["before"].get(p) != bounds["after"].get(p)]
    print()
    print("lower bounds: " + ("equal on every instance" if not diff else "DIFFER on " + ", ".join(diff)))
PY
