// Trading: state, emergency stop, pause/resume (after a stop: a typed confirmation naming the mode),
// every mode's stop with a way to clear it, master switch and component toggles, open positions
// with close buttons, working orders with cancel buttons.
import { ApiError, api } from "../api.js";
import {
  DASH, STATE_MEANINGS, arr, esc, fmtMoney, fmtNum, fmtText, fmtTime, label, modeLabel, obj, signClass, tradingStateWord,
} from "../format.js";
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
    <section class="card" id="stops-card"><h2>Emergency stop by mode</h2>
      <p class="muted">The stop halts every mode. Each mode's stop is cleared on its own, with a typed confirmation.</p>
      <div id="stops" data-testid="stops"></div>
    </section>
    <section class="card"><h2>Open positions</h2><div id="positions"></div></section>
    <section class="card"><h2>Working orders</h2><div id="orders"></div></section>`;
  const flashEl = root.querySelector("#trading-flash");
  const reasonOf = (fallback) => root.querySelector("#reason").value.trim() || fallback;

  function renderState(d) {
    const es = obj(d.emergencyStop);
    const state = tradingStateWord(d); // the header's word: one truth
    root.querySelector("#state").innerHTML = `
      <dl class="kv">
        <dt>Mode</dt><dd data-testid="trading-mode">${esc(modeLabel(d.mode))}</dd>
        <dt>State</dt><dd><strong data-testid="trading-state">${esc(state.word)}</strong>
          ${STATE_MEANINGS[state.key] ? `<span class="muted small" data-testid="state-meaning">${esc(STATE_MEANINGS[state.key])}</span>` : ""}</dd>
        <dt>Emergency stop</dt><dd data-testid="estop-status">${es.active
          ? `<strong class="neg">ACTIVE</strong> by ${esc(fmtText(es.by))} at ${fmtTime(es.at)} — ${esc(fmtText(es.reason))}`
          : es.active === false ? "not active" : DASH}</dd>
      </dl>`;
    root.querySelector("#estop").disabled = es.active === true;
    root.querySelector("#pause").disabled = d.paused === true;
    root.querySelector("#resume").disabled = d.paused !== true && es.active !== true; // nothing to resume
    root.querySelector("#resume").textContent = es.active === true
      ? `Resume ${modeLabel(d.mode)}…` : "Resume";
  }

  // Every mode's controls (GET /api/trading `controlsByMode`); an API without them shows the active one.
  function modeControls(d) {
    const listed = arr(d.controlsByMode).filter((m) => m && typeof m === "object" && m.mode);
    if (listed.length) return listed.map((m) => ({ mode: m.mode, controls: obj(m.controls) }));
    const es = obj(d.emergencyStop);
    return d.mode ? [{ mode: d.mode, controls: { emergencyStop: es.active, paused: d.paused, tradingState: d.tradingState,
      emergencyStopChange: { actor: es.by, reason: es.reason, at: es.at } } }] : [];
  }

  function renderStops(d) {
    const rows = modeControls(d);
    root.querySelector("#stops").innerHTML = table(
      [
        { label: "Mode", render: (m) => `<strong>${esc(modeLabel(m.mode))}</strong>${m.mode === d.mode ? ' <span class="muted">(active)</span>' : ""}` },
        { label: "Emergency stop", render: (m) => {
          const c = m.controls;
          const ch = obj(c.emergencyStopChange);
          return c.emergencyStop === true
            ? `<strong class="neg">ACTIVE</strong> by ${esc(fmtText(ch.actor))} at ${fmtTime(ch.at)} — ${esc(fmtText(ch.reason))}`
            : c.emergencyStop === false ? "not active" : DASH;
        } },
        { label: "State", render: (m) => esc(tradingStateWord({ tradingState: m.controls.tradingState, paused: m.controls.paused,
          emergencyStop: { active: m.controls.emergencyStop } }).word) },
        { label: "", render: (m) => (m.controls.emergencyStop === true
          ? `<button class="clear-stop" data-requires-trade data-mode="${esc(m.mode)}" data-testid="clear-stop-${esc(m.mode)}">Clear ${esc(modeLabel(m.mode))} stop…</button>`
          : "") },
      ],
      rows,
      { empty: "No controls to show.", testid: "stops-table", stack: true },
    );
    root.querySelectorAll(".clear-stop").forEach((btn) => {
      const row = rows.find((m) => m.mode === btn.dataset.mode);
      btn.addEventListener("click", () => clearStop(row, d.mode));
    });
  }

  // Resume after an emergency stop: names the mode and the stop, asks the user to type RESUME, and sends
  // the stop's number so a newer stop pressed meanwhile is not cleared (the API answers 409).
  async function clearStop(row, activeMode) {
    const name = modeLabel(row.mode);
    const c = row.controls;
    const ch = obj(c.emergencyStopChange);
    const live = row.mode === "live";
    const ok = await confirmDialog({
      title: `Clear the ${name} emergency stop`,
      messageHtml: `<p>The <strong>${esc(name)}</strong> emergency stop was pressed by ${esc(fmtText(ch.actor))}
        at ${fmtTime(ch.at)}: <em>${esc(fmtText(ch.reason))}</em>.</p>
        <p>Clearing it resumes <strong>${esc(name)}</strong>${row.mode === activeMode
          ? ": new entries are allowed again at the next minute, which re-checks every risk limit."
          : " (not the active mode: nothing trades in it until it is switched to)."}</p>
        ${live ? "<p><strong>Live stays unarmed:</strong> switching to live still runs every arming check and starts paused.</p>" : ""}`,
      okLabel: `Clear ${name} stop`,
      requireTyped: "RESUME",
    });
    if (!ok) return;
    const body = { reason: reasonOf(`${row.mode} emergency stop cleared from dashboard`), mode: row.mode, confirm: "RESUME" };
    if (Number.isInteger(c.emergencyStopNumber)) body.stopNumber = c.emergencyStopNumber;
    try {
      await api("/api/trading/resume", { method: "POST", body });
      flash(flashEl, `${name} emergency stop cleared${row.mode === activeMode ? " and trading resumed" : ""}.`);
      root.querySelector("#reason").value = "";
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) flash(flashEl, err.message, "error");
    }
    await load().catch(ctx.showError);
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
        { label: "Strategy", render: (p) => esc(label(fmtText(p.strategy))) },
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

  // Working orders (GET /api/orders?status=working): a cancel is a request the engine carries out at
  // its next minute, through its venue (paper: the simulated venue; IB paper and live: the broker).
  function renderOrders(orders) {
    const rows = arr(obj(orders).orders).filter((o) => o && typeof o === "object");
    root.querySelector("#orders").innerHTML = table(
      [
        { label: "Placed", render: (o) => fmtTime(o.createdAt) },
        { label: "Contract", render: (o) => `<code>${esc(fmtText(o.contract))}</code>` },
        { label: "Side", render: (o) => esc(fmtText(o.side)) },
        { label: "Type", render: (o) => esc(fmtText(o.orderType)) + (o.ocaGroup ? ' <span class="muted small">protection</span>' : "") },
        { label: "Qty", cls: "num", render: (o) => `${esc(fmtText(o.filledQuantity))}/${esc(fmtText(o.quantity))}` },
        { label: "Price", cls: "num", render: (o) => (o.stopPrice ? `stop ${fmtNum(o.stopPrice)}` : fmtNum(o.limitPrice)) },
        { label: "Status", render: (o) => esc(fmtText(o.status)) + (o.cancelRequested ? ' <span class="muted small">cancel requested</span>' : "") },
        { label: "", render: (o) => (o.cancelRequested ? DASH
          : o.side === "SELL" ? '<span class="muted small" title="Exits and a position\'s stop and target stay working; close the position to get out now">kept by the engine</span>'
          : `<button class="cancel-btn" data-id="${esc(o.orderId)}" data-testid="cancel-${esc(o.orderId)}">Cancel</button>`) },
      ],
      rows,
      { empty: "No working orders. Orders the engine places and that have not filled or been cancelled yet will appear here.", testid: "orders-table", stack: true },
    );
    root.querySelectorAll(".cancel-btn").forEach((btn) => {
      btn.addEventListener("click", async () => {
        const id = btn.dataset.id;
        const ok = await confirmDialog({
          title: "Cancel order",
          messageHtml: `<p>Cancel order <code>${esc(id)}</code>? The engine cancels it at its next minute; a fill that comes first stands.</p>`,
          okLabel: "Cancel order",
        });
        if (!ok) return;
        btn.disabled = true;
        try {
          await api(`/api/orders/${encodeURIComponent(id)}/cancel`, { method: "POST", body: { reason: reasonOf("cancelled from the Trading page") } });
          flash(flashEl, `Cancel requested for ${id}: the engine cancels it at the next minute.`);
        } catch (err) {
          flash(flashEl, `Could not cancel ${id}: ${err.message}`, "error");
        }
        await load().catch(ctx.showError);
      });
    });
  }

  let latest = {};
  async function load() {
    const [raw, orders] = await Promise.all([api("/api/trading"), api("/api/orders?status=working").catch(() => null)]);
    const d = normTrading(raw);
    latest = d;
    if (!ctx.alive()) return;
    ctx.updateHeader(d);
    renderState(d);
    renderStops(d);
    renderToggles(d.settings);
    renderPositions(d.positions);
    if (orders) renderOrders(orders);
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
  root.querySelector("#resume").addEventListener("click", () => {
    const active = modeControls(latest).find((m) => m.mode === latest.mode);
    if (active && active.controls.emergencyStop === true) return clearStop(active, latest.mode);
    return command("/api/trading/resume", "resumed from dashboard", "Trading resumed.");
  });

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
