"""Hot reload on one connection: `reload.py TMPDIR`.

warden polls TMPDIR/policy.warden every 50 ms. Policy A allows echo (limit 3 a day, counter
echo_rate) and approve_me; after two echo calls it is replaced by policy B, which denies
approve_me (rule `switched_off`) and keeps the echo limit; then by a file with an error, which
must be refused while B stays in force. Reports each call and the reload events of the audit
log, all on one client session.
"""

import asyncio
import os
import sys

from mcp.client.client import Client

from common import audit, call, report, wait_for, warden

A = """policy reload {
  default deny
  allow echo limit 3 per day per session as echo_rate
  allow approve_me
}
"""
B = """policy reload {
  default deny
  allow echo limit 3 per day per session as echo_rate
  switched_off: deny approve_me because "switched off by a reload"
}
"""
BROKEN = """policy reload {
  default deny
  allow echo when args. ==
}
"""


def write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def reloads(log: str) -> list[dict]:
    return [e for e in audit(log) if e.get("event") == "reload"]


async def main(tmp):
    policy, log = f"{tmp}/policy.warden", f"{tmp}/audit.jsonl"
    write(policy, A)
    params = warden(policy, "fixture", flags=["--audit", log, "--reload-interval-ms", "50"])
    calls = {}
    async with Client(params) as client:
        calls["a_echo"] = [await call(client, "echo", {"message": str(i)}) for i in range(2)]
        calls["a_approve_me"] = await call(client, "approve_me", {"n": 1})
        write(policy, B)
        wait_for(lambda: len(reloads(log)) >= 1, what="the reload of policy B")
        calls["b_approve_me"] = await call(client, "approve_me", {"n": 2})
        calls["b_echo"] = [await call(client, "echo", {"message": str(i)}) for i in range(2, 4)]
        write(policy, BROKEN)
        wait_for(lambda: len(reloads(log)) >= 2, what="the refused reload")
        calls["broken_approve_me"] = await call(client, "approve_me", {"n": 3})
        calls["broken_echo"] = await call(client, "echo", {"message": "still limited"})
    report({**calls, "reloads": reloads(log)})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
