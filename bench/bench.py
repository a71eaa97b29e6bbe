#!/usr/bin/env python3
"""The benchmark driver behind scripts/bench (run that, not this: it builds the binary, installs wrk
and owns the cleanup trap). Python standard library only.

For each store (embedded, then PostgreSQL when DATABASE_URL is set) it:
  1. starts the release binary on a fresh data dir / database and times start -> /readiness 200
     (the ingest of the generated catalogue), reading the sync's own duration from the log;
  2. drives the read API with wrk (same settings for every row, after a warm-up of each URL);
  3. reads the peak RSS (VmHWM) after the load;
  4. times unchanged re-syncs (POST /v1/sources/<name>/sync, then the `source unchanged` log line);
  5. restarts on the same data and times start -> ready with the catalogue already stored;
then prints one table per store and the sync figures, and optionally writes them as JSON (--out).
"""

import argparse
import gzip
import http.client
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no bench/__pycache__ in the working tree
sys.path.insert(0, HERE)
import generate  # noqa: E402
import nginx  # noqa: E402

SOURCE = "bench"
LUA = os.path.join(HERE, "wrk", "bench.lua")
READY_TIMEOUT = 300.0
NO_REQUEST_LOG = False  # --no-request-log
PIN = False  # --pin: the server on CPU 0, wrk on CPU 1


