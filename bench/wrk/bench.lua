-- The one wrk script every row of scripts/bench uses (so every row runs with the same settings).
-- Environment:
--   BENCH_IF_NONE_MATCH  when set, sent as If-None-Match on every request (the 304 row).
--   BENCH_ACCEPT_ENCODING  when set, sent as Accept-Encoding on every request (the compressed rows).
--   BENCH_NONCE=1        append `&_=<thread>-<n>` to the query so that no two requests share a URL:
--                        the server's rendered-page cache never hits (the supplementary `*` rows).
-- Without BENCH_NONCE, wrk sends its static request (no per-request Lua), exactly as with no script.

local etag = os.getenv("BENCH_IF_NONE_MATCH")
if etag ~= nil and etag ~= "" then
  wrk.headers["If-None-Match"] = etag
end

local accept = os.getenv("BENCH_ACCEPT_ENCODING")
if accept ~= nil and accept ~= "" then
  wrk.headers["Accept-Encoding"] = accept
end

if os.getenv("BENCH_NONCE") == "1" then
  local threads = 0
  function setup(thread)
    threads = threads + 1
    thread:set("tid", threads)
  end

  local n = 0
  local sep = string.find(wrk.path, "?", 1, true) and "&" or "?"
  function request()
    n = n + 1
    return wrk.format(nil, wrk.path .. sep .. "_=" .. tostring(tid) .. "-" .. tostring(n))
  end
end
