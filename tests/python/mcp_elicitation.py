#!/usr/bin/env python3
"""A call the acting user must confirm, seen through the official Python MCP SDK (mcp 2.x).

Connects to the gateway's /mcp endpoint with a bearer token (a delegated token naming the user
the agent acts for) and calls a tool a policy annotated `@approval("user")` permits, by default
`getOrder` of order 3. The gateway then asks the user through the client (`elicitation/create`,
form mode) whether the call may run.

`--answer` says how this client takes part:
  accept   declare the elicitation capability and answer `accept` with `{"approve": true}`
  refuse   declare it and answer `accept` with `{"approve": false}`
  decline  declare it and answer `decline`
  cancel   declare it and answer `cancel`
  error    declare it and answer with a JSON-RPC error (the client failed to ask)
  none     connect WITHOUT an elicitation callback, so no elicitation capability is declared

Every elicitation received is recorded (its mode, message and requested schema). The script
checks nothing about the gateway's answer: it prints a JSON summary on stdout (the negotiated
protocol, the elicitations, the call's result dumped with the wire field names) for the test to
assert on. Exits 0 when the call returned a result (an error result included), 1 on a protocol
error, 2 on bad usage.

Usage:
  python mcp_elicitation.py MCP_URL BEARER_TOKEN --answer accept|refuse|decline|cancel|error|none \
      [--protocol 2025-11-25|2026-07-28] [--tool getOrder] [--arguments '{"id": 3}']
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import httpx2
from mcp import Client, MCPError
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.types import INTERNAL_ERROR, ElicitRequestParams, ElicitResult, ErrorData


class ElicitationFailure(Exception):
    """The connection did not go as the arguments asked."""


# --protocol value -> (SDK connect mode, version the connection must end up with)
PROTOCOLS = {
    "2025-11-25": ("legacy", "2025-11-25"),
    "2026-07-28": ("auto", "2026-07-28"),
}

ANSWERS = ("accept", "refuse", "decline", "cancel", "error", "none")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the gateway's /mcp URL")
    parser.add_argument("token", help="the agent's bearer access token")
    parser.add_argument("--answer", choices=ANSWERS, required=True, help="how to answer an elicitation")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), help="revision to use and require")
    parser.add_argument("--tool", default="getOrder", help="the tool to call")
    parser.add_argument("--arguments", default='{"id": 3}', help="JSON object of arguments")
    args = parser.parse_args(argv)
    args.mode, args.require_version = PROTOCOLS.get(args.protocol, ("auto", None))
    try:
        args.call_arguments = json.loads(args.arguments)
    except json.JSONDecodeError as error:
        parser.error(f"--arguments is not JSON: {error}")
    if not isinstance(args.call_arguments, dict):
        parser.error("--arguments must be a JSON object")
    return args


def dump(model: Any) -> Any:
    """A pydantic model as JSON data, with the wire (camelCase) field names."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def answer_for(answer: str) -> ElicitResult | ErrorData:
    if answer == "accept":
        return ElicitResult(action="accept", content={"approve": True})
    if answer == "refuse":
        return ElicitResult(action="accept", content={"approve": False})
    if answer == "decline":
        return ElicitResult(action="decline")
    if answer == "error":
        return ErrorData(code=INTERNAL_ERROR, message="the test client could not ask its user")
    return ElicitResult(action="cancel")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"endpoint": args.url, "answer": args.answer, "elicitations": []}

    async def on_elicitation(
        context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        report["elicitations"].append(dump(params))
        result = answer_for(args.answer)
        report["elicitations"][-1]["answered"] = dump(result)
        return result

    callbacks: dict[str, Any] = {}
    if args.answer != "none":
        callbacks["elicitation_callback"] = on_elicitation

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=httpx2.Timeout(30.0, read=60.0),
    )
    async with http:
        transport = streamable_http_client(args.url, http_client=http)
        async with Client(
            transport, mode=args.mode, raise_exceptions=True, read_timeout_seconds=60.0, **callbacks
        ) as client:
            report["protocol_version"] = client.protocol_version
            if args.require_version is not None and client.protocol_version != args.require_version:
                raise ElicitationFailure(
                    f"negotiated protocol {client.protocol_version}, expected {args.require_version}"
                )
            result = await client.call_tool(args.tool, args.call_arguments)
            report["call"] = {"tool": args.tool, "arguments": args.call_arguments, "result": dump(result)}
    return report


def leaves(error: BaseException) -> list[BaseException]:
    """The underlying errors of an exception group (anyio task groups wrap them), or the error."""
    nested = getattr(error, "exceptions", None)
    if not nested:
        return [error]
    return [leaf for inner in nested for leaf in leaves(inner)]


def describe(error: BaseException) -> str:
    if isinstance(error, ElicitationFailure):
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
    except BaseException as error:  # noqa: BLE001 - every failure, grouped or not, fails the test
        for leaf in leaves(error):
            print(f"FAIL: {describe(leaf)}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
