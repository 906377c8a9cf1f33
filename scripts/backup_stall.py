#!/usr/bin/env python3
"""How long writes stall while `confab backup` copies a live database (docs/operations.md,
"Backups"). Four threads send single messages to a running server, one after another, each
write's start and latency logged; after WARM seconds the backup runs, writing goes on COOL
seconds after it ends; then the latencies before, during and after, and the longest time during
the backup with no write acknowledged.

    confab generate --database-url big.db --conversations 230000    # ~1 GB
    confab serve --database-url big.db --listen 127.0.0.1:18931 &
    scripts/backup_stall.py 127.0.0.1 18931 KEY big.db /tmp/backup.db [CONFAB]

VACUUM=1 runs `VACUUM INTO` (Python's sqlite3) instead of `confab backup`, for comparison.
Standard library only.
"""
import http.client
import json
import os
import subprocess
import sys
import threading
import time

host, port, key, db, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
confab = sys.argv[6] if len(sys.argv) > 6 else "confab"
THREADS, WARM, COOL = 4, 20, 10
stop = False
log = []
lock = threading.Lock()


def worker(t):
    c = http.client.HTTPConnection(host, port, timeout=120)
    i = 0
    while not stop:
        body = json.dumps({"conversation_id": f"stall-{t}-{i // 20}", "id": f"s-{t}-{i}",
                           "role": "user", "content": f"message {i} from thread {t}"})
        s = time.time()
        c.request("POST", "/v1/bots/stall/messages", body,
                  {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        assert r.status == 200, r.status
        with lock:
            log.append((s, time.time() - s))
        i += 1


threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
for t in threads:
    t.start()
time.sleep(WARM)
cmd = [confab, "backup", "--database-url", db, "--to", out, "--force"]
if os.environ.get("VACUUM"):
    if os.path.exists(out):
        os.remove(out)
    cmd = ["python3", "-c", "import sqlite3, sys; sqlite3.connect(sys.argv[1])"
           ".execute('VACUUM INTO ?', (sys.argv[2],))", db, out]
b0 = time.time()
p = subprocess.run(cmd, capture_output=True, text=True)
b1 = time.time()
print(p.stdout.strip(), p.stderr.strip()[-500:])
time.sleep(COOL)
stop = True
for t in threads:
    t.join()
print(f"backup took {b1 - b0:.1f} s")
for name, lo, hi in [("before", b0 - WARM + 5, b0), ("during", b0, b1), ("after", b1, b1 + COOL)]:
    xs = sorted(l for s, l in log if lo <= s < hi)
    if not xs:
        print(name, "none")
        continue
    q = lambda f: xs[min(len(xs) - 1, int(f * len(xs)))] * 1000
    print(f"{name}: {len(xs)} writes ({len(xs) / (hi - lo):.0f}/s), p50 {q(.5):.1f} ms, "
          f"p99 {q(.99):.1f} ms, max {xs[-1] * 1000:.1f} ms")
ends = sorted(s + l for s, l in log if b0 <= s + l <= b1)
gaps = [b - a for a, b in zip([b0] + ends, ends + [b1])]
print(f"longest time with no write acknowledged during the backup: {max(gaps) * 1000:.0f} ms")
