-- Every request carries a token never sent before: a fixed filler of the length of a real token and a
-- per-run salt plus a counter, so every request is a cache miss. args[1] = token length, args[2] = salt.
local filler, salt = "", ""
local n = 0

function init(args)
   local len = tonumber(args[1]) or 64
   salt = (args[2] or "s") .. "t" .. tostring(tonumber(id) or 0)
   filler = string.rep("U", math.max(0, len - #salt - 16))
end

function request()
   n = n + 1
   wrk.headers["Authorization"] = string.format("Bearer %s%s%016x", filler, salt, n)
   return wrk.format()
end
