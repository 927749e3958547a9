-- Shared by the wrk scripts: a JSON result line. No response() callback: calling into Lua
-- for every response costs wrk CPU that the server under test would otherwise get; wrk
-- counts non-2xx/3xx answers itself (summary.errors.status).
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
end

-- The customers in turn, from an offset of each thread's own: each of `count` customers gets
-- the thread's requests evenly (random picks gave a few customers twice the mean, enough to
-- reach a plan's limit of 50 open sessions within a run at 1,400 starts/s).
function next_customer(count)
  counter = counter + 1
  return (counter + tid * 7919) % count + 1
end

function done(summary, latency, requests)
  local socket_errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
      .. '"socket_errors": %d, "non_2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    socket_errors, summary.errors.status))
end

-- Paced runs (p99 at a given rate): each connection waits this long before its next request.
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pace then
  function delay()
    return pace
  end
end
