package.path = package.path .. ";bench/?.lua"
require("wrk_common")

local key = os.getenv("BENCH_KEY")
local run = os.getenv("BENCH_RUN")
-- Starts go to the growth customers (the first half), whose limits admit them all.
local targets = tonumber(os.getenv("BENCH_START_CUSTOMERS"))

function request()
  local id = next_customer(targets)
  local body = string.format('{"session_id": "%s-%d-%d", "user_id": "bench-%05d"}',
    run, tid, counter, id)
  return wrk.format("POST", "/api/v1/sessions",
    {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}, body)
end
