#!/usr/bin/env python3
"""Smoke test of the Portcullis MCP endpoint with the official Python MCP SDK (mcp 2.x).

Connects to the gateway's /mcp endpoint with a bearer token, lists the tools, checks the listed
names, calls one tool and prints everything it saw as JSON on stdout. Exits 0 on success, 1 on a
failed check or a protocol error, 2 on bad usage.

Every option can come from the environment instead of the command line:

  MCP_URL            gateway base URL or /mcp URL (`/mcp` is appended when missing); or --url
  MCP_TOKEN          bearer access token (PORTCULLIS_TOKEN is read too); or --token
  MCP_EXPECT_TOOLS   comma-separated tool names the listing must contain exactly
  MCP_CALL_TOOL      tool to call (default: the first listed tool that needs no arguments)
  MCP_CALL_ARGS      JSON object of arguments for the call (default: {})
  MCP_EXPECT_ERROR   "true" when the call must come back as a tool error (isError)
  MCP_PROTOCOL       protocol revision to use and require: 2025-11-25 (initialize handshake)
                     or 2026-07-28 (server/discover, stateless); default: whatever the SDK
                     negotiates (it prefers 2026-07-28). The SDK's handshake always offers
                     2025-11-25, so 2025-06-18 cannot be chosen here.

Examples:
  MCP_EXPECT_TOOLS=listOrders,getOrder python mcp_smoke.py http://127.0.0.1:8080 "$TOKEN"
  PORTCULLIS_TOKEN=... python mcp_smoke.py --url http://127.0.0.1:8080/mcp --protocol 2025-11-25
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import httpx2
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client


class SmokeFailure(Exception):
    """A check did not hold."""


# --protocol value -> (SDK connect mode, version the connection must end up with)
PROTOCOLS = {
    "2025-11-25": ("legacy", "2025-11-25"),
    "2026-07-28": ("auto", "2026-07-28"),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url", nargs="?", help="gateway base URL or /mcp URL (env MCP_URL)")
    parser.add_argument("bearer", nargs="?", help="bearer token (env MCP_TOKEN or PORTCULLIS_TOKEN)")
    parser.add_argument("--url", default=env("MCP_URL"), help="same as the first argument")
    parser.add_argument(
        "--token", default=env("MCP_TOKEN") or env("PORTCULLIS_TOKEN"), help="same as the second argument"
    )
    parser.add_argument("--expect-tools", default=env("MCP_EXPECT_TOOLS"), help="comma-separated names")
    parser.add_argument("--call", default=env("MCP_CALL_TOOL"), help="tool to call")
    parser.add_argument("--args", default=env("MCP_CALL_ARGS", "{}"), help="JSON object of arguments")
    parser.add_argument(
        "--expect-error",
        default=env("MCP_EXPECT_ERROR", "false"),
        choices=["true", "false"],
        help="whether the call must return isError",
    )
    parser.add_argument(
        "--protocol", default=env("MCP_PROTOCOL"), choices=sorted(PROTOCOLS), help="revision to use and require"
    )
    args = parser.parse_args(argv)
    args.url = args.base_url or args.url
    args.token = args.bearer or args.token
    if not args.url or not args.token:
        parser.error("a URL and a bearer token are required (arguments, options or environment)")
    args.mode, args.require_version = PROTOCOLS.get(args.protocol, ("auto", None))
    try:
        args.arguments = json.loads(args.args)
    except json.JSONDecodeError as error:
        parser.error(f"--args is not JSON: {error}")
    if not isinstance(args.arguments, dict):
        parser.error("--args must be a JSON object")
    return args


def endpoint(base_url: str) -> str:
    url = base_url.rstrip("/")
    return url if url.endswith("/mcp") else url + "/mcp"


def dump(model: Any) -> Any:
    """A pydantic model as JSON data, with the wire (camelCase) field names."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"endpoint": endpoint(args.url)}
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=httpx2.Timeout(30.0, read=60.0),
    )
    async with http:
        transport = streamable_http_client(report["endpoint"], http_client=http)
        async with Client(transport, mode=args.mode, raise_exceptions=True) as client:
            report["protocol_version"] = client.protocol_version
            if args.require_version is not None and client.protocol_version != args.require_version:
                raise SmokeFailure(
                    f"negotiated protocol {client.protocol_version}, expected {args.require_version}"
                )
            info = client.server_info
            report["server"] = dump(info) if info is not None else None

            listing = await client.list_tools()
            names = [tool.name for tool in listing.tools]
            report["tools"] = [dump(tool) for tool in listing.tools]
            for tool in listing.tools:
                if tool.input_schema.get("type") != "object":
                    raise SmokeFailure(f"tool `{tool.name}` has no object input schema")
            if args.expect_tools is not None:
                expected = sorted(name.strip() for name in args.expect_tools.split(",") if name.strip())
                if sorted(names) != expected:
                    raise SmokeFailure(f"listed tools {sorted(names)} differ from expected {expected}")

            name = args.call or next(
                (tool.name for tool in listing.tools if not tool.input_schema.get("required")), None
            )
            if name is None:
                raise SmokeFailure("no listed tool can be called without arguments; set MCP_CALL_TOOL/MCP_CALL_ARGS")
            result = await client.call_tool(name, args.arguments)
            report["call"] = {"tool": name, "arguments": args.arguments, "result": dump(result)}
            expect_error = args.expect_error == "true"
            if result.is_error != expect_error:
                raise SmokeFailure(f"tool `{name}` returned isError={result.is_error}, expected {expect_error}")
            if not result.content:
                raise SmokeFailure(f"tool `{name}` returned no content")
    return report


def leaves(error: BaseException) -> list[BaseException]:
    """The underlying errors of an exception group (anyio task groups wrap them), or the error."""
    nested = getattr(error, "exceptions", None)
    if not nested:
        return [error]
    return [leaf for inner in nested for leaf in leaves(inner)]


def describe(error: BaseException) -> str:
    if isinstance(error, SmokeFailure):
        return str(error)
    if isinstance(error, MCPError):
        return f"JSON-RPC error {error.code}: {error.message}"
    return f"{type(error).__name__}: {error}"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        report = asyncio.run(run(args))
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 - every failure, grouped or not, fails the smoke test
        for leaf in leaves(error):
            print(f"FAIL: {describe(leaf)}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
