#!/usr/bin/env python3
"""Interactive sign-in against Portcullis with the official Python MCP SDK's OAuth client.

Connects to the bare MCP URL with `mcp.client.auth.OAuthClientProvider` and no token. The SDK
discovers the authorization server, registers itself (RFC 7591), and calls the redirect handler
with the authorization URL; the handler plays the user's browser with an HTTP client: it loads
the sign-in page, posts the sign-in form (the hidden request id and CSRF token, the cookie), then
the consent form, and hands the code from the final redirect to the SDK's callback handler. The
SDK exchanges the code with PKCE, lists the tools and calls one. Then the SDK refreshes the
token (rotation) and lists again. Prints a JSON report; exit 0 on success.

With a user written `idp:<name>`, the "browser" presses the sign-in page's button for the
organization's identity provider instead, signs in there as <name> by following the provider's
own forms (login, then consent), and comes back through the gateway's callback to its consent
page.

Usage: python mcp_sign_in.py <mcp url> <user> <password> <tool> <arguments JSON>
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT = "http://127.0.0.1:33418/callback"


class Memory(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def form_of(page: str) -> tuple[str, dict[str, str]]:
    """The first form of a page: its action and its named inputs' values."""
    match = re.search(r'<form[^>]*action="([^"]*)"', page)
    if match is None:
        raise RuntimeError(f"no form in the page: {page[:300]}")
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name is not None:
            fields[name.group(1)] = html_unescape(value.group(1)) if value else ""
    return html_unescape(match.group(1)), fields


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


async def through_identity_provider(browser: Any, start: Any, login: str, password: str, gateway: str) -> Any:
    """Follows the provider's redirects and fills its forms until it sends the browser back to
    the gateway's callback; returns the callback's answer (the consent page)."""
    response = start
    for _ in range(20):
        if response.status_code in (302, 303):
            location = urljoin(str(response.url), response.headers["location"])
            response = await browser.get(location)
            if location.startswith(gateway + "/oauth/callback"):
                return response
            continue
        if response.status_code != 200:
            raise RuntimeError(f"identity provider: {response.status_code} {response.text[:300]}")
        action, fields = form_of(response.text)
        if "login" in fields:
            fields["login"] = login
            fields["password"] = password
        response = await browser.post(urljoin(str(response.url), action), data=fields)
    raise RuntimeError("the identity provider never sent the browser back")


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    if match is None:
        raise RuntimeError(f"no hidden field {name} in the page")
    return match.group(1)


async def main(url: str, user: str, password: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = {}
    result: asyncio.Future[AuthorizationCodeResult] = asyncio.get_running_loop().create_future()

    async def browse(authorization_url: str) -> None:
        # The "browser": follows the forms with a cookie jar, never follows the last redirect.
        async with httpx2.AsyncClient(timeout=30.0, follow_redirects=False) as browser:
            page = await browser.get(authorization_url)
            if page.status_code != 200:
                raise RuntimeError(f"sign-in page: {page.status_code} {page.text[:200]}")
            report["csp"] = page.headers.get("content-security-policy")
            html = page.text
            if user.startswith("idp:"):
                start = await browser.post(
                    urljoin(authorization_url, "/oauth/authorize/upstream"),
                    data={"request": hidden(html, "request"), "csrf": hidden(html, "csrf")},
                )
                if start.status_code != 303:
                    raise RuntimeError(f"upstream button: {start.status_code} {start.text[:300]}")
                report["left_for"] = start.headers["location"].split("?")[0]
                gateway = "{0.scheme}://{0.netloc}".format(urlparse(authorization_url))
                consent = await through_identity_provider(browser, start, user[4:], password, gateway)
                report["consent_user"] = re.search(r"Signed in as <strong>([^<]*)</strong>", consent.text).group(1)
            else:
                consent = await browser.post(
                    urljoin(authorization_url, "/oauth/authorize/sign-in"),
                    data={
                        "request": hidden(html, "request"),
                        "csrf": hidden(html, "csrf"),
                        "username": user,
                        "password": password,
                    },
                )
            if consent.status_code != 200:
                raise RuntimeError(f"sign-in: {consent.status_code}")
            report["consent_names_tool"] = tool in consent.text
            back = await browser.post(
                urljoin(authorization_url, "/oauth/authorize/consent"),
                data={
                    "request": hidden(consent.text, "request"),
                    "csrf": hidden(consent.text, "csrf"),
                    "decision": "approve",
                },
            )
            location = back.headers["location"]
            query = parse_qs(urlparse(location).query)
            result.set_result(
                AuthorizationCodeResult(
                    code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
                )
            )

    async def callback() -> AuthorizationCodeResult:
        return await result

    storage = Memory()
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="Python SDK sign-in test",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=browse,
        callback_handler=callback,
    )
    async with httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30.0, read=60.0)) as http:
        async with Client(streamable_http_client(url, http_client=http), raise_exceptions=True) as client:
            tools = await client.list_tools()
            report["tools"] = sorted(t.name for t in tools.tools)
            called = await client.call_tool(tool, arguments)
            report["call_is_error"] = bool(called.is_error)
    assert storage.tokens is not None
    report["scope"] = storage.tokens.scope
    report["has_refresh_token"] = storage.tokens.refresh_token is not None
    # Let the access token "expire" so that the SDK refreshes it (rotation) on the next request.
    first_refresh = storage.tokens.refresh_token
    storage.tokens = OAuthToken(
        access_token="expired-token",
        token_type="Bearer",
        refresh_token=first_refresh,
        expires_in=1,
        scope=storage.tokens.scope,
    )
    provider.context.current_tokens = storage.tokens
    provider.context.update_token_expiry(storage.tokens)
    provider.context.token_expiry_time = 1.0
    async with httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30.0, read=60.0)) as http:
        async with Client(streamable_http_client(url, http_client=http), raise_exceptions=True) as client:
            report["tools_after_refresh"] = len((await client.list_tools()).tools)
    report["refresh_rotated"] = storage.tokens.refresh_token not in (None, first_refresh)
    return report


if __name__ == "__main__":
    mcp_url, user_id, secret, tool_name, args_json = sys.argv[1:6]
    print(json.dumps(asyncio.run(main(mcp_url, user_id, secret, tool_name, json.loads(args_json)))))
