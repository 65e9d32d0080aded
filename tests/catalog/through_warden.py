"""Drives `warden proxy` with a policy and pinned catalog from the SDK client:
`through_warden.py CONFIG_JSON`, where CONFIG_JSON is

    {"mode": "auto"|"legacy", "policy": P, "catalog": C, "audit": A, "server": [command…],
     "before_list": [tool, arguments] or null, "calls": [[tool, arguments], …]}

It starts `warden proxy --policy P --catalog C --audit A -- server…`, makes the `before_list`
call (if any) before listing, lists every page of tools (following `nextCursor`), then makes
each call, and prints one JSON line: the tools listed and what each call returned.
"""

import asyncio
import json
import os
import sys

from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from common import WARDEN, call, report  # noqa: E402


async def main(config):
    command = [
        WARDEN, "proxy", "--policy", config["policy"], "--catalog", config["catalog"],
        "--audit", config["audit"], "--", *config["server"],
    ]
    params = StdioServerParameters(command=command[0], args=command[1:])
    async with Client(params, mode=config["mode"]) as client:
        before = None
        if config.get("before_list"):
            before = await call(client, *config["before_list"])
        tools, cursor = [], None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools += [t.name for t in page.tools]
            cursor = page.next_cursor
            if not cursor:
                break
        calls = [await call(client, tool, arguments) for tool, arguments in config["calls"]]
    report({"before_list": before, "tools": sorted(tools), "calls": calls})


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
