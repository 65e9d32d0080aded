"""Limits through warden to the fixture server: `limits.py TMPDIR`.

A per-second limit of 3: waits for the start of a second, calls echo 4 times (the 4th must be
refused), waits for the next second and calls once more. Then calls `fail` (limit 1 a day)
three times: the server answers each with a JSON-RPC error, which gives the slot back.
"""

import asyncio
import sys
import time

from mcp.client.client import Client

from common import HERE, call, report, warden, wire


def start_of_next_second() -> None:
    time.sleep(1.0 - time.time() % 1.0 + 0.01)


async def main(tmp):
    server_log = f"{tmp}/server.log"
    params = warden(f"{HERE}/limits.warden", "fixture", server_log=server_log)
    async with Client(params) as client:
        # The burst must fall in one fixed window: on a loaded machine it may straddle two,
        # then it is tried again in a fresh window.
        for attempt in range(5):
            start_of_next_second()
            second = int(time.time())
            burst = [await call(client, "echo", {"message": f"{attempt}-{i}"}) for i in range(4)]
            if int(time.time()) == second:
                break
        start_of_next_second()
        recovered = await call(client, "echo", {"message": "next window"})
        failures = [await call(client, "fail", {}) for _ in range(3)]
    received = [m["msg"] for m in wire(server_log) if m["dir"] == ">>" and isinstance(m["msg"], dict)]
    report({
        "burst": burst,
        "refused_message": f"{attempt}-3",
        "recovered": recovered,
        "failures": failures,
        "server_calls": [[m["params"]["name"], m["params"]["arguments"].get("message")]
                         for m in received if m.get("method") == "tools/call"],
    })


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
