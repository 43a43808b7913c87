-- Rotates the Authorization header over the tokens of a file (one token a line): args[1] = the file.
-- With a one-line file every request carries the same token (the warm-cache case). Further args: extra request
-- headers, "Name: value" each (sent on every request).
local tokens = {}
local i = 0

function init(args)
   for line in io.lines(args[1]) do
      if #line > 0 then
         tokens[#tokens + 1] = "Bearer " .. line
      end
   end
   for j = 2, #args do
      local name, value = args[j]:match("^([^:]+):%s*(.*)$")
      if name then
         wrk.headers[name] = value
      end
   end
   -- Each thread starts elsewhere in the list.
   i = ((tonumber(id) or 0) * 7919) % #tokens
end

function request()
   i = i % #tokens + 1
   wrk.headers["Authorization"] = tokens[i]
   return wrk.format()
end