def steal_ms():
    """CPU time the hypervisor took from this VM so far (all CPUs, /proc/stat `steal`), in ms;
    None where unknown."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) * 1000 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def pinned_to(cpu):
    """A preexec_fn that pins the child (and every thread it starts) to one CPU, under --pin."""
    if not PIN:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# bookkeeping shared with the scripts/bench trap (so a killed driver leaves nothing behind)

class Ledger:
    def __init__(self, work):
        self.work = work
        self.pids, self.dbs = set(), set()

    def _write(self, name, items):
        path = os.path.join(self.work, name)
        with open(path + ".tmp", "w") as f:
            f.write("".join(f"{i}\n" for i in sorted(items)))
        os.replace(path + ".tmp", path)

    def add_pid(self, pid):
        self.pids.add(pid)
        self._write("pids", self.pids)

    def drop_pid(self, pid):
        self.pids.discard(pid)
        self._write("pids", self.pids)

    def add_db(self, name):
        self.dbs.add(name)
        self._write("dbs", self.dbs)

    def drop_db(self, name):
        self.dbs.discard(name)
        self._write("dbs", self.dbs)


# ---------------------------------------------------------------------------------------------
# HTTP helpers (plain http.client: no client-side caching of any kind)

def http_get(port, path, headers=None, method="GET", timeout=30.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), body
    finally:
        conn.close()


def get_json(port, path):
    status, _, body = http_get(port, path)
    if status != 200:
        raise BenchError(f"GET {path}: {status} {body[:300]!r}")
    return json.loads(body)


# ---------------------------------------------------------------------------------------------
# the server process

class Server:
    def __init__(self, binary, config, log_path, ledger, env_extra=None):
        self.binary, self.config, self.log_path, self.ledger = binary, config, log_path, ledger
        self.env_extra = env_extra or {}
        self.proc = None
        self.port = None

    def start(self):
        env = dict(os.environ)
        env["THV_REGISTRY_BENCH_BASELINE"] = "1"
        # info everywhere (request lines included, as in production), plus the sync's debug lines
        # (`source unchanged` with its duration_ms) from the catalog module only.
        env["RUST_LOG"] = "info,thv_app::catalog=debug" + (",thv_app::http::observe=warn" if NO_REQUEST_LOG else "")
        env.pop("THV_REGISTRY_CONFIG", None)
        env.update(self.env_extra)
        self.logf = open(self.log_path, "ab")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--config", self.config, "--address", "127.0.0.1:0", "--log-format", "json"],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf, env=env, preexec_fn=pinned_to(0))
        self.ledger.add_pid(self.proc.pid)
        return self

    def log_lines(self):
        """The JSON log lines so far, except the per-request ones (millions under load): read
        incrementally from where the last call stopped."""
        if not hasattr(self, "_lines"):
            self._lines, self._offset, self._partial = [], 0, b""
        with open(self.log_path, "rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        self._offset += len(chunk)
        data = self._partial + chunk
        parts = data.split(b"\n")
        self._partial = parts.pop()
        for raw in parts:
            if b'"message":"request"' in raw:
                continue
            try:
                self._lines.append(json.loads(raw))
            except ValueError:
                continue
        return list(self._lines)

    def tail(self, n=25):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Seconds from process start to the first /readiness 200."""
        deadline = self.t0 + timeout
        while self.port is None:
            if self.proc.poll() is not None:
                raise BenchError(f"server exited with {self.proc.returncode} before listening:\n{self.tail()}")
            for line in self.log_lines():
                addr = find_field(line, "address") or find_field(line, "addr")
                if addr and "listening" in json.dumps(line):
                    self.port = int(str(addr).rsplit(":", 1)[1])
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"server did not log its address within {timeout:.0f}s:\n{self.tail()}")
            time.sleep(0.002)
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"server exited with {self.proc.returncode} before ready:\n{self.tail()}")
            try:
                status, _, _ = http_get(self.port, "/readiness", timeout=5)
                if status == 200:
                    return time.monotonic() - self.t0
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"server not ready within {timeout:.0f}s:\n{self.tail()}")
            time.sleep(0.005)

    def proc_status(self):
        out = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS"):
                    out[k] = int(v.split()[0]) / 1024.0  # kB -> MiB
        return out

    def cpu_seconds(self):
        """User + system CPU time of the whole process (all threads) so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset_hwm(self):
        try:
            with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.ledger.drop_pid(self.proc.pid)
        self.logf.close()
        self.proc = None


def find_field(obj, key):
    """A field of a JSON log line, at the top level or under `fields`/`span`."""
    if not isinstance(obj, dict):
        return None
    if key in obj:
        return obj[key]
    for sub in ("fields", "span"):
        if isinstance(obj.get(sub), dict) and key in obj[sub]:
            return obj[sub][key]
    return None


def message_of(line):
    return find_field(line, "message") or find_field(line, "msg") or ""


# ---------------------------------------------------------------------------------------------
# load generation

UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_latency(text):
    m = re.match(r"^([\d.]+)(us|ms|s|m)$", text.strip())
    if not m:
        raise BenchError(f"cannot parse wrk latency {text!r}")
    return float(m.group(1)) * UNIT[m.group(2)]


def parse_wrk(out):
    res = {"non2xx3xx": 0, "socket_errors": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise BenchError(f"no Requests/sec in wrk output:\n{out}")
    res["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)\s*$", out, re.M)
        if not m:
            raise BenchError(f"no {pct}% latency in wrk output:\n{out}")
        res[key] = parse_latency(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", out)
    if m:
        res["requests"] = int(m.group(1))
        res["read"] = m.group(3)
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        res["non2xx3xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["socket_errors"] = sum(int(x) for x in m.groups())
    return res


def run_wrk(port, path, duration, threads, conns, env_extra):
    env = dict(os.environ)
    env.pop("BENCH_IF_NONE_MATCH", None)
    env.pop("BENCH_NONCE", None)
    env.pop("BENCH_ACCEPT_ENCODING", None)
    env.update(env_extra)
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}", "--latency", "-s", LUA,
           f"http://127.0.0.1:{port}{path}"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, preexec_fn=pinned_to(1))
    if p.returncode != 0:
        raise BenchError(f"wrk failed ({p.returncode}): {p.stderr}{p.stdout}")
    return p.stdout


def py_load(port, path, seconds, conns, headers, nonce):
    """Fallback for --smoke when wrk is unavailable: a few keep-alive connections in threads. Its
    figures are bounded by the Python client, not the server; they only show that the rows work."""
    lat, errors, lock = [], [0], threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(tid):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n, mine, bad = 0, [], 0
        sep = "&" if "?" in path else "?"
        while time.monotonic() < deadline:
            n += 1
            p = f"{path}{sep}_={tid}-{n}" if nonce else path
            t = time.perf_counter()
            try:
                conn.request("GET", p, headers=headers)
                r = conn.getresponse()
                r.read()
                if r.status >= 400:
                    bad += 1
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            mine.append((time.perf_counter() - t) * 1000.0)
        conn.close()
        with lock:
            lat.extend(mine)
            errors[0] += bad

    started = time.monotonic()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.monotonic() - started
    lat.sort()
    if not lat:
        raise BenchError("python load loop made no request")
    return {"rps": len(lat) / elapsed, "p50_ms": lat[len(lat) // 2], "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "requests": len(lat), "non2xx3xx": errors[0], "socket_errors": 0}


def metrics_by_status(port):
    """http_requests_total summed by status, over the API routes (probes and /metrics excluded)."""
    status, _, body = http_get(port, "/metrics")
    out = {}
    if status != 200:
        return out
    for line in body.decode().splitlines():
        if not line.startswith("http_requests_total{"):
            continue
        labels, _, value = line.rpartition(" ")
        route = re.search(r'route="([^"]*)"', labels)
        st = re.search(r'status="([^"]*)"', labels)
        if not st or (route and route.group(1) in ("/metrics", "/readiness", "/health", "/ping")):
            continue
        out[st.group(1)] = out.get(st.group(1), 0) + float(value)
    return out


# ---------------------------------------------------------------------------------------------
# the benchmark of one store

def write_config(path, data_dir, catalogue, database=None):
    lines = [
        "# generated by scripts/bench",
        f"dataDir: {json.dumps(data_dir)}",
        "sources:",
        f"  - name: {SOURCE}",
        "    format: upstream",
        # A limit above the catalogue's size: the default (256 MiB) is below a 500,000-entry file.
        f"    file: {{path: {json.dumps(catalogue)}, maxBytes: {max(256 << 20, 2 * os.path.getsize(catalogue))}}}",
        '    syncPolicy: {interval: "24h"}   # no background sync during the load runs',
        "registries:",
        f"  - name: {SOURCE}",
        f"    sources: [{SOURCE}]",
    ]
    if database:
        lines.append("database:")
        for k, v in database.items():
            lines.append(f"  {k}: {json.dumps(v)}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def walk_cursor(port, fraction, limit=30):
    """Follows metadata.nextCursor through the whole listing and returns the cursor of the page
    `fraction` of the way through, the number of pages, and the number of rows."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    cursors, rows, cursor = [], 0, None
    try:
        while True:
            q = {"limit": str(limit)}
            if cursor:
                q["cursor"] = cursor
            path = "/v0.1/servers?" + urllib.parse.urlencode(q)
            conn.request("GET", path)
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise BenchError(f"GET {path}: {r.status} {body[:300]!r}")
            page = json.loads(body)
            rows += len(page.get("servers", []))
            cursor = (page.get("metadata") or {}).get("nextCursor")
            if not cursor:
                break
            cursors.append(cursor)
            if len(cursors) > 1_000_000:
                raise BenchError("cursor chain does not end")
    finally:
        conn.close()
    pages = len(cursors) + 1
    if not cursors:
        return None, pages, rows
    idx = min(len(cursors) - 1, max(0, int(pages * fraction) - 1))
    return cursors[idx], pages, rows


