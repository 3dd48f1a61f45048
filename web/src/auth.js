// Sign-in. `/config.json` (deployed next to the site by the CDK stack) chooses the mode:
//   {"auth": "cognito", "cognitoDomain", "clientId", "scopes", "redirectUri"}: the authorization
//     code flow with PKCE (S256) against the Cognito hosted UI, run here in the browser;
//   absent, unreadable or {"auth": "local"} (the `smart0dte demo` server): the token arrives once
//     as `?token=` in the URL (api.js captureToken).
// Cognito's tokens live in sessionStorage only (never localStorage). The local demo's token (one
// run of `smart0dte demo` on 127.0.0.1) is also kept in localStorage, so a new tab of the same
// dashboard is signed in; a newer run's link replaces it. The access token's claims are decoded
// without verification, only to show who is signed in and to plan the refresh: API Gateway
// verifies the signature.
import { TOKEN_KEY, captureToken, getToken, setAuthRecovery } from "./api.js";

const REFRESH_KEY = "smart0dte.refresh";
const DEMO_TOKEN_KEY = "smart0dte.demoToken"; // localStorage: the local demo's token, for new tabs
const PENDING_KEY = "smart0dte.pkce"; // {verifier, state, hash} while at the hosted UI
const RETRY_KEY = "smart0dte.authRetries"; // silent re-sign-ins since the API last said yes
const MAX_SILENT_RETRIES = 1;
const REFRESH_MARGIN_S = 60;
export const TRADE_SCOPE = "smart0dte/trade";

let config = { auth: "local" };
let refreshTimer = null;

/** Reads /config.json; anything but a complete Cognito config means local mode. */
export async function loadConfig() {
  try {
    const response = await fetch("./config.json", { cache: "no-store", headers: { Accept: "application/json" } });
    const text = await response.text(); // read even a 404, so the request really ends
    if (!response.ok) return { auth: "local" };
    const data = JSON.parse(text);
    if (data && data.auth === "cognito") {
      for (const key of ["cognitoDomain", "clientId", "redirectUri"]) {
        if (typeof data[key] !== "string" || !data[key]) throw new Error(`config.json lacks ${key}`);
      }
      return {
        auth: "cognito",
        cognitoDomain: data.cognitoDomain.replace(/\/+$/, ""),
        clientId: data.clientId,
        redirectUri: data.redirectUri,
        scopes: Array.isArray(data.scopes) && data.scopes.length ? data.scopes : ["openid"],
      };
    }
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("config.json lacks")) throw err;
  }
  return { auth: "local" };
}

// --- tokens ----------------------------------------------------------------------------------

