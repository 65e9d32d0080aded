"""The SDK's Streamable HTTP client through warden: `http_client.py URL MODE TOKEN STEPS`.

TOKEN is sent as `Authorization: Bearer TOKEN` (`-` for none); with WARDEN_TEST_CLIENT_CERT
and WARDEN_TEST_CLIENT_KEY (PEM files) set, the client presents that certificate over HTTPS,
trusting the CAs in SSL_CERT_FILE. STEPS is a JSON list of
`["list"]`, `["call", tool, arguments]`, `["progress", tool, arguments]` (a call that records
the progress notifications that arrive before its result) or `["approve", tool, arguments,
action]` (a call whose approval prompt the client answers with ACTION). Reports the protocol
version and each step's outcome.
"""

import asyncio
import json
import os
import ssl
import sys

import httpx2

import mcp_types as types
from mcp.client.client import Client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.client.streamable_http import streamable_http_client

from common import call, outcome, report


def http_client(headers):
    """The SDK's HTTP client, presenting a client certificate if the environment names one."""
    cert = os.environ.get("WARDEN_TEST_CLIENT_CERT")
    if not cert:
        return create_mcp_http_client(headers=headers)
    context = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    context.load_cert_chain(cert, os.environ["WARDEN_TEST_CLIENT_KEY"])
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300),
                              verify=context)


async def main(url, mode, token, steps):
    headers = {} if token == "-" else {"Authorization": f"Bearer {token}"}
    prompts = []
    actions = [s[3] for s in steps if s[0] == "approve"]

    async def elicit(_context, params):
        prompts.append(params.message)
        action = actions.pop(0) if actions else "decline"
        content = {"approve": True} if action == "accept" else None
        return types.ElicitResult(action=action, content=content)

    results = []
    async with http_client(headers) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode,
                          elicitation_callback=elicit) as client:
            for step in steps:
                if step[0] == "list":
                    tools = await client.list_tools()
                    results.append(sorted(t.name for t in tools.tools))
                elif step[0] in ("call", "approve"):
                    results.append(await call(client, step[1], step[2]))
                elif step[0] == "progress":
                    seen = []

                    async def progress(p, total, message, seen=seen):
                        seen.append(p)

                    result = await client.call_tool(step[1], step[2], progress_callback=progress)
                    results.append({"progress_before_result": list(seen), **outcome(result)})
            version = client.protocol_version
    report({"protocol_version": version, "results": results, "prompts": prompts})


if __name__ == "__main__":
    url, mode, token, steps = sys.argv[1:]
    asyncio.run(main(url, mode, token, json.loads(steps)))
