# Shell functions the load scripts share (sourced by run.sh and pair.sh): the processes they
# start, each stopped however the script exits, and the loopback ports those listen on. They
# read the scripts' `tmp` (a folder of their own), `here` (this folder) and `nginx`.

pids=()

# Stops every process in `pids` and waits until each has gone.
stop_all() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    done
    pids=()
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # URL: until it answers, 10 s at most
    for _ in $(seq 1 200); do
        curl --noproxy '*' -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.05
    done
    echo "nothing answers $1" >&2
    exit 1
}

# nginx from one of the configurations here, in a folder of its own.
start_nginx() { # NAME PORT UPSTREAM
    local dir="$tmp/$1"
    mkdir -p "$dir"
    sed -e "s|@PREFIX@|$dir|g" -e "s|@PORT@|$2|g" -e "s|@UPSTREAM@|${3:-}|g" "$here/$1.conf" >"$dir/nginx.conf"
    "$nginx" -p "$dir" -c "$dir/nginx.conf" -g "user $(id -un);" 2>>"$dir/error.log" &
    pids+=($!)
    started=$!
    wait_for "http://127.0.0.1:$2/"
}
