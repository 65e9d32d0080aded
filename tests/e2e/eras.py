"""Both protocol eras from one client: `eras.py SERVER MODE POLICY ALLOWED DENIED TMPDIR`.

Opens a session through warden (the SDK's `auto` or `legacy` mode), lists tools, makes one
allowed and one denied call (ALLOWED and DENIED are JSON `[tool, arguments]`), and reports
what the client saw, how long opening took, what the server received and warden's raw answers.
"""

import asyncio
import json
import sys
import time

from mcp.client.client import Client

from common import call, methods_received, report, warden, wire


def raw_answer(log: str, tool: str):
    """warden's answer, as bytes parsed to JSON, to the first tools/call of TOOL."""
    messages = wire(log)
    ids = [
        m["msg"]["id"]
        for m in messages
        if m["dir"] == ">>" and isinstance(m["msg"], dict) and m["msg"].get("method") == "tools/call"
        and m["msg"]["params"]["name"] == tool
    ]
    for m in messages:
        if m["dir"] == "<<" and isinstance(m["msg"], dict) and ids and m["msg"].get("id") == ids[0] \
                and "method" not in m["msg"]:
            return m["msg"]
    return None


async def main(server, mode, policy, allowed, denied, tmp):
    server_log, client_log = f"{tmp}/server.log", f"{tmp}/client.log"
    params = warden(policy, server, server_log=server_log, client_log=client_log)
    started = time.monotonic()
    async with Client(params, mode=mode) as client:
        opened = time.monotonic() - started
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        got_allowed = await call(client, *allowed)
        got_denied = await call(client, *denied)
        version = client.protocol_version
    report({
        "open_seconds": opened,
        "protocol_version": version,
        "tools": tools,
        "allowed": got_allowed,
        "denied": got_denied,
        "raw_allowed": raw_answer(client_log, allowed[0]),
        "raw_denied": raw_answer(client_log, denied[0]),
        "server_methods": methods_received(server_log),
    })


if __name__ == "__main__":
    server, mode, policy, allowed, denied, tmp = sys.argv[1:]
    asyncio.run(main(server, mode, policy, json.loads(allowed), json.loads(denied), tmp))
