#!/usr/bin/env bash
# Decisions side by side: `pgmo solve X --capacity C --workers 1` (our exact search alone, one thread) against
# MiniMalloc (google/minimalloc, the reference exact solver) on the same instances, in one run, repeated.
# Both times are wall clock of the whole command (process start, JIT and reading the file included), the best of
# REPEATS runs, the two commands alternating so that both see the same machine load.
#
# usage: scripts/decisions-vs-minimalloc.sh MINIMALLOC [REPEATS (default 3)] [INSTANCES (default ABCDEFGHIJK)] [CAPACITY (default 1048576)]
#   MINIMALLOC: the MiniMalloc binary (built from a clone of github.com/google/minimalloc, its `minimalloc` command
#               line tool); when it is missing the table says so and shows pgmo alone.
# Prints one row per instance: both times, both answers (the peak of the plan found, or "no plan"), the ratio
# MiniMalloc / pgmo (> 1: pgmo faster), and the totals. Both plans are checked with `pgmo check`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MINIMALLOC=${1:?usage: scripts/decisions-vs-minimalloc.sh MINIMALLOC [REPEATS] [INSTANCES] [CAPACITY]}
REPEATS=${2:-3}
INSTANCES=${3:-ABCDEFGHIJK}
CAPACITY=${4:-1048576}
LIMIT=60

dotnet build -c Release "$ROOT/src/Runtime.CSharp" -v q -nologo >/dev/null
PGMO="$ROOT/src/Runtime.CSharp/bin/Release/net10.0/pgmo"
HAVE_MM=1
if [[ ! -x "$MINIMALLOC" ]]; then
  HAVE_MM=0
  echo "MiniMalloc NOT AVAILABLE: '$MINIMALLOC' is not an executable file; only pgmo's times are shown." >&2
  echo "Build it from a clone of github.com/google/minimalloc (its minimalloc command line tool) and pass its path." >&2
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

now() { date +%s.%N; }
# the peak of a plan CSV with columns id,lower,upper,size,offset (MiniMalloc's output) or id,offset (pgmo's plan)
peak_of() { # $1 problem, $2 plan
  awk -F, 'NR == FNR { if (FNR > 1) size[$1] = $4; next }
           FNR == 1 { for (c = 1; c <= NF; c++) if ($c == "offset") col = c; next }
           { top = $col + size[$1]; if (top > peak) peak = top }
           END { print peak + 0 }' "$1" "$2"
}

echo "decisions at capacity $CAPACITY, best of $REPEATS runs each (wall clock of the whole command), load: $(uptime | sed 's/.*load average: //')"
printf '\n%-10s %12s %14s %12s %14s %10s\n' instance "pgmo (s)" "pgmo answer" "minimalloc" "mm answer" "mm / pgmo"
printf '%s\n' "---------------------------------------------------------------------------------"
total_p=0; total_m=0; faster=0; count=0
for x in $(echo "$INSTANCES" | grep -o .); do
  problem="$ROOT/datasets/minimalloc/$x.1048576.csv"
  best_p=""; best_m=""; ans_p="no plan"; ans_m="no plan"
  for ((r = 1; r <= REPEATS; r++)); do
    rm -f "$TMP/p.csv" "$TMP/m.csv"
    t0=$(now)
    "$PGMO" solve "$problem" --capacity "$CAPACITY" --workers 1 --time-limit "$LIMIT" --out "$TMP/p.csv" >/dev/null 2>&1 || true
    t1=$(now)
    t=$(echo "$t1 - $t0" | bc -l)
    if [[ -z "$best_p" ]] || (( $(echo "$t < $best_p" | bc -l) )); then best_p=$t; fi
    if [[ -s "$TMP/p.csv" ]]; then
      "$PGMO" check "$problem" "$TMP/p.csv" --capacity "$CAPACITY" >/dev/null 2>&1 || { echo "pgmo's plan for $x is INVALID" >&2; exit 1; }
      ans_p=$(peak_of "$problem" "$TMP/p.csv")
    fi
    if (( HAVE_MM )); then
      t0=$(now)
      "$MINIMALLOC" --capacity="$CAPACITY" --input="$problem" --output="$TMP/m.csv" --timeout="${LIMIT}s" >/dev/null 2>&1 || true
      t1=$(now)
      t=$(echo "$t1 - $t0" | bc -l)
      if [[ -z "$best_m" ]] || (( $(echo "$t < $best_m" | bc -l) )); then best_m=$t; fi
      if [[ -s "$TMP/m.csv" ]]; then ans_m=$(peak_of "$problem" "$TMP/m.csv"); fi
    fi
  done
  total_p=$(echo "$total_p + $best_p" | bc -l); count=$((count + 1))
  if (( HAVE_MM )); then
    total_m=$(echo "$total_m + $best_m" | bc -l)
    ratio=$(echo "$best_m / $best_p" | bc -l)
    if (( $(echo "$best_p < $best_m" | bc -l) )); then faster=$((faster + 1)); fi
    printf '%-10s %12.2f %14s %12.2f %14s %10.2f\n' "$x" "$best_p" "$ans_p" "$best_m" "$ans_m" "$ratio"
  else
    printf '%-10s %12.2f %14s %12s %14s %10s\n' "$x" "$best_p" "$ans_p" "n/a" "not available" "n/a"
  fi
done
printf '%s\n' "---------------------------------------------------------------------------------"
if (( HAVE_MM )); then
  printf '%-10s %12.2f %14s %12.2f %14s %10.2f\n' total "$total_p" "" "$total_m" "" "$(echo "$total_m / $total_p" | bc -l)"
  echo "pgmo faster on $faster of $count instances"
else
  printf '%-10s %12.2f %14s %12s %14s %10s\n' total "$total_p" "" "n/a" "" "n/a"
  echo "MiniMalloc NOT AVAILABLE ($MINIMALLOC): no comparison made"
fi
