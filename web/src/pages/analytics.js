// Analytics: metrics; a session's equity at each minute the engine marked with its drawdown below
// it; each strategy's cumulative net P&L; and backtests: source and scenario chosen from the API's
// lists, progress with cancel, the report (equity curve, metrics, a per-day table, the trades),
// a failure's reason, and past runs.
import { ApiError, api } from "../api.js";
import { lineChart, linesChart, removeChart } from "../charts.js";
import {
  arr, esc, fmtInt, fmtMoney, fmtNum, fmtPct, fmtProfitFactor, fmtText, fmtTime, label, nowMs, num, nyDay, obj, signClass, tsMs,
} from "../format.js";
import { normAnalytics } from "../normalize.js";
import { flash, table } from "../ui.js";
import { STRATEGIES, showOptimization } from "../optimization.js";

const TIMEFRAMES = { "1d": "Today", "1w": "Past week", "1m": "Past month", "3m": "Past 3 months", "1y": "Past year", all: "All time" };
const PCT_KEYS = /(rate|return|drawdown|pct|percent|ratio_pct)$/i;
const MONEY_KEYS = /(pnl|equity|usd|profit|loss)$/i;
// Every P&L the API gives is net of fees; gross and commissions sit beside it, labelled.
const METRIC_LABELS = { netPnlUsd: "Net P&L (after fees)", grossPnlUsd: "Gross P&L (before fees)", commissionsUsd: "Fees" };
const metricLabel = (k) => METRIC_LABELS[k] ?? label(k).replace(/ \(USD\)$/, ""); // the value shows its $
const DONE = new Set(["succeeded", "success", "completed", "complete", "failed", "error", "aborted", "timed_out", "cancelled"]);
const FAILED = new Set(["failed", "error", "aborted", "timed_out", "cancelled"]);

