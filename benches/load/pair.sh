#!/usr/bin/env bash
# Compares two switchyard binaries by CPU per payment, loading both at once.
#
#   benches/load/pair.sh BINARY_A BINARY_B
#
# Runs one after the other on a shared virtual machine can differ by a quarter; here both daemons
# take the same create-and-confirm payments at the same time (one wrk each, against one fake
# Stripe, each over a new SQLite file), so whatever else the host does falls on both alike. Each
# pair is run ROUNDS times, alternating which daemon starts first, and prints each one's
# requests/s and CPU µs a payment (from /proc/PID/stat) and B's CPU over A's. The same binary
# against itself differs by 0.5–2% a round at 6 s; shorter rounds spread more (5% at 3 s).
#
# Needs nginx, wrk, curl and python3, as run.sh does (which installs them when missing).
#
# Settings (environment):
#   ROUNDS=4          pairs run
#   DURATION=6s       each pair's measured load, after a 2 s warm-up
#   CONNECTIONS=16    open connections to each daemon
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 BINARY_A BINARY_B" >&2; exit 2; }
a=$(realpath "$1")
b=$(realpath "$2")
cd "$(dirname "$0")/../.."
here=benches/load
ROUNDS="${ROUNDS:-4}"
DURATION="${DURATION:-6s}"
CONNECTIONS="${CONNECTIONS:-16}"
nginx=$(command -v nginx || echo /usr/sbin/nginx)

tmp=$(mktemp -d)
. "$here/processes.sh"
stripe_pid=""
trap 'stop_all; [ -z "$stripe_pid" ] || kill "$stripe_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

cpu_ticks() { # PID: user + system time so far, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}

stripe_port=$(free_port)
start_nginx fake-stripe "$stripe_port"
# The fake Stripe serves every round; `pids` is each round's daemons.
stripe_pid=$started
pids=()
sed "s|@FAKE_STRIPE_PORT@|$stripe_port|" "$here/switchyard.toml" >"$tmp/switchyard.toml"

load() { # DURATION OUTPUT-PREFIX: both of the round's daemons (`ports`) at once
    local waits=() i
    for i in 0 1; do
        wrk -t1 -c"$CONNECTIONS" -d"$1" -s "$here/payment.lua" "http://127.0.0.1:${ports[$i]}/v2/payments" >"$2.$i" &
        waits+=($!)
    done
    wait "${waits[@]}"
}

ticks=$(getconf CLK_TCK)
seconds=${DURATION%s}
declare -A cpu

for round in $(seq 1 "$ROUNDS"); do
    if ((round % 2)); then order=("$a" "$b") roles=(A B); else order=("$b" "$a") roles=(B A); fi
    ports=()
    for bin in "${order[@]}"; do
        port=$(free_port)
        dir="$tmp/$round-${#ports[@]}"
        mkdir -p "$dir"
        SWITCHYARD__DATABASE__URL="sqlite://$dir/db.sqlite" SWITCHYARD__SERVER__LISTEN="127.0.0.1:$port" \
            "$bin" --config "$tmp/switchyard.toml" serve >"$dir/log" 2>&1 &
        pids+=($!)
        ports+=("$port")
        wait_for "http://127.0.0.1:$port/health"
    done
    load 2s "$tmp/warm"
    before=("$(cpu_ticks "${pids[0]}")" "$(cpu_ticks "${pids[1]}")")
    load "$DURATION" "$tmp/load"
    after=("$(cpu_ticks "${pids[0]}")" "$(cpu_ticks "${pids[1]}")")
    stop_all
    line=""
    for i in 0 1; do
        if grep -q "Non-2xx" "$tmp/load.$i"; then
            echo "round $round: ${order[$i]} answered errors" >&2
            exit 1
        fi
        rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/load.$i")
        us=$(awk -v t="$((after[i] - before[i]))" -v hz="$ticks" -v r="$rps" -v s="$seconds" \
            'BEGIN {printf "%.1f", t / hz * 1e6 / (r * s)}')
        cpu[${roles[$i]}]=$us
        line+="${roles[$i]} $(basename "${order[$i]}") $rps/s $us µs   "
    done
    awk -v l="$line" -v a="${cpu[A]}" -v b="${cpu[B]}" -v r="$round" \
        'BEGIN {printf "round %d: %s B/A %.3f\n", r, l, b / a}'
done
