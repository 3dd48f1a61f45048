// Reset: deletes paper-trading state by scope, after a dialog that names what goes.
import { ApiError, api } from "../api.js";
import { esc } from "../format.js";
import { confirmDialog, flash } from "../ui.js";

// Same wording as the API's RESET_SCOPES (smart0dte/ports.py).
export const SCOPES = {
  positions: ["Positions", "every position with its orders, fills and order intents, the trade journal, the engines' saved session state and the daily counters (trades, day trades, realised P&L)"],
  signals: ["Signals", "every signal and its risk decision"],
  analytics: ["Analytics", "the daily counters, daily reports, backtest results and optimization results"],
  all: ["Everything", "everything above; settings, risk limits, controls and the audit log are kept"],
};

const counts = (deleted) =>
  Object.entries(deleted || {}).map(([kind, n]) => `${n} ${kind}`).join(", ") || "nothing was stored";

export default async function reset(root) {
  root.innerHTML = `
    <h1>Reset</h1>
    <section class="card">
      <p>Deletes stored paper-trading records. Pause trading (or press the emergency stop) first; positions cannot be reset while one is open or an order is working. The audit log is append-only and is never deleted; the reset itself is audited.</p>
      <fieldset class="scopes"><legend>What to delete</legend>
      ${Object.entries(SCOPES).map(([k, [name, what]], i) => `
        <label class="scope"><input type="radio" name="scope" value="${k}" data-testid="scope-${k}" ${i === 0 ? "checked" : ""} />
          <span><strong>${esc(name)}</strong><br><small class="muted">${esc(what)}</small></span></label>`).join("")}
      </fieldset>
      <div class="actions"><button id="reset-btn" class="danger" data-testid="reset-button">Reset…</button></div>
      <div id="reset-flash" class="flash" role="status" data-testid="reset-flash" hidden></div>
    </section>`;
  root.querySelector("#reset-btn").addEventListener("click", async () => {
    const scope = root.querySelector('input[name="scope"]:checked').value;
    const [name, what] = SCOPES[scope];
    const ok = await confirmDialog({
      title: `Reset ${name.toLowerCase()}?`,
      messageHtml: `<p data-testid="reset-what">This permanently deletes <strong>${esc(what)}</strong> (scope <code>${esc(scope)}</code>).</p><p>This cannot be undone.</p>`,
      okLabel: `Delete ${name.toLowerCase()}`,
      requireTyped: "RESET",
    });
    const flashEl = root.querySelector("#reset-flash");
    if (!ok) {
      flash(flashEl, "Reset cancelled; nothing was deleted.");
      return;
    }
    try {
      const result = await api("/api/reset", { method: "POST", body: { scope, confirm: "RESET" } });
      flash(flashEl, `Reset done: ${name.toLowerCase()} deleted (${counts(result.deleted)}).`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) flash(flashEl, `Reset failed: ${err.message}`, "error");
    }
  });
}
