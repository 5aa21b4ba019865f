#!/usr/bin/env bash
# A resumable fuzzing campaign over every cargo-fuzz target (issue #31): each target runs for
# a given time on its kept corpus (fuzz/corpus/TARGET, which grows across runs and sessions),
# seeded by fuzz/seeds/TARGET and the committed minimised corpus fuzz/corpus-min/TARGET. A run
# that stops on a finding is recorded and restarted for the rest of its time, so one finding
# does not end the campaign. Totals (runs, seconds, findings) accumulate in fuzz/campaign/.
#
#   fuzz/campaign.sh start [-t SECONDS] [-j JOBS] [TARGET...]   in the background (nohup)
#   fuzz/campaign.sh run   [-t SECONDS] [-j JOBS] [TARGET...]   in the foreground
#   fuzz/campaign.sh report                                     runs, coverage, findings
#   fuzz/campaign.sh stop                                       ends a background campaign
#   fuzz/campaign.sh minimize [TARGET...]                       corpus -> fuzz/corpus-min
#
# -t is each target's time for this run (default 600 s), -j how many targets run at once
# (default 1: one core for fuzzing, the other for work). Findings land in
# fuzz/artifacts/TARGET (crash-*, oom-*, timeout-*, leak-*); each is listed by `report` with
# the first line libFuzzer printed for it.
set -euo pipefail
cd "$(dirname "$0")"

STATE=campaign
mkdir -p "$STATE"
TOTALS="$STATE/totals.tsv"   # target, runs, seconds, findings (accumulated)
FINDINGS="$STATE/findings.tsv"   # target, artifact, first line of the report
touch "$TOTALS" "$FINDINGS"

# Where `cargo fuzz build -O` puts the targets.
BIN="target/$(rustc -vV | sed -n 's/^host: //p')/release"

# libFuzzer's flags for every run: the limits CI uses.
FLAGS=(-rss_limit_mb=2048 -timeout=20 -print_final_stats=1)

targets_or_all() {
    if [ $# -gt 0 ]; then printf '%s\n' "$@"; else cargo +nightly fuzz list; fi
}

# Adds runs, seconds and findings to a target's totals.
add_totals() {
    local target=$1 runs=$2 secs=$3 found=$4
    local tmp
    tmp=$(mktemp)
    awk -F'\t' -v t="$target" -v r="$runs" -v s="$secs" -v f="$found" '
        BEGIN { OFS = "\t" }
        $1 == t { $2 += r; $3 += s; $4 += f; seen = 1 }
        { print }
        END { if (!seen) print t, r, s, f }' "$TOTALS" >"$tmp"
    # Several targets may finish at once: the rename is atomic, the read-modify-write is
    # serialised by the lock.
    mv "$tmp" "$TOTALS"
}

# Fuzzes one target for $1 seconds, restarting after each finding.
fuzz_one() {
    local target=$1 budget=$2
    local log="$STATE/$target.log"
    mkdir -p "corpus/$target" "artifacts/$target"
    local inputs=("corpus/$target")
    [ -d "seeds/$target" ] && inputs+=("seeds/$target")
    [ -d "corpus-min/$target" ] && inputs+=("corpus-min/$target")
    local start end left
    start=$(date +%s)
    end=$((start + budget))
    while left=$((end - $(date +%s))); [ "$left" -gt 5 ]; do
        local before
        before=$(find "artifacts/$target" -type f | sort)
        local t0 from
        t0=$(date +%s)
        echo "== $(date -u +%FT%TZ) $target for ${left}s" >>"$log"
        # This run's part of the log starts here: its stats and reports are read from it alone.
        from=$(($(wc -l <"$log") + 1))
        set +e
        # The binary `run` built, not `cargo fuzz run`: editing the sources during a campaign
        # must not rebuild under it.
        "$BIN/$target" "${FLAGS[@]}" -max_total_time="$left" \
            -artifact_prefix="artifacts/$target/" "${inputs[@]}" >>"$log" 2>&1
        set -e
        local runs
        runs=$(tail -n +"$from" "$log" | grep -oE 'stat::number_of_executed_units: *[0-9]+' |
            tail -1 | grep -oE '[0-9]+$' || true)
        runs=${runs:-0}
        local added new=0
        added=$(comm -13 <(echo "$before") <(find "artifacts/$target" -type f | sort) | grep . || true)
        if [ -n "$added" ]; then
            new=$(grep -c . <<<"$added")
            local why
            why=$(tail -n +"$from" "$log" |
                grep -E 'ERROR: libFuzzer|panicked at|decode budget exceeded|==ERROR|SUMMARY' |
                head -1 | cut -c1-300 || true)
            while read -r a; do
                printf '%s\t%s\t%s\n' "$target" "$a" "${why:-see $log}" >>"$FINDINGS"
            done <<<"$added"
        fi
        (
            flock 9
            add_totals "$target" "$runs" "$(($(date +%s) - t0))" "$new"
        ) 9>"$STATE/lock"
    done
}

run() {
    local secs=600 jobs=1
    while getopts "t:j:" o; do
        case $o in
            t) secs=$OPTARG ;;
            j) jobs=$OPTARG ;;
            *) exit 2 ;;
        esac
    done
    shift $((OPTIND - 1))
    local list
    list=$(targets_or_all "$@")
    echo "== building the fuzz targets"
    cargo +nightly fuzz build -O >>"$STATE/build.log" 2>&1
    echo "== fuzzing $(echo "$list" | wc -l) targets, ${secs}s each, $jobs at a time"
    local running=0
    for target in $list; do
        fuzz_one "$target" "$secs" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then
            wait -n || true
            running=$((running - 1))
        fi
    done
    wait
    report
}

