#!/usr/bin/env bash
# Is `search` anytime? For each MiniMalloc instance (datasets/minimalloc/X.1048576.csv) and each budget T, RUNS runs
# of `pgmo plan FILE --algorithm search --time-limit T --json`, one after the other: the ratio of each run's peak to
# the lower bound, and the longest planning time of the runs (the JSON's millis, process start excluded). What a
# 10 s run finds by second k, a k-second run should find too: the table shows where it does not. Then, on E, whether
# each 3 s run reaches the best peak of the 10 s runs within 3 s (issue 19).
# Writes the table, with the machine, its load (uptime) and the date, into docs/planner-results.md between the
# markers <!-- BEGIN search-budgets --> and <!-- END search-budgets --> (atomically), and prints it.
#
# usage: bash scripts/search-budgets.sh [INSTANCES (default ABCDEFGHIJK)] [BUDGETS (default "1 2 3 5 10")] [RUNS (default 3)]
#   DOC=FILE   write the section into FILE instead of docs/planner-results.md
# The full run takes about 15 minutes (3 x 21 s of budgets per instance, 11 instances). Run it on a quiet machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/measurement.sh"
INSTANCES=${1:-ABCDEFGHIJK}
BUDGETS=${2:-1 2 3 5 10}
RUNS=${3:-3}
DOC=${DOC:-$ROOT/docs/planner-results.md}
die() { echo "search-budgets: $*" >&2; exit 1; }
command -v jq >/dev/null || die "jq not found (it reads pgmo's JSON line)"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
for t in $BUDGETS; do [[ "$t" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "budgets are seconds, got '$t'"; done

build_pgmo "$ROOT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

load_before=$(load_average)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
# one line per run: instance budget run peak lowerBound millis
: > "$TMP/runs"
for x in $(echo "$INSTANCES" | grep -o .); do
    problem="$ROOT/datasets/minimalloc/$x.1048576.csv"
    [[ -f "$problem" ]] || die "$problem: no such file"
    for t in $BUDGETS; do
        for ((r = 1; r <= RUNS; r++)); do
            line=$(pgmo plan "$problem" --algorithm search --time-limit "$t" --json | tail -n 1)
            [[ $(jq -r .valid <<< "$line") == true ]] || die "$x, --time-limit $t, run $r: the plan is not valid: $line"
            read -r peak lb millis < <(jq -r '"\(.peak) \(.lowerBound) \(.millis)"' <<< "$line")
            echo "$x $t $r $peak $lb $millis" >> "$TMP/runs"
            printf '%s  --time-limit %-4s run %d: ratio %.4f in %.2f s\n' "$x" "$t" "$r" "$(bc -l <<< "$peak / $lb")" "$(bc -l <<< "$millis / 1000")" >&2
        done
    done
done
load_after=$(load_average)

{
    echo "## search against its budget (\`scripts/search-budgets.sh\`)"
    echo
    echo "\`pgmo plan datasets/minimalloc/X.1048576.csv --algorithm search --time-limit T --json\`, runs per cell: $RUNS, one"
    echo "after the other: each run's peak / lower bound, then the longest planning time of the $RUNS (JSON millis, process"
    echo "start excluded). $(machine_line "$ROOT"); $started; load average (1, 5, 15 min) $load_before before,"
    echo "$load_after after."
    echo
    header="| instance |"; rule="|---|"
    for t in $BUDGETS; do header="$header $t s |"; rule="$rule---|"; done
    echo "$header"; echo "$rule"
    for x in $(echo "$INSTANCES" | grep -o .); do
        row="| $x |"
        for t in $BUDGETS; do
            cell=$(awk -v x="$x" -v t="$t" '$1 == x && $2 == t {
                       ratios = ratios (n++ ? " " : "") sprintf("%.4f", $4 / $5); if ($6 > m) m = $6 }
                     END { printf "%s (%.2f s)", ratios, m / 1000 }' "$TMP/runs")
            row="$row $cell |"
        done
        echo "$row"
    done
    # E: does each 3 s run reach the best peak of the 10 s runs, within 3 s?
    if grep -q '^E 3 ' "$TMP/runs" && grep -q '^E 10 ' "$TMP/runs"; then
        echo
        best10=$(awk '$1 == "E" && $2 == "10" { if (b == "" || $4 < b) b = $4 } END { print b }' "$TMP/runs")
        verdicts=$(awk -v b="$best10" '$1 == "E" && $2 == "3" {
                       ok = ($4 <= b && $6 <= 3000); n++; if (ok) k++
                       s = s (n > 1 ? "; " : "") sprintf("run %d: peak %d in %.2f s, %s", $3, $4, $6 / 1000, ok ? "yes" : "no") }
                     END { printf "%s (%d of %d)", s, k, n }' "$TMP/runs")
        echo "E, \`--time-limit 3\` against the best peak of the 10 s runs ($best10): $verdicts."
    fi
} > "$TMP/section.md"

cat "$TMP/section.md"
replace_doc_section "$DOC" search-budgets "$TMP/section.md" || die "could not write $DOC"
echo "written to $DOC" >&2
