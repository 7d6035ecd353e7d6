-- wrk script: each request tracks for a user of its own, in order:
-- AG_PREFIX-<thread>-1, -2, … So one run writes the first action of that
-- many users (creating their objects), and a later run with the same
-- prefix, on a restarted workerd, is each object's first track after
-- eviction. done() prints how many users each thread reached, so the
-- benchmark can check the later run stayed within the users the first made.
local auth = os.getenv("AG_AUTH")
local prefix = os.getenv("AG_PREFIX") or "cold"
local action = os.getenv("AG_ACTION") or "withdraw-funds"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = auth
wrk.body = '{"custom":{"amount":250,"currency":"USD"},"ipAddress":"203.0.113.7","userAgent":"bench"}'

local threads = {}
local next_id = 1
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/users/" .. prefix .. "-" .. id .. "-" .. n .. "/actions/" .. action)
end

function done(summary, latency, requests)
  local lo, hi
  for _, t in ipairs(threads) do
    local k = t:get("n")
    if lo == nil or k < lo then lo = k end
    if hi == nil or k > hi then hi = k end
  end
  io.write(string.format("users per thread: %d %d\n", lo or 0, hi or 0))
end
