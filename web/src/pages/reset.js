// Reset: deletes paper-trading state by scope, after a dialog that names what goes.
import { ApiError, api } from "../api.js";
import { esc } from "../format.js";
import { confirmDialog, flash } from "../ui.js";

export const SCOPES = {
  positions: ["Positions", "open and closed positions, orders and fills, and today's P&L counters"],
  signals: ["Signals", "generated signals and their risk decisions"],
  analytics: ["Analytics", "equity curve, daily analytics, backtest results and reports"],
  all: ["Everything", "positions, orders, fills, signals, risk decisions, analytics and backtests (settings and the audit log are kept)"],
};

export default async function reset(root) {
  root.innerHTML = `
    <h1>Reset</h1>
    <section class="card">
      <p>Deletes stored state for the current trading mode. The audit log is append-only and is never deleted; the reset itself is audited.</p>
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
      await api("/api/reset", { method: "POST", body: { scope, confirm: "RESET" } });
      flash(flashEl, `Reset done: ${name.toLowerCase()} deleted.`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) flash(flashEl, `Reset failed: ${err.message}`, "error");
    }
  });
}