function fmtMetric(k, v) {
  if (k === "profitFactor") return fmtProfitFactor(v);
  if (num(v) === null) return esc(fmtText(v));
  if (PCT_KEYS.test(k)) return fmtPct(v);
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
    end = new Date(`${nyDay(nowMs())}T12:00:00Z`); // the server's today (the demo's is simulated)
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
        ${Object.entries(TIMEFRAMES).map(([t, words]) => `<option value="${t}" ${t === "1m" ? "selected" : ""}>${words}</option>`).join("")}
      </select></label>
      <label>Strategy <select name="strategy" data-testid="strategy-filter">
        <option value="">All</option>${STRATEGIES.map((s) => `<option value="${s}">${esc(label(s))}</option>`).join("")}
      </select></label>
      <button type="submit">Apply</button>
    </form>
    <section class="card"><h2>Metrics</h2><dl class="metrics" id="metrics" data-testid="metrics"></dl></section>
    <section class="card" data-testid="intraday">
      <div class="chain-head"><h2>Equity through the session (net of fees)</h2>
        <label>Session <input type="date" id="intraday-date" data-testid="intraday-date"></label></div>
      <p class="muted small" id="intraday-meta" data-testid="intraday-meta"></p>
      <div class="chart" id="intraday-equity" data-testid="intraday-equity"></div>
      <h3 class="small">Drawdown below the peak</h3>
      <div class="chart short" id="intraday-drawdown" data-testid="intraday-drawdown"></div>
    </section>
    <section class="card"><h2>Equity by strategy (cumulative net P&amp;L)</h2>
      <div class="chart" id="strategy-curves" data-testid="strategy-curves"></div></section>
    <section class="card"><h2>By strategy</h2><div id="by-strategy"></div></section>
    <section class="card" data-testid="optimization"><h2>Parameter optimization (walk-forward)</h2>
      <p class="muted" data-testid="optimization-report-only">Report only, not applied: the learning workflow recommends
        parameters from the newest in-sample window; trading keeps its configured parameters.
        OOS = out-of-sample sessions no choice had seen.</p>
      <div id="optimization"><p class="muted">Loading…</p></div>
    </section>
    <section class="card" data-testid="backtests"><h2>Backtest</h2>
      <form id="bt-form" class="inline-form">
        <label>From <input type="date" name="start" data-testid="bt-start" required /></label>
        <label>To <input type="date" name="end" data-testid="bt-end" required /></label>
        <label>Data <select name="source" data-testid="bt-source"></select></label>
        <label>Scenario <select name="scenario" data-testid="bt-scenario"></select></label>
        <button type="submit" class="primary" data-testid="bt-run" disabled>Run backtest</button>
      </form>
      <p class="muted small" id="bt-choice" data-testid="bt-choice"></p>
      <div id="bt-status" data-testid="bt-status" hidden>
        <progress id="bt-progress" max="100" value="0"></progress> <span id="bt-text" data-testid="bt-text"></span>
        <button type="button" id="bt-cancel" data-testid="bt-cancel" hidden>Cancel run</button>
        <div id="bt-result" data-testid="bt-result" hidden></div>
        <div id="bt-error" class="flash flash-error" role="alert" data-testid="bt-error" hidden></div>
      </div>
      <div id="bt-flash" class="flash" role="status" hidden></div>
      <h3>Past runs</h3>
      <div id="bt-runs" data-testid="bt-runs"><p class="muted">Loading…</p></div>
    </section>`;

  const btStart = root.querySelector("[data-testid=bt-start]");
  const btEnd = root.querySelector("[data-testid=bt-end]");
  ({ start: btStart.value, end: btEnd.value } = defaultWindow([]));
  let datesSet = false;
  let datesTouched = false;
  let strategyChart = null;
  let intradayCharts = [];
  let reportChart = null;
  for (const el of [btStart, btEnd]) el.addEventListener("input", () => { datesTouched = true; });

  async function load() {
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(root.querySelector("#filter-form")).entries()) {
      if (String(v).trim()) params.set(k, String(v).trim());
    }
    const d = normAnalytics(await api(`/api/analytics?${params}`));
    if (!ctx.alive()) return;
    if (strategyChart) removeChart(strategyChart);
    const metrics = obj(d.metrics);
    root.querySelector("#metrics").innerHTML = Object.keys(metrics).length
      ? Object.entries(metrics).map(([k, v]) => `<div><dt>${esc(metricLabel(k))}</dt><dd data-testid="metric-${esc(k)}">${fmtMetric(k, v)}</dd></div>`).join("")
      : '<p class="muted">—</p>';
    if (!datesSet) {
      // Once, from the first analytics load, unless the user already picked dates.
      datesSet = true;
      if (!datesTouched) ({ start: btStart.value, end: btEnd.value } = defaultWindow(d.equityCurve));
    }
    const curvesEl = root.querySelector("#strategy-curves");
    curvesEl.innerHTML = "";
    const lines = arr(d.strategyCurves).map((c) => ({ name: label(obj(c).strategy), points: arr(obj(c).points).map((p) => ({ ts: p.ts, value: p.valueUsd })) }));
    if (lines.length > 1) lines.push({ name: "all strategies", points: totalLine(lines) });
    strategyChart = linesChart(curvesEl, lines);
    if (!lines.length) curvesEl.innerHTML = '<p class="muted chart-empty">Each strategy\'s running P&amp;L appears here once it closes a trade in this timeframe.</p>';

    const rows = byStrategyRows(d.byStrategy);
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => k !== "strategy" && typeof rows.find((r) => k in r)[k] !== "object");
    root.querySelector("#by-strategy").innerHTML = table(
      [{ label: "Strategy", render: (r) => `<strong>${esc(label(fmtText(r.strategy ?? r.name)))}</strong>` },
        ...keys.map((k) => ({ label: metricLabel(k), cls: "num", render: (r) => fmtMetric(k, r[k]) }))],
      rows,
      { empty: "Each strategy's trades, win rate and net P&L appear here once it closes a trade in this timeframe.", testid: "strategy-table", stack: true },
    );
  }

  const dayPicker = root.querySelector("#intraday-date");
  async function loadIntraday(day) {
    const d = obj(await api(`/api/analytics/intraday${day ? `?date=${encodeURIComponent(day)}` : ""}`));
    if (!ctx.alive()) return;
    intradayCharts.forEach(removeChart);
    intradayCharts = [];
    if (document.activeElement !== dayPicker) dayPicker.value = typeof d.sessionDate === "string" ? d.sessionDate : "";
    const marks = arr(d.marks);
    const eq = root.querySelector("#intraday-equity");
    const dd = root.querySelector("#intraday-drawdown");
    eq.innerHTML = "";
    dd.innerHTML = "";
    const meta = root.querySelector("#intraday-meta");
    if (!marks.length) {
      meta.textContent = "";
      eq.dataset.points = "0";
      eq.innerHTML = `<p class="muted chart-empty">${esc(fmtText(d.note ?? "No minute marks for this session."))}</p>`;
      return;
    }
    const first = num(d.startingEquityUsd), last = num(obj(marks[marks.length - 1]).equityUsd);
    const deepest = Math.min(...marks.map((m) => num(m.drawdownUsd) ?? 0));
    const fills = arr(d.fills).length;
    meta.textContent = `${d.sessionDate}: started at ${fmtMoney(first)}, ${marks.length} minutes marked, `
      + `now ${fmtMoney(last)} (${fmtMoney(last === null || first === null ? null : last - first)} net of fees), `
      + `deepest drawdown ${fmtMoney(deepest)}, ${fills} fill${fills === 1 ? "" : "s"}.`;
    intradayCharts.push(lineChart(eq, marks, "equityUsd", { money: true }));
    intradayCharts.push(lineChart(dd, marks, "drawdownUsd", { color: "#f87171", money: true }));
  }
  dayPicker.addEventListener("change", () => {
    if (/^\d{4}-\d{2}-\d{2}$/.test(dayPicker.value)) loadIntraday(dayPicker.value).catch(ctx.showError);
  });

  root.querySelector("#filter-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    load().catch(ctx.showError);
  });
  await load();
  await loadIntraday(null).catch(ctx.showError);
  showOptimization(root.querySelector("#optimization"), ctx.alive).catch(ctx.showError);

  // --- backtests ---------------------------------------------------------------------------
  const form = root.querySelector("#bt-form");
  const sourceEl = form.querySelector("[data-testid=bt-source]");
  const scenarioEl = form.querySelector("[data-testid=bt-scenario]");
  const cancelBtn = root.querySelector("#bt-cancel");
  const options = obj(await api("/api/analytics/backtest/options").catch((err) => {
    ctx.showError(err);
    return {};
  }));
  const described = {};
  const fill = (el, list, chosen) => {
    el.innerHTML = arr(list).map((c) => {
      described[c.name] = c.description;
      return `<option value="${esc(c.name)}" ${c.name === chosen ? "selected" : ""}>${esc(label(c.name))}</option>`;
    }).join("");
  };
  fill(sourceEl, options.sources, options.defaultSource);
  fill(scenarioEl, options.scenarios, options.defaultScenario);
  const describeChoice = () => {
    scenarioEl.disabled = sourceEl.value === "archive";
    root.querySelector("#bt-choice").textContent = [sourceEl.value, scenarioEl.disabled ? null : scenarioEl.value]
      .filter(Boolean).map((k) => `${label(k)}: ${described[k] ?? ""}`).join(" · ");
  };
  form.querySelector("button").disabled = false; // the choices are in (a click before would reload the page)
  sourceEl.addEventListener("change", describeChoice);
  scenarioEl.addEventListener("change", describeChoice);
  describeChoice();

  let polling = null; // the run being polled
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
  cancelBtn.addEventListener("click", async () => {
    if (!polling) return;
    cancelBtn.disabled = true;
    try {
      await api(`/api/analytics/backtest/${encodeURIComponent(polling)}/cancel`, { method: "POST" });
    } catch (err) {
      flash(root.querySelector("#bt-flash"), `Cancel: ${err.message}`, "error");
    }
  });

  async function listRuns() {
    const runs = arr(obj(await api("/api/analytics/backtests?limit=20")).runs);
    if (!ctx.alive()) return;
    const el = root.querySelector("#bt-runs");
    el.innerHTML = table([
      { label: "Started", render: (r) => esc(fmtTime(r.startedAt)) },
      { label: "Sessions", render: (r) => `${esc(fmtText(r.start))} → ${esc(fmtText(r.end))}` },
      { label: "Data", render: (r) => esc(r.source === "archive" ? "archive" : `${fmtText(r.source)}, ${fmtText(r.scenario)}`) },
      { label: "Status", render: (r) => `<span class="status-${esc(String(r.status).toLowerCase())}">${esc(statusWord(r.status))}</span>` },
      { label: "", render: (r) => `<button type="button" class="link" data-run="${esc(r.id)}" data-testid="bt-open">Open</button>` },
    ], runs, { empty: "No backtest has run yet: runs you start appear here.", testid: "bt-runs-table", stack: true });
    el.querySelectorAll("[data-run]").forEach((b) => b.addEventListener("click", () => {
      if (polling) return;
      poll(b.dataset.run).catch(ctx.showError);
    }));
  }
  await listRuns().catch(ctx.showError);

  async function poll(id) {
    polling = id;
    const box = root.querySelector("#bt-status");
    const bar = root.querySelector("#bt-progress");
    const text = root.querySelector("#bt-text");
    const resultEl = root.querySelector("#bt-result");
    const errorEl = root.querySelector("#bt-error");
    box.hidden = false;
    // (a .kv grid ignores [hidden], hence the wrapper; emptied too so no stale result shows)
    if (reportChart) removeChart(reportChart);
    reportChart = null;
    resultEl.hidden = true;
    resultEl.innerHTML = "";
    errorEl.hidden = true;
    errorEl.innerHTML = "";
    try {
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
        text.textContent = `${statusWord(s.status)}${sessions}${pct}`;
        cancelBtn.hidden = status !== "running";
        cancelBtn.disabled = false;
        if (DONE.has(status)) {
          if (FAILED.has(status)) showFailure(errorEl, s, status);
          else showResult(resultEl, s);
          listRuns().catch(ctx.showError);
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    } finally {
      polling = null;
      cancelBtn.hidden = true;
    }
  }

  function showResult(el, s) {
    const r = obj(s.result), rep = obj(s.report);
    if (!Object.keys(r).length) {
      el.innerHTML = '<dl class="kv"><dt>Result</dt><dd class="muted">none reported</dd></dl>';
      el.hidden = false;
      return;
    }
    const ret = num(rep.totalReturn ?? r.totalReturn);
    const net = rep.netPnlUsd ?? r.netPnlUsd;
    el.innerHTML = `<p class="muted small">${esc(fmtText(s.start))} → ${esc(fmtText(s.end))}, ${esc(fmtText(s.source))}${s.source === "archive" ? "" : `, ${esc(fmtText(s.scenario))}`}</p>
      <dl class="metrics">
        <div><dt>Sessions</dt><dd>${fmtInt(r.days)}</dd></div>
        <div><dt>Trades</dt><dd data-testid="bt-trades">${fmtInt(r.trades)}</dd></div>
        <div><dt>Net P&amp;L (after fees)</dt><dd class="${signClass(net)}" data-testid="bt-net-pnl">${fmtMoney(net)}</dd></div>
        <div><dt>Fees</dt><dd>${fmtMoney(rep.commissionsUsd)}</dd></div>
        <div><dt>Gross P&amp;L (before fees)</dt><dd>${fmtMoney(rep.grossPnlUsd)}</dd></div>
        <div><dt>Total return</dt><dd class="${signClass(ret)}" data-testid="bt-return">${ret === null ? "—" : `${ret > 0 ? "+" : ""}${fmtPct(ret)}`}</dd></div>
        <div><dt>Win rate</dt><dd>${fmtPct(rep.winRate)}</dd></div>
        <div><dt>Max drawdown</dt><dd>${fmtPct(rep.maxDrawdown)}</dd></div>
        <div><dt>Sharpe</dt><dd>${fmtNum(rep.sharpe)}</dd></div>
      </dl>
      <h3>Equity (net of fees), after each trade</h3>
      <div class="chart" id="bt-equity" data-testid="bt-equity"></div>
      <h3>Sessions</h3><div id="bt-days"></div>
      <h3>Trades</h3><div id="bt-trade-list"></div>`;
    el.hidden = false;
    reportChart = lineChart(el.querySelector("#bt-equity"), arr(rep.equityCurve).map((p) => ({ ts: p.ts, value: p.valueUsd })), "value", { money: true });
    el.querySelector("#bt-days").innerHTML = table([
      { label: "Session", render: (d) => esc(fmtText(d.sessionDate)) },
      { label: "Trades", cls: "num", render: (d) => fmtInt(d.trades) },
      { label: "Fees", cls: "num", render: (d) => fmtMoney(d.commissionsUsd) },
      { label: "Net P&L", cls: "num", render: (d) => `<span class="${signClass(d.netPnlUsd)}">${fmtMoney(d.netPnlUsd)}</span>` },
    ], arr(rep.days), { empty: "The report lists no session.", testid: "bt-days-table", stack: true });
    el.querySelector("#bt-trade-list").innerHTML = table([
      { label: "Contract", render: (t) => `<code>${esc(fmtText(t.contract))}</code>` },
      { label: "Strategy", render: (t) => esc(label(t.strategy)) },
      { label: "Qty", cls: "num", render: (t) => fmtInt(t.quantity) },
      { label: "Entry", cls: "num", render: (t) => `${fmtNum(t.entryPrice)} <span class="muted">${esc(fmtTime(t.entryTs))}</span>` },
      { label: "Exit", cls: "num", render: (t) => `${fmtNum(t.exitPrice)} <span class="muted">${esc(fmtTime(t.exitTs))}</span>` },
      { label: "Why", render: (t) => esc(label(t.exitReason)) },
      { label: "Net P&L", cls: "num", render: (t) => `<span class="${signClass(t.netPnlUsd)}">${fmtMoney(t.netPnlUsd)}</span>` },
    ], arr(rep.trades), { empty: "No trade in these sessions.", testid: "bt-trades-table", stack: true });
  }

  function showFailure(el, s, status) {
    const what = { timed_out: "timed out", aborted: "was cancelled", cancelled: "was cancelled" }[status] ?? "failed";
    el.innerHTML = `<strong>Backtest ${esc(what)}.</strong> <span data-testid="bt-reason">${esc(fmtText(s.reason ?? s.cause))}</span>`;
    el.hidden = false;
  }
}

/** The all-strategies line: every strategy's steps added in time order, from 0. */
function totalLine(lines) {
  const steps = [];
  for (const l of lines) {
    let prev = 0;
    for (const p of l.points) {
      const v = num(p.value) ?? prev;
      steps.push({ ms: tsMs(p.ts), delta: v - prev, ts: p.ts });
      prev = v;
    }
  }
  steps.sort((a, b) => a.ms - b.ms);
  let total = 0;
  return steps.map((s) => ({ ts: s.ts, value: (total += s.delta) }));
}

const STATUS_WORDS = { running: "Running", succeeded: "Done", failed: "Failed", aborted: "Cancelled", timed_out: "Timed out" };
function statusWord(v) {
  return STATUS_WORDS[String(v ?? "").toLowerCase()] ?? fmtText(v);
}
