-- Sends every DPoP proof of this thread's file once (a replayed proof would be refused): args[1] = the files'
-- prefix (`<prefix>-<thread id>.txt`, one proof a line, made by bench/dpop_proofs.mjs), args[2] = the
-- DPoP-bound access token (`Authorization: DPoP <token>`). A thread that runs out sends "exhausted" (a 401).
local next_proof

function init(args)
   local f = assert(io.open(args[1] .. "-" .. tostring(tonumber(id) or 0) .. ".txt"))
   next_proof = f:lines()
   wrk.headers["Authorization"] = "DPoP " .. args[2]
end

function request()
   wrk.headers["DPoP"] = next_proof() or "exhausted"
   return wrk.format()
end
