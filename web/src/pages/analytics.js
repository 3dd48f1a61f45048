// Analytics: metrics, equity and drawdown, per-strategy comparison, and a backtest runner
// that polls the workflow's progress.
import { ApiError, api } from "../api.js";
import { disposeCharts, lineChart } from "../charts.js";
import { arr, esc, fmtInt, fmtMoney, fmtNum, fmtPct, fmtProfitFactor, fmtText, label, num, obj, signClass } from "../format.js";
import { normAnalytics } from "../normalize.js";
import { flash, table } from "../ui.js";
import { STRATEGIES, showOptimization } from "../optimization.js";

const PCT_KEYS = /(rate|return|drawdown|pct|percent|ratio_pct)$/i;
const MONEY_KEYS = /(pnl|equity|usd|profit|loss)$/i;
// Every P&L the API gives is net of fees; gross and commissions sit beside it, labelled.
const METRIC_LABELS = { netPnlUsd: "Net P&L (after fees)", grossPnlUsd: "Gross P&L (before fees)", commissionsUsd: "Fees" };
const metricLabel = (k) => METRIC_LABELS[k] ?? label(k);
const DONE = new Set(["succeeded", "success", "completed", "complete", "failed", "error", "aborted", "timed_out", "cancelled"]);
const FAILED = new Set(["failed", "error", "aborted", "timed_out", "cancelled"]);

function fmtMetric(k, v) {
  if (k === "profitFactor") return fmtProfitFactor(v);
  if (num(v) === null) return esc(fmtText(v));
  if (PCT_KEYS.test(k)) return fmtPct(v, 2);
  if (MONEY_KEYS.test(k)) return fmtMoney(v);
  return Number.isInteger(Number(v)) ? fmtText(v) : fmtNum(v, 3);
}

function byStrategyRows(v) {
  if (Array.isArray(v)) return v.filter((r) => r && typeof r === "object");
  return Object.entries(obj(v)).map(([strategy, m]) => ({ strategy, ...obj(m) }));
}

const ymd = (d) => d.toISOString().slice(0, 10);

/**
 * Default backtest window: the 5 weekdays ending at the latest session the dashboard knows
 * of, i.e. the newest date in the analytics equity curve (a day that closed trades, so a
 * session with archived data). Without one, the last weekday before today (New York): today's
 * session is not archived until it closes. Only weekends are skipped here; the API runs
 * whatever NYSE sessions the range holds, so a holiday in it just makes the run one day shorter.
 */
function defaultWindow(curve) {
  const dates = arr(curve).map((p) => String(obj(p).ts ?? "").slice(0, 10)).filter((t) => /^\d{4}-\d{2}-\d{2}$/.test(t)).sort();
  let end;
  if (dates.length) {
    end = new Date(`${dates[dates.length - 1]}T12:00:00Z`);
  } else {
    end = new Date(`${new Date().toLocaleDateString("en-CA", { timeZone: "America/New_York" })}T12:00:00Z`);
    end.setUTCDate(end.getUTCDate() - 1);
  }
  const weekday = (d) => d.getUTCDay() !== 0 && d.getUTCDay() !== 6;
  while (!weekday(end)) end.setUTCDate(end.getUTCDate() - 1);
  const start = new Date(end);
  for (let n = 1; n < 5; ) {
    start.setUTCDate(start.getUTCDate() - 1);
    if (weekday(start)) n += 1;
  }
  return { start: ymd(start), end: ymd(end) };
}

