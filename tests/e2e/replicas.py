"""Replicas sharing limits: `replicas.py STATE_URL PREFIX GRANTS REPLICAS CALLS`.

Starts REPLICAS wardens per grant (GRANTS, comma-separated), each in front of its own fixture
server, all with `--state STATE_URL --state-prefix PREFIX`; opens every session, then sends
CALLS concurrent `echo` calls through each, all at once. Reports, per grant, the outcome of
every call (`ok`, or the denial code), and the hour the calls fell in (before and after: a
burst straddling an hour's edge is reported so, and the test tries again).
"""

import asyncio
import sys
import time
from contextlib import AsyncExitStack

from mcp.client.client import Client

from common import HERE, call, report, warden


def outcome(result: dict) -> str:
    if result.get("is_error") is False:
        return "ok"
    meta = result.get("meta") or {}
    return (meta.get("warden/decision") or {}).get("code") or str(result)


async def main(url, prefix, grants, replicas, calls):
    policy = f"{HERE}/replicas.warden"
    async with AsyncExitStack() as stack:
        sessions = []
        for grant in grants:
            for r in range(replicas):
                flags = ["--grant", grant, "--state", url, "--state-prefix", prefix,
                 # exactness, not timing, is under test: a loaded machine must not turn a slow
                 # Redis answer into limit_state_unavailable
                 "--state-timeout-ms", "2000"]
                client = await stack.enter_async_context(Client(warden(policy, "fixture", flags=flags)))
                sessions.append((grant, r, client))
        hour_before = int(time.time()) // 3600
        results = await asyncio.gather(*[
            call(client, "echo", {"message": f"{grant}-{r}-{i}"})
            for grant, r, client in sessions
            for i in range(calls)
        ])
        hour_after = int(time.time()) // 3600
    outcomes = {g: [] for g in grants}
    keys = [(grant, r, i) for grant, r, _ in sessions for i in range(calls)]
    for (grant, _, _), result in zip(keys, results):
        outcomes[grant].append(outcome(result))
    report({"outcomes": outcomes, "hour_before": hour_before, "hour_after": hour_after})


if __name__ == "__main__":
    url, prefix, grants, replicas, calls = sys.argv[1:6]
    asyncio.run(main(url, prefix, grants.split(","), int(replicas), int(calls)))
