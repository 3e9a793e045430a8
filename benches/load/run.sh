#!/usr/bin/env bash
# Load benchmark: switchyard against nginx, the physical limit of this machine for a proxied call.
#
# On loopback it starts nginx as a fake Stripe (fake-stripe.conf, canned answers), then measures
# in one run
#   (a) nginx passing POST /v2/payments to the fake Stripe (proxy.conf): the least one proxied
#       request costs here;
#   (b) switchyard taking the same request as a create-and-confirm payment, routed by the
#       default script to its Stripe connector, which makes its one call (a confirmed payment
#       intent carrying the card) to the same fake Stripe; metrics and rate limits on, SQLite
#       (switchyard.toml);
#   (c) a minimal Rust proxy built from switchyard's own crates (proxy.rs) making that same
#       call for the same request: the floor (b) is measured against.
# For each: requests/s, p50 and p99 at full load (wrk, closed loop), p99 at a fixed rate (oha,
# open loop, latency counted from when each request was due), peak RSS (VmHWM, all of nginx's
# processes together), and at full load the CPU time and context switches each request cost
# the server (and the CPU it cost wrk and the fake Stripe, which share the machine); then the
# ratio (b)/(a) and switchyard's time from exec to its first 200 on /health, over a new
# database. Everything it starts is stopped, and its files
# removed, however it exits.
#
# Needs nginx, wrk, curl, GNU time and python3 (installed from Debian's packages when missing) and oha
# (built from crates.io into target/load-tools the first time).
#
# Settings (environment):
#   DURATION=10s       each full-load run
#   WARMUP=3s          before each full-load run (not reported)
#   THREADS=2          wrk threads
#   CONNECTIONS=32     open connections at full load
#   RATE=1000          requests/s of the fixed-rate run
#   RATE_DURATION=10s  the fixed-rate run
#   ROUNDS=4           rounds of (b) and (c) back to back at full load, each first in turn, for
#                      the ratios to the floor, whose medians are printed (ROUND_DURATION=5s
#                      each; ROUNDS=0 for none)
#   TELEMETRY=off      switchyard without metrics and rate limits, to see what they cost
#   DATABASE_URL=…     switchyard's database instead of a new SQLite file (e.g. postgres://…)
#   SHARED=1           switchyard with its shared state (rate limits, circuits) in a Redis started
#                      on loopback (Debian's redis-server), as several daemons would run
#   PROFILE=1          then profile switchyard under full load with perf (Debian's linux-perf):
#                      where its CPU time goes, by thread and by function
set -euo pipefail

cd "$(dirname "$0")/../.."
here=benches/load

DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-3s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
RATE="${RATE:-1000}"
RATE_DURATION="${RATE_DURATION:-10s}"
ROUNDS="${ROUNDS:-4}"
ROUND_DURATION="${ROUND_DURATION:-5s}"
TELEMETRY="${TELEMETRY:-on}"

# --- tools ---------------------------------------------------------------------------------
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
[ -x /usr/bin/time ] || missing+=(time)
command -v python3 >/dev/null || missing+=(python3)
[ "${SHARED:-0}" != 1 ] || command -v redis-server >/dev/null || missing+=(redis-server)
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${missing[*]} with apt-get" >&2
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)

target="${CARGO_TARGET_DIR:-target}"
oha="$target/load-tools/bin/oha"
if [ ! -x "$oha" ]; then
    echo "building oha (fixed-rate load) into $target/load-tools" >&2
    cargo install --quiet --locked oha --version 1.16.0 --root "$target/load-tools"
fi

