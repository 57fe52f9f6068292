#!/usr/bin/env python3
"""Interactive sign-in against Portcullis with fastmcp's OAuth helper (`fastmcp.client.auth.OAuth`).

fastmcp connects to the bare MCP URL with no token, discovers the authorization server,
registers itself (RFC 7591) with a `http://localhost:<port>/callback` redirect URI, starts its
own callback server on that port and opens the authorization URL in "the browser". Here the
browser is `webbrowser.open` replaced by an HTTP client with a cookie jar that loads the sign-in
page, posts the sign-in form, then the consent form, and finally follows the gateway's redirect
to fastmcp's callback server, exactly as a browser would. fastmcp then exchanges the code with
PKCE, lists the tools and calls one. Prints a JSON report; exit 0 on success.

Usage: python fastmcp_sign_in.py <mcp url> <user> <password> <tool> <arguments JSON>
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
import time
import webbrowser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from fastmcp import Client
from fastmcp.client.auth import OAuth


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    if match is None:
        raise RuntimeError(f"no hidden field {name} in the page")
    return match.group(1)


def play_browser(authorization_url: str, user: str, password: str, report: dict[str, Any]) -> None:
    """The user's browser: the gateway's forms, then the redirect to fastmcp's callback."""
    try:
        with httpx2.Client(timeout=30.0, follow_redirects=False) as browser:
            page = browser.get(authorization_url)
            if page.status_code != 200:
                raise RuntimeError(f"sign-in page: {page.status_code}")
            consent = browser.post(
                urljoin(authorization_url, "/oauth/authorize/sign-in"),
                data={
                    "request": hidden(page.text, "request"),
                    "csrf": hidden(page.text, "csrf"),
                    "username": user,
                    "password": password,
                },
            )
            if consent.status_code != 200:
                raise RuntimeError(f"sign-in: {consent.status_code}")
            back = browser.post(
                urljoin(authorization_url, "/oauth/authorize/consent"),
                data={
                    "request": hidden(consent.text, "request"),
                    "csrf": hidden(consent.text, "csrf"),
                    "decision": "approve",
                },
            )
            location = back.headers["location"]
            report["redirect_uri"] = location.split("?")[0]
            report["code_in_redirect"] = "code" in parse_qs(urlparse(location).query)
            # fastmcp starts its callback server once this handler has returned: retry briefly.
            for _ in range(100):
                try:
                    landed = browser.get(location)
                    report["callback_status"] = landed.status_code
                    return
                except httpx2.TransportError:
                    time.sleep(0.1)
            raise RuntimeError("fastmcp's callback server never answered")
    except Exception as err:  # reported, and the flow times out
        report["browser_error"] = repr(err)


async def main(url: str, user: str, password: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = {}

    def open_browser(authorization_url: str, *_: Any, **__: Any) -> bool:
        report["authorization_url"] = authorization_url.split("?")[0]
        threading.Thread(target=play_browser, args=(authorization_url, user, password, report), daemon=True).start()
        return True

    webbrowser.open = open_browser  # type: ignore[assignment]
    auth = OAuth(scopes=["orders:read"], client_name="fastmcp sign-in test", callback_timeout=60.0)
    async with Client(url, auth=auth, timeout=60) as client:
        tools = await client.list_tools()
        report["tools"] = sorted(t.name for t in tools)
        called = await client.call_tool(tool, arguments, raise_on_error=False)
        report["call_is_error"] = bool(called.is_error)
        report["structured"] = called.structured_content
    return report


if __name__ == "__main__":
    mcp_url, user_id, secret, tool_name, args_json = sys.argv[1:6]
    print(json.dumps(asyncio.run(main(mcp_url, user_id, secret, tool_name, json.loads(args_json))), default=str))
