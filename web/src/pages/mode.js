// Trading mode card (Trading page): the active mode and what it means, who switched it and when,
// which broker mode this deployment's gateway serves, and the dialog that switches between paper
// (simulated), IB paper (the broker path on an IB paper account) and live, check by check.
import { ApiError, api } from "../api.js";
import { DASH, arr, esc, fmtText, fmtTime, label, modeKey, modeLabel, obj } from "../format.js";
import { flash } from "../ui.js";

const CONFIRM_WORD = "LIVE";
const MODES = ["paper", "ibkr_paper", "live"];

// What each mode does with an order, in one sentence a trader reads before switching.
const MODE_MEANING = {
  paper: "Simulated: orders fill on the built-in simulated venue. No broker, no money.",
  ibkr_paper: "IB paper: orders go through IB Gateway (port 4002) to your Interactive Brokers paper account (DU…). The real broker path, no real money.",
  live: "Live: orders go through IB Gateway (port 4001) to your Interactive Brokers account. Real money.",
};
const SWITCH_TEXT = { paper: "Switch to paper…", ibkr_paper: "Switch to IB paper…", live: "Switch to live…" };

// The API's check names (services/live_arming.py) in words a trader reads at a glance.
const CHECK_NAMES = {
  deployment: "Deployment allows it",
  gateway: "Gateway heartbeat",
  liveAccount: "Live account",
  ibkrPaperAccount: "IB paper account",
  optionsPermission: "Options permission",
  riskLimits: "Risk limits",
  paperIdle: "Paper idle",
  ibkrPaperIdle: "IB paper idle",
  liveIdle: "Live idle",
  liveEmergencyStop: "Live emergency stop",
  ibkrPaperEmergencyStop: "IB paper emergency stop",
  confirmation: "Confirmation",
};
// Checks this form itself completes: unmet in the GET until the trader submits.
const FORM_FILLED = new Set(["confirmation", "liveAccount", "riskLimits"]);

const modeOf = (m) => modeKey(m) || "paper";
const checkName = (n) => CHECK_NAMES[n] || label(n);

function checksHtml(checks, { pending = false } = {}) {
  const rows = arr(checks).filter((c) => c && typeof c === "object");
  if (!rows.length) return `<p class="muted">The API listed no checks.</p>`;
  return `<ul class="checks" data-testid="mode-checks">${rows.map((c) => {
    const met = c.met === true;
    const note = pending && !met && FORM_FILLED.has(c.name) ? ` <small class="muted">(given by this form)</small>` : "";
    return `<li class="check ${met ? "check-met" : "check-unmet"}" data-testid="mode-check-${esc(c.name)}" data-met="${met}">
      <span class="check-mark" aria-hidden="true">${met ? "✓" : "✗"}</span>
      <span><strong>${esc(checkName(c.name))}</strong> <span class="sr-only">${met ? "met" : "not met"}</span>${note}
        <br><small class="check-detail">${esc(fmtText(c.detail))}</small></span></li>`;
  }).join("")}</ul>`;
}

function gatewayText(d) {
  const served = modeKey(d.gatewayMode);
  if (served === "live") return `<span class="neg">Live trading is allowed in this deployment</span> (its IB Gateway uses the live account)`;
  if (served === "ibkr_paper") return "This deployment's IB Gateway uses an IB paper account: IB paper is allowed, live is not";
  if (d.gatewayMode === null || d.liveTradingEnabled === false) return "No IB Gateway in this deployment: paper only (IB paper and live are not enabled)";
  return DASH;
}

/** The other modes the API lists, in the order paper, IB paper, live. */
function switchesOf(d) {
  const listed = arr(d && d.switches).filter((s) => s && modeKey(s.mode) && modeKey(s.mode) !== modeOf(d.mode));
  return MODES.map((m) => listed.find((s) => modeKey(s.mode) === m)).filter(Boolean);
}

/**
 * Renders the card into `container` and wires its dialog.
 * `onChanged(result)` runs after a successful switch (the page reloads its state).
 * Returns { refresh(), isOpen() }.
 */
