#!/usr/bin/env bash
# Is minimization reproducible? RUNS runs each of `pgmo solve datasets/minimalloc/X.1048576.csv --time-limit 60`
# (minimization: no --capacity; the default solver, workers and seed) for J and D, one after the other, each plan
# written with --out to a temporary file and validated with `pgmo check`. Prints a table of the final peaks against
# the targets of issue 19 (J <= 1,029,120, D <= 1,025,024) and writes it, with the machine, its load (uptime) and the
# date, into docs/planner-results.md between <!-- BEGIN minimize-repro --> and <!-- END minimize-repro -->
# (atomically).
#
# usage: bash scripts/minimize-repro.sh [RUNS (default 3)] [TIME_LIMIT seconds (default 60)] [INSTANCES (default "J D")]
#   DOC=FILE   write the section into FILE instead of docs/planner-results.md
# The full run takes about 6 minutes. Run it on a quiet machine: the result depends on the machine's speed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/measurement.sh"
RUNS=${1:-3}
LIMIT=${2:-60}
INSTANCES=${3:-J D}
DOC=${DOC:-$ROOT/docs/planner-results.md}
die() { echo "minimize-repro: $*" >&2; exit 1; }
command -v jq >/dev/null || die "jq not found (it reads pgmo's JSON line)"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
[[ "$LIMIT" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "TIME_LIMIT is seconds, got '$LIMIT'"
target() { case $1 in J) echo 1029120 ;; D) echo 1025024 ;; *) echo "" ;; esac; }

build_pgmo "$ROOT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

load_before=$(load_average)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
: > "$TMP/runs"     # instance run peak lowerBound status millis valid
for x in $INSTANCES; do
    problem="$ROOT/datasets/minimalloc/$x.1048576.csv"
    [[ -f "$problem" ]] || die "$problem: no such file"
    for ((r = 1; r <= RUNS; r++)); do
        plan="$TMP/$x.$r.csv"
        line=$(pgmo solve "$problem" --time-limit "$LIMIT" --out "$plan" --json | tail -n 1)
        read -r peak lb status millis < <(jq -r '"\(.peak) \(.lowerBound) \(.status) \(.millis)"' <<< "$line")
        if pgmo check "$problem" "$plan" >/dev/null 2>&1; then valid=valid; else valid=INVALID; fi
        echo "$x $r $peak $lb $status $millis $valid" >> "$TMP/runs"
        echo "$x run $r: peak $peak ($status, $(bc -l <<< "scale=1; $millis / 1000") s), $valid by pgmo check" >&2
    done
done
load_after=$(load_average)

{
    echo "## Minimization, reproduced (\`scripts/minimize-repro.sh\`)"
    echo
    echo "\`pgmo solve datasets/minimalloc/X.1048576.csv --time-limit $LIMIT --out PLAN.csv\`, $RUNS run(s) each, one after the"
    echo "other, every plan valid by \`pgmo check\` unless marked. $(machine_line "$ROOT"); $started; load average"
    echo "(1, 5, 15 min) $load_before before, $load_after after."
    echo
    header="| instance | lower bound | target |"; rule="|---|---:|---:|"
    for ((r = 1; r <= RUNS; r++)); do header="$header run $r |"; rule="$rule---:|"; done
    echo "$header met |"; echo "$rule---|"
    for x in $INSTANCES; do
        t=$(target "$x")
        awk -v x="$x" -v t="$t" '
            $1 == x { lb = $4; n++; cell = sprintf("%d (%s, %.1f s)%s", $3, $5, $6 / 1000, $7 == "valid" ? "" : " INVALID")
                      row = row " " cell " |"; if (t != "" && $3 <= t + 0 && $7 == "valid") k++ }
            END { printf "| %s | %d | %s |%s %s |\n", x, lb, (t == "" ? "none" : sprintf("%d", t)), row,
                         (t == "" ? "n/a" : sprintf("%d of %d", k, n)) }' "$TMP/runs"
    done
} > "$TMP/section.md"

cat "$TMP/section.md"
replace_doc_section "$DOC" minimize-repro "$TMP/section.md" || die "could not write $DOC"
echo "written to $DOC" >&2
