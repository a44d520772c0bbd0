-- wrk script for civicpulse-ingest: POST /v1/events with NDJSON batches of valid events.
--
--   wrk -t1 -c8 -d15s -s bench/ingest.lua http://127.0.0.1:18080/v1/events -- 100 TOKEN [close]
--
-- Arguments after "--": events per request (default 100), the bearer token (default: none,
-- for an ingest without --tokens-file), and "close" to send Connection: close (a new TCP
-- connection per request; see bench/INGEST.md for why that matters today). Each wrk thread pre-builds 32 distinct bodies (ids
-- unique per thread, body and participant), so the client spends its CPU on sending, not on
-- string building. At the end it prints requests/s, events/s, latency percentiles and how
-- many answers were not 202 (a 503 means Kafka did not acknowledge in time).

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

batch = 100  -- global: done() reads it from a thread
local bodies = {}
local next_body = 1
accepted = 0
others = 0

function init(args)
  batch = tonumber(args[1] or "100")
  local token = args[2]
  wrk.method = "POST"
  if args[3] == "close" then wrk.headers["Connection"] = "close" end
  wrk.headers["Content-Type"] = "application/x-ndjson"
  if token ~= nil and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
  local kinds = {
    { kind = "watch_report", extra = '"category":"suspicious_vehicle"' },
    { kind = "volunteer_shift", extra = '"hours":2.5,"organisation":"City Hospital"' },
    { kind = "recycling", extra = '"weight_kg":4.2,"material":"glass"' },
  }
  for b = 1, 32 do
    local lines = {}
    for i = 1, batch do
      local k = kinds[(i % 3) + 1]
      lines[i] = string.format(
        '{"event_id":"bench-%d-%d-%d","kind":"%s","participant":"p-%d","area":"W%02d",' ..
        '"occurred_at":"2026-01-05T09:%02d:%02dZ",%s}',
        id, b, i, k.kind, (b * batch + i) % 5000, i % 20 + 1, i % 60, b % 60, k.extra)
    end
    bodies[b] = table.concat(lines, "\n") .. "\n"
  end
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  else
    others = others + 1
  end
end

function done(summary, latency, requests)
  local ok, bad = 0, 0
  local batch = threads[1]:get("batch")
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("accepted")
    bad = bad + thread:get("others")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "batch=%d events/request: %.0f requests/s, %.0f events/s, latency p50 %.1f ms, " ..
    "p99 %.1f ms, max %.1f ms; %d answers 202, %d other\n",
    batch, summary.requests / seconds, ok * batch / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000, ok, bad))
end
