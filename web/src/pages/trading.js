// Trading: state, emergency stop, pause/resume, master switch and component toggles,
// open positions with close buttons.
import { ApiError, api } from "../api.js";
import { DASH, arr, esc, fmtMoney, fmtNum, fmtText, fmtTime, label, obj, signClass } from "../format.js";
import { normTrading } from "../normalize.js";
import { confirmDialog, flash, table } from "../ui.js";
import { modeCard } from "./mode.js";

const TOGGLES = ["masterSwitch", "dataCollection", "signalGeneration", "tradeExecution", "riskManagement"];

export default async function trading(root, ctx) {
  root.innerHTML = `
    <h1>Trading</h1>
    <div id="trading-flash" class="flash" role="status" data-testid="trading-flash" hidden></div>
    <section class="card mode-card" id="mode-card" data-testid="mode-card"></section>
    <div class="grid-2">
      <section class="card" id="state-card"><h2>State</h2><div id="state"></div>
        <label class="block">Reason (recorded in the audit log)
          <input id="reason" data-testid="reason" placeholder="e.g. unexpected volatility" maxlength="200" />
        </label>
        <div class="actions wrap-actions">
          <button id="estop" class="danger big-btn" data-testid="emergency-stop">EMERGENCY STOP</button>
          <button id="pause" data-testid="pause">Pause</button>
          <button id="resume" data-testid="resume">Resume</button>
        </div>
      </section>
      <section class="card"><h2>Automation switches</h2>
        <ul class="toggles" id="toggles"></ul>
        <p id="toggle-error" class="field-error" data-testid="toggle-error" hidden></p>
      </section>
    </div>
    <section class="card"><h2>Open positions</h2><div id="positions"></div></section>`;
  const flashEl = root.querySelector("#trading-flash");
  const reasonOf = (fallback) => root.querySelector("#reason").value.trim() || fallback;

  function renderState(d) {
    const es = obj(d.emergencyStop);
    root.querySelector("#state").innerHTML = `
      <dl class="kv">
        <dt>Mode</dt><dd data-testid="trading-mode">${esc(fmtText(d.mode)).toUpperCase()}</dd>
        <dt>State</dt><dd data-testid="trading-state">${esc(fmtText(d.tradingState))}</dd>
        <dt>Paused</dt><dd data-testid="paused">${d.paused === true ? "yes" : d.paused === false ? "no" : DASH}</dd>
        <dt>Emergency stop</dt><dd data-testid="estop-status">${es.active
          ? `<strong class="neg">ACTIVE</strong> by ${esc(fmtText(es.by))} at ${fmtTime(es.at)} — ${esc(fmtText(es.reason))}`
          : es.active === false ? "not active" : DASH}</dd>
      </dl>`;
    root.querySelector("#estop").disabled = es.active === true;
    root.querySelector("#pause").disabled = d.paused === true;
  }

  function renderToggles(settings) {
    const s = obj(settings);
    root.querySelector("#toggles").innerHTML = TOGGLES.map((k) => `
      <li><label class="switch"><input type="checkbox" data-key="${k}" data-testid="toggle-${k}"
        ${s[k] === true ? "checked" : ""} ${typeof s[k] !== "boolean" ? "disabled" : ""} />
        <span>${esc(label(k))}</span></label></li>`).join("");
    root.querySelectorAll("#toggles input").forEach((input) => {
      input.addEventListener("change", async () => {
        const errEl = root.querySelector("#toggle-error");
        errEl.hidden = true;
        input.disabled = true;
        try {
          await api("/api/automation/settings", { method: "POST", body: { [input.dataset.key]: input.checked } });
          flash(flashEl, `${label(input.dataset.key)} ${input.checked ? "on" : "off"}.`);
          await load();
        } catch (err) {
          input.checked = !input.checked;
          errEl.textContent = `${label(input.dataset.key)}: ${err.message}`;
          errEl.hidden = false;
        } finally {
          input.disabled = false;
        }
      });
    });
  }

  function renderPositions(positions) {
    const rows = arr(positions).filter((p) => p && typeof p === "object");
    root.querySelector("#positions").innerHTML = table(
      [
        { label: "Contract", render: (p) => `<code>${esc(fmtText(p.contract ?? p.symbol))}</code>` },
        { label: "Strategy", render: (p) => esc(fmtText(p.strategy)) },
        { label: "Qty", cls: "num", render: (p) => esc(fmtText(p.quantity ?? p.qty)) },
        { label: "Entry", cls: "num", render: (p) => fmtNum(p.entryPrice ?? p.avgPrice) },
        { label: "Mark", cls: "num", render: (p) => fmtNum(p.markPrice ?? p.mark ?? p.currentPrice) },
        { label: "Unrealized", cls: "num", render: (p) => `<span class="${signClass(p.unrealizedPnl)}">${fmtMoney(p.unrealizedPnl)}</span>` },
        { label: "Opened", render: (p) => fmtTime(p.openedAt ?? p.ts) },
        { label: "", render: (p) => (p.id === undefined || p.id === null ? DASH
          : `<button class="close-btn" data-id="${esc(p.id)}" data-testid="close-${esc(p.id)}">Close</button>`) },
      ],
      rows,
      { empty: "No open positions.", testid: "positions-table", stack: true },
    );
    root.querySelectorAll(".close-btn").forEach((btn) => {
      btn.addEventListener("click", async () => {
        const id = btn.dataset.id;
        const ok = await confirmDialog({
          title: "Close position",
          messageHtml: `<p>Close position <code>${esc(id)}</code> at market now?</p>`,
          okLabel: "Close position",
        });
        if (!ok) return;
        btn.disabled = true;
        try {
          const done = obj(await api(`/api/positions/${encodeURIComponent(id)}/close`, { method: "POST", body: { reason: reasonOf("closed from dashboard") } }));
          flash(flashEl, done.status === "closed"
            ? `${id} closed at ${fmtText(done.exitPrice)}, P&L ${fmtMoney(done.realizedPnlUsd)}.`
            : `Close requested for ${id}: the engine sends the exit to the broker at the next minute.`);
          await load();
        } catch (err) {
          btn.disabled = false;
          flash(flashEl, `Could not close ${id}: ${err.message}`, "error");
        }
      });
    });
  }

  async function load() {
    const d = normTrading(await api("/api/trading"));
    if (!ctx.alive()) return;
    ctx.updateHeader(d);
    renderState(d);
    renderToggles(d.settings);
    renderPositions(d.positions);
  }

  async function command(path, fallbackReason, done) {
    try {
      await api(path, { method: "POST", body: { reason: reasonOf(fallbackReason) } });
      flash(flashEl, done, path.endsWith("emergency-stop") ? "warn" : "ok");
      root.querySelector("#reason").value = "";
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) flash(flashEl, err.message, "error");
    }
    await load().catch(ctx.showError);
  }

  root.querySelector("#estop").addEventListener("click", () =>
    command("/api/trading/emergency-stop", "emergency stop from dashboard", "Emergency stop engaged."));
  root.querySelector("#pause").addEventListener("click", () =>
    command("/api/trading/pause", "paused from dashboard", "Trading paused."));
  root.querySelector("#resume").addEventListener("click", () =>
    command("/api/trading/resume", "resumed from dashboard", "Trading resumed."));

  const mode = modeCard(root.querySelector("#mode-card"), {
    flashEl,
    alive: ctx.alive,
    onChanged: () => load().catch(ctx.showError),
  });
  await Promise.all([load(), mode.refresh()]);
  ctx.every(5000, () => {
    if (!document.getElementById("confirm-dialog").open && !mode.isOpen()) load().catch(ctx.showError);
  });
  ctx.every(15000, () => {
    if (!mode.isOpen()) mode.refresh();
  });
}
