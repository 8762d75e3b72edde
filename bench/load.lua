-- wrk script of the benchmark: POSTs prepared bodies, in turn, and prints
-- one machine-readable line at the end.
--
--   [BENCH_DELAY_MS=MS] wrk ... -s bench/load.lua URL \
--       -- [header=NAME:VALUE ...] PATH FILE [PATH FILE ...]
--
-- Each PATH FILE pair is one request (its body read from FILE); each
-- connection sends them in turn.  BENCH_DELAY_MS makes every connection
-- wait that many milliseconds after each answer before its next request,
-- which keeps the rate moderate for the latency runs.  It is read from
-- the environment because wrk decides whether the script delays before
-- it passes the arguments.

local requests = {}
local n = 0
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

function init(args)
    local headers = { ["Content-Type"] = "application/json" }
    local i = 1

    while i <= #args do
        local a = args[i]

        if a:sub(1, 7) == "header=" then
            local name, value = a:sub(8):match("^([^:]+):(.*)$")
            headers[name] = value
            i = i + 1

        else
            local f = assert(io.open(args[i + 1], "rb"))
            local body = f:read("*a")
            f:close()
            requests[#requests + 1] = wrk.format("POST", a, headers, body)
            i = i + 2
        end
    end

    -- threads start at different requests of the list
    n = math.random(#requests) - 1
end

function request()
    n = n % #requests + 1
    return requests[n]
end

if pause > 0 then
    function delay()
        return pause
    end
end

function done(summary, latency, requests)
    local e = summary.errors

    io.write(string.format(
        "wrk: requests=%d duration_us=%d bytes=%d connect=%d read=%d " ..
        "write=%d status=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d " ..
        "max_us=%d mean_us=%.1f\n",
        summary.requests, summary.duration, summary.bytes, e.connect,
        e.read, e.write, e.status, e.timeout,
        latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max, latency.mean))
end