export function modeCard(container, { flashEl, onChanged, alive = () => true }) {
  container.innerHTML = `
    <h2>Trading mode</h2>
    <div class="mode-head">
      <span class="pill mode-badge" data-testid="mode-badge">—</span>
      <div class="mode-meta">
        <div data-testid="mode-meaning" class="small">—</div>
        <div data-testid="mode-changed" class="small muted">—</div>
        <div data-testid="mode-live-allowed" class="small">—</div>
      </div>
      <div class="mode-actions" data-testid="mode-actions"></div>
    </div>
    <p id="mode-error" class="field-error" role="alert" data-testid="mode-error" hidden></p>
    <dialog id="mode-dialog" class="mode-dialog" data-testid="mode-dialog" aria-labelledby="mode-dialog-title">
      <form class="dialog-body" novalidate>
        <h2 id="mode-dialog-title" data-testid="mode-dialog-title"></h2>
        <div id="mode-dialog-body"></div>
        <div id="mode-unmet" class="flash flash-error" role="alert" tabindex="-1" data-testid="mode-unmet" hidden></div>
        <div class="actions">
          <button type="button" data-testid="mode-cancel" id="mode-cancel">Cancel</button>
          <button type="submit" id="mode-submit" class="danger" data-testid="mode-submit">Switch</button>
        </div>
      </form>
    </dialog>`;
  const badge = container.querySelector("[data-testid=mode-badge]");
  const meaningEl = container.querySelector("[data-testid=mode-meaning]");
  const changedEl = container.querySelector("[data-testid=mode-changed]");
  const allowedEl = container.querySelector("[data-testid=mode-live-allowed]");
  const actionsEl = container.querySelector("[data-testid=mode-actions]");
  const errorEl = container.querySelector("#mode-error");
  const dialog = container.querySelector("#mode-dialog");
  const form = dialog.querySelector("form");
  const bodyEl = dialog.querySelector("#mode-dialog-body");
  const unmetEl = dialog.querySelector("#mode-unmet");
  const submitBtn = dialog.querySelector("#mode-submit");
  let status = null;

  function render(d) {
    const mode = modeOf(d.mode);
    badge.textContent = modeLabel(mode);
    badge.className = `pill mode-badge mode-${mode}`;
    badge.dataset.mode = mode;
    MODES.forEach((m) => container.classList.toggle(`mode-card-${m}`, m === mode));
    meaningEl.textContent = MODE_MEANING[mode];
    changedEl.innerHTML = d.changedAt || d.changedBy
      ? `Switched by ${esc(fmtText(d.changedBy))} at ${fmtTime(d.changedAt, { date: true })}${d.reason ? ` — ${esc(d.reason)}` : ""}`
      : "Never switched (paper since deployment)";
    allowedEl.innerHTML = gatewayText(d);
    allowedEl.dataset.allowed = String(d.liveTradingEnabled === true);
    allowedEl.dataset.gatewayMode = modeKey(d.gatewayMode) || "none";
    actionsEl.innerHTML = switchesOf(d).map((s) => {
      const to = modeKey(s.mode);
      // A switch whose checks cannot all be met from the dialog looks plain, and says why on hover.
      const unmet = arr(s.checks).filter((c) => c && c.met !== true && !FORM_FILLED.has(c.name)).map((c) => checkName(c.name));
      const cls = to === "live" ? "live-switch" : unmet.length ? "" : "primary";
      const title = unmet.length ? ` title="${esc(`Not possible yet. Unmet checks: ${unmet.join(", ")}`)}" data-blocked="true"` : "";
      return `<button type="button" data-testid="mode-switch-${to}" data-to="${to}" class="${cls}"${title}>${SWITCH_TEXT[to]}</button>`;
    }).join("");
  }

  async function refresh() {
    try {
      const d = obj(await api("/api/trading/mode"));
      if (!alive()) return null;
      status = d;
      errorEl.hidden = true;
      render(d);
      return d;
    } catch (err) {
      if (!alive()) return null;
      if (!(err instanceof ApiError && err.status === 401)) {
        errorEl.textContent = `Could not load the trading mode: ${err.message}`;
        errorEl.hidden = false;
      }
      return null;
    }
  }

  const target = () => dialog.dataset.target;

  function updateSubmit() {
    if (target() !== "live") {
      submitBtn.disabled = false;
      return;
    }
    const typed = dialog.querySelector("#mode-confirm-typed").value.trim();
    const account = dialog.querySelector("#mode-account").value.trim();
    submitBtn.disabled = !(typed === CONFIRM_WORD && account !== "");
  }

  function showUnmet(lines, fallback) {
    const items = arr(lines).map((l) => `<li data-testid="mode-unmet-line">${esc(fmtText(l))}</li>`).join("");
    unmetEl.innerHTML = items
      ? `<strong>Not switched. Still missing:</strong><ul>${items}</ul>`
      : `<strong>Not switched:</strong> ${esc(fallback)}`;
    unmetEl.hidden = false;
  }

  const reasonInput = (placeholder) => `<label for="mode-reason">Reason (recorded in the audit log)</label>
         <input id="mode-reason" data-testid="mode-reason" maxlength="500" placeholder="${esc(placeholder)}" />`;

  function openDialog(d, to) {
    const from = modeOf(d.mode);
    const checks = (switchesOf(d).find((s) => modeKey(s.mode) === to) || {}).checks;
    dialog.dataset.target = to;
    unmetEl.hidden = true;
    unmetEl.innerHTML = "";
    const checksBlock = (pending) => `<h3 class="subhead">Checks</h3>
         <div id="mode-checks-wrap">${checksHtml(checks, { pending })}</div>`;
    let title;
    if (to === "live") {
      title = "Switch to LIVE trading?";
      bodyEl.innerHTML = `<p class="warn-note" data-testid="mode-live-warning"><strong>Real money.</strong> Live starts <strong>PAUSED</strong> with the current ${esc(modeLabel(from))} settings and risk limits; nothing trades until you press Resume.</p>
         <p class="small">Limits fingerprint being armed: <code data-testid="mode-fingerprint">${esc(fmtText(d.limitsFingerprint))}</code></p>
         ${checksBlock(true)}
         <label for="mode-account">IB account id (as the gateway reports it)</label>
         <input id="mode-account" data-testid="mode-account" autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="32" required />
         <label for="mode-confirm-typed">Type <code>${CONFIRM_WORD}</code> to confirm</label>
         <input id="mode-confirm-typed" data-testid="mode-confirm-typed" autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="16" required />
         ${reasonInput("e.g. rehearsed on IB paper for a week")}`;
    } else if (to === "ibkr_paper") {
      title = "Switch to IB paper trading?";
      bodyEl.innerHTML = `<p class="note-ibkr-paper" data-testid="mode-ibkr-paper-note">Orders go through IB Gateway to your <strong>IB paper account</strong> (port 4002): the whole broker path, with <strong>no real money</strong>. IB paper starts <strong>PAUSED</strong> with the current ${esc(modeLabel(from))} settings and risk limits; nothing trades until you press Resume.</p>
         ${checksBlock(false)}
         ${reasonInput("e.g. rehearse the broker path")}`;
    } else {
      title = "Switch back to paper trading?";
      bodyEl.innerHTML = `<p>${esc(modeLabel(from))} stops being the active mode; orders fill on the simulated venue again.</p>
         ${checksBlock(false)}
         ${reasonInput(`e.g. end of the ${from === "live" ? "live" : "IB paper"} trial`)}`;
    }
    dialog.querySelector("#mode-dialog-title").textContent = title;
    submitBtn.textContent = to === "live" ? "Switch to LIVE" : `Switch to ${to === "ibkr_paper" ? "IB paper" : "paper"}`;
    submitBtn.className = to === "live" ? "danger" : "primary";
    bodyEl.querySelectorAll("input").forEach((i) => i.addEventListener("input", updateSubmit));
    updateSubmit();
    dialog.showModal();
    // Focus the first input but keep the title and the warning in view (phones scroll the dialog).
    (to === "live" ? dialog.querySelector("#mode-account") : dialog.querySelector("#mode-reason")).focus({ preventScroll: true });
    dialog.scrollTop = 0;
  }

  actionsEl.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-to]");
    if (!btn || btn.disabled) return;
    const to = btn.dataset.to;
    btn.disabled = true;
    const d = await refresh(); // the checks as they stand now (re-renders the buttons)
    btn.disabled = false;
    if (d && switchesOf(d).some((s) => modeKey(s.mode) === to)) openDialog(d, to);
  });
  dialog.querySelector("#mode-cancel").addEventListener("click", () => dialog.close("cancel"));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (submitBtn.disabled) return;
    const to = target();
    const reason = dialog.querySelector("#mode-reason").value.trim();
    const body = { mode: to, reason: reason || `switched to ${to} from the dashboard` };
    if (to === "live") {
      body.confirm = dialog.querySelector("#mode-confirm-typed").value.trim();
      body.account = dialog.querySelector("#mode-account").value.trim();
      body.limitsFingerprint = status ? status.limitsFingerprint : undefined;
    }
    submitBtn.disabled = true;
    unmetEl.hidden = true;
    try {
      const result = obj(await api("/api/trading/mode", { method: "POST", body }));
      dialog.close("ok");
      const now = modeOf(result.mode ?? to);
      const paused = "Trading is paused: review, then press Resume to start.";
      flash(flashEl, now === "paper" ? "Switched to PAPER." : `Switched to ${modeLabel(now)}. ${paused}`, now === "live" ? "warn" : "ok");
      await refresh();
      if (onChanged) await onChanged(result);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        dialog.close("cancel");
        return;
      }
      const b = obj(err.body);
      if (Array.isArray(b.checks) && b.checks.length) {
        dialog.querySelector("#mode-checks-wrap").innerHTML = checksHtml(b.checks);
      }
      showUnmet(err.status === 409 ? b.unmet : [], err.message);
      updateSubmit();
      unmetEl.focus?.();
    }
  });

  return { refresh, isOpen: () => dialog.open };
}
