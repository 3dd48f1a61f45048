// Dashboard: P&L, equity curve, market status with countdown, automation status,
// recent signals with their rationale, and connection indicators from /api/health.
import { api, clockRate } from "../api.js";
import { lineChart, removeChart } from "../charts.js";
import {
  DASH, arr, esc, fmtConfidence, fmtDuration, fmtMoney, fmtPct, fmtText, fmtTime, label, num, obj, signClass, tsMs,
} from "../format.js";
import { normDashboard, normHealth } from "../normalize.js";
import { table } from "../ui.js";
import { pnlCell } from "./trades.js";

const COMPONENTS = ["dataFeed", "broker", "signalEngine", "marketHours", "system"];
const COLORS = new Set(["green", "yellow", "red", "gray"]);
const HEALTH_WORDS = { green: "OK", yellow: "degraded", red: "down", gray: "unknown" };
const TOGGLES = ["masterSwitch", "dataCollection", "signalGeneration", "tradeExecution", "riskManagement"];

export function healthHtml(health) {
  const comps = obj(obj(health).components);
  return COMPONENTS.map((key) => {
    const c = obj(comps[key]);
    const status = COLORS.has(c.status) ? c.status : "gray";
    return `<li class="health-item" data-testid="health-${key}" data-status="${status}">
      <span class="dot dot-${status}" aria-hidden="true"></span>
      <span class="health-name">${esc(label(key))}</span>
      <span class="health-status">${esc(HEALTH_WORDS[status])}</span>
      <span class="health-reason muted">${esc(fmtText(c.reason))}</span></li>`;
  }).join("");
}

function rationale(sig) {
  const r = sig.rationale ?? sig.reason ?? sig.reasons;
  if (Array.isArray(r)) return r.map((x) => esc(fmtText(x))).join("<br>");
  if (r && typeof r === "object") {
    return Object.entries(r).map(([k, v]) => `${esc(label(k))}: ${esc(fmtText(v))}`).join("<br>");
  }
  return esc(fmtText(r));
}

const DIRECTIONS = { C: "call", P: "put", long_call: "buy call", long_put: "buy put" };

function direction(sig) {
  const d = sig.direction ?? sig.side ?? sig.action;
  return esc(DIRECTIONS[d] ?? label(fmtText(d)).toLowerCase());
}

// The risk engine's verdict on the signal: approved with its size, or each rule it broke.
function verdict(sig) {
  const risk = sig.risk;
  if (!risk || typeof risk !== "object") return `<span class="muted">not judged yet</span>`;
  if (risk.approved) return `<span data-testid="verdict-approved">approved, ${esc(fmtText(risk.quantity))} contract(s)</span>`;
  const rules = arr(risk.violations).map((v) => esc(fmtText(v))).join("<br>");
  return `<span class="field-error" data-testid="verdict-rejected">rejected</span><br>${rules}`;
}

function automationHtml(auto) {
  const a = obj(auto);
  const flags = TOGGLES.map((k) => {
    const on = a[k] === true, off = a[k] === false;
    return `<li><span class="dot dot-${on ? "green" : off ? "red" : "gray"}"></span>${esc(label(k))}: <strong>${on ? "on" : off ? "off" : DASH}</strong></li>`;
  }).join("");
  return `<ul class="flags" data-testid="automation-status">${flags}</ul>
    <p class="muted small">Max positions ${esc(fmtText(a.maxPositions))} · risk/trade ${fmtPct(a.maxRiskPerTrade)} ·
    stop ${fmtPct(a.stopLossPercentage)} · target ${fmtPct(a.takeProfitPercentage)} · min confidence ${fmtPct(a.minConfidence)}</p>`;
}

