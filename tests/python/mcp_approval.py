#!/usr/bin/env python3
"""A call held for human approval, seen through the official Python MCP SDK (mcp 2.x).

Connects to the gateway's /mcp endpoint with a bearer token and calls a tool the gateway holds
for approval (by default `refundOrder` of 250.00, which the quickstart holds for the `finance`
group), with a progress callback. Meanwhile a second task waits for the first progress
notification, then polls the admin API (`GET /admin/approvals?status=pending`, HTTP Basic as
the approver) and approves the first pending approval of that tool. The held call must then
complete with the upstream's answer.

Checks: at least one progress notification arrived before the approval, exactly one approval
was approved, and the call's result is not an error. Prints a JSON summary on stdout; exits 0
on success, 1 on a failed check or a protocol error, 2 on bad usage.

Usage:
  python mcp_approval.py MCP_URL BEARER_TOKEN ADMIN_BASE_URL OPERATOR_SECRET \
      [--approver demo-operator] [--protocol 2025-11-25|2026-07-28] [--tool refundOrder] \
      [--arguments '{"id": 5, "amount_cents": 25000, "reason": "damaged"}']
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import httpx2
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client


class ApprovalFailure(Exception):
    """A check did not hold."""


# --protocol value -> (SDK connect mode, version the connection must end up with)
PROTOCOLS = {
    "2025-11-25": ("legacy", "2025-11-25"),
    "2026-07-28": ("auto", "2026-07-28"),
}

DEFAULT_ARGUMENTS = '{"id": 5, "amount_cents": 25000, "reason": "damaged"}'
# How long the approver task waits for the first progress notification, then for the hold to
# be listed, before it gives up.
APPROVER_PATIENCE_SECONDS = 30.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the gateway's /mcp URL")
    parser.add_argument("token", help="the agent's bearer access token")
    parser.add_argument("admin", help="the admin API's base URL, such as http://127.0.0.1:9091")
    parser.add_argument("secret", help="the approver's secret")
    parser.add_argument("--approver", default="demo-operator", help="the approver's id")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), help="revision to use and require")
    parser.add_argument("--tool", default="refundOrder", help="the tool to call")
    parser.add_argument("--arguments", default=DEFAULT_ARGUMENTS, help="JSON object of arguments")
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


async def approve_first_pending(
    args: argparse.Namespace, first_progress: asyncio.Event, report: dict[str, Any]
) -> None:
    """After the first progress notification, approves the first pending approval of the tool."""
    try:
        await asyncio.wait_for(first_progress.wait(), APPROVER_PATIENCE_SECONDS)
    except asyncio.TimeoutError as error:
        raise ApprovalFailure("no progress notification arrived while the call was held") from error
    auth = httpx2.BasicAuth(args.approver, args.secret)
    admin = args.admin.rstrip("/")
    async with httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(10.0)) as http:
        deadline = time.monotonic() + APPROVER_PATIENCE_SECONDS
        while True:
            listed = await http.get(f"{admin}/admin/approvals", params={"status": "pending"})
            if listed.status_code != 200:
                raise ApprovalFailure(f"listing approvals answered {listed.status_code}: {listed.text}")
            pending = [a for a in listed.json().get("approvals", []) if a.get("tool") == args.tool]
            if pending:
                break
            if time.monotonic() > deadline:
                raise ApprovalFailure(f"no pending approval of `{args.tool}` was listed")
            await asyncio.sleep(0.1)
        approval = pending[0]
        report["approval"] = {"id": approval.get("id"), "listed": approval}
        decided = await http.post(
            f"{admin}/admin/approvals/{approval['id']}/approve",
            json={"reason": "approved by the Python approval test"},
        )
        if decided.status_code != 200:
            raise ApprovalFailure(f"approving answered {decided.status_code}: {decided.text}")
        report["approval"]["decided"] = decided.json()
        report["approved_after_progress"] = len(report["progress"])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"endpoint": args.url, "progress": []}
    first_progress = asyncio.Event()
    started = time.monotonic()  # reset when the call starts; progress times count from there

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seconds = round(time.monotonic() - started, 3)
        report["progress"].append({"progress": progress, "total": total, "message": message, "seconds": seconds})
        first_progress.set()

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=httpx2.Timeout(30.0, read=60.0),
    )
    async with http:
        transport = streamable_http_client(args.url, http_client=http)
        async with Client(transport, mode=args.mode, raise_exceptions=True, read_timeout_seconds=60.0) as client:
            report["protocol_version"] = client.protocol_version
            if args.require_version is not None and client.protocol_version != args.require_version:
                raise ApprovalFailure(
                    f"negotiated protocol {client.protocol_version}, expected {args.require_version}"
                )
            approver = asyncio.create_task(approve_first_pending(args, first_progress, report))
            started = time.monotonic()
            try:
                result = await client.call_tool(args.tool, args.call_arguments, progress_callback=on_progress)
            except BaseException:
                approver.cancel()
                raise
            report["call_seconds"] = round(time.monotonic() - started, 3)
            report["call"] = {"tool": args.tool, "arguments": args.call_arguments, "result": dump(result)}
            # The approver's response may still be on its way when the call has returned.
            try:
                await asyncio.wait_for(approver, 10.0)
            except asyncio.TimeoutError as error:
                raise ApprovalFailure(
                    f"the call returned but nothing was approved: {json.dumps(report['call']['result'])}"
                ) from error
    if not report["progress"]:
        raise ApprovalFailure("no progress notification was received")
    if result.is_error:
        raise ApprovalFailure(f"the approved call returned an error: {json.dumps(report['call']['result'])}")
    if not result.content and result.structured_content is None:
        raise ApprovalFailure("the approved call returned no content")
    return report


def leaves(error: BaseException) -> list[BaseException]:
    """The underlying errors of an exception group (anyio task groups wrap them), or the error."""
    nested = getattr(error, "exceptions", None)
    if not nested:
        return [error]
    return [leaf for inner in nested for leaf in leaves(inner)]


def describe(error: BaseException) -> str:
    if isinstance(error, ApprovalFailure):
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
