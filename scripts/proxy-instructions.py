#!/usr/bin/env python3
"""User-space instructions per tools/call through `warden proxy` (stdio), counted by callgrind.

A wall-clock A/B of the proxy moves by tens of µs on a shared machine; instruction counts do
not. This drives warden (under valgrind's callgrind) in front of server-everything with
benches/proxy.warden and the audit log on: initialize, tools/list, then N calls of `echo`, one
at a time, then closes stdin so that warden exits and callgrind writes its profile. It does so
for 200 and 1,200 calls and prints the difference per call (start-up cancels out).

    scripts/proxy-instructions.py [WARDEN_BIN]   # default: target/release/warden

Needs valgrind (apt) and the peers from scripts/install-deps.sh. The profiles are kept in a
temporary directory whose path is printed, for `callgrind_annotate --inclusive=yes`.
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(warden, calls, out_dir):
    peers = os.environ.get("WARDEN_PEERS", os.path.expanduser("~/.cache/warden-peers"))
    server = os.path.join(peers, "npm/node_modules/.bin/mcp-server-everything")
    profile = os.path.join(out_dir, f"callgrind.{calls}")
    command = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}", warden, "proxy",
        "--policy", os.path.join(ROOT, "benches/proxy.warden"),
        "--audit", os.path.join(out_dir, "audit.jsonl"), "--", server, "stdio",
    ]
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

    send({"jsonrpc": "2.0", "id": "init", "method": "initialize",
          "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                     "clientInfo": {"name": "instructions", "version": "1"}}})
    answer()
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    send({"jsonrpc": "2.0", "id": "list", "method": "tools/list"})
    answer()
    for i in range(1, calls + 1):
        send({"jsonrpc": "2.0", "id": i, "method": "tools/call",
              "params": {"name": "echo", "arguments": {"message": f"benchmark message {i}"}}})
        reply = answer()
        if "error" in reply or reply["result"].get("isError"):
            sys.exit(f"call {i} failed: {reply}")
    p.stdin.close()
    p.wait()
    with open(profile) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    sys.exit(f"no totals in {profile}")


def main():
    warden = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/warden")
    out_dir = tempfile.mkdtemp(prefix="warden-instructions-")
    few, many = run(warden, 200, out_dir), run(warden, 1200, out_dir)
    print(f"{(many - few) / 1000:,.0f} instructions per call ({warden}; profiles in {out_dir})")


if __name__ == "__main__":
    main()
