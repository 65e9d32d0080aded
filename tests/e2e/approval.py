"""Approvals through the client's elicitation callback: `approval.py MODE SERVER TOOL ARGS TMPDIR`.

Three sessions through warden (tests/e2e/approval.warden) in front of SERVER with the SDK in
MODE: a client that accepts the prompt, one that declines it, and one without the elicitation
capability. Each calls TOOL (a tool the policy makes a person approve) with ARGS (JSON).
Reports each call's result, the prompts each client was shown, whether warden sent the third
client an elicitation/create (it must not), and the audit log.
"""

import asyncio
import json
import sys

import mcp_types as types
from mcp.client.client import Client

from common import HERE, audit, call, report, warden, wire


def answering(action: str, prompts: list):
    async def callback(_context, params):
        prompts.append(params.message)
        content = {"approve": True} if action == "accept" else None
        return types.ElicitResult(action=action, content=content)

    return callback


async def session(mode, server, tool, args, tmp, name, action):
    prompts = []
    client_log = f"{tmp}/{name}.client.log"
    params = warden(f"{HERE}/approval.warden", server, flags=["--audit", f"{tmp}/{name}.audit"],
                    client_log=client_log)
    callback = answering(action, prompts) if action else None
    async with Client(params, mode=mode, elicitation_callback=callback) as client:
        result = await call(client, tool, args)
        version = client.protocol_version
    asked = [m["msg"] for m in wire(client_log) if m["dir"] == "<<" and isinstance(m["msg"], dict)
             and (m["msg"].get("method") == "elicitation/create"
                  or m["msg"].get("result", {}).get("resultType") == "input_required")]
    return {"result": result, "prompts": prompts, "asked_on_wire": len(asked),
            "protocol_version": version, "audit": audit(f"{tmp}/{name}.audit")}


async def main(mode, server, tool, args, tmp):
    report({
        "accepted": await session(mode, server, tool, args, tmp, "accept", "accept"),
        "declined": await session(mode, server, tool, args, tmp, "decline", "decline"),
        "incapable": await session(mode, server, tool, args, tmp, "incapable", None),
    })


if __name__ == "__main__":
    mode, server, tool, args, tmp = sys.argv[1:]
    asyncio.run(main(mode, server, tool, json.loads(args), tmp))
