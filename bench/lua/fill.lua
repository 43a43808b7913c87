-- Memory benchmark: sends exactly args[3] distinct tokens (args[1] .. (args[2] + k), k = 1..args[3]), then
-- stops wrk. Requests sent after the last new token repeat it (cache hits, no new entry). One thread only.
local prefix, start, count = "", 0, 0
local n, answered = 0, 0

function init(args)
   prefix = args[1]
   start = tonumber(args[2])
   count = tonumber(args[3])
end

function request()
   if n < count then
      n = n + 1
   end
   wrk.thread:set("unique", n)
   wrk.headers["Authorization"] = "Bearer " .. prefix .. tostring(start + n)
   return wrk.format()
end

function response(status, headers, body)
   answered = answered + 1
   if answered == count then
      wrk.thread:stop()
      -- wrk's main thread sleeps for the whole -d duration: interrupt it with SIGINT (the shell's parent
      -- is wrk). Delayed, because system() ignores SIGINT until the shell returns.
      os.execute("(sleep 0.2; kill -INT $PPID) >/dev/null 2>&1 &")
   end
end