def sync_unchanged(server, rounds):
    """POST a sync of the unchanged source; returns (elapsed seconds to lastAttempt changing and the
    phase leaving `syncing`, the `source unchanged` duration_ms from the log) per round."""
    out = []
    for _ in range(rounds):
        before = get_json(server.port, f"/v1/sources/{SOURCE}")
        before_attempt = sync_field(before, "lastAttempt")
        seen = count_msgs(server, "source unchanged")
        t = time.monotonic()
        status, _, body = http_get(server.port, f"/v1/sources/{SOURCE}/sync", method="POST")
        if status != 202:
            raise BenchError(f"POST /v1/sources/{SOURCE}/sync: {status} {body[:300]!r}")
        while True:
            cur = get_json(server.port, f"/v1/sources/{SOURCE}")
            if sync_field(cur, "lastAttempt") != before_attempt and sync_field(cur, "phase") != "syncing":
                elapsed = time.monotonic() - t
                break
            if time.monotonic() - t > 120:
                raise BenchError(f"re-sync did not finish within 120s: {cur}")
            time.sleep(0.001)
        dur = None
        for _ in range(500):
            lines = [ln for ln in server.log_lines() if message_of(ln) == "source unchanged"]
            if len(lines) > seen:
                dur = find_field(lines[-1], "duration_ms")
                break
            time.sleep(0.002)
        if sync_field(cur, "phase") not in ("synced",):
            raise BenchError(f"re-sync ended in phase {sync_field(cur, 'phase')}: {cur}")
        out.append((elapsed, dur))
    return out


def sync_field(doc, key):
    if isinstance(doc.get("sync"), dict) and key in doc["sync"]:
        return doc["sync"][key]
    return doc.get(key)


def count_msgs(server, msg):
    return sum(1 for ln in server.log_lines() if message_of(ln) == msg)


def synced_duration(server):
    for ln in server.log_lines():
        if message_of(ln) == "source synced":
            return find_field(ln, "duration_ms"), find_field(ln, "servers")
    return None, None


