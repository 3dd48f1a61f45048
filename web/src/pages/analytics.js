// Analytics: metrics, equity and drawdown, per-strategy comparison, and a backtest runner
// that polls the workflow's progress.
import { ApiError, api } from "../api.js";
import { disposeCharts, lineChart } from "../charts.js";
import { arr, esc, fmtNum, fmtPct, fmtText, label, num, obj } from "../format.js";
import { normAnalytics } from "../normalize.js";
import { flash, table } from "../ui.js";
import { showOptimization } from "../optimization.js";

const PCT_KEYS = /(rate|return|drawdown|pct|percent|ratio_pct)$/i;
const MONEY_KEYS = /(pnl|equity|usd|profit|loss)$/i;
const DONE = new Set(["succeeded", "success", "completed", "complete", "failed", "error", "aborted", "timed_out", "cancelled"]);

function fmtMetric(k, v) {
  if (num(v) === null) return esc(fmtText(v));
  if (PCT_KEYS.test(k)) return fmtPct(v, 2);
  if (MONEY_KEYS.test(k)) return `$${fmtNum(v)}`;
  return Number.isInteger(Number(v)) ? fmtText(v) : fmtNum(v, 3);
}

function byStrategyRows(v) {
  if (Array.isArray(v)) return v.filter((r) => r && typeof r === "object");
  return Object.entries(obj(v)).map(([strategy, m]) => ({ strategy, ...obj(m) }));
}

function isoDay(offsetDays) {
  const d = new Date(Date.now() + offsetDays * 86400000);
  return d.toLocaleDateString("en-CA", { timeZone: "America/New_York" });
}

export default async function analytics(root, ctx) {
  root.innerHTML = `
    <h1>Analytics</h1>
    <form id="filter-form" class="inline-form card" data-testid="analytics-filter">
      <label>Timeframe <select name="timeframe" data-testid="timeframe">
        ${["1d", "1w", "1m", "3m", "1y", "all"].map((t) => `<option value="${t}" ${t === "1m" ? "selected" : ""}>${t}</option>`).join("")}
      </select></label>
      <label>Strategy <input name="strategy" placeholder="all" data-testid="strategy-filter" /></label>
      <button type="submit">Apply</button>
    </form>
    <section class="card"><h2>Metrics</h2><dl class="metrics" id="metrics" data-testid="metrics"></dl></section>
    <div class="grid-2">
      <section class="card"><h2>Equity</h2><div class="chart" id="a-equity"></div></section>
      <section class="card"><h2>Drawdown</h2><div class="chart" id="a-drawdown"></div></section>
    </div>
    <section class="card"><h2>By strategy</h2><div id="by-strategy"></div></section>
    <section class="card" data-testid="optimization"><h2>Parameter optimization (walk-forward)</h2>
      <p class="muted" data-testid="optimization-report-only">Report only, not applied: the learning workflow recommends
        parameters from the newest in-sample window; trading keeps its configured parameters.
        OOS = out-of-sample sessions no choice had seen.</p>
      <div id="optimization"><p class="muted">Loading…</p></div>
    </section>
    <section class="card"><h2>Backtest</h2>
      <form id="bt-form" class="inline-form">
        <label>From <input type="date" name="start" data-testid="bt-start" value="${isoDay(-30)}" /></label>
        <label>To <input type="date" name="end" data-testid="bt-end" value="${isoDay(-1)}" /></label>
        <label>Scenario <input name="scenario" placeholder="normal" data-testid="bt-scenario" /></label>
        <button type="submit" class="primary" data-testid="bt-run">Run backtest</button>
      </form>
      <div id="bt-status" data-testid="bt-status" hidden>
        <progress id="bt-progress" max="100" value="0"></progress> <span id="bt-text"></span>
      </div>
      <div id="bt-flash" class="flash" role="status" hidden></div>
    </section>`;

  async function load() {
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(root.querySelector("#filter-form")).entries()) {
      if (String(v).trim()) params.set(k, String(v).trim());
    }
    const d = normAnalytics(await api(`/api/analytics?${params}`));
    if (!ctx.alive()) return;
    disposeCharts();
    root.querySelector("#a-equity").innerHTML = "";
    root.querySelector("#a-drawdown").innerHTML = "";
    const metrics = obj(d.metrics);
    root.querySelector("#metrics").innerHTML = Object.keys(metrics).length
      ? Object.entries(metrics).map(([k, v]) => `<div><dt>${esc(label(k))}</dt><dd>${fmtMetric(k, v)}</dd></div>`).join("")
      : '<p class="muted">—</p>';
    lineChart(root.querySelector("#a-equity"), d.equityCurve, "equity");
    const dd = arr(d.drawdown);
    const ddKey = dd.length && dd[0] && "drawdown" in dd[0] ? "drawdown" : "value";
    lineChart(root.querySelector("#a-drawdown"), dd, ddKey, { color: "#f87171", percent: true });

    const rows = byStrategyRows(d.byStrategy);
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => k !== "strategy" && typeof rows.find((r) => k in r)[k] !== "object");
    root.querySelector("#by-strategy").innerHTML = table(
      [{ label: "Strategy", render: (r) => `<strong>${esc(fmtText(r.strategy ?? r.name))}</strong>` },
        ...keys.map((k) => ({ label: label(k), cls: "num", render: (r) => fmtMetric(k, r[k]) }))],
      rows,
      { empty: "No trades yet.", testid: "strategy-table" },
    );
  }

  root.querySelector("#filter-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    load().catch(ctx.showError);
  });
  await load();
  showOptimization(root.querySelector("#optimization"), ctx.alive).catch(ctx.showError);

  const form = root.querySelector("#bt-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const [k, v] of new FormData(form).entries()) if (String(v).trim()) body[k] = String(v).trim();
    const btn = form.querySelector("button");
    const flashEl = root.querySelector("#bt-flash");
    flashEl.hidden = true;
    btn.disabled = true;
    try {
      const started = obj(await api("/api/analytics/backtest", { method: "POST", body }));
      if (!started.id) throw new Error("the API did not return a backtest id");
      await poll(String(started.id));
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) flash(flashEl, `Backtest: ${err.message}`, "error");
    } finally {
      btn.disabled = false;
    }
  });

  async function poll(id) {
    const box = root.querySelector("#bt-status");
    const bar = root.querySelector("#bt-progress");
    const text = root.querySelector("#bt-text");
    box.hidden = false;
    for (;;) {
      if (!ctx.alive()) return;
      const s = obj(await api(`/api/analytics/backtest/${encodeURIComponent(id)}`));
      let p = num(s.progress);
      if (p !== null && p <= 1) p *= 100;
      if (p === null) bar.removeAttribute("value"); // indeterminate
      else bar.value = p;
      const status = String(s.status ?? "unknown").toLowerCase();
      box.dataset.status = status;
      text.textContent = `${id}: ${status}${p === null ? "" : ` — ${Math.round(p)}%`}`;
      if (DONE.has(status)) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
