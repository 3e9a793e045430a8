#!/usr/bin/env bash
# Load test for switchyard: create-and-confirm payments against a release build.
#
# Builds the release binary, starts it on a loopback port with a throwaway SQLite database,
# waits for /health, warms it up, then drives POST /v2/payments with wrk (benches/seed.lua)
# and prints requests/s, p50/p99 latency and the number of non-2xx answers. The daemon is
# stopped and its files removed when the script exits, however it exits.
#
# Settings (environment):
#   DURATION=15s     length of the measured run
#   WARMUP=3s        length of the warm-up run (not reported)
#   THREADS=2        wrk threads
#   CONNECTIONS=32   open connections
#   PORT=…           loopback port for the daemon (default: a free one, else 18080)
#   TELEMETRY=off    run without metrics and rate limits, to measure what they cost
#   VERBOSE=1        also print wrk's own report
set -euo pipefail

cd "$(dirname "$0")/.."

DURATION="${DURATION:-15s}"
WARMUP="${WARMUP:-3s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
VERBOSE="${VERBOSE:-0}"
TELEMETRY="${TELEMETRY:-on}"

# --- tools ---------------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${missing[*]} with apt-get" >&2
    $sudo apt-get update
    $sudo apt-get install -y "${missing[@]}"
fi

# --- build ---------------------------------------------------------------------------------
cargo build --release
bin="${CARGO_TARGET_DIR:-target}/release/switchyard"

# --- port ----------------------------------------------------------------------------------
if [ -z "${PORT:-}" ]; then
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)
fi
base="http://127.0.0.1:${PORT}"
curl_local() { curl --noproxy '*' -fsS -o /dev/null --max-time 1 "$@"; }
if curl_local "$base/health" 2>/dev/null; then
    echo "something already answers on 127.0.0.1:${PORT}; set PORT to a free port" >&2
    exit 1
fi

# --- daemon --------------------------------------------------------------------------------
tmp=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# With TELEMETRY=off: the same configuration without its [limits] section, metrics disabled.
config=config/switchyard.toml
metrics=true
if [ "$TELEMETRY" = off ]; then
    config="$tmp/switchyard.toml"
    sed '/^\[limits\]/,/^\[/{/^\[limits\]/d;/^\[/!d}' config/switchyard.toml >"$config"
    metrics=false
fi

SWITCHYARD__DATABASE__URL="sqlite://${tmp}/bench.db" \
SWITCHYARD__SERVER__LISTEN="127.0.0.1:${PORT}" \
SWITCHYARD__LOG__LEVEL=warn \
SWITCHYARD__METRICS__ENABLED="$metrics" \
    "$bin" --config "$config" serve >"$tmp/daemon.log" 2>&1 &
pid=$!

# Wait up to 30 s for /health to answer 200.
for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "switchyard exited before it was ready; its log:" >&2
        cat "$tmp/daemon.log" >&2
        exit 1
    fi
    curl_local "$base/health" 2>/dev/null && break
    sleep 0.1
done
if ! curl_local "$base/health"; then
    echo "switchyard did not answer $base/health within 30 s; its log:" >&2
    tail -n 50 "$tmp/daemon.log" >&2
    exit 1
fi

# --- load ----------------------------------------------------------------------------------
url="$base/v2/payments"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s benches/seed.lua "$url" >/dev/null

echo "switchyard $(git rev-parse --short HEAD 2>/dev/null || echo '(no commit)'), $(uname -m), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), metrics and limits $TELEMETRY"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency POST $url (benches/seed.lua)"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/seed.lua "$url" >"$tmp/wrk.out"
if [ "$VERBOSE" = 1 ]; then
    sed '/^---- summary ----$/,$d' "$tmp/wrk.out"
fi
sed -n '/^---- summary ----$/,$p' "$tmp/wrk.out"

if [ -s "$tmp/daemon.log" ]; then
    echo "---- daemon warnings (last 20 lines) ----"
    tail -n 20 "$tmp/daemon.log"
fi