export default async function analytics(root, ctx) {
  root.innerHTML = `
    <h1>Analytics</h1>
    <form id="filter-form" class="inline-form card" data-testid="analytics-filter">
      <label>Timeframe <select name="timeframe" data-testid="timeframe">
        ${["1d", "1w", "1m", "3m", "1y", "all"].map((t) => `<option value="${t}" ${t === "1m" ? "selected" : ""}>${t}</option>`).join("")}
      </select></label>
      <label>Strategy <select name="strategy" data-testid="strategy-filter">
        <option value="">all</option>${STRATEGIES.map((s) => `<option value="${s}">${s}</option>`).join("")}
      </select></label>
      <button type="submit">Apply</button>
    </form>
    <section class="card"><h2>Metrics</h2><dl class="metrics" id="metrics" data-testid="metrics"></dl></section>
    <div class="grid-2">
      <section class="card"><h2>Equity (net of fees)</h2><div class="chart" id="a-equity"></div></section>
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
        <label>From <input type="date" name="start" data-testid="bt-start" /></label>
        <label>To <input type="date" name="end" data-testid="bt-end" /></label>
        <label>Scenario <input name="scenario" placeholder="normal" data-testid="bt-scenario" /></label>
        <button type="submit" class="primary" data-testid="bt-run">Run backtest</button>
      </form>
      <div id="bt-status" data-testid="bt-status" hidden>
        <progress id="bt-progress" max="100" value="0"></progress> <span id="bt-text" data-testid="bt-text"></span>
        <div id="bt-result" data-testid="bt-result" hidden></div>
        <div id="bt-error" class="flash flash-error" role="alert" data-testid="bt-error" hidden></div>
      </div>
      <div id="bt-flash" class="flash" role="status" hidden></div>
    </section>`;

  const btStart = root.querySelector("[data-testid=bt-start]");
  const btEnd = root.querySelector("[data-testid=bt-end]");
  ({ start: btStart.value, end: btEnd.value } = defaultWindow([]));
  let datesSet = false;
  let datesTouched = false;
  for (const el of [btStart, btEnd]) el.addEventListener("input", () => { datesTouched = true; });

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
      ? Object.entries(metrics).map(([k, v]) => `<div><dt>${esc(metricLabel(k))}</dt><dd data-testid="metric-${esc(k)}">${fmtMetric(k, v)}</dd></div>`).join("")
      : '<p class="muted">—</p>';
    lineChart(root.querySelector("#a-equity"), d.equityCurve, "equity");
    if (!datesSet) {
      // Once, from the first analytics load, unless the user already picked dates.
      datesSet = true;
      if (!datesTouched) ({ start: btStart.value, end: btEnd.value } = defaultWindow(d.equityCurve));
    }
    const dd = arr(d.drawdown);
    const ddKey = dd.length && dd[0] && "drawdown" in dd[0] ? "drawdown" : "value";
    lineChart(root.querySelector("#a-drawdown"), dd, ddKey, { color: "#f87171", percent: true });

    const rows = byStrategyRows(d.byStrategy);
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => k !== "strategy" && typeof rows.find((r) => k in r)[k] !== "object");
    root.querySelector("#by-strategy").innerHTML = table(
      [{ label: "Strategy", render: (r) => `<strong>${esc(fmtText(r.strategy ?? r.name))}</strong>` },
        ...keys.map((k) => ({ label: metricLabel(k), cls: "num", render: (r) => fmtMetric(k, r[k]) }))],
      rows,
      { empty: "No trades yet.", testid: "strategy-table", stack: true },
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
    const resultEl = root.querySelector("#bt-result");
    const errorEl = root.querySelector("#bt-error");
    box.hidden = false;
    // (a .kv grid ignores [hidden], hence the wrapper; emptied too so no stale result shows)
    resultEl.hidden = true;
    resultEl.innerHTML = "";
    errorEl.hidden = true;
    errorEl.innerHTML = "";
    for (;;) {
      if (!ctx.alive()) return;
      const s = obj(await api(`/api/analytics/backtest/${encodeURIComponent(id)}`));
      let p = num(s.progress);
      if (p !== null && p <= 1) p *= 100;
      if (p === null) bar.removeAttribute("value"); // indeterminate
      else bar.value = p;
      const status = String(s.status ?? "unknown").toLowerCase();
      box.dataset.status = status;
      const total = num(s.daysTotal);
      const sessions = total === null ? "" : ` — ${fmtInt(s.daysDone ?? 0)} / ${fmtInt(total)} sessions`;
      const pct = p === null ? "" : sessions ? ` (${Math.round(p)}%)` : ` — ${Math.round(p)}%`;
      text.textContent = `${id}: ${String(s.status ?? "unknown")}${sessions}${pct}`;
      if (DONE.has(status)) {
        if (FAILED.has(status)) showFailure(errorEl, s, status);
        else showResult(resultEl, s.result);
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  function showResult(el, result) {
    const r = obj(result);
    if (!Object.keys(r).length) {
      el.innerHTML = '<dl class="kv"><dt>Result</dt><dd class="muted">none reported</dd></dl>';
    } else {
      const ret = num(r.totalReturn);
      el.innerHTML = `<dl class="kv">
        <dt>Sessions</dt><dd>${fmtInt(r.days)}</dd>
        <dt>Trades</dt><dd data-testid="bt-trades">${fmtInt(r.trades)}</dd>
        <dt>Net P&amp;L</dt><dd class="${signClass(r.netPnlUsd)}" data-testid="bt-net-pnl">${fmtMoney(r.netPnlUsd)}</dd>
        <dt>Total return</dt><dd class="${signClass(ret)}" data-testid="bt-return">${ret === null ? "—" : `${ret > 0 ? "+" : ""}${fmtPct(ret, 2)}`}</dd>
        <dt>Report</dt><dd><code class="details" data-testid="bt-report">${esc(fmtText(r.reportKey))}</code></dd></dl>`;
    }
    el.hidden = false;
  }

  function showFailure(el, s, status) {
    const what = { timed_out: "timed out", aborted: "was aborted", cancelled: "was cancelled" }[status] ?? "failed";
    el.innerHTML = `<strong>Backtest ${esc(what)}.</strong>
      <div>Error: <code class="details" data-testid="bt-error-name">${esc(fmtText(s.error))}</code></div>
      <div>Cause: <code class="details" data-testid="bt-cause">${esc(fmtText(s.cause))}</code></div>`;
    el.hidden = false;
  }
}
