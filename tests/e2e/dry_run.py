"""Shadow mode: `dry_run.py SECRET TMPDIR`.

warden runs with --dry-run and --audit in front of server-everything under
tests/e2e/dry_run.warden, which denies echo. The call must still reach the server and be
answered by it; the audit log must show the would-be denial with its argument keys, and the
SECRET passed as an argument value must appear nowhere in it.
"""

import asyncio
import sys

from mcp.client.client import Client

from common import HERE, call, methods_received, report, warden


async def main(secret, tmp):
    log, server_log = f"{tmp}/audit.jsonl", f"{tmp}/server.log"
    params = warden(f"{HERE}/dry_run.warden", "everything", flags=["--dry-run", "--audit", log],
                    server_log=server_log)
    async with Client(params, mode="legacy") as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        echoed = await call(client, "echo", {"message": secret})
    with open(log, encoding="utf-8") as f:
        audit_text = f.read()
    report({"tools": tools, "echoed": echoed, "audit_text": audit_text,
            "server_methods": methods_received(server_log)})


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
