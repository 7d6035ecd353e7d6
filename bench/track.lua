-- wrk script: POST a track for one of 1,000 users (so requests spread over
-- many Durable Objects, as real traffic does), no idempotency key.
local auth = os.getenv("AG_AUTH")
local action = os.getenv("AG_ACTION") or "withdraw-funds"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = auth
wrk.body = '{"custom":{"amount":250,"currency":"USD"},"ipAddress":"203.0.113.7","userAgent":"bench"}'
local n = 0
local users = tonumber(os.getenv("AG_USERS") or "1000")
request = function()
  n = n + 1
  local user = "bench-user-" .. (math.random(1, users))
  return wrk.format(nil, "/v1/users/" .. user .. "/actions/" .. action)
end