function base64UrlDecode(part) {
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The JWT's payload, unverified; null when the token is not a JWT. */
export function claimsOf(token) {
  if (!token || token.split(".").length !== 3) return null;
  try {
    const claims = JSON.parse(base64UrlDecode(token.split(".")[1]));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** {username, scopes, canTrade, exp} of the stored access token, or null. */
export function identity() {
  const claims = claimsOf(getToken());
  if (!claims) return null;
  const scopes = typeof claims.scope === "string" ? claims.scope.split(/\s+/).filter(Boolean) : [];
  return {
    username: claims.username || claims["cognito:username"] || claims.email || claims.sub || "signed in",
    scopes,
    canTrade: scopes.includes(TRADE_SCOPE),
    exp: typeof claims.exp === "number" ? claims.exp : null,
  };
}

function secondsLeft(token) {
  const claims = claimsOf(token);
  if (!claims || typeof claims.exp !== "number") return 0;
  return claims.exp - Date.now() / 1000;
}

function storeTokens(body) {
  if (typeof body.access_token !== "string" || !body.access_token) throw new Error("no access token in the answer");
  sessionStorage.setItem(TOKEN_KEY, body.access_token);
  if (typeof body.refresh_token === "string" && body.refresh_token) {
    sessionStorage.setItem(REFRESH_KEY, body.refresh_token);
  }
}

function clearTokens() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(REFRESH_KEY);
}

async function tokenRequest(params) {
  const response = await fetch(`${config.cognitoDomain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams({ client_id: config.clientId, ...params }).toString(),
    cache: "no-store",
    credentials: "omit",
  });
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  if (!response.ok) {
    const why = body.error_description || body.error || `HTTP ${response.status}`;
    throw new Error(`the token endpoint refused: ${why}`);
  }
  storeTokens(body);
}

// --- PKCE --------------------------------------------------------------------------------------

function base64Url(bytes) {
  let s = "";
  bytes.forEach((b) => {
    s += String.fromCharCode(b);
  });
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes) {
  return base64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function s256(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64Url(new Uint8Array(digest));
}

/** Goes to the hosted UI; the returned promise never settles (the page is leaving). */
export async function redirectToSignIn() {
  const verifier = randomString(64); // 86 characters of [A-Za-z0-9_-]
  const state = randomString(32);
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, hash: window.location.hash }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    scope: config.scopes.join(" "),
    state,
    code_challenge_method: "S256",
    code_challenge: await s256(verifier),
  });
  window.location.assign(`${config.cognitoDomain}/oauth2/authorize?${query}`);
  return new Promise(() => {});
}

function stripOAuthParams(hash) {
  const url = new URL(window.location.href);
  for (const key of ["code", "state", "error", "error_description"]) url.searchParams.delete(key);
  window.history.replaceState(null, "", url.pathname + url.search + (hash ?? url.hash));
}

// --- refresh -----------------------------------------------------------------------------------

async function refresh() {
  const token = sessionStorage.getItem(REFRESH_KEY);
  if (!token) return false;
  try {
    await tokenRequest({ grant_type: "refresh_token", refresh_token: token });
    scheduleRefresh();
    return true;
  } catch {
    sessionStorage.removeItem(REFRESH_KEY);
    return false;
  }
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const left = secondsLeft(getToken());
  if (!left) return;
  const wait = Math.max(0, left - REFRESH_MARGIN_S) * 1000;
  refreshTimer = setTimeout(async () => {
    if (!(await refresh())) {
      clearTokens();
      await redirectToSignIn();
    }
  }, Math.min(wait, 2 ** 31 - 1));
}

function retries() {
  return Number(sessionStorage.getItem(RETRY_KEY) || 0);
}

/** Called by api.js on a 401: one silent refresh or sign-in, then no more until the API says yes. */
async function recoverFrom401() {
  if (retries() >= MAX_SILENT_RETRIES) return false;
  sessionStorage.setItem(RETRY_KEY, String(retries() + 1));
  if (await refresh()) return true;
  clearTokens();
  await redirectToSignIn();
  return false;
}

/** The API accepted the token: silent retries are allowed again. */
export function authorizedOnce() {
  sessionStorage.removeItem(RETRY_KEY);
}

// --- the boot sequence ---------------------------------------------------------------------------

/**
 * Makes sure there is a token before the pages load. Resolves {mode, config} when the app may
 * start, or {mode, error} when sign-in failed (the caller shows the error instead of pages).
 * Redirecting to the hosted UI never resolves.
 */
export async function signIn(loaded) {
  config = loaded;
  if (config.auth !== "cognito") {
    captureToken();
    const token = getToken();
    if (token) localStorage.setItem(DEMO_TOKEN_KEY, token);
    else if (localStorage.getItem(DEMO_TOKEN_KEY)) sessionStorage.setItem(TOKEN_KEY, localStorage.getItem(DEMO_TOKEN_KEY));
    return { mode: "local", config };
  }
  setAuthRecovery(recoverFrom401);
  const params = new URL(window.location.href).searchParams;
  if (params.has("error")) {
    const why = params.get("error_description") || params.get("error");
    sessionStorage.removeItem(PENDING_KEY);
    stripOAuthParams();
    return { mode: "cognito", config, error: `The sign-in page answered: ${why}` };
  }
  if (params.has("code")) {
    let pending = null;
    try {
      pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
    } catch {
      pending = null;
    }
    sessionStorage.removeItem(PENDING_KEY);
    const code = params.get("code");
    const state = params.get("state");
    if (!pending || !state || state !== pending.state) {
      stripOAuthParams();
      return {
        mode: "cognito",
        config,
        error: "Sign-in failed: the answer from the sign-in page does not belong to this tab (state mismatch). No token was requested.",
      };
    }
    try {
      await tokenRequest({
        grant_type: "authorization_code",
        code,
        redirect_uri: config.redirectUri,
        code_verifier: pending.verifier,
      });
    } catch (err) {
      stripOAuthParams(pending.hash);
      return { mode: "cognito", config, error: `Sign-in failed: ${err.message}` };
    }
    stripOAuthParams(pending.hash || "");
    scheduleRefresh();
    return { mode: "cognito", config };
  }
  if (secondsLeft(getToken()) > REFRESH_MARGIN_S) {
    scheduleRefresh();
    return { mode: "cognito", config };
  }
  if (await refresh()) return { mode: "cognito", config };
  clearTokens();
  return redirectToSignIn();
}

/** Forgets the tokens and signs out of the hosted UI, which comes back to the dashboard. */
export function signOut() {
  clearTimeout(refreshTimer);
  sessionStorage.clear();
  localStorage.removeItem(DEMO_TOKEN_KEY);
  if (config.auth !== "cognito") {
    window.location.assign(window.location.pathname);
    return;
  }
  const query = new URLSearchParams({ client_id: config.clientId, logout_uri: config.redirectUri });
  window.location.assign(`${config.cognitoDomain}/logout?${query}`);
}

/** Signs in again on purpose (the "Sign in again" button): the retry guard starts over. */
export function signInAgain() {
  sessionStorage.removeItem(RETRY_KEY);
  clearTokens();
  if (config.auth === "cognito") redirectToSignIn();
}

// --- what the header shows -----------------------------------------------------------------------

const TRADE_CONTROLS = [
  "[data-requires-trade]",
  "[data-testid=emergency-stop]",
  "[data-testid=pause]",
  "[data-testid=resume]",
  "[data-testid=save-settings]",
  "[data-testid=bt-run]",
  "[data-testid=reset-button]",
  "[data-testid^=mode-switch-]",
  "[data-testid=mode-submit]",
  ".close-btn",
  "#app input[type=checkbox][data-key]",
].join(",");
const VIEW_ONLY_TITLE = "View only: this sign-in lacks the smart0dte/trade scope";

function disableTradeControls(root) {
  root.querySelectorAll(TRADE_CONTROLS).forEach((el) => {
    if (!el.disabled) el.disabled = true;
    if (el.title !== VIEW_ONLY_TITLE) el.title = VIEW_ONLY_TITLE;
  });
}

/** Adds who is signed in, a "view only" badge without the trade scope, and "Sign out". */
export function renderIdentity(topbar, mode) {
  const who = identity();
  if (mode !== "cognito" && !who) return;
  const box = document.createElement("span");
  box.id = "user-box";
  box.dataset.testid = "user-box";
  box.style.cssText = "display:inline-flex;gap:.5rem;align-items:center;margin-left:auto;font-size:.85rem";
  const name = document.createElement("span");
  name.dataset.testid = "signed-in-user";
  name.textContent = who ? who.username : "not signed in";
  name.title = who ? `Scopes: ${who.scopes.join(" ") || "none"}` : "";
  box.append(name);
  if (who && !who.canTrade) {
    const badge = document.createElement("span");
    badge.className = "pill";
    badge.dataset.testid = "view-only-badge";
    badge.textContent = "VIEW ONLY";
    badge.title = VIEW_ONLY_TITLE;
    badge.style.cssText = "background:#6b7280;color:#fff";
    box.append(badge);
    document.body.dataset.access = "view";
    disableTradeControls(document);
    new MutationObserver(() => disableTradeControls(document)).observe(document.body, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ["disabled"],
    });
  }
  const out = document.createElement("a");
  out.href = "#";
  out.dataset.testid = "sign-out";
  out.textContent = "Sign out";
  out.addEventListener("click", (event) => {
    event.preventDefault();
    signOut();
  });
  box.append(out);
  topbar.append(box);
}
