// Trading mode card (Trading page): the active mode, who switched it and when, whether this
// deployment allows live trading, and the dialog that switches paper <-> live check by check.
import { ApiError, api } from "../api.js";
import { DASH, arr, esc, fmtText, fmtTime, label, obj } from "../format.js";
import { flash } from "../ui.js";

const CONFIRM_WORD = "LIVE";

// The API's check names (services/live_arming.py) in words a trader reads at a glance.
const CHECK_NAMES = {
  deployment: "Deployment allows live",
  gateway: "Gateway heartbeat",
  liveAccount: "Live account",
  optionsPermission: "Options permission",
  riskLimits: "Risk limits",
  paperIdle: "Paper idle",
  liveEmergencyStop: "Live emergency stop",
  confirmation: "Confirmation",
  liveIdle: "Live idle",
};
// Checks this form itself completes: unmet in the GET until the trader submits.
const FORM_FILLED = new Set(["confirmation", "liveAccount", "riskLimits"]);

const modeOf = (m) => (String(m).toLowerCase() === "live" ? "live" : "paper");
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
        <div data-testid="mode-changed" class="small muted">—</div>
        <div data-testid="mode-live-allowed" class="small">—</div>
      </div>
      <button type="button" id="mode-switch" data-testid="mode-switch" disabled>Switch…</button>
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
  const changedEl = container.querySelector("[data-testid=mode-changed]");
  const allowedEl = container.querySelector("[data-testid=mode-live-allowed]");
  const switchBtn = container.querySelector("#mode-switch");
  const errorEl = container.querySelector("#mode-error");
  const dialog = container.querySelector("#mode-dialog");
  const form = dialog.querySelector("form");
  const bodyEl = dialog.querySelector("#mode-dialog-body");
  const unmetEl = dialog.querySelector("#mode-unmet");
  const submitBtn = dialog.querySelector("#mode-submit");
  let status = null;

  function render(d) {
    const mode = modeOf(d.mode);
    badge.textContent = mode.toUpperCase();
    badge.className = `pill mode-badge mode-${mode}`;
    badge.dataset.mode = mode;
    container.classList.toggle("mode-card-live", mode === "live");
    changedEl.innerHTML = d.changedAt || d.changedBy
      ? `Switched by ${esc(fmtText(d.changedBy))} at ${fmtTime(d.changedAt, { date: true })}${d.reason ? ` — ${esc(d.reason)}` : ""}`
      : "Never switched (paper since deployment)";
    allowedEl.innerHTML = d.liveTradingEnabled === true
      ? `<span class="neg">Live trading is allowed in this deployment</span>`
      : d.liveTradingEnabled === false ? "Live trading is not enabled in this deployment" : DASH;
    allowedEl.dataset.allowed = String(d.liveTradingEnabled === true);
    const to = modeOf(d.switchTo ?? (mode === "live" ? "paper" : "live"));
    switchBtn.textContent = `Switch to ${to}…`;
    switchBtn.className = to === "live" ? "danger" : "primary";
    switchBtn.disabled = false;
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

  const to = () => modeOf(status && status.switchTo ? status.switchTo : status && modeOf(status.mode) === "live" ? "paper" : "live");

  function updateSubmit() {
    if (to() !== "live") {
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

  function openDialog(d) {
    const target = to();
    const live = target === "live";
    dialog.querySelector("#mode-dialog-title").textContent = live ? "Switch to LIVE trading?" : "Switch back to paper trading?";
    dialog.dataset.target = target;
    unmetEl.hidden = true;
    unmetEl.innerHTML = "";
    bodyEl.innerHTML = live
      ? `<p class="warn-note" data-testid="mode-live-warning"><strong>Real money.</strong> Live starts <strong>PAUSED</strong> with the current paper settings and risk limits; nothing trades until you press Resume.</p>
         <p class="small">Limits fingerprint being armed: <code data-testid="mode-fingerprint">${esc(fmtText(d.limitsFingerprint))}</code></p>
         <h3 class="subhead">Checks</h3>
         <div id="mode-checks-wrap">${checksHtml(d.checks, { pending: true })}</div>
         <label for="mode-account">IB account id (as the gateway reports it)</label>
         <input id="mode-account" data-testid="mode-account" autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="32" required />
         <label for="mode-confirm-typed">Type <code>${CONFIRM_WORD}</code> to confirm</label>
         <input id="mode-confirm-typed" data-testid="mode-confirm-typed" autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="16" required />
         <label for="mode-reason">Reason (recorded in the audit log)</label>
         <input id="mode-reason" data-testid="mode-reason" maxlength="500" placeholder="e.g. strategy validated in paper" />`
      : `<p>Live trading stops being the active mode; the system trades paper again.</p>
         <h3 class="subhead">Checks</h3>
         <div id="mode-checks-wrap">${checksHtml(d.checks)}</div>
         <label for="mode-reason">Reason (recorded in the audit log)</label>
         <input id="mode-reason" data-testid="mode-reason" maxlength="500" placeholder="e.g. end of live trial" />`;
    submitBtn.textContent = live ? "Switch to LIVE" : "Switch to paper";
    submitBtn.className = live ? "danger" : "primary";
    bodyEl.querySelectorAll("input").forEach((i) => i.addEventListener("input", updateSubmit));
    updateSubmit();
    dialog.showModal();
    // Focus the first input but keep the title and the warning in view (phones scroll the dialog).
    (live ? dialog.querySelector("#mode-account") : dialog.querySelector("#mode-reason")).focus({ preventScroll: true });
    dialog.scrollTop = 0;
  }

  switchBtn.addEventListener("click", async () => {
    switchBtn.disabled = true;
    const d = await refresh(); // the checks as they stand now
    switchBtn.disabled = false;
    if (d) openDialog(d);
  });
  dialog.querySelector("#mode-cancel").addEventListener("click", () => dialog.close("cancel"));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (submitBtn.disabled) return;
    const target = to();
    const reason = dialog.querySelector("#mode-reason").value.trim();
    const body = { mode: target, reason: reason || `switched to ${target} from the dashboard` };
    if (target === "live") {
      body.confirm = dialog.querySelector("#mode-confirm-typed").value.trim();
      body.account = dialog.querySelector("#mode-account").value.trim();
      body.limitsFingerprint = status ? status.limitsFingerprint : undefined;
    }
    submitBtn.disabled = true;
    unmetEl.hidden = true;
    try {
      const result = obj(await api("/api/trading/mode", { method: "POST", body }));
      dialog.close("ok");
      const now = modeOf(result.mode ?? target);
      flash(flashEl, now === "live"
        ? "Switched to LIVE. Trading is paused: review, then press Resume to start."
        : `Switched to ${now.toUpperCase()}.`, now === "live" ? "warn" : "ok");
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
