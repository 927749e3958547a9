package.path = package.path .. ";bench/?.lua"
require("wrk_common")

local key = os.getenv("BENCH_KEY")
local customers = tonumber(os.getenv("BENCH_CUSTOMERS"))

function request()
  local id = next_customer(customers)
  return wrk.format("GET", string.format("/billing/usage?user_id=bench-%05d", id),
    {["Authorization"] = "Bearer " .. key})
end
