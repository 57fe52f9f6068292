// Adds the bearer token to every request on its way to the gateway. The conformance suite's
// server runner connects without credentials, and the gateway refuses unauthenticated MCP
// traffic (there is no anonymous access to turn on), so the suite runs through this proxy.
//
// The suite opens a handshake session per scenario and never ends one, while the gateway caps
// the sessions one agent holds open (`mcp.max_sessions_per_agent`, 16 in the quickstart); so
// before forwarding an `initialize`, the proxy ends the sessions it has seen (DELETE), as a
// client that moved on to a new connection would. Scenarios run one after another.
//
// Only the token is added. `Host` and `Origin` naming the proxy itself are rewritten to the
// gateway's address (they are the suite's honest values); any other `Host` or `Origin` is
// passed as sent, so the DNS-rebinding scenario still reaches the gateway's own check.
//
// usage: node proxy.mjs <listen port> <gateway host:port>   (token in CONFORMANCE_TOKEN)
import http from "node:http";

const [listenPort, gateway] = process.argv.slice(2);
const token = process.env.CONFORMANCE_TOKEN;
if (!listenPort || !gateway || !token) {
  console.error("usage: CONFORMANCE_TOKEN=... node proxy.mjs <listen port> <gateway host:port>");
  process.exit(2);
}
const [gatewayHost, gatewayPort] = gateway.split(":");
const own = new Set([`127.0.0.1:${listenPort}`, `localhost:${listenPort}`]);

const sessions = new Set();

function endSession(id) {
  return new Promise((resolve) => {
    const request = http.request(
      {
        host: gatewayHost,
        port: Number(gatewayPort),
        method: "DELETE",
        path: "/mcp",
        headers: { host: gateway, authorization: `Bearer ${token}`, "mcp-session-id": id },
      },
      (answer) => {
        answer.resume();
        answer.on("end", resolve);
      },
    );
    request.on("error", resolve);
    request.end();
  });
}

const server = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  if (req.method === "POST" && !req.headers["mcp-session-id"] && body.includes('"initialize"')) {
    await Promise.all([...sessions].map(endSession));
    sessions.clear();
  }
  const headers = { ...req.headers, authorization: `Bearer ${token}` };
  if (own.has(headers.host)) headers.host = gateway;
  if (headers.origin) {
    try {
      const origin = new URL(headers.origin);
      if (own.has(origin.host)) headers.origin = `${origin.protocol}//${gateway}`;
    } catch {
      // not a URL: passed as sent, the gateway judges it
    }
  }
  const upstream = http.request(
    { host: gatewayHost, port: Number(gatewayPort), method: req.method, path: req.url, headers },
    (answer) => {
      const session = answer.headers["mcp-session-id"];
      if (session) sessions.add(session);
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on("error", (error) => {
    if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
    res.end(`proxy: ${error.message}`);
  });
  upstream.end(body);
});
server.listen(Number(listenPort), "127.0.0.1", () => console.log(`listening on ${listenPort}`));
