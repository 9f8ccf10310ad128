-- Delivery Optimization's download pattern for wrk (used by `cargo bench --bench content -- wrk`).
--
-- Each wrk thread is one client: its connections (7 per client) take the next request from
-- one list, the client's files one after the other (client n starts with file n), each file's
-- 1 MiB-aligned pieces shuffled, as closed `Range: bytes=a-b` GETs, round and round until wrk's
-- duration ends. Every response is checked: status 206, a `Content-Range` of one aligned piece
-- (1 MiB, or the file's tail), a `Content-Length` that matches it, and a body of that length.
--
-- Arguments after wrk's `--`: a seed, then `path size` pairs. `done` prints one `WRK_RESULT`
-- line for the benchmark to read.

local MIB = 1048576

local threads = {}
local next_id = 0

function setup(thread)
   next_id = next_id + 1
   thread:set("id", next_id)
   table.insert(threads, thread)
end

local function shuffle(list)
   for i = #list, 2, -1 do
      local j = math.random(i)
      list[i], list[j] = list[j], list[i]
   end
end

function init(args)
   local files = {}
   for i = 2, #args, 2 do
      files[#files + 1] = { path = args[i], size = tonumber(args[i + 1]) }
   end
   math.randomseed(tonumber(args[1]) * 1000 + id)
   requests = {}
   for k = 0, #files - 1 do
      local file = files[(id - 1 + k) % #files + 1]
      local pieces = {}
      for start = 0, file.size - 1, MIB do
         local stop = math.min(start + MIB, file.size) - 1
         local range = string.format("bytes=%d-%d", start, stop)
         pieces[#pieces + 1] = wrk.format("GET", file.path, {
            ["Range"] = range,
            ["User-Agent"] = "Microsoft-Delivery-Optimization/10.1",
         })
      end
      shuffle(pieces)
      for _, request in ipairs(pieces) do
         requests[#requests + 1] = request
      end
   end
   n = 0
   good = 0
   bad = 0
   body_bytes = 0
end

function request()
   n = n % #requests + 1
   return requests[n]
end

-- Whether a response is one whole aligned piece as a 206.
local function piece_ok(status, headers, body)
   if status ~= 206 then
      return false
   end
   local length, range
   for name, value in pairs(headers) do
      local lower = string.lower(name)
      if lower == "content-length" then
         length = tonumber(value)
      elseif lower == "content-range" then
         range = value
      end
   end
   if length == nil or range == nil or #body ~= length then
      return false
   end
   local first, last, size = string.match(range, "^bytes (%d+)%-(%d+)/(%d+)$")
   first, last, size = tonumber(first), tonumber(last), tonumber(size)
   if first == nil or last - first + 1 ~= length or first % MIB ~= 0 then
      return false
   end
   return length == MIB or last + 1 == size
end

function response(status, headers, body)
   if piece_ok(status, headers, body) then
      good = good + 1
      body_bytes = body_bytes + #body
   else
      bad = bad + 1
      if bad <= 3 then
         io.stderr:write(string.format("bad response: status %d\n", status))
      end
   end
end

function done(summary, latency, requests)
   local good, bad, body = 0, 0, 0
   for _, thread in ipairs(threads) do
      good = good + thread:get("good")
      bad = bad + thread:get("bad")
      body = body + thread:get("body_bytes")
   end
   local e = summary.errors
   io.write(string.format(
      "WRK_RESULT seconds=%.6f requests=%d good=%d bad=%d body_bytes=%d " ..
      "connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d\n",
      summary.duration / 1e6, summary.requests, good, bad, body,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50.0), latency:percentile(99.0)))
end
