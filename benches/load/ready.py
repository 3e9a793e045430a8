"""Starts a daemon and times it from exec to its first `200` on /health.

Usage: ready.py URL LOG COMMAND...  Prints `PID MILLISECONDS`; the daemon keeps running.
Exits 1 (with the daemon stopped) if it exits or does not answer within 30 s.
"""
import http.client
import subprocess
import sys
import time
import urllib.parse

url, log, command = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2], sys.argv[3:]
with open(log, "ab") as out:
    started = time.monotonic()
    daemon = subprocess.Popen(command, stdout=out, stderr=out)
deadline = started + 30
while time.monotonic() < deadline:
    try:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=1)
        conn.request("GET", url.path or "/")
        if conn.getresponse().status == 200:
            print(daemon.pid, round((time.monotonic() - started) * 1000, 1))
            sys.exit(0)
    except OSError:
        pass
    if daemon.poll() is not None:
        sys.exit(1)
    time.sleep(0.0005)
daemon.kill()
sys.exit(1)
