// The DO API's request rate limit: a sliding window (DigitalOcean counts the requests of the last
// hour; the oldest one expiring frees a slot). take() counts one request and says whether it is
// allowed, with the values of the ratelimit-* headers and, when refused, retry-after in seconds.
// It does not know about HTTP; server.js sets the headers.
'use strict';

const DEFAULT_LIMIT = 5000;
const DEFAULT_WINDOW_MS = 60 * 60 * 1000;

class RateLimiter {
  constructor({ limit = DEFAULT_LIMIT, windowMs = DEFAULT_WINDOW_MS } = {}) {
    this.set({ limit, windowMs });
  }

  // Changing the limit starts a fresh window, so a test that lowers it knows where it stands.
  set({ limit, windowMs } = {}) {
    if (limit !== undefined) {
      if (!Number.isInteger(limit) || limit < 0) throw new RangeError('limit must be a non-negative integer');
      this.limit = limit;
    }
    if (windowMs !== undefined) {
      if (!Number.isInteger(windowMs) || windowMs < 1) throw new RangeError('windowMs must be a positive integer');
      this.windowMs = windowMs;
    }
    this.log = [];
  }

  prune(now) {
    const horizon = now - this.windowMs;
    let drop = 0;
    while (drop < this.log.length && this.log[drop] <= horizon) drop++;
    if (drop) this.log.splice(0, drop);
  }

  status(now = Date.now()) {
    this.prune(now);
    const oldest = this.log.length ? this.log[0] : now;
    return {
      limit: this.limit,
      windowMs: this.windowMs,
      remaining: Math.max(0, this.limit - this.log.length),
      reset: Math.ceil((oldest + this.windowMs) / 1000),
    };
  }

  take(now = Date.now()) {
    this.prune(now);
    if (this.log.length >= this.limit) {
      const oldest = this.log.length ? this.log[0] : now;
      const retryAfter = Math.max(1, Math.ceil((oldest + this.windowMs - now) / 1000));
      return { allowed: false, retryAfter, ...this.status(now) };
    }
    this.log.push(now);
    return { allowed: true, ...this.status(now) };
  }
}

module.exports = { RateLimiter, DEFAULT_LIMIT, DEFAULT_WINDOW_MS };
