-- wrk script for bench/run.sh: the request comes from the environment, the result goes to a
-- JSON file, so one script serves every scenario.
--
--   BENCH_METHOD   GET or POST
--   BENCH_BODY     request body (optional); every `__RPCID__` in it becomes a JSON-RPC id that
--                  is unique across threads and requests (MCP sessions route answers by id, so
--                  concurrent requests of one session must not share one)
--   BENCH_HEADERS  header lines `Name: value`, separated by newlines
--   BENCH_OUT      where `done` writes the summary as JSON
--
-- Without `__RPCID__` no `request` function is defined and wrk sends one pre-built request
-- over and over (its fastest path); with it, each request is formatted in Lua.

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
    wrk.body = body
end
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
    local name, value = string.match(line, "^%s*([^:]+):%s*(.-)%s*$")
    if name ~= nil then
        wrk.headers[name] = value
    end
end

local threads = {}
local next_thread = 0

function setup(thread)
    next_thread = next_thread + 1
    thread:set("thread_index", next_thread)
    table.insert(threads, thread)
end

if body ~= nil and string.find(body, "__RPCID__", 1, true) then
    local counter = 0
    request = function()
        counter = counter + 1
        local id = tostring(thread_index * 1000000000 + counter)
        return wrk.format(nil, nil, nil, (string.gsub(body, "__RPCID__", id)))
    end
end

function done(summary, latency, requests)
    local out = os.getenv("BENCH_OUT")
    if out == nil then
        return
    end
    local e = summary.errors
    local file = assert(io.open(out, "w"))
    file:write(string.format(
        '{"duration_us":%d,"requests":%d,"bytes":%d,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
        '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
        summary.duration, summary.requests, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.min, latency.mean, latency.max,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency:percentile(99.9)))
    file:close()
end