cargo build --release --quiet
bin="$target/release/switchyard"
proxy_bin=$(cargo bench --quiet --bench proxy --no-run --message-format=json |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "proxy":
        print(m["executable"])')

# --- processes -----------------------------------------------------------------------------
tmp=$(mktemp -d)
. "$here/processes.sh"
cleanup() {
    stop_all
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Peak resident memory of a process and its children, in MB.
peak_rss() { # PID
    local kb=0 pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        kb=$((kb + $(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")))
    done
    echo "$((kb / 1024))"
}

stripe_port=$(free_port)
start_nginx fake-stripe "$stripe_port"
fake_stripe_pid=$started
proxy_port=$(free_port)
start_nginx proxy "$proxy_port" "$stripe_port"
proxy_pid=$started

floor_port=$(free_port)
"$proxy_bin" --listen "127.0.0.1:$floor_port" --stripe "http://127.0.0.1:$stripe_port/v1/payment_intents" &
pids+=($!)
floor_pid=$!
wait_for "http://127.0.0.1:$floor_port/"

config="$tmp/switchyard.toml"
sed "s|@FAKE_STRIPE_PORT@|$stripe_port|" "$here/switchyard.toml" >"$config"
metrics=true
if [ "$TELEMETRY" = off ]; then
    sed -i '/^\[limits\]/,/^\[/{/^\[limits\]/d;/^\[/!d}' "$config"
    metrics=false
fi
shared_url=""
if [ "${SHARED:-0}" = 1 ]; then
    redis_port=$(free_port)
    redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --dir "$tmp" >/dev/null &
    pids+=($!)
    for _ in $(seq 1 200); do
        redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
        sleep 0.05
    done
    shared_url="redis://127.0.0.1:$redis_port"
    export SWITCHYARD__SHARED__URL="$shared_url"
fi
switchyard_port=$(free_port)
read -r switchyard_pid startup_ms < <(
    SWITCHYARD__DATABASE__URL="${DATABASE_URL:-sqlite://$tmp/switchyard/bench.db}" \
    SWITCHYARD__SERVER__LISTEN="127.0.0.1:$switchyard_port" \
    SWITCHYARD__METRICS__ENABLED="$metrics" \
        python3 "$here/ready.py" "http://127.0.0.1:$switchyard_port/health" "$tmp/switchyard.log" \
        "$bin" --config "$config" serve
) || { echo "switchyard did not start; its log:" >&2; cat "$tmp/switchyard.log" >&2; exit 1; }
pids+=("$switchyard_pid")

# --- load ----------------------------------------------------------------------------------
# CPU seconds used so far by processes and their children (nginx's workers).
cpu_seconds() { # PID...
    local ticks=0 pid
    for pid in "$@" $(for p in "$@"; do pgrep -P "$p"; done); do
        ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$ticks $(getconf CLK_TCK)" | awk '{print $1 / $2}'
}

# Context switches so far, voluntary or not, of every thread of processes and their children.
switches() { # PID...
    local pid
    for pid in "$@" $(for p in "$@"; do pgrep -P "$p"; done); do
        cat /proc/"$pid"/task/*/status
    done | awk '/^(non)?voluntary_ctxt_switches/ { n += $2 } END { print n }'
}

# Full load, closed loop. Prints requests/s, p50 ms, p99 ms, the CPU µs each request took in the
# server, in wrk and in the fake Stripe, and the server's context switches per request.
full_load() { # URL SERVER_PID
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$here/payment.lua" "$1" >/dev/null
    local server stripe switched
    server=$(cpu_seconds "$2")
    stripe=$(cpu_seconds "$fake_stripe_pid")
    switched=$(switches "$2")
    /usr/bin/time -f "wrk_cpu %U %S" -o "$tmp/wrk.time" \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$here/payment.lua" "$1" >"$tmp/wrk.out"
    {
        echo "server_cpu $server $(cpu_seconds "$2")"
        echo "stripe_cpu $stripe $(cpu_seconds "$fake_stripe_pid")"
        echo "switches $switched $(switches "$2")"
    } >>"$tmp/wrk.time"
    awk -v seconds="${DURATION%s}" '
        /^result / { rps = $2; p50 = $3; p99 = $4; bad = $5; status = $6; errors = $7 }
        /^wrk_cpu / { wrk = $2 + $3 }
        /^server_cpu / { server = $3 - $2 }
        /^stripe_cpu / { stripe = $3 - $2 }
        /^switches / { switched = $3 - $2 }
        END {
            if (bad > 0 || errors > 0)
                printf "%d non-2xx answers (first: HTTP %d), %d socket errors\n", bad, status, errors > "/dev/stderr"
            n = rps * seconds
            # The server CPU to a tenth of a µs: a whole µs is 3% of the floor, more than a ratio
            # of two rounds should move by rounding alone.
            printf "%s %s %s %.1f %.0f %.0f %.1f\n", rps, p50, p99, server * 1e6 / n, wrk * 1e6 / n, stripe * 1e6 / n, switched / n
        }' "$tmp/wrk.out" "$tmp/wrk.time"
}

# A fixed rate, open loop: p99 ms, latency counted from when each request was due.
fixed_rate() { # URL
    "$oha" --no-tui --output-format json -z "$RATE_DURATION" -q "$RATE" --latency-correction \
        -c "$CONNECTIONS" -m POST -T application/json -D "$here/payment.json" \
        -H "api-key: sy_sk_EcUKnRGm9ycfbQOyR2PYq322lLfeY3hm" -H "X-Profile-Id: pro_demo" "$1" |
        python3 -c '
import json, sys
r = json.load(sys.stdin)
codes = r.get("statusCodeDistribution", {})
bad = sum(n for code, n in codes.items() if not code.startswith("2"))
# Requests still under way when the run ends are cut off; they are not failures.
errors = {e: n for e, n in r.get("errorDistribution", {}).items() if "deadline" not in e}
if bad or errors:
    print(bad, "non-2xx answers", codes, "errors", errors, file=sys.stderr)
print(round(r["latencyPercentiles"]["p99"] * 1000, 2))'
}

echo "switchyard $(git rev-parse --short HEAD 2>/dev/null || echo '(no commit)'), $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "full load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION; fixed rate: oha -q $RATE -z $RATE_DURATION -c $CONNECTIONS; metrics and limits $TELEMETRY; shared state ${shared_url:-off}"

read -r a_rps a_p50 a_p99 a_cpu a_wrk a_stripe a_switches < <(full_load "http://127.0.0.1:$proxy_port/v2/payments" "$proxy_pid")
a_rate_p99=$(fixed_rate "http://127.0.0.1:$proxy_port/v2/payments")
a_rss=$(peak_rss "$proxy_pid")

read -r b_rps b_p50 b_p99 b_cpu b_wrk b_stripe b_switches < <(full_load "http://127.0.0.1:$switchyard_port/v2/payments" "$switchyard_pid")
b_rate_p99=$(fixed_rate "http://127.0.0.1:$switchyard_port/v2/payments")
b_rss=$(peak_rss "$switchyard_pid")

read -r c_rps c_p50 c_p99 c_cpu c_wrk c_stripe c_switches < <(full_load "http://127.0.0.1:$floor_port/v2/payments" "$floor_pid")
c_rate_p99=$(fixed_rate "http://127.0.0.1:$floor_port/v2/payments")
c_rss=$(peak_rss "$floor_pid")

row() { printf '| %-24s | %10s | %7s | %7s | %15s | %11s | %14s | %18s |\n' "$@"; }
echo
row "" "requests/s" "p50 ms" "p99 ms" "p99 ms @ $RATE/s" "peak RSS MB" "CPU µs/request" "switches/request"
echo "|--------------------------|-----------:|--------:|--------:|----------------:|------------:|---------------:|-------------------:|"
row "(a) nginx proxy_pass" "$a_rps" "$a_p50" "$a_p99" "$a_rate_p99" "$a_rss" "$a_cpu" "$a_switches"
row "(b) switchyard, Stripe" "$b_rps" "$b_p50" "$b_p99" "$b_rate_p99" "$b_rss" "$b_cpu" "$b_switches"
row "(c) minimal Rust proxy" "$c_rps" "$c_p50" "$c_p99" "$c_rate_p99" "$c_rss" "$c_cpu" "$c_switches"
echo
echo "ratio (b)/(a): $(awk -v a="$a_rps" -v b="$b_rps" 'BEGIN {printf "%.3f", b / a}')"
echo "against the floor (c): throughput (b)/(c) $(awk -v b="$b_rps" -v c="$c_rps" 'BEGIN {printf "%.2f", b / c}'), CPU per request (b)/(c) $(awk -v b="$b_cpu" -v c="$c_cpu" 'BEGIN {printf "%.2f", b / c}')"
echo "switchyard start-up to ready: $startup_ms ms"
# This host's speed drifts by some 15% over minutes, as much as the ratios' own margins: they are
# taken again from rounds that run (b) and (c) back to back, in turns first, and their medians
# printed.
b_round() {
    read -r rb_rps _ _ rb_cpu _ < <(DURATION=$ROUND_DURATION full_load "http://127.0.0.1:$switchyard_port/v2/payments" "$switchyard_pid")
}
c_round() {
    read -r rc_rps _ _ rc_cpu _ < <(DURATION=$ROUND_DURATION full_load "http://127.0.0.1:$floor_port/v2/payments" "$floor_pid")
}
if [ "$ROUNDS" -gt 0 ]; then
    for round in $(seq 1 "$ROUNDS"); do
        if ((round % 2)); then b_round; c_round; else c_round; b_round; fi
        echo "$rb_rps $rc_rps $rb_cpu $rc_cpu"
    done | python3 -c '
import statistics, sys
rounds = [[float(x) for x in line.split()] for line in sys.stdin]
throughput = [b / c for b, c, _, _ in rounds]
cpu = [b / c for _, _, b, c in rounds]
listed = lambda values: ", ".join("%.2f" % v for v in values)
micros = lambda values: ", ".join("%.1f" % v for v in values)
print("over %d rounds of (b) and (c): throughput (b)/(c) median %.2f (%s), CPU per request (b)/(c) median %.2f (%s)"
      % (len(rounds), statistics.median(throughput), listed(throughput), statistics.median(cpu), listed(cpu)))
print("  (b) CPU µs/request %s; (c) %s" % (micros([r[2] for r in rounds]), micros([r[3] for r in rounds])))'
fi
# What the rest of the machine spends on each request at full load, on the same two cores: the
# load generator, and the fake Stripe (one call per request in each).
echo "CPU µs/request elsewhere: (a) wrk $a_wrk, fake Stripe $a_stripe; (b) wrk $b_wrk, fake Stripe $b_stripe; (c) wrk $c_wrk, fake Stripe $c_stripe"

if [ "${PROFILE:-0}" = 1 ]; then
    command -v perf >/dev/null || { echo "PROFILE=1 needs perf (apt-get install linux-perf)" >&2; exit 1; }
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$here/payment.lua" \
        "http://127.0.0.1:$switchyard_port/v2/payments" >/dev/null &
    load=$!
    sleep 1
    perf record -q -F 999 -p "$switchyard_pid" -o "$tmp/perf.data" -- sleep "$((${DURATION%s} - 2))" 2>/dev/null
    wait "$load"
    echo "---- switchyard's CPU time under full load, by thread ----"
    perf report -i "$tmp/perf.data" --no-children --sort comm --stdio 2>/dev/null | awk '/%/ && n++ < 5'
    echo "---- and by function (kernel ones marked [k]) ----"
    perf report -i "$tmp/perf.data" --no-children --sort sym --stdio 2>/dev/null | awk '/%/ && n++ < 20'
    echo "---- by part, within each thread: the functions of each summed by their names ----"
    perf report -i "$tmp/perf.data" --no-children --sort comm,sym --stdio 2>/dev/null | python3 "$here/parts.py"
fi

if [ -s "$tmp/switchyard.log" ]; then
    echo "---- switchyard's warnings (last 20 lines) ----"
    tail -n 20 "$tmp/switchyard.log"
fi
