// Boot (sign-in before any page loads), hash router, header indicators and the 401 banner.
import { ApiError, api, clockRate, getToken, onAuthorized, onUnauthorized } from "./api.js";
import { authorizedOnce, loadConfig, renderIdentity, signIn, signInAgain } from "./auth.js";
import { disposeCharts } from "./charts.js";
import { STATE_MEANINGS, esc, fmtText, modeLabel, setServerNow, tradingStateWord } from "./format.js";
import { normTrading } from "./normalize.js";
import analytics from "./pages/analytics.js";
import audit from "./pages/audit.js";
import dashboard from "./pages/dashboard.js";
import reset from "./pages/reset.js";
import settings from "./pages/settings.js";
import strikes from "./pages/strikes.js";
import trades from "./pages/trades.js";
import trading from "./pages/trading.js";

const PAGES = { dashboard, trading, trades, strikes, analytics, settings, audit, reset };
const app = document.getElementById("app");
const authBanner = document.getElementById("auth-banner");
const errorBanner = document.getElementById("error-banner");
let timers = [];
let generation = 0;

let authMode = "local";

function showAuthBanner() {
  if (authMode === "cognito") {
    authBanner.innerHTML =
      '<strong>Token missing or expired.</strong> The API refused your sign-in. <button type="button" data-testid="sign-in-again">Sign in again</button>';
    authBanner.querySelector("button").addEventListener("click", signInAgain);
  } else {
    authBanner.innerHTML = getToken()
      ? "<strong>Token missing or expired.</strong> The API refused the token. Open the dashboard again with the link (<code>?token=…</code>) that <code>smart0dte demo</code> prints."
      : "<strong>Token missing or expired.</strong> No token was given. Open the dashboard with the link (<code>?token=…</code>) that <code>smart0dte demo</code> prints.";
  }
  authBanner.hidden = false;
}

/** Sign-in failed: say why instead of loading pages, with a way to try again. */
function showSignInError(message) {
  app.innerHTML = `<section class="card" data-testid="sign-in-error"><h1>Sign-in failed</h1><p class="neg">${esc(message)}</p><p><button type="button" class="primary" data-testid="sign-in-again">Sign in again</button></p></section>`;
  app.querySelector("button").addEventListener("click", signInAgain);
}

/** Updates the mode and trading-state pills from any response carrying them. */
export function updateHeader(data) {
  if (!data || typeof data !== "object") return;
  const statePill = document.getElementById("state-pill");
  const modePill = document.getElementById("mode-pill");
  if ("mode" in data) {
    modePill.textContent = modeLabel(data.mode);
    modePill.className = `pill mode-${String(data.mode).toLowerCase()}`;
  }
  if ("tradingState" in data) {
    const { word, key } = tradingStateWord(data);
    const stopped = data.emergencyStop && data.emergencyStop.active;
    statePill.textContent = word;
    statePill.dataset.state = key;
    statePill.className = `pill state-${key}`;
    statePill.title = stopped ? `Emergency stop: ${fmtText(data.emergencyStop.reason)}` : `Trading state: ${STATE_MEANINGS[key] ?? word}`;
  }
}

export function showError(err) {
  if (err instanceof ApiError && err.status === 401) return;
  errorBanner.textContent = err && err.message ? err.message : String(err);
  errorBanner.hidden = false;
}

function clearError() {
  errorBanner.hidden = true;
}

function routeName() {
  const name = (window.location.hash.replace(/^#\/?/, "").split(/[/?]/)[0] || "dashboard").toLowerCase();
  return PAGES[name] ? name : "dashboard";
}

async function navigate() {
  generation += 1;
  const mine = generation;
  timers.forEach((t) => clearTimeout(t.id));
  timers = [];
  disposeCharts();
  clearError();
  const name = routeName();
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.route === name));
  app.innerHTML = `<p class="muted">Loading…</p>`;
  app.dataset.page = name;
  const ctx = {
    // Every `ms`, or about every market minute (at least 1 s apart) while the demo's clock runs fast.
    every(ms, fn) {
      const pace = () => Math.min(ms, Math.max(1000, 60000 / clockRate()));
      const timer = {};
      const run = () => {
        if (mine !== generation) return;
        fn();
        timer.id = setTimeout(run, pace());
      };
      timer.id = setTimeout(run, pace());
      timers.push(timer);
    },
    alive: () => mine === generation,
    updateHeader,
    showError,
    clearError,
  };
  const title = name.charAt(0).toUpperCase() + name.slice(1);
  try {
    await PAGES[name](app, ctx);
  } catch (err) {
    if (mine !== generation) return;
    if (!(err instanceof ApiError && err.status === 401)) {
      app.innerHTML = `<section class="card"><h1>${esc(title)}</h1><p class="neg">Could not load: ${esc(err.message || err)}</p></section>`;
    } else {
      app.innerHTML = `<section class="card"><h1>${esc(title)}</h1><p class="muted">Sign in with a valid token to see this page.</p></section>`;
    }
  }
}

function refreshHeader() {
  if (getToken()) api("/api/trading").then((d) => updateHeader(normTrading(d))).catch(() => {});
}

/** The server's clock (simulated in the demo) decides what "today" is for the times shown. */
function readServerClock() {
  return api("/api/health").then((d) => setServerNow(d && d.checkedAt), () => {});
}

/** The header's emergency stop: one click stops every mode (no dialog: it must never be slow). */
function wireHeaderStop() {
  const btn = document.getElementById("header-stop");
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try {
      await api("/api/trading/emergency-stop", { method: "POST", body: { reason: `emergency stop from the header (${routeName()} page)` } });
      refreshHeader();
      await navigate();
      errorBanner.textContent = "Emergency stop engaged: every mode is halted; open positions are sold at the next minute.";
      errorBanner.hidden = false;
    } catch (err) {
      showError(err);
    } finally {
      btn.disabled = false;
    }
  });
}

async function boot() {
  let session;
  try {
    session = await signIn(await loadConfig());
  } catch (err) {
    showSignInError(err && err.message ? err.message : String(err));
    return;
  }
  authMode = session.mode;
  if (session.error) {
    showSignInError(session.error);
    return;
  }
  renderIdentity(document.querySelector(".topbar"), authMode);
  onUnauthorized(showAuthBanner);
  onAuthorized(() => {
    authBanner.hidden = true;
    authorizedOnce();
  });
  if (!getToken()) showAuthBanner();
  window.addEventListener("hashchange", () => {
    navigate();
    refreshHeader();
  });
  wireHeaderStop();
  await readServerClock();
  navigate();
  refreshHeader();
  // Keep the header and the clock current on every page.
  setInterval(refreshHeader, 15000);
  setInterval(readServerClock, 60000);
}

app.innerHTML = `<p class="muted">Signing in…</p>`;
boot();
