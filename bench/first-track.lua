-- wrk script: each request tracks for a user of its own, in order:
-- AG_PREFIX-<thread>-1, -2, … So one run writes the first action of that
-- many users (creating their objects), and a later run with the same
-- prefix, on a restarted workerd, is each object's first track after
-- eviction. done() prints how many users each thread reached, so the
-- benchmark can check the later run stayed within the users the first made
-- (requests started: with AG_LIMIT, past the limit they start over).
local auth = os.getenv("AG_AUTH")
local prefix = os.getenv("AG_PREFIX") or "cold"
local action = os.getenv("AG_ACTION") or "withdraw-funds"
-- At most this many users per thread (0: no limit); a run that goes on
-- starts over with the first (so a run making users can last any time
-- without opening more objects than the process has files for).
local limit = tonumber(os.getenv("AG_LIMIT") or "0")
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
  local k = n
  if limit > 0 then k = ((n - 1) % limit) + 1 end
  return wrk.format(nil, "/v1/users/" .. prefix .. "-" .. id .. "-" .. k .. "/actions/" .. action)
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