def measure(srv, port, path, env_extra, hdrs, want, args):
    """One measured load run of a URL: wrk's figures, the responses by status (from the server's own
    metrics), the server's CPU per request and the CPU time the hypervisor stole meanwhile."""
    before = metrics_by_status(port)
    load1 = os.getloadavg()[0]
    cpu0 = srv.cpu_seconds()
    steal0 = steal_ms()
    if args.load == "wrk":
        r = parse_wrk(run_wrk(port, path, args.duration, args.threads, args.connections, env_extra))
    else:
        r = py_load(port, path, duration_seconds(args.duration), 8, hdrs, bool(env_extra.get("BENCH_NONCE")))
    cpu1 = srv.cpu_seconds()
    steal1 = steal_ms()
    after = metrics_by_status(port)
    delta = {s: int(after.get(s, 0) - before.get(s, 0)) for s in set(after) | set(before)}
    delta = {s: n for s, n in delta.items() if n}
    total = sum(delta.values())
    r["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / total if total else float("nan")
    r.update({"statuses": delta, "unexpected": sum(n for s, n in delta.items() if s != want), "loadavg1": load1,
              "steal_ms": None if steal0 is None or steal1 is None else steal1 - steal0})
    return r


SMOKE_TWIN_S = 0.1  # --smoke: each nginx twin is a short Python loop (it checks the twin, it measures nothing)


def headers_of(env_extra):
    """The request headers wrk/bench.lua sends for a row's environment (for probes and the Python loop)."""
    h = {}
    if env_extra.get("BENCH_IF_NONE_MATCH"):
        h["If-None-Match"] = env_extra["BENCH_IF_NONE_MATCH"]
    if env_extra.get("BENCH_ACCEPT_ENCODING"):
        h["Accept-Encoding"] = env_extra["BENCH_ACCEPT_ENCODING"]
    return h


def probe_of(path, env_extra):
    """The URL a probe of the row fetches: a `*` row's with a nonce of its own."""
    return path + ("&" if "?" in path else "?") + "_=probe" if env_extra.get("BENCH_NONCE") else path


def measure_twin(twin, path, env_extra, args):
    """One measured load run of a row's nginx twin: wrk's figures, nginx's CPU (master + workers) per
    request it counted (stub_status) and the CPU time stolen meanwhile. nginx's statuses are not
    counted by status: wrk's non-2xx/3xx and socket errors are, and every twin was probed first."""
    n0 = twin.requests()
    cpu0 = twin.cpu_seconds()
    steal0 = steal_ms()
    if args.load == "wrk" and not args.smoke:
        r = parse_wrk(run_wrk(twin.port, path, args.duration, args.threads, args.connections, env_extra))
    else:
        r = py_load(twin.port, path, SMOKE_TWIN_S if args.smoke else duration_seconds(args.duration), 4,
                    headers_of(env_extra), bool(env_extra.get("BENCH_NONCE")))
    cpu1 = twin.cpu_seconds()
    steal1 = steal_ms()
    n1 = twin.requests()
    try:
        twin.check_workers()
    except RuntimeError as e:
        raise BenchError(str(e)) from None
    if n0 is None or n1 is None:
        raise BenchError(f"nginx stopped answering {nginx.STATUS_PATH}:\n{twin.tail()}")
    total = n1 - n0 - 1  # the second status request counts itself
    r["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / total if total > 0 else float("nan")
    r.update({"served": total, "unexpected": 0,
              "steal_ms": None if steal0 is None or steal1 is None else steal1 - steal0})
    return r


def best_run(run, args, what):
    """`run()` once, and again while the hypervisor stole more than --steal-limit during it (up to
    --attempts runs): the run with the least steal, its `runs`/`run_shown`, and every run under
    `attempts` when there were several (their errors counted)."""
    attempts = []
    while True:
        a = run()
        attempts.append(a)
        if a["steal_ms"] is None or a["steal_ms"] <= args.steal_limit or len(attempts) >= args.attempts:
            break
        log(f"{what} {a['steal_ms']:.0f} ms of CPU stolen by the hypervisor during the run "
            f"(p99 {a['p99_ms']:.2f} ms): measuring again")
    best = min(range(len(attempts)), key=lambda i: attempts[i]["steal_ms"] or 0)
    r = dict(attempts[best])
    r.update({"runs": len(attempts), "run_shown": best + 1})
    if len(attempts) > 1:
        r["attempts"] = attempts
        for k in ("unexpected", "non2xx3xx", "socket_errors"):  # a discarded run's errors still count
            r[k] = sum(x[k] for x in attempts)
    return r


def start_twin(store, args, base, ledger, port, rows_spec):
    """nginx serving every row's body as a static file: each row's URL is fetched from our server
    once (before any row is measured) and written under the temp dir; the twin of a row asking for
    gzip gets our gzip bytes when we answer gzip (else level-6 gzip of the same bytes) for
    gzip_static. Returns the twin and, per row key, (its wrk environment, its status, the key of
    the row whose twin it shares)."""
    workers = len(os.sched_getaffinity(0)) if not PIN else 1  # as many as our runtime's worker threads
    twin = nginx.Twin(args.nginx, os.path.join(base, "nginx"), ledger, workers, access_log=not NO_REQUEST_LOG,
                      preexec_fn=pinned_to(0))
    for key, _label, path, env_extra, _want in rows_spec:
        if path not in twin.files:
            st, _, body = http_get(port, path)
            if st != 200:
                raise BenchError(f"row ({key}) {path}: status {st} for its nginx twin's file: {body[:300]!r}")
            twin.add(path, body)
        if env_extra.get("BENCH_NONCE"):
            twin.serve_any_nonce(path)
    gz_paths = {path for _k, _l, path, env_extra, _w in rows_spec if env_extra.get("BENCH_ACCEPT_ENCODING")}
    gz_source = {}
    for path in gz_paths:
        st, hdr, body = http_get(port, path, {"Accept-Encoding": "gzip"})
        ours = st == 200 and hdr.get("content-encoding", "").lower() == "gzip" and gzip.decompress(body) == twin.body(path)
        twin.add_gzip(path, body if ours else nginx.gzip_of(twin.body(path)))
        gz_source[path] = "our server's gzip bytes" if ours else "gzip -6 of the same bytes (our server answered identity)"
    try:
        twin.start()
    except RuntimeError as e:
        raise BenchError(str(e)) from None
    log(f"[{store}] nginx {nginx.version(args.nginx)} on port {twin.port}: {workers} worker(s), "
        f"{len(twin.files)} files, access log {'on' if twin.access_log else 'off'}")
    specs, first_gz = {}, None
    for key, _label, path, env_extra, want in rows_spec:
        t_env = {k: v for k, v in env_extra.items() if k == "BENCH_NONCE"}
        share = None
        if env_extra.get("BENCH_IF_NONE_MATCH"):
            st, hdr, _ = http_get(twin.port, path)
            if st != 200 or not hdr.get("etag"):
                raise BenchError(f"nginx twin of ({key}): status {st}, ETag {hdr.get('etag')!r}")
            t_env["BENCH_IF_NONE_MATCH"] = hdr["etag"]
        if env_extra.get("BENCH_ACCEPT_ENCODING"):
            t_env["BENCH_ACCEPT_ENCODING"] = "gzip"  # nginx-light has gzip_static only: br and zstd share it
            share = first_gz
            first_gz = first_gz or key
        st, hdr, body = http_get(twin.port, probe_of(path, t_env), headers_of(t_env))
        if str(st) != want:
            raise BenchError(f"nginx twin of ({key}) {path}: status {st}, expected {want}: {body[:300]!r}\n{twin.tail()}")
        if st == 200:
            gz = t_env.get("BENCH_ACCEPT_ENCODING") == "gzip"
            with open(os.path.join(twin.root, twin.files[path][1:] + (".gz" if gz else "")), "rb") as f:
                expected = f.read()
            if body != expected or hdr.get("content-type") != "application/json" or \
                    hdr.get("content-encoding") != ("gzip" if gz else None):
                raise BenchError(f"nginx twin of ({key}) {path}: {len(body)} bytes, content-type "
                                 f"{hdr.get('content-type')!r}, content-encoding {hdr.get('content-encoding')!r}; "
                                 f"expected the {len(expected)} bytes of its file")
        specs[key] = (t_env, want, share)
    info = {"version": nginx.version(args.nginx), "workers": workers, "access_log": twin.access_log,
            "files": len(twin.files), "gzip_static_source": gz_source}
    return twin, specs, info


def bench_row(store, args, srv, port, key, label, path, env_extra, want, body_a):
    """One row against our server: its probe (status; for a compressed row the Content-Encoding,
    identity allowed and marked), a warm-up, then the measured run(s)."""
    hdrs = headers_of(env_extra)
    st, hdr, body = http_get(port, probe_of(path, env_extra), hdrs)
    if str(st) != want:
        raise BenchError(f"row ({key}) {path}: status {st}, expected {want}: {body[:300]!r}")
    encoding = None
    asked = env_extra.get("BENCH_ACCEPT_ENCODING")
    if asked:
        got = hdr.get("content-encoding", "identity").strip().lower()
        if got not in (asked, "identity"):
            raise BenchError(f"row ({key}) {path}: Accept-Encoding {asked} answered with Content-Encoding {got}")
        if (got == "identity" and body != body_a) or (got == "gzip" and gzip.decompress(body) != body_a):
            raise BenchError(f"row ({key}) {path}: the {got} body is not (a)'s")
        encoding = {"asked": asked, "got": got, "vary": hdr.get("vary")}
    # warm-up of this URL, same settings, then the measured run
    if args.load == "wrk" and not args.smoke:
        run_wrk(port, path, args.warmup, args.threads, args.connections, env_extra)
    else:  # --smoke: a short sequential warm-up, so that the smoke run takes seconds
        py_load(port, path, 0.2, 1, hdrs, bool(env_extra.get("BENCH_NONCE")))
    r = best_run(lambda: measure(srv, port, path, env_extra, hdrs, want, args), args, f"[{store}] ({key})")
    r.update({"key": key, "label": label, "path": path, "bytes": len(body), "status": want, "encoding": encoding})
    log(f"[{store}] ({key}) {r['rps']:>10.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  "
        f"{r['statuses']}" + (f"  Content-Encoding {encoding['got']}" if encoding else ""))
    return r


def bench_store(store, args, gen, catalogue, ledger, database=None, db_env=None):
    res = {"store": store}
    base = os.path.join(args.work, store)
    os.makedirs(base, exist_ok=True)
    data_dir = os.path.join(base, "data")
    config = os.path.join(base, "config.yaml")
    write_config(config, data_dir, catalogue, database)

    # 1. ingest: fresh data dir / database, process start -> ready
    log(f"[{store}] starting on a fresh {'database' if database else 'data dir'} (ingest of {gen['entries']} entries)")
    srv = Server(args.bin, config, os.path.join(base, "server-ingest.log"), ledger, db_env).start()
    try:
        res["ingest_ready_s"] = srv.wait_ready()
        res["mem_at_ready"] = srv.proc_status()  # its VmHWM is the ingest's peak
        for _ in range(2500):  # the `source synced` line can land just after /readiness turns 200
            res["ingest_sync_ms"], res["ingest_servers"] = synced_duration(srv)
            if res["ingest_sync_ms"] is not None:
                break
            time.sleep(0.002)
        # from here on VmHWM is the peak while serving (Linux: writing 5 to clear_refs resets it)
        res["hwm_reset"] = srv.reset_hwm()
        src = get_json(srv.port, f"/v1/sources/{SOURCE}")
        res["source_status"] = {k: sync_field(src, k) for k in ("phase", "serverCount", "message")}
        log(f"[{store}] ready in {res['ingest_ready_s']:.3f}s (sync {res['ingest_sync_ms']} ms): {res['source_status']}")

        # 2. the URLs
        port = srv.port
        page_a = "/v0.1/servers?limit=30&version=latest"
        st, hdr, body_a = http_get(port, page_a)
        if st != 200:
            raise BenchError(f"GET {page_a}: {st}")
        etag = hdr.get("etag")
        if not etag:
            raise BenchError(f"GET {page_a}: no ETag")
        log(f"[{store}] walking the cursor chain (limit=30)")
        t = time.monotonic()
        deep, pages, rows = walk_cursor(port, 0.8)
        res["walk"] = {"pages": pages, "rows": rows, "seconds": round(time.monotonic() - t, 3)}
        if rows != gen["entries"]:
            raise BenchError(f"the listing has {rows} rows, the catalogue {gen['entries']} entries "
                             f"(entries rejected? source status: {res['source_status']})")
        page_b = "/v0.1/servers?" + urllib.parse.urlencode({"limit": "30", "cursor": deep}) if deep else page_a
        name_q = urllib.parse.quote(gen["sample_name"], safe="")
        baseline = f"/_bench/baseline?bytes={len(body_a)}"
        rows_spec = [
            ("z0", f"baseline, measured first too: fixed body of {len(body_a)} bytes", baseline, {}, "200"),
            ("a", "list, first page (limit=30, version=latest)", page_a, {}, "200"),
            ("b", f"list, deep page (page {int(pages * 0.8)} of {pages}, limit=30)", page_b, {}, "200"),
            ("c", f"search={args.search} (limit=30; matches {gen['probes'].get(args.search, '?')} entries)",
             f"/v0.1/servers?search={urllib.parse.quote(args.search)}", {}, "200"),
            ("d", "one version by name", f"/v0.1/servers/{name_q}/versions/{gen['sample_version']}", {}, "200"),
            ("e", f"versions of one server ({args.versions})", f"/v0.1/servers/{name_q}/versions", {}, "200"),
            ("f", "(a) revalidated: If-None-Match -> 304", page_a, {"BENCH_IF_NONE_MATCH": etag}, "304"),
            ("a.gz", "(a), Accept-Encoding: gzip", page_a, {"BENCH_ACCEPT_ENCODING": "gzip"}, "200"),
            ("a.br", "(a), Accept-Encoding: br (nginx twin: gzip_static)", page_a, {"BENCH_ACCEPT_ENCODING": "br"}, "200"),
            ("a.zs", "(a), Accept-Encoding: zstd (nginx twin: gzip_static)", page_a,
             {"BENCH_ACCEPT_ENCODING": "zstd"}, "200"),
            ("z", f"baseline: fixed body of {len(body_a)} bytes", baseline, {}, "200"),
        ]
        if not args.no_extra:
            rare = args.rare_search
            rows_spec += [
                ("a*", "(a), page cache bypassed", page_a, {"BENCH_NONCE": "1"}, "200"),
                ("b*", "(b), page cache bypassed", page_b, {"BENCH_NONCE": "1"}, "200"),
                ("c*", "(c), page cache bypassed", f"/v0.1/servers?search={urllib.parse.quote(args.search)}",
                 {"BENCH_NONCE": "1"}, "200"),
                ("c2*", f"search={rare} (matches {gen['probes'].get(rare, '?')}), cache bypassed",
                 f"/v0.1/servers?search={urllib.parse.quote(rare)}", {"BENCH_NONCE": "1"}, "200"),
            ]
        res["body_bytes_a"] = len(body_a)

        # 3. the load runs, each row followed by its nginx twin
        twin, twin_specs, twin_runs = None, {}, {}
        if args.nginx:
            twin, twin_specs, res["nginx"] = start_twin(store, args, os.path.join(args.work, store), ledger, port, rows_spec)
        else:
            res["nginx"] = {"skipped": args.nginx_missing or "nginx is not installed"}
        try:
            res["rows"] = []
            for key, label, path, env_extra, want in rows_spec:
                res["rows"].append(bench_row(store, args, srv, port, key, label, path, env_extra, want, body_a))
                r = res["rows"][-1]
                if twin is not None:
                    t_env, t_want, share = twin_specs[key]
                    if share is None:
                        if args.load == "wrk" and not args.smoke:
                            run_wrk(twin.port, path, args.warmup, args.threads, args.connections, t_env)
                        twin_runs[key] = best_run(lambda: measure_twin(twin, path, t_env, args), args,
                                                  f"[{store}] ({key}) nginx twin:")
                    n = dict(twin_runs[share or key], status=t_want, shared_with=share)
                    r["nginx"], r["x_nginx"] = n, r["rps"] / n["rps"] if n["rps"] else float("nan")
                    log(f"[{store}] ({key}) nginx {n['rps']:>10.0f} req/s  p50 {n['p50_ms']:.2f} ms  "
                        f"p99 {n['p99_ms']:.2f} ms" + (f"  (the twin of ({share}))" if share else ""))
                if key == "z":  # the peak RSS of the rows a-z, before the cache-bypassing rows churn the page cache
                    res["mem_after_load"] = srv.proc_status()
        finally:
            if twin is not None:
                twin.stop()
        # The ratios divide by the faster of the two baseline runs (before (a) and after (a.zs)): a
        # baseline slowed down by the machine would flatter every row.
        z_rps = max(r["rps"] for r in res["rows"] if r["key"] in ("z0", "z"))
        res["baseline_rps"] = z_rps
        for r in res["rows"]:
            r["ratio"] = r["rps"] / z_rps if z_rps else float("nan")

        # 4. peak RSS while serving, then unchanged re-syncs
        res["mem_after_extra"] = srv.proc_status()
        rounds = 1 if args.smoke else 3
        res["resync"] = [{"elapsed_ms": e * 1000.0, "duration_ms": d} for e, d in sync_unchanged(srv, rounds)]
        res["mem_after_resync"] = srv.proc_status()
    finally:
        srv.stop()

    # 5. restart on the stored catalogue
    log(f"[{store}] restarting on the stored catalogue")
    srv = Server(args.bin, config, os.path.join(base, "server-restart.log"), ledger, db_env).start()
    try:
        res["restart_ready_s"] = srv.wait_ready()
        res["restart_mem_at_ready"] = srv.proc_status()
        st, _, body = http_get(srv.port, "/v0.1/servers?limit=30&version=latest")
        if st != 200 or len(body) != res["body_bytes_a"]:
            raise BenchError(f"after restart (a) answers {st} with {len(body)} bytes (was {res['body_bytes_a']})")
        # the start-up sync of the unchanged file (when it has finished by now)
        time.sleep(0.2)
        lines = [ln for ln in srv.log_lines() if message_of(ln) in ("source unchanged", "source synced")]
        res["restart_first_sync"] = [(message_of(ln), find_field(ln, "duration_ms")) for ln in lines]
        # steady state without an ingest in this process: walk the whole listing once (as a mirror
        # would; it fills the page cache) and read the peak
        walk_cursor(srv.port, 0.8)
        res["restart_mem_after_walk"] = srv.proc_status()
    finally:
        srv.stop()
    return res


def duration_seconds(text):
    m = re.match(r"^(\d+(?:\.\d+)?)(s|m|h)?$", text)
    if not m:
        raise BenchError(f"bad duration {text!r}")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


# ---------------------------------------------------------------------------------------------
# PostgreSQL

def pg_setup(url, ledger):
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("postgres", "postgresql"):
        raise BenchError(f"DATABASE_URL is not a postgres:// URL: {u.scheme}://…")
    name = "thv_bench_" + secrets.token_hex(4)
    ledger.add_db(name)
    p = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        ledger.drop_db(name)
        raise BenchError(f"cannot create the database {name}: {p.stderr.strip()}")
    db = {"host": u.hostname or "localhost", "port": u.port or 5432,
          "user": urllib.parse.unquote(u.username or "postgres"), "database": name, "sslMode": "disable"}
    env = {}
    if u.password:
        env["THV_DATABASE_PASSWORD"] = urllib.parse.unquote(u.password)
    return name, db, env


def pg_drop(url, name, ledger):
    p = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                       capture_output=True, text=True)
    if p.returncode == 0:
        ledger.drop_db(name)
    else:
        log(f"warning: cannot drop the database {name}: {p.stderr.strip()}")


# ---------------------------------------------------------------------------------------------
# report

def fmt_table(res, args):
    out = []
    title = f"{res['store']} store, {args.servers} servers x {args.versions} versions = {res['entries']} entries" + \
        (" (request log off)" if args.no_request_log else "")
    out.append(title)
    warm = "a short sequential warm-up" if args.smoke else f"a {args.warmup} warm-up with the same settings"
    pin = "; server pinned to CPU 0, wrk to CPU 1" if args.pin else ""
    out.append(f"wrk -t{args.threads} -c{args.connections} -d{args.duration} --latency (after {warm} of each URL{pin})"
               if args.load == "wrk" else "PYTHON FALLBACK LOAD LOOP (wrk unavailable): figures bound by the client, not comparable")
    cols = [("row", 4, "<"), ("what", 56, "<"), ("req/s", 7, ">"), ("x nginx", 7, ">"), ("x (z)", 5, ">"),
            ("p50 ms", 6, ">"), ("p99 ms", 6, ">"), ("nginx req/s", 11, ">"), ("nginx p99", 9, ">"),
            ("server CPU us/req", 17, ">"), ("nginx CPU us/req", 16, ">"), ("steal ms", 9, ">")]
    out.append("| " + " | ".join(f"{name:{align}{w}}" for name, w, align in cols) + " |")
    out.append("|" + "|".join("-" * (w + 2) if align == "<" else "-" * (w + 1) + ":" for _, w, align in cols) + "|")

    def steal_of(x):
        return "?" if x["steal_ms"] is None else f"{x['steal_ms']:.0f}" + ("*" if x["runs"] > 1 else "")
    for r in res["rows"]:
        n = r.get("nginx")
        flags = []
        if r["unexpected"] or r["non2xx3xx"] or r["socket_errors"] or (n and (n["non2xx3xx"] or n["socket_errors"])):
            flags.append("!")
        if r.get("encoding") and r["encoding"]["got"] == "identity":
            flags.append("identity!")
        if n:
            ngx = [f"{n['rps']:.0f}", f"{n['p99_ms']:.2f}", f"{n['cpu_us_per_req']:.1f}", f"{r['x_nginx']:.2f}"]
            steal = steal_of(r) + ("/=" if n["shared_with"] else "/" + steal_of(n))
        else:
            ngx, steal = ["-"] * 4, steal_of(r)
        cells = [r["key"], r["label"][:56], f"{r['rps']:.0f}", ngx[3], f"{r['ratio']:.2f}", f"{r['p50_ms']:.2f}",
                 f"{r['p99_ms']:.2f}", ngx[0], ngx[1], f"{r['cpu_us_per_req']:.1f}", ngx[2], steal]
        out.append("| " + " | ".join(f"{c:{align}{w}}" for c, (_, w, align) in zip(cells, cols)) + " |"
                   + "".join(" " + f for f in flags))
    again = [(f"({r['key']})", r) for r in res["rows"] if r["runs"] > 1]
    again += [(f"({r['key']}) nginx", r["nginx"]) for r in res["rows"]
              if r.get("nginx") and not r["nginx"]["shared_with"] and r["nginx"]["runs"] > 1]
    if again:
        out.append(f"* measured again: the hypervisor took more than {args.steal_limit:.0f} ms of CPU (steal) during an "
                   "earlier run of the row; the table shows the run with the least steal. Runs left out: "
                   + "; ".join(f"{what} " + ", ".join(f"{a['steal_ms']:.0f} ms stolen, p99 {a['p99_ms']:.2f} ms"
                                                      for i, a in enumerate(r["attempts"], 1) if i != r["run_shown"])
                               for what, r in again))
    nx = res.get("nginx", {})
    if "skipped" in nx:
        out.append(f"nginx columns skipped: {nx['skipped']}")
    else:
        out.append(f"nginx {nx['version']}, {nx['workers']} worker(s), access log "
                   + ("on (buffered JSON line per request, as our request log)" if nx["access_log"] else "off (as our request log)")
                   + "; steal ms: ours/nginx's run, `=` the twin of an earlier row; (a.br) and (a.zs) compare with the "
                   "gzip_static twin of (a.gz) (nginx-light has no brotli or zstd static module)"
                   + (f"; --smoke: each nginx twin is a {SMOKE_TWIN_S} s Python loop (it checks the twin, its figures "
                      "measure the client)" if args.smoke or args.load != "wrk" else ""))
    ident = [r["key"] for r in res["rows"] if r.get("encoding") and r["encoding"]["got"] == "identity"]
    if ident:
        out.append("identity!: the server answered " + ", ".join(f"({k})" for k in ident)
                   + " without Content-Encoding (not compressed), so those rows measure the identity body")
    return "\n".join(out)


def fmt_sync(res):
    out = [f"{res['store']} store, sync and memory:"]
    out.append(f"  ingest {res['entries']} entries (start -> ready, fresh)   {res['ingest_ready_s'] * 1000:8.0f} ms"
               f"   (sync itself: {res['ingest_sync_ms']} ms)")
    rs = res["resync"]
    el = [x["elapsed_ms"] for x in rs]
    du = [x["duration_ms"] for x in rs if x["duration_ms"] is not None]
    out.append(f"  unchanged re-sync (POST -> status)          {statistics.median(el):8.1f} ms"
               f"   (sync itself: {', '.join(str(d) for d in du) or '?'} ms; {len(rs)} rounds, median of elapsed)")
    out.append(f"  start -> ready, catalogue stored            {res['restart_ready_s'] * 1000:8.0f} ms"
               f"   (start-up sync: {res.get('restart_first_sync')})")
    m = res["mem_at_ready"]
    out.append(f"  peak RSS (VmHWM) of the ingest, at ready    {m['VmHWM']:8.1f} MiB   (VmRSS {m['VmRSS']:.1f} MiB)")
    since = "since ready (HWM reset)" if res.get("hwm_reset") else "since start (no HWM reset)"
    m = res["mem_after_load"]
    out.append(f"  peak RSS serving rows a-z                   {m['VmHWM']:8.1f} MiB   (VmHWM {since}; VmRSS {m['VmRSS']:.1f} MiB)")
    if "mem_after_extra" in res and res["mem_after_extra"] != res["mem_after_load"]:
        m = res["mem_after_extra"]
        out.append(f"  peak RSS after the * rows too               {m['VmHWM']:8.1f} MiB   (VmRSS {m['VmRSS']:.1f} MiB)")
    out.append(f"  peak RSS of the restarted process at ready  {res['restart_mem_at_ready']['VmHWM']:8.1f} MiB"
               f"   (after walking every page once: {res['restart_mem_after_walk']['VmHWM']:.1f} MiB)")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(prog="scripts/bench", description="Benchmark thv-registry-api (see bench/README.md).")
    ap.add_argument("--servers", type=int)
    ap.add_argument("--versions", type=int)
    ap.add_argument("--duration", help="wrk -d of each measured run (default 10s; 1s with --smoke)")
    ap.add_argument("--warmup", default="1s", help="wrk -d of the warm-up of each URL (default 1s)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--search", default="server", help="the common search term of row (c)")
    ap.add_argument("--rare-search", default="quasar", help="the rare search term of row (c2*)")
    ap.add_argument("--no-extra", action="store_true", help="only rows z0-z (no cache-bypassed rows; implied by --smoke)")
    ap.add_argument("--extra", action="store_true", help="the cache-bypassed rows even with --smoke")
    ap.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL run even with DATABASE_URL")
    ap.add_argument("--smoke", action="store_true", help="tiny catalogue, 1 s runs")
    ap.add_argument("--no-request-log", action="store_true",
                    help="turn the per-request log line off (RUST_LOG …,thv_app::http::observe=warn), to see its cost")
    ap.add_argument("--pin", action="store_true",
                    help="pin the server to CPU 0 and wrk to CPU 1 (needs 2 CPUs): the two no longer preempt each "
                         "other, so latency percentiles show the server's queueing rather than the scheduler's")
    ap.add_argument("--steal-limit", type=float, default=50.0, metavar="MS",
                    help="a measured run during which the hypervisor took more than this much CPU time (steal, "
                         "/proc/stat) is measured again (default 50 ms; the table shows the run with the least steal)")
    ap.add_argument("--attempts", type=int, default=3,
                    help="how many times at most a row is measured because of steal (default 3)")
    ap.add_argument("--out", help="also write the results as JSON to this file")
    ap.add_argument("--bin", required=True, help=argparse.SUPPRESS)
    ap.add_argument("--work", required=True, help=argparse.SUPPRESS)
    ap.add_argument("--load", choices=["wrk", "python"], default="wrk", help=argparse.SUPPRESS)
    ap.add_argument("--nginx", default="", help=argparse.SUPPRESS)  # its path; empty: no nginx twins (--smoke only)
    ap.add_argument("--nginx-missing", default="", help=argparse.SUPPRESS)  # why, when --nginx is empty
    args = ap.parse_args()
    if args.smoke:
        args.servers = args.servers or 50
        args.versions = args.versions or 2
        args.duration = args.duration or "1s"
        args.no_extra = not args.extra
    else:
        args.servers = args.servers or 10000
        args.versions = args.versions or 5
        args.duration = args.duration or "10s"
    if args.load == "python" and not args.smoke:
        raise SystemExit("the Python load loop is only for --smoke")
    if not args.nginx and not args.smoke:
        raise SystemExit("the nginx twins are only skipped with --smoke")
    duration_seconds(args.duration)
    global NO_REQUEST_LOG, PIN
    NO_REQUEST_LOG = args.no_request_log
    if args.pin and not {0, 1} <= os.sched_getaffinity(0):
        raise SystemExit("--pin needs CPUs 0 and 1")
    PIN = args.pin

    def on_term(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)

    ledger = Ledger(args.work)
    catalogue = os.path.join(args.work, "catalogue.json")
    t = time.monotonic()
    with open(os.path.join(HERE, "..", "examples", "data", "seed-358-servers.json"), encoding="utf-8") as f:
        seed_docs = json.load(f)
    docs = generate.generate(seed_docs, args.servers, args.versions)
    with open(catalogue, "w", encoding="utf-8") as f:
        json.dump(docs, f, separators=(",", ":"))
    mid = (len(docs) // 2) // args.versions * args.versions
    gen = {"entries": len(docs), "bytes": os.path.getsize(catalogue), "sample_name": docs[mid]["name"],
           "sample_version": docs[mid + args.versions // 2]["version"], "probes": {}}
    for term in {args.search, args.rare_search}:
        t2 = term.lower()
        gen["probes"][term] = sum(1 for d in docs if t2 in (d["name"] + " " + d.get("title", "") + " " + d["description"]).lower())
    del docs
    log(f"generated {gen['entries']} entries ({gen['bytes'] / 1e6:.1f} MB) in {time.monotonic() - t:.1f}s: {catalogue}")

    machine = machine_info()
    log(f"machine: {machine}")
    results = []
    failed = False
    try:
        results.append(bench_store("embedded", args, gen, catalogue, ledger))
        url = os.environ.get("DATABASE_URL")
        if url and not args.no_postgres:
            name, db, env = pg_setup(url, ledger)
            try:
                results.append(bench_store("postgres", args, gen, catalogue, ledger, db, env))
            finally:
                pg_drop(url, name, ledger)
        elif not args.no_postgres:
            log("DATABASE_URL is not set: PostgreSQL run skipped")
    except BenchError as e:
        log(f"\nBENCH FAILED: {e}")
        failed = True

    print()
    print(f"machine: {machine['cpu']}, {machine['nproc']} cores, {machine['mem_gib']:.1f} GiB RAM; "
          f"catalogue {gen['entries']} entries, {gen['bytes'] / 1e6:.1f} MB")
    for res in results:
        res["entries"] = gen["entries"]
        print()
        print(fmt_table(res, args))
        loads = [r["loadavg1"] for r in res["rows"]]
        print(f"(1-minute load average during the rows: {min(loads):.2f} to {max(loads):.2f} on {machine['nproc']} cores;"
              f" wrk runs on the same cores)")
        print()
        print(fmt_sync(res))
        for r in res["rows"]:
            if r["unexpected"] or r["non2xx3xx"] or r["socket_errors"]:
                print(f"  row ({r['key']}): unexpected responses {r['statuses']}, non-2xx/3xx {r['non2xx3xx']},"
                      f" socket errors {r['socket_errors']}")
                failed = True
            n = r.get("nginx")
            if n and (n["non2xx3xx"] or n["socket_errors"]):
                print(f"  row ({r['key']}), nginx twin: non-2xx/3xx {n['non2xx3xx']}, socket errors {n['socket_errors']}")
                failed = True
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items() if k not in ("bin", "work")},
                       "machine": machine, "catalogue": gen, "results": results}, f, indent=1)
    if failed:
        sys.exit(1)


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0.0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return {"cpu": cpu, "nproc": len(os.sched_getaffinity(0)), "mem_gib": mem, "loadavg": os.getloadavg()}


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
