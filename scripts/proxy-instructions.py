#!/usr/bin/env python3
"""User-space instructions per tools/call through `warden proxy`, counted by callgrind.

A wall-clock A/B of the proxy moves by tens of µs on a shared machine; instruction counts do
not. This drives warden (under valgrind's callgrind) in front of server-everything with
benches/proxy.warden: initialize, then N calls of `echo`, one at a time, then stops warden so
that callgrind writes its profile. It does so for 200 and 1,200 calls and prints the
difference per call (start-up cancels out).

    scripts/proxy-instructions.py [--http] [--footprint] [WARDEN_BIN]
                                                # default: target/release/warden

stdio (the default): warden runs the server as its child, with the audit log on. `--http`:
the server runs in its streamableHttp mode and warden listens on loopback in front of it
(`--listen … --upstream …`); the client is Python's http.client on one keep-alive connection.

`--footprint` also prints the code run per call: the distinct 64-byte lines of machine code
whose instructions ran at least once per call on average (from the difference between the two
runs, so start-up does not count), by crate. On a shared machine a proxy's calls run with cold
caches, and what a cold call costs follows how much code (and data) it touches more than how
many instructions it executes. `CALLGRIND_FLAGS` adds other valgrind options.

Needs valgrind (apt) and the peers from scripts/install-deps.sh. The profiles are kept in a
temporary directory whose path is printed, for `callgrind_annotate --inclusive=yes`.
"""
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


def totals(profile):
    with open(profile) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    sys.exit(f"no totals in {profile}")


def run_stdio(warden, calls, out_dir):
    profile = os.path.join(out_dir, f"callgrind.stdio.{calls}")
    command = callgrind(profile, warden) + [
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
    return totals(profile)


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


def run_http(warden, calls, out_dir, upstream):
    profile = os.path.join(out_dir, f"callgrind.http.{calls}")
    command = callgrind(profile, warden) + ["--listen", "127.0.0.1:0", "--upstream", upstream]
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
    return totals(profile)


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


def main():
    args = sys.argv[1:]
    http_mode = "--http" in args
    code = "--footprint" in args
    args = [a for a in args if a not in ("--http", "--footprint")]
    if code:
        os.environ["CALLGRIND_FLAGS"] = " ".join(
            [os.environ.get("CALLGRIND_FLAGS", ""), *FOOTPRINT_FLAGS])
    warden = args[0] if args else os.path.join(ROOT, "target/release/warden")
    out_dir = tempfile.mkdtemp(prefix="warden-instructions-")
    if http_mode:
        server, upstream = http_server()
        try:
            few, many = (run_http(warden, n, out_dir, upstream) for n in (200, 1200))
        finally:
            server.terminate()
    else:
        few, many = (run_stdio(warden, n, out_dir) for n in (200, 1200))
    kind = "HTTP" if http_mode else "stdio"
    print(f"{(many - few) / 1000:,.0f} instructions per {kind} call "
          f"({warden}; profiles in {out_dir})")
    if code:
        name = "http" if http_mode else "stdio"
        footprint(os.path.join(out_dir, f"callgrind.{name}.200"),
                  os.path.join(out_dir, f"callgrind.{name}.1200"), 1000)


if __name__ == "__main__":
    main()
