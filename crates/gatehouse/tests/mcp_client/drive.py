"""Drive `gatehouse mcp` with the official Python MCP SDK (PyPI `mcp`) over stdio.

Why: the MCP tests must use a real, independent MCP client, not our own JSON-RPC. The Rust
test (tests/mcp.rs) runs this script and talks to it line by line, so it can act between tool
calls (approve a request from the CLI while the agent waits).

Usage: drive.py SERVER_COMMAND [ARGS...]   (stdio: spawns the server, which inherits this
                                            process's environment, GATEHOUSE_TOKEN included)
       drive.py --http URL                 (Streamable HTTP; GATEHOUSE_TOKEN is sent as
                                            `Authorization: Bearer`)
Once initialized, the script
prints one JSON line {"initialized": {...}}; then it reads one JSON command per line on stdin and
prints one JSON line per command:
  {"op": "list_tools"}                          -> {"tools": [{name, inputSchema, outputSchema}, ...]}
  {"op": "call", "tool": NAME, "arguments": {}} -> the CallToolResult (isError, structuredContent, content)
Errors print {"error": "..."}. End of input ends the session.
"""

import json
import os
import sys

import contextlib

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client


def emit(value):
    print(json.dumps(value), flush=True)


@contextlib.asynccontextmanager
async def transport(argv):
    if argv[0] == "--http":
        token = os.environ.get("GATEHOUSE_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        timeout = httpx2.Timeout(30.0, read=300.0)
        async with httpx2.AsyncClient(headers=headers, timeout=timeout) as client:
            async with streamable_http_client(argv[1], http_client=client) as streams:
                yield streams
    else:
        params = StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ))
        async with stdio_client(params) as streams:
            yield streams


async def main(argv):
    async with transport(argv) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            emit({"initialized": init.model_dump(mode="json", by_alias=True, exclude_none=True)})
            while True:
                line = await anyio.to_thread.run_sync(sys.stdin.readline)
                if not line:
                    return
                if not line.strip():
                    continue
                command = json.loads(line)
                try:
                    if command["op"] == "list_tools":
                        tools = await session.list_tools()
                        emit({"tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools.tools]})
                    elif command["op"] == "call":
                        result = await session.call_tool(command["tool"], command.get("arguments") or {})
                        emit(result.model_dump(mode="json", by_alias=True, exclude_none=True))
                    else:
                        emit({"error": f"unknown op {command['op']!r}"})
                except Exception as error:  # report, keep the session going
                    emit({"error": f"{type(error).__name__}: {error}"})


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:])
