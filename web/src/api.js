// Talks to /api with the bearer token, kept in sessionStorage (never in localStorage). In AWS
// auth.js signs in with Cognito and stores it; locally it arrives once as `?token=` in the URL
// and is removed from the address bar. A 401 gets one recovery attempt (auth.js refreshes the
// token or signs in again) before the unauthorized listeners hear of it.

export const TOKEN_KEY = "smart0dte.token";
const listeners = { unauthorized: [], ok: [] };
let recovery = null;
let recovering = null; // one recovery shared by the requests refused together
let rate = 1; // simulated seconds per second of the server's clock (the played-live demo's X-Clock-Rate)

/** How fast the server's clock runs: 1 in AWS, the replay's pace while `smart0dte demo` plays. */
export function clockRate() {
  return rate;
}

/** `fn()` resolves true when a fresh token is stored and the request may be sent again. */
export function setAuthRecovery(fn) {
  recovery = fn;
}

export class ApiError extends Error {
  constructor(status, body, message) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export function captureToken() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    url.searchParams.delete("token");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function onUnauthorized(fn) {
  listeners.unauthorized.push(fn);
}

export function onAuthorized(fn) {
  listeners.ok.push(fn);
}

function messageFrom(body, status) {
  if (body && typeof body === "object") {
    if (typeof body.message === "string") return body.message;
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail) && body.detail.length) {
      return body.detail.map((d) => d && d.msg).filter(Boolean).join("; ");
    }
  }
  return `HTTP ${status}`;
}

export async function api(path, options = {}) {
  const sentWith = getToken();
  try {
    return await send(path, options);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401 && recovery)) throw err;
    // Refused an older token that has been replaced meanwhile: just send it again.
    if (getToken() && getToken() !== sentWith) return send(path, options, true);
    if (!recovering) recovering = recovery().finally(() => setTimeout(() => (recovering = null), 0));
    if (!(await recovering)) {
      listeners.unauthorized.forEach((fn) => fn());
      throw err;
    }
    return send(path, options, true);
  }
}

async function send(path, { method = "GET", body } = {}, retried = false) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, null, `Cannot reach the API (${err.message})`);
  }
  const served = Number(response.headers.get("X-Clock-Rate"));
  rate = served > 0 ? served : 1;
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text.slice(0, 200) };
    }
  }
  if (response.status === 401) {
    if (!recovery || retried) listeners.unauthorized.forEach((fn) => fn());
    throw new ApiError(401, data, "Token missing or expired");
  }
  if (!response.ok) throw new ApiError(response.status, data, messageFrom(data, response.status));
  // /api/health is public, so only an authenticated route proves the token works.
  if (token && !path.startsWith("/api/health")) listeners.ok.forEach((fn) => fn());
  return data;
}
