# Sourced by the measurement scripts that write a section of the docs (search-budgets.sh, minimize-repro.sh).
#
# build_pgmo ROOT: builds src/Runtime.CSharp in Release; then `pgmo ARGS` runs that build.
build_pgmo() {
    dotnet build -c Release "$1/src/Runtime.CSharp" -v q -nologo >&2
    PGMO_DLL="$1/src/Runtime.CSharp/bin/Release/net10.0/pgmo.dll"
}
pgmo() { dotnet "$PGMO_DLL" "$@"; }

# machine_line ROOT: "Machine: HOST, N cores (CPU); commit C" for a section's header.
machine_line() {
    echo "Machine: $(uname -n), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo unknown));" \
         "commit $(git -C "$1" rev-parse --short HEAD 2>/dev/null || echo unknown)"
}

# load_average: the 1, 5 and 15 minute load averages of uptime.
load_average() { uptime | sed 's/.*load average: //'; }

# replace_doc_section DOC NAME CONTENT writes the markdown in file CONTENT between
# the lines `<!-- BEGIN NAME -->` and `<!-- END NAME -->` of DOC (the markers kept; appended at the end of DOC, with
# its markers, when it has none), atomically: the new text goes to a unique temporary file beside DOC, is flushed to
# disk, then renamed over DOC, so that an interrupted run leaves DOC as it was.
replace_doc_section() {
    local doc=$1 name=$2 content=$3 tmp
    tmp=$(mktemp "$doc.XXXXXX")
    if ! awk -v begin="<!-- BEGIN $name -->" -v end="<!-- END $name -->" -v content="$content" '
        function emit(   line) { while ((getline line < content) > 0) print line; close(content) }
        $0 == begin { print; emit(); skipping = 1; found = 1; next }
        $0 == end   { skipping = 0 }
        !skipping   { print }
        END {
            if (skipping) { print "unterminated section " begin > "/dev/stderr"; exit 1 }
            if (!found) { print ""; print begin; emit(); print end }
        }' "$doc" > "$tmp"; then
        rm -f "$tmp"
        return 1
    fi
    sync "$tmp" && mv "$tmp" "$doc" || { rm -f "$tmp"; return 1; }
}
