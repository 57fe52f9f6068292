#!/usr/bin/env python3
"""MCP authorization discovery against Portcullis, with the official Python MCP SDK's own helpers.

Starts from the bare MCP URL with no token, and walks the discovery the way the SDK's OAuth
client does: the 401's `resource_metadata`, the protected-resource metadata (RFC 9728) and its
check against the server URL, the authorization server metadata (RFC 8414) of
`authorization_servers[0]`, the SDK's scope selection, then a client-credentials token request
with `resource` (RFC 8707). Finally it connects with the token and lists the tools; when the
token request is refused with an OAuth error (400), it reports the error and stops there. With a
fourth argument, `{"scope": <narrow scope>, "call": {"name": ..., "arguments": ...}}`, it also
walks a scope step-up: the call with a narrow token, the 403 challenge, the wider token, the
retry. It prints what it saw as JSON on stdout; exit 0 on success, 1 on a failed check.

The SDK's `ClientCredentialsOAuthProvider` cannot run this flow end to end against Portcullis:
its RFC 8414 model requires `authorization_endpoint`, which a server without that endpoint
leaves out (RFC 8414 section 2). The script therefore reads that one document as plain JSON and
reports whether the SDK's model accepted it.

Usage: python mcp_discovery.py <mcp url> <client id> <client secret> [step-up JSON]
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx2
from mcp import Client
from mcp.client.auth.utils import (
    build_oauth_authorization_server_metadata_discovery_urls,
    build_protected_resource_metadata_discovery_urls,
    extract_field_from_www_auth,
    extract_resource_metadata_from_www_auth,
    extract_scope_from_www_auth,
    get_client_metadata_scopes,
    union_scopes,
    handle_auth_metadata_response,
    handle_protected_resource_response,
)
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url


class CheckFailed(Exception):
    """A discovery step did not hold."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


async def run(
    server_url: str, client_id: str, client_secret: str, step_up_call: dict[str, Any] | None
) -> dict[str, Any]:
    report: dict[str, Any] = {}
    async with httpx2.AsyncClient(timeout=30.0) as http:
        # 1. The bare URL, no token.
        first = await http.post(
            server_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            headers={"Accept": "application/json, text/event-stream"},
        )
        check(first.status_code == 401, f"expected 401, got {first.status_code}")
        metadata_url = extract_resource_metadata_from_www_auth(first)
        report["resource_metadata"] = metadata_url
        report["challenge_error"] = extract_field_from_www_auth(first, "error")

        # 2. Protected-resource metadata, checked as the SDK checks it.
        prm = None
        for url in build_protected_resource_metadata_discovery_urls(metadata_url, server_url):
            prm = await handle_protected_resource_response(await http.get(url))
            if prm is not None:
                report["prm_url"] = url
                break
        check(prm is not None, "no protected-resource metadata")
        assert prm is not None
        report["resource"] = str(prm.resource)
        check(
            check_resource_allowed(resource_url_from_server_url(server_url), str(prm.resource)),
            "the metadata names another resource",
        )
        issuer = str(prm.authorization_servers[0]).rstrip("/")
        report["authorization_server"] = issuer

        # 3. Authorization server metadata.
        server: dict[str, Any] | None = None
        for url in build_oauth_authorization_server_metadata_discovery_urls(issuer, server_url):
            response = await http.get(url)
            if response.status_code == 200:
                _, model = await handle_auth_metadata_response(response)
                report["sdk_accepts_as_metadata"] = model is not None
                server = response.json()
                break
        check(server is not None, "no authorization server metadata")
        assert server is not None
        check(server["issuer"].rstrip("/") == issuer, "the issuer does not match")
        check("client_credentials" in server["grant_types_supported"], "no client_credentials grant")

        # 4. Scope selection (the SDK's rule) and the token request with `resource`.
        scope = get_client_metadata_scopes(extract_scope_from_www_auth(first), prm, None)
        report["requested_scope"] = scope
        form = {"grant_type": "client_credentials", "resource": str(prm.resource)}
        if scope:
            form["scope"] = scope
        token = await http.post(server["token_endpoint"], data=form, auth=(client_id, client_secret))
        if token.status_code == 400:
            report["token_error"] = token.json().get("error")
            return report
        check(token.status_code == 200, f"token request refused: {token.status_code} {token.text}")
        body = token.json()
        report["granted_scope"] = body.get("scope")
        access_token = body["access_token"]

    # 5. The MCP endpoint with the token.
    authorized = httpx2.AsyncClient(headers={"Authorization": f"Bearer {access_token}"}, timeout=30.0)
    async with authorized:
        async with Client(streamable_http_client(server_url, http_client=authorized)) as client:
            tools = await client.list_tools()
            report["tools"] = [tool.name for tool in tools.tools]

    if step_up_call is not None:
        report["step_up"] = await step_up(http_token_url=server["token_endpoint"], server_url=server_url,
                                          resource=str(prm.resource), client=(client_id, client_secret),
                                          scope=step_up_call["scope"], call=step_up_call["call"])
    return report


async def step_up(
    http_token_url: str, server_url: str, resource: str, client: tuple[str, str], scope: str, call: dict[str, Any]
) -> dict[str, Any]:
    """Scope step-up as the SDK's OAuth client does it: a call with a narrow token gets 403
    `insufficient_scope`; the client asks for the union of its scope and the challenged one and
    retries the same request (a stateless 2026-07-28 `tools/call`)."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "mcp-discovery", "version": "1"},
    }
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {**call, "_meta": meta}}
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": call["name"],
    }
    seen: dict[str, Any] = {}
    async with httpx2.AsyncClient(timeout=30.0) as http:

        async def token(requested: str) -> str:
            answer = await http.post(
                http_token_url,
                data={"grant_type": "client_credentials", "scope": requested, "resource": resource},
                auth=client,
            )
            check(answer.status_code == 200, f"token request refused: {answer.text}")
            return answer.json()["access_token"]

        narrow = await token(scope)
        first = await http.post(server_url, json=body, headers={**headers, "Authorization": f"Bearer {narrow}"})
        seen["status"] = first.status_code
        seen["error"] = extract_field_from_www_auth(first, "error")
        challenged = extract_scope_from_www_auth(first)
        seen["challenged_scope"] = challenged
        check(first.status_code == 403 and seen["error"] == "insufficient_scope", "expected a step-up challenge")
        wider = union_scopes(scope, challenged)
        seen["requested_scope"] = wider
        retry = await http.post(
            server_url, json=body, headers={**headers, "Authorization": f"Bearer {await token(wider or '')}"}
        )
        seen["retry_status"] = retry.status_code
        seen["retry_is_error"] = retry.json().get("result", {}).get("isError")
    return seen


def main() -> int:
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    step_up_call = json.loads(sys.argv[4]) if len(sys.argv) == 5 else None
    try:
        report = asyncio.run(run(*sys.argv[1:4], step_up_call))
    except CheckFailed as failure:
        print(f"check failed: {failure}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