report() {
    printf '%-14s %14s %9s %8s %8s %8s %9s\n' target runs seconds 'exec/s' cov ft findings
    for target in $(cargo +nightly fuzz list); do
        local line runs=0 secs=0 found=0 cov=- ft=-
        line=$(awk -F'\t' -v t="$target" '$1 == t' "$TOTALS")
        if [ -n "$line" ]; then
            runs=$(cut -f2 <<<"$line")
            secs=$(cut -f3 <<<"$line")
            found=$(cut -f4 <<<"$line")
        fi
        if [ -f "$STATE/$target.log" ]; then
            local last
            last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$STATE/$target.log" | tail -1 || true)
            cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo -)
            ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || echo -)
        fi
        local rate=-
        [ "$secs" -gt 0 ] && rate=$((runs / secs))
        printf '%-14s %14s %9s %8s %8s %8s %9s\n' "$target" "$runs" "$secs" "$rate" "$cov" "$ft" "$found"
    done
    if [ -s "$FINDINGS" ]; then
        echo
        echo "findings:"
        sed 's/^/  /' "$FINDINGS"
    fi
}

minimize() {
    for target in $(targets_or_all "$@"); do
        [ -d "corpus/$target" ] || continue
        local out="corpus-min/$target"
        local merged
        merged=$(mktemp -d)
        # libFuzzer's merge (what `cargo fuzz cmin` runs), with the binary `run` built: the
        # fewest inputs of the kept corpus and what is committed that keep their coverage. The
        # seeds stay in seeds/.
        local inputs=("corpus/$target")
        [ -d "$out" ] && inputs+=("$out")
        "$BIN/$target" -merge=1 -rss_limit_mb=2048 -timeout=20 "$merged" "${inputs[@]}" \
            >>"$STATE/$target.log" 2>&1
        rm -rf "$out"
        mkdir -p "$out"
        cp "$merged"/* "$out"/ 2>/dev/null || true
        rm -rf "$merged"
        echo "$target: $(find "$out" -type f | wc -l) inputs, $(du -sh "$out" | cut -f1)"
    done
}

cmd=${1:-report}
shift || true
case $cmd in
    run) run "$@" ;;
    start)
        # A session of its own, so that `stop` ends its whole process group and nothing else.
        setsid nohup "$0" run "$@" >"$STATE/campaign.out" 2>&1 </dev/null &
        echo $! >"$STATE/pid"
        echo "campaign started (pid $(cat "$STATE/pid")); fuzz/campaign.sh report shows progress"
        ;;
    stop)
        if [ -f "$STATE/pid" ]; then
            kill -- -"$(cat "$STATE/pid")" 2>/dev/null || true
            rm -f "$STATE/pid"
        fi
        ;;
    report) report ;;
    minimize) minimize "$@" ;;
    *)
        sed -n '2,20p' "$0"
        exit 2
        ;;
esac