export default async function dashboard(root, ctx) {
  root.innerHTML = `
    <h1>Dashboard</h1>
    <section class="card"><h2>Connections</h2><ul class="health" id="health"></ul></section>
    <div class="grid-3" id="pnl"></div>
    <div class="grid-2">
      <section class="card"><h2>Market</h2><div id="market"></div></section>
      <section class="card"><h2>Automation</h2><div id="automation"></div></section>
    </div>
    <section class="card"><h2>Equity through the session (net of fees)</h2>
      <p class="muted small" id="equity-meta" data-testid="equity-meta"></p><div class="chart" id="equity-chart" data-testid="equity-chart"></div></section>
    <section class="card"><h2>Today's trades <a class="small" href="#/trades">all trades</a></h2><div id="today-trades"></div></section>
    <section class="card"><h2>Recent signals</h2><div id="signals"></div></section>`;
  let nextChangeMs = null;
  let chart = null;
  let drawnKey = null;

  const tick = () => {
    const el = root.querySelector("#countdown");
    if (el) el.textContent = nextChangeMs === null ? DASH : fmtDuration((nextChangeMs - Date.now()) * clockRate());
  };

  async function load() {
    const [rawDash, rawHealth] = await Promise.all([
      api("/api/dashboard"),
      api("/api/health").catch(() => ({ components: {} })),
    ]);
    const day = obj(obj(rawDash).market).sessionDate;
    const todays = day ? await api(`/api/trades?from=${day}&to=${day}`).catch(() => null) : null;
    const dash = normDashboard(rawDash);
    const health = normHealth(rawHealth);
    // The session's equity at each minute the engine marked (net of fees), as on Analytics.
    const intraday = obj(await api("/api/analytics/intraday").catch(() => ({})));
    if (!ctx.alive()) return;
    ctx.updateHeader(dash);
    root.querySelector("#health").innerHTML = healthHtml(health);

    const d = obj(dash);
    const pnl = obj(d.pnl);
    // Realized P&L is net of fees (the figure Analytics and the daily report show); open
    // positions are marked at the mid before fees.
    const notes = {
      today: "realized net + unrealized",
      realized: num(pnl.fees) === null ? "net of fees"
        : `net of ${fmtMoney(pnl.fees)} fees · gross ${fmtMoney(pnl.realizedGross)}`,
      unrealized: "at the mid, before fees",
    };
    root.querySelector("#pnl").innerHTML = ["today", "realized", "unrealized"]
      .map((k) => `<section class="card stat"><h2>${esc(label(k))} P&amp;L</h2>
        <p class="big ${signClass(pnl[k])}" data-testid="pnl-${k}">${fmtMoney(pnl[k])}</p>
        <p class="muted small" data-testid="pnl-${k}-note">${esc(notes[k])}</p></section>`)
      .join("");

    const m = obj(d.marketStatus);
    const s = obj(m.session);
    // The server's own countdown wins: the demo runs on a simulated clock.
    nextChangeMs = num(m.secondsToNextChange) !== null ? Date.now() + (num(m.secondsToNextChange) * 1000) / clockRate() : tsMs(m.nextChangeEt);
    root.querySelector("#market").innerHTML = `
      <p><span class="pill phase" data-testid="market-phase">${esc(fmtText(m.phase).replaceAll("_", " ").toUpperCase())}</span></p>
      <p>${m.nextEvent ? `${esc(label(m.nextEvent))} in` : "Next change in"} <strong id="countdown" data-testid="countdown">${DASH}</strong>
         <span class="muted small">(${fmtTime(m.nextChangeEt)})</span></p>
      <dl class="kv">${Object.entries(s).map(([k, v]) => `<dt>${esc(label(k))}</dt><dd>${
        /(open|close|flatten|at|time)$/i.test(k) && tsMs(v) !== null && typeof v !== "boolean" ? fmtTime(v) : esc(fmtText(v))
      }</dd>`).join("")}</dl>`;
    tick();

    root.querySelector("#automation").innerHTML = automationHtml(d.automation);

    const curve = arr(intraday.marks);
    const key = `${intraday.sessionDate}:${curve.length}:${JSON.stringify(curve[curve.length - 1] ?? null)}`;
    if (key !== drawnKey) {  // redraw only when the curve changed
      removeChart(chart);
      chart = null;
      const el = root.querySelector("#equity-chart");
      el.innerHTML = "";
      if (curve.length) chart = lineChart(el, curve, "equityUsd", { money: true });
      else el.innerHTML = '<p class="muted chart-empty">The account\'s equity appears here minute by minute, net of fees, once the session\'s trading cycle runs.</p>';
      drawnKey = key;
    }
    root.querySelector("#equity-meta").textContent = curve.length
      ? `Session ${fmtText(intraday.sessionDate)}: started at ${fmtMoney(intraday.startingEquityUsd)}, now ${fmtMoney(obj(curve[curve.length - 1]).equityUsd)}`
      : "";

    if (todays) {
      root.querySelector("#today-trades").innerHTML = table(
        [
          { label: "Entry", render: (t) => fmtTime(t.entryTs) },
          { label: "Contract", render: (t) => `<code>${esc(fmtText(t.contract))}</code>` },
          { label: "Qty", cls: "num", render: (t) => esc(fmtText(t.quantity)) },
          { label: "Exit", render: (t) => (t.status === "open" ? "open" : esc(label(fmtText(t.exitReason)))) },
          { label: "Net P&L", cls: "num", render: pnlCell },
        ],
        arr(obj(todays).trades).filter((t) => t && typeof t === "object"),
        { empty: "No trades yet today. Each entry the engine makes appears here with its P&L.", testid: "today-trades", stack: true },
      );
    }

    const signals = arr(d.recentSignals).filter((x) => x && typeof x === "object");
    root.querySelector("#signals").innerHTML = table(
      [
        { label: "Time", render: (r) => fmtTime(r.ts) },
        { label: "Symbol", render: (r) => esc(fmtText(r.symbol ?? r.underlying)) },
        { label: "Strategy", render: (r) => esc(label(fmtText(r.strategy))) },
        { label: "Direction", render: direction },
        { label: "Confidence", cls: "num", render: (r) => fmtConfidence(r.confidence) },
        { label: "Rationale", cls: "wrap", render: rationale },
        { label: "Risk", cls: "wrap", render: verdict },
      ],
      signals,
      { empty: "No signals yet today. Each signal a strategy raises appears here with its confidence, its rationale and the risk engine's verdict.", testid: "signals-table", stack: true },
    );
  }

  await load();
  ctx.every(1000, tick);
  ctx.every(5000, () => load().catch(ctx.showError));
}
