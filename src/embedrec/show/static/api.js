// Talks to the server: JSON in and out, a busy state while requests run (text in a status region and
// aria-busy on what is being updated), and failures as one readable line in an alert region.

/** Raised for a failed request; `message` is the server's own explanation when it gave one. */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function send(path, init) {
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError("the server cannot be reached", 0);
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const detail = typeof data.detail === "string" ? data.detail
      : Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : res.statusText;
    throw new ApiError(detail || `HTTP ${res.status}`, res.status);
  }
  return data;
}

/**
 * busy: a role=status element listing what is in progress; alert: a role=alert element for failures.
 * Each call says `what` it does ("Updating your recommendations"), the element it updates (`target`,
 * marked aria-busy meanwhile), and `quiet: true` for requests whose failure the page handles itself.
 */
export function createApi({ busy, alert }) {
  const running = new Map(); // what -> requests in flight
  const updating = new WeakMap(); // target element -> requests in flight
  let failed = null; // the `what` whose failure the alert shows

  function paint() {
    busy.textContent = [...running.keys()].map((w) => `${w}…`).join(" · ");
  }

  async function request(path, init, { what = "Loading", target = null, quiet = false } = {}) {
    if (!quiet) {
      running.set(what, (running.get(what) || 0) + 1);
      paint();
    }
    if (target) {
      updating.set(target, (updating.get(target) || 0) + 1);
      target.setAttribute("aria-busy", "true");
    }
    try {
      const data = await send(path, init);
      if (!quiet && failed === what) {
        alert.textContent = "";
        failed = null;
      }
      return data;
    } catch (err) {
      if (!quiet) {
        alert.textContent = `${what} failed: ${err.message}`;
        failed = what;
      }
      throw err;
    } finally {
      if (!quiet) {
        const n = running.get(what) - 1;
        if (n > 0) running.set(what, n);
        else running.delete(what);
        paint();
      }
      if (target) {
        updating.set(target, updating.get(target) - 1);
        if (!updating.get(target)) target.setAttribute("aria-busy", "false");
      }
    }
  }

  return {
    get: (path, opts) => request(path, {}, opts),
    post: (path, body, opts) => request(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    }, opts),
  };
}
