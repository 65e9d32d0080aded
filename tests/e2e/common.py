"""What every end-to-end client script shares: where warden and the peers are, the commands
that start each real server (optionally behind `record.py`), warden's command line, and
turning SDK results into plain JSON for the Rust test to assert on.

Environment (set by tests/proxy_e2e.rs): WARDEN_BIN (the warden binary), WARDEN_PEERS (the
directory scripts/install-deps.sh fills).
"""

import json
import os
import sys
import time

from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

PEERS = os.environ["WARDEN_PEERS"]
WARDEN = os.environ["WARDEN_BIN"]
HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable
KESTRA_SRC = f"{PEERS}/kestra-venv/lib/python3.11/site-packages/src"

SERVERS = {
    "everything": [f"{PEERS}/npm/node_modules/.bin/mcp-server-everything", "stdio"],
    "time": [f"{PEERS}/time-venv/bin/mcp-server-time"],
    "kestra": [
        f"{PEERS}/kestra-venv/bin/python",
        "-c",
        f"import sys; sys.path.insert(0, {KESTRA_SRC!r}); import server; server.main()",
    ],
    "fixture": [PYTHON, f"{HERE}/fixture_server.py"],
}


def recorded(log: str | None, command: list[str]) -> list[str]:
    return [PYTHON, f"{HERE}/record.py", log, "--", *command] if log else command


def warden(policy: str, server: str, *, flags=(), server_log=None, client_log=None):
    """StdioServerParameters that start warden in front of SERVER (a key of SERVERS)."""
    command = [
        WARDEN, "proxy", "--policy", policy, *flags, "--", *recorded(server_log, SERVERS[server])
    ]
    command = recorded(client_log, command)
    return StdioServerParameters(command=command[0], args=command[1:])


def outcome(result) -> dict:
    """A CallToolResult as plain JSON."""
    texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
    return {
        "is_error": result.is_error,
        "text": "\n".join(texts),
        "meta": result.meta,
        "result_type": result.result_type,
    }


async def call(client, tool: str, arguments: dict) -> dict:
    """Calls a tool; a JSON-RPC error comes back as {"error": {code, message}}."""
    try:
        return outcome(await client.call_tool(tool, arguments))
    except MCPError as e:
        return {"error": {"code": e.code, "message": e.message}}


def wire(log: str) -> list[dict]:
    """The messages record.py logged: [{"dir": ">>"|"<<", "msg": parsed JSON or the text}]."""
    out = []
    with open(log, encoding="utf-8") as f:
        for line in f:
            direction, _, text = line.rstrip("\n").partition(" ")
            try:
                msg = json.loads(text)
            except ValueError:
                msg = text
            out.append({"dir": direction, "msg": msg})
    return out


def methods_received(log: str) -> list[str]:
    return [m["msg"].get("method", "") for m in wire(log) if m["dir"] == ">>" and isinstance(m["msg"], dict)]


def audit(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def wait_for(predicate, timeout: float = 10.0, what: str = "a condition"):
    """Polls PREDICATE until it returns a truthy value; fails after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def report(data: dict) -> None:
    """The script's answer: one JSON line, the last on stdout."""
    print(json.dumps(data, default=str), flush=True)
