// A call held for human approval, seen through the official TypeScript MCP SDK.
//
// Connects to the gateway's /mcp endpoint with a bearer token (Streamable HTTP), calls a tool the
// gateway holds for approval with a progress callback and `resetTimeoutOnProgress`, and, after
// the first progress notification, approves the pending approval through the admin API (HTTP
// Basic as the approver). The held call must then complete with the upstream's answer.
//
// Usage: node approval.mjs MCP_URL TOKEN ADMIN_BASE OPERATOR_SECRET TOOL ARGUMENTS_JSON
// Prints a JSON summary on stdout; exits 0 on success, 1 on a failed check.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, admin, secret, tool, argumentsJson] = process.argv.slice(2);
if (!argumentsJson) {
  console.error("usage: node approval.mjs MCP_URL TOKEN ADMIN_BASE OPERATOR_SECRET TOOL ARGUMENTS_JSON");
  process.exit(2);
}
const basic = "Basic " + Buffer.from(`demo-operator:${secret}`).toString("base64");
const report = { progress: [] };

function fail(message) {
  console.error(`FAIL: ${message}`);
  console.log(JSON.stringify(report, null, 2));
  process.exit(1);
}

let firstProgress;
const progressed = new Promise((resolve) => (firstProgress = resolve));

async function approveFirstPending() {
  await progressed;
  for (let attempt = 0; attempt < 100; attempt++) {
    const listed = await fetch(`${admin}/admin/approvals?status=pending`, {
      headers: { Authorization: basic },
    });
    if (listed.status !== 200) fail(`listing answered ${listed.status}`);
    const pending = (await listed.json()).approvals.filter((a) => a.tool === tool);
    if (pending.length > 0) {
      const decided = await fetch(`${admin}/admin/approvals/${pending[0].id}/approve`, {
        method: "POST",
        headers: { Authorization: basic, "Content-Type": "application/json" },
        body: JSON.stringify({ reason: "approved by the TypeScript client test" }),
      });
      if (decided.status !== 200) fail(`approving answered ${decided.status}`);
      report.approved = pending[0].id;
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  fail("no pending approval was listed");
}

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "portcullis-approval-test", version: "1.0.0" });
try {
  await client.connect(transport);
  report.protocol_version = transport.protocolVersion ?? null;
  const approver = approveFirstPending();
  const result = await client.callTool(
    { name: tool, arguments: JSON.parse(argumentsJson) },
    undefined,
    {
      onprogress: (progress) => {
        report.progress.push(progress);
        firstProgress();
      },
      resetTimeoutOnProgress: true,
      timeout: 60_000,
    },
  );
  await approver;
  report.result = result;
  await client.close();
} catch (error) {
  fail(`${error?.name ?? "Error"}: ${error?.message ?? error}`);
}
if (report.progress.length === 0) fail("no progress notification was received");
if (report.result.isError) fail(`the approved call returned an error: ${JSON.stringify(report.result)}`);
console.log(JSON.stringify(report, null, 2));
