#!/usr/bin/env python3
"""User-space instructions per tools/call through `warden proxy`, counted by callgrind.

A wall-clock A/B of the proxy moves by tens of µs on a shared machine; instruction counts do
not. This drives warden (under valgrind's callgrind) in front of server-everything with
benches/proxy.warden: initialize, then N calls of `echo`, one at a time, then stops warden so
that callgrind writes its profile. It does so for 200 and 1,200 calls and prints the
difference per call (start-up cancels out).

    scripts/proxy-instructions.py [--http] [--footprint | --lines] [WARDEN_BIN]
                                                # default: target/release/warden

stdio (the default): warden runs the server as its child, with the audit log on. `--http`:
the server runs in its streamableHttp mode and warden listens on loopback in front of it
(`--listen … --upstream …`); the client is Python's http.client on one keep-alive connection.

`--footprint` also prints the code run per call: the distinct 64-byte lines of machine code
whose instructions ran at least once per call on average (from the difference between the two
runs, so start-up does not count), by crate. On a shared machine a proxy's calls run with cold
caches, and what a cold call costs follows how much code (and data) it touches more than how
many instructions it executes. `CALLGRIND_FLAGS` adds other valgrind options.

`--lines` counts, instead, the distinct 64-byte lines of code and of data each call touches
(valgrind's lackey traces every access; a call is what runs between two entries into
`Engine::decide`), averaged over 100 calls after 50, data split by where it lives (the main
thread's stack, the main heap, the binary's own data, mapped: other threads' stacks and
heaps, libraries), and the functions touching most of it. Each is a line
a call fetches from memory when a busy neighbour has evicted the caches between calls
(`BENCH_NEIGHBOUR_MIB` in benches/proxy_http.rs).

Needs valgrind (apt) and the peers from scripts/install-deps.sh. The profiles are kept in a
temporary directory whose path is printed, for `callgrind_annotate --inclusive=yes`.
"""
import bisect
import collections
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.environ.get("WARDEN_PEERS", os.path.expanduser("~/.cache/warden-peers"))
SERVER = os.path.join(PEERS, "npm/node_modules/.bin/mcp-server-everything")
POLICY = os.path.join(ROOT, "benches/proxy.warden")
INITIALIZE = {"jsonrpc": "2.0", "id": "init", "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "instructions", "version": "1"}}}


def call(i):
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": f"benchmark message {i}"}}}


def check(i, reply):
    if "error" in reply or reply["result"].get("isError"):
        sys.exit(f"call {i} failed: {reply}")


FOOTPRINT_FLAGS = ["--dump-instr=yes", "--compress-pos=no", "--compress-strings=no"]


def callgrind(profile, warden):
    flags = os.environ.get("CALLGRIND_FLAGS", "").split()
    return ["valgrind", "--tool=callgrind", *flags, f"--callgrind-out-file={profile}", warden,
            "proxy", "--policy", POLICY]


def lackey(trace, warden):
    return ["valgrind", "--tool=lackey", "--trace-mem=yes", f"--log-file={trace}", warden,
            "proxy", "--policy", POLICY]


def totals(profile):
    with open(profile) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    sys.exit(f"no totals in {profile}")


def run_stdio(warden, calls, out_dir, tool=callgrind):
    profile = os.path.join(out_dir, f"callgrind.stdio.{calls}")
    command = tool(profile, warden) + [
        "--audit", os.path.join(out_dir, "audit.jsonl"), "--", SERVER, "stdio"]
    p = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)

    def send(message):
        p.stdin.write((json.dumps(message) + "\n").encode())
        p.stdin.flush()

    def answer():
        while True:
            line = p.stdout.readline()
            if not line:
                sys.exit("warden closed its stdout")
            message = json.loads(line)
            if "method" not in message:
                return message

    send(INITIALIZE)
    answer()
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    send({"jsonrpc": "2.0", "id": "list", "method": "tools/list"})
    answer()
    for i in range(1, calls + 1):
        send(call(i))
        check(i, answer())
    p.stdin.close()
    p.wait()
    return profile


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_server():
    """server-everything in streamableHttp mode; the process and its URL."""
    port = free_port()
    p = subprocess.Popen([SERVER, "streamableHttp"], env={**os.environ, "PORT": str(port)},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.1)
    sys.exit("server-everything did not listen")


