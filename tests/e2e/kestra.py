"""The Kestra server behind examples/kestra.warden: `kestra.py TMPDIR`.

Lists the tools directly from the server and through warden (both recorded as raw bytes), then
through warden makes an allowed call, a denied call and a call to a hidden tool. Reports what
the client saw, both raw tools/list results, and what reached the server.
"""

import asyncio
import sys

from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

from common import SERVERS, call, recorded, report, warden, wire


def raw_tools_list(log: str):
    messages = wire(log)
    ids = [m["msg"]["id"] for m in messages if m["dir"] == ">>" and isinstance(m["msg"], dict)
           and m["msg"].get("method") == "tools/list"]
    return next(m["msg"] for m in messages if m["dir"] == "<<" and isinstance(m["msg"], dict)
                and "method" not in m["msg"] and m["msg"].get("id") == ids[0])


async def main(tmp):
    direct_log = f"{tmp}/direct.log"
    command = recorded(direct_log, SERVERS["kestra"])
    async with Client(StdioServerParameters(command=command[0], args=command[1:])) as client:
        await client.list_tools()

    server_log, client_log = f"{tmp}/server.log", f"{tmp}/client.log"
    params = warden("examples/kestra.warden", "kestra", flags=["--grant", "agent-7"],
                    server_log=server_log, client_log=client_log)
    async with Client(params) as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        allowed = await call(client, "list_flows_in_namespace", {"namespace": "company.team"})
        denied = await call(client, "execute_flow",
                            {"namespace": "company.prod.billing", "flow_id": "invoices"})
        hidden = await call(client, "invite_user", {"email": "mallory@example.com", "role": "admin"})
    received = [m["msg"] for m in wire(server_log) if m["dir"] == ">>" and isinstance(m["msg"], dict)]
    report({
        "tools": tools,
        "allowed": allowed,
        "denied": denied,
        "hidden": hidden,
        "direct_list": raw_tools_list(direct_log),
        "proxied_list": raw_tools_list(client_log),
        "server_calls": [m["params"]["name"] for m in received if m.get("method") == "tools/call"],
    })


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
