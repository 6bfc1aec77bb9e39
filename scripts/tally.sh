# Sourced by scripts/check.sh and scripts/test.sh: runs the test steps, keeps
# each one's output in $TALLY_DIR/NAME.log, and ends with a line that counts
# what really ran, summed from the runners' own lines:
#   cargo test:   "test result: ok. N passed; M failed; ..."
#   the scripts:  "ctests: N passed, M failed" (the last such line of a step)
# A step that prints no count (a build, the cross-check) counts as one check.

set -o pipefail # a step fails when its command does, not its tee
TALLY_DIR=${TALLY_DIR:-target/test-logs}
mkdir -p "$TALLY_DIR"
rm -f "$TALLY_DIR"/*.log
tally_failed=()

# step NAME CMD [ARGS...]: runs CMD, its output also into NAME.log. A failed
# step is recorded and the next one runs; tally_end fails the run.
step() {
    local name=$1
    shift
    if ! { echo "== $name: $*"; "$@" 2>&1; } | tee "$TALLY_DIR/$name.log"; then
        tally_failed+=("$name")
        echo "== $name FAILED" | tee -a "$TALLY_DIR/$name.log"
    fi
}

# tally_end WHO: prints "WHO: N passed, M failed (...)" and the steps that
# failed; exits 1 if any step failed.
tally_end() {
    local who=$1 line
    line=$(awk '
        function flush() {
            if (name == "") return
            if (last != "") { split(last, w, " "); p += w[2]; f += w[4]; ff += w[4]; parts = parts sprintf(", %s %d", name, w[2]); counted = 1 }
            if (!counted) steps++
            if (broke && ff == 0) f++
            name = ""
        }
        FNR == 1 { flush(); name = FILENAME; sub(/.*\//, "", name); sub(/\.log$/, "", name); counted = 0; last = ""; ff = 0; broke = 0 }
        /^test result: / {
            for (i = 1; i < NF; i++) {
                if ($(i + 1) ~ /^passed;/) { p += $i; cp += $i }
                if ($(i + 1) ~ /^failed;/) { f += $i; ff += $i }
            }
            counted = 1
        }
        /^[a-z][a-z-]*: [0-9]+ passed, [0-9]+ failed$/ { last = $0 }
        /^== [a-z-]+ FAILED$/ { broke = 1 }
        END {
            flush()
            printf "%d passed, %d failed (cargo test %d%s; %d more steps checked)", p, f, cp, parts, steps
        }' "$TALLY_DIR"/*.log)
    echo "$who: $line"
    if [ ${#tally_failed[@]} -gt 0 ]; then
        echo "$who: failed steps: ${tally_failed[*]} (their output: $TALLY_DIR/)" >&2
        exit 1
    fi
}
