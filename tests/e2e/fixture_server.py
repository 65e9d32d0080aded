"""A small real MCP server (the official Python SDK's MCPServer, both protocol eras) for the
cases the reference servers cannot produce on demand (over stdio, or over Streamable HTTP with
`fixture_server.py http PORT`, or over HTTPS with `fixture_server.py https PORT CERT KEY [CLIENT_CA]`):

- `echo {message}`: answers `Echo: <message>`;
- `fail {}`: answers with a JSON-RPC error (-32000), not a tool result;
- `slow {seconds}`: answers after a delay (a call still in flight when the client leaves);
- `die {code}`: the process exits with `code` without answering (a server dying mid-call);
- `approve_me {n}`: answers `approved <n>` (a tool the approval policy guards);
- `headers {}`: answers with the HTTP request headers it received, as JSON (over HTTP);
- `ask {}`: asks the client a question (a server-to-client `elicitation/create`, numbered by
  the server from 0, colliding with the client's own ids) and answers with the reply.
"""

import os

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

app = MCPServer("warden-fixture")


@app.tool()
def echo(message: str) -> str:
    return f"Echo: {message}"


@app.tool()
def fail() -> str:
    raise MCPError(code=-32000, message="fixture failure")


@app.tool()
async def slow(seconds: float) -> str:
    await anyio.sleep(seconds)
    return f"slept {seconds}"


@app.tool()
def die(code: int = 3) -> str:
    os._exit(code)


@app.tool()
def approve_me(n: int = 0) -> str:
    return f"approved {n}"


@app.tool()
def headers(ctx: Context) -> str:
    import json

    return json.dumps({k.lower(): v for k, v in (ctx.headers or {}).items()})


class Answer(BaseModel):
    word: str


@app.tool()
async def ask(ctx: Context) -> str:
    reply = await ctx.elicit(message="say a word", schema=Answer)
    return f"{reply.action}: {reply.data.word if reply.data else ''}"


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["http"]:
        # `fixture_server.py http PORT`: Streamable HTTP at http://127.0.0.1:PORT/mcp, both
        # eras (2026-07-28 requests are served statelessly; handshake clients get sessions).
        app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    elif sys.argv[1:2] == ["https"]:
        # `fixture_server.py https PORT CERT KEY [CLIENT_CA]`: the same at
        # https://127.0.0.1:PORT/mcp; with CLIENT_CA, clients must present a certificate it signed.
        import ssl

        import uvicorn

        client_ca = sys.argv[5] if len(sys.argv) > 5 else None
        uvicorn.run(
            app.streamable_http_app(host="127.0.0.1"),
            host="127.0.0.1",
            port=int(sys.argv[2]),
            ssl_certfile=sys.argv[3],
            ssl_keyfile=sys.argv[4],
            ssl_ca_certs=client_ca,
            ssl_cert_reqs=ssl.CERT_REQUIRED if client_ca else ssl.CERT_NONE,
            log_level="warning",
        )
    else:
        app.run()
