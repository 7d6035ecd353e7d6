-- wrk script: POST to a protected route of the edge proxy as one of the
-- users whose session cookies are listed in AG_SESSIONS (one per line),
-- each from its own browser: a device cookie (__as_aid) that the worker
-- would have set on the user's first visit.
local sessions = {}
for line in io.lines(os.getenv("AG_SESSIONS")) do sessions[#sessions + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"amount":250,"to":"NZ-1"}'
request = function()
  local i = math.random(1, #sessions)
  -- The headers given here replace wrk.headers: the Content-Type goes again
  -- (without it the edge proxy refuses the JSON body, 415).
  return wrk.format(nil, "/api/withdraw", {
    ["Content-Type"] = "application/json",
    ["Cookie"] = "session=" .. sessions[i] .. "; __as_aid=bench-device-" .. i,
  })
end
