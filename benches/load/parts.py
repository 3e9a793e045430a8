"""Sums a perf report (--sort comm,sym) by part of the program, per thread: where the CPU time of
switchyard under load goes, in a few lines rather than a long list of functions. Read by
run.sh's PROFILE=1 from standard input; a function is put in the first part whose pattern its
name matches."""

import collections
import re
import sys

PARTS = [
    ("kernel (system calls, scheduling, network, file writes)", r"\[k\]"),
    ("SQLite", r"sqlite3|pcache|wal[A-Z]|btree|Btree|vdbe|Vdbe|balance_|pager|Pager|memjrnl|unix[A-Z]|rusqlite"),
    ("allocator", r"\bmi_|_mi_|malloc|_int_free|cfree|realloc|unlink_chunk"),
    ("memory copies and compares", r"memmove|memcpy|memset|memcmp|strlen"),
    ("JSON", r"serde_json|serde_core|serde::|serde_path_to_error|format_escaped|switchyard::api::strict"),
    ("HTTP (hyper, http, bytes)", r"hyper|http::|httparse|bytes::"),
    ("outbound call (reqwest, url, form)", r"reqwest|url::|idna|form_urlencoded|serde_urlencoded"),
    ("axum and tower layers", r"axum|tower"),
    ("tokio", r"tokio"),
    ("Lua (routing script)", r"lua|Luau|mlua"),
    ("metrics", r"metrics"),
    ("tracing", r"tracing"),
    ("clock", r"chrono|clock_gettime"),
    ("locks", r"pthread|parking_lot|futex"),
    ("switchyard's own code", r"switchyard"),
]

shares = collections.defaultdict(collections.Counter)
for line in sys.stdin:
    match = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(.*)", line)
    if not match:
        continue
    share, thread, symbol = float(match.group(1)), match.group(2), match.group(3)
    part = next((name for name, pattern in PARTS if re.search(pattern, symbol)), "other")
    shares[thread][part] += share

for thread, parts in sorted(shares.items(), key=lambda t: -sum(t[1].values())):
    print(f"{thread} ({sum(parts.values()):.1f}%)")
    for part, share in parts.most_common():
        if share >= 0.5:
            print(f"  {share:5.1f}%  {part}")