def post(conn, path, session, message):
    """POSTs one message; the JSON-RPC message of the answer (None for a 202) and the headers."""
    headers = {"Content-Type": "application/json",
               "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-11-25"}
    if session:
        headers["Mcp-Session-Id"] = session
    conn.request("POST", path, body=json.dumps(message), headers=headers)
    response = conn.getresponse()
    body = response.read().decode()
    if response.status == 202:
        return None, response
    if response.status != 200:
        sys.exit(f"HTTP {response.status}: {body}")
    if response.getheader("Content-Type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in body.splitlines() if line.startswith("data:")]
        body = next(d for d in data if d)
    return json.loads(body), response


def run_http(warden, calls, out_dir, upstream, tool=callgrind):
    profile = os.path.join(out_dir, f"callgrind.http.{calls}")
    command = tool(profile, warden) + ["--listen", "127.0.0.1:0", "--upstream", upstream]
    p = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "WARDEN_LOG": "warn"})
    for line in p.stderr:
        if line.startswith("warden: listening on "):
            url = urllib.parse.urlsplit(line.split()[-1])
            break
    else:
        sys.exit("warden exited before listening")
    conn = http.client.HTTPConnection(url.hostname, url.port)
    reply, response = post(conn, url.path, None, INITIALIZE)
    session = response.getheader("Mcp-Session-Id")
    post(conn, url.path, session, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    for i in range(1, calls + 1):
        reply, _ = post(conn, url.path, session, call(i))
        check(i, reply)
    conn.close()
    p.send_signal(signal.SIGTERM)
    p.stderr.read()
    p.wait()
    return profile


def lines_run(profile):
    """Instructions run per 64-byte code line, and the function each line belongs to."""
    counts, owner = collections.Counter(), {}
    obj = fn = ""
    after_call = False
    with open(profile) as f:
        for line in f:
            if line.startswith("ob="):
                obj = line[3:].strip()
            elif line.startswith("fn="):
                fn = line[3:].strip()
            elif line.startswith("calls="):
                after_call = True  # the next cost line is the callee's, inclusive
            elif line.startswith("0x"):
                if after_call:
                    after_call = False
                    continue
                parts = line.split()
                key = (obj, int(parts[0], 16) // 64)
                counts[key] += int(parts[-1]) if len(parts) > 2 else 0
                owner[key] = fn
    return counts, owner


def footprint(few_profile, many_profile, calls):
    """Prints the code lines run at least once per call, in KiB and by crate."""
    few, _ = lines_run(few_profile)
    many, owner = lines_run(many_profile)
    hot = [k for k, n in many.items() if n - few.get(k, 0) >= calls]
    crates = collections.Counter()
    for key in hot:
        name = re.sub(r"^[<&]+(mut )?", "", owner[key])
        crates[name.split("::")[0] if "::" in name else "C"] += 1
    top = ", ".join(f"{c} {n * 64 / 1024:.0f}" for c, n in crates.most_common(8))
    print(f"{len(hot) * 64 / 1024:,.0f} KiB of code run per call ({len(hot)} lines of 64 B; "
          f"KiB by crate: {top})")


# Valgrind maps a position-independent program at this address.
VALGRIND_PIE_BASE = 0x108000
MARKER = "warden::proxy::engine::Engine::decide"


def symbols(warden):
    """The program's functions as (address under valgrind, name), sorted."""
    out = subprocess.run(["nm", "-C", "--defined-only", warden], capture_output=True,
                         text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            found.append((int(parts[0], 16) + VALGRIND_PIE_BASE, parts[2]))
    return sorted(found)


def program_end(warden):
    """Where the program's last loaded segment (its writable data) ends, under valgrind."""
    out = subprocess.run(["readelf", "-lW", warden], capture_output=True, text=True,
                         check=True).stdout
    ends = [int(f[2], 16) + int(f[5], 16) for f in map(str.split, out.splitlines())
            if f and f[0] == "LOAD"]
    return max(ends) + VALGRIND_PIE_BASE


def lines_touched(trace, warden, calls):
    """Prints the code and data lines an average call touches (calls 50 to 150)."""
    functions = symbols(warden)
    starts = [a for a, _ in functions]
    end_of_program = program_end(warden)
    marker = next(a for a, name in functions if name == MARKER)
    calls_seen, code, data = [], set(), {}
    last = 0
    with open(trace) as f:
        for line in f:
            if line.startswith("I  "):
                last = int(line[3:].split(",", 1)[0], 16)
                if last == marker:
                    calls_seen.append((code, data))
                    code, data = set(), {}
                else:
                    code.add(last >> 6)
            elif line[:2] in (" L", " S", " M"):
                data.setdefault(int(line[3:].split(",", 1)[0], 16) >> 6, last)
    if len(calls_seen) != calls:
        sys.exit(f"{MARKER} ran {len(calls_seen)} times for {calls} calls")
    steady = calls_seen[51:151]  # [0] is start-up; each element runs up to the next decision

    def place(line):
        address = line << 6
        if address >= 0x1000000000:
            return "stack"
        if address < end_of_program:
            return "binary"
        # Thread stacks, heaps of other threads, libraries' data.
        return "heap" if address < 0x5000000 else "mapped"

    def function(address):
        i = bisect.bisect_right(starts, address) - 1
        return functions[i][1] if 0 <= i and address < end_of_program else "(libraries)"

    where, by_function = collections.Counter(), collections.Counter()
    for _, d in steady:
        for line, toucher in d.items():
            where[place(line)] += 1
            by_function[(place(line), function(toucher))] += 1
    n = len(steady)
    code_lines = sum(len(c) for c, _ in steady) / n
    data_lines = sum(len(d) for _, d in steady) / n
    print(f"lines touched per call ({n} calls): code {code_lines:,.0f} ({code_lines / 16:,.0f} "
          f"KiB), data {data_lines:,.0f} ({data_lines / 16:,.0f} KiB: "
          + ", ".join(f"{k} {v / n:,.0f}" for k, v in where.most_common()) + ")")
    print("data lines per call by the function that touched them first:")
    for (kind, name), count in by_function.most_common(15):
        print(f"  {count / n:6.1f}  {kind:7} {name[:100]}")


def main():
    args = sys.argv[1:]
    http_mode = "--http" in args
    code = "--footprint" in args
    lines = "--lines" in args
    args = [a for a in args if a not in ("--http", "--footprint", "--lines")]
    if code:
        os.environ["CALLGRIND_FLAGS"] = " ".join(
            [os.environ.get("CALLGRIND_FLAGS", ""), *FOOTPRINT_FLAGS])
    warden = args[0] if args else os.path.join(ROOT, "target/release/warden")
    out_dir = tempfile.mkdtemp(prefix="warden-instructions-")
    if lines:
        server, upstream = http_server() if http_mode else (None, None)
        try:
            if http_mode:
                trace = run_http(warden, 160, out_dir, upstream, tool=lackey)
            else:
                trace = run_stdio(warden, 160, out_dir, tool=lackey)
        finally:
            if server:
                server.terminate()
        lines_touched(trace, warden, 160)
        os.remove(trace)
        return
    if http_mode:
        server, upstream = http_server()
        try:
            few, many = (totals(run_http(warden, n, out_dir, upstream)) for n in (200, 1200))
        finally:
            server.terminate()
    else:
        few, many = (totals(run_stdio(warden, n, out_dir)) for n in (200, 1200))
    kind = "HTTP" if http_mode else "stdio"
    print(f"{(many - few) / 1000:,.0f} instructions per {kind} call "
          f"({warden}; profiles in {out_dir})")
    if code:
        name = "http" if http_mode else "stdio"
        footprint(os.path.join(out_dir, f"callgrind.{name}.200"),
                  os.path.join(out_dir, f"callgrind.{name}.1200"), 1000)


if __name__ == "__main__":
    main()
