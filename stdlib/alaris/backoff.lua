-- alaris.backoff: the one backoff formula of alaris's retries (alaris.http's retry policy and the runner's step
-- retries): exponential from `base` seconds, capped at `cap`, with "equal jitter" (half fixed, half random) so
-- waiting clients do not all wake at once. Pure Lua, so a retried step does not load the HTTP binding.
return function(attempt, base, cap)
  local full = math.min(base * 2 ^ (attempt - 1), cap)
  return full / 2 + math.random() * full / 2
end
