// Trades: the journal of round trips (GET /api/trades) with filters, totals and CSV export; a row
// opens the trade: its fills, the signal's rationale, the risk verdict and the underlying's and the
// option's candles with the entry and exit fills marked.
import { api, getToken } from "../api.js";
import { candleChart, removeChart } from "../charts.js";
import { DASH, arr, esc, fmtMoney, fmtNum, fmtText, fmtTime, nowMs, obj, signClass, tsMs } from "../format.js";
import { table } from "../ui.js";

const STRATEGIES = ["momentum_breakout", "mean_reversion", "gap_fill", "vix_spike"];
// The journal paints this many rows first (a year holds about 756); "Show more" adds as many again.
const PAGE_ROWS = 50;
// A longer range paints its last RECENT_DAYS first (one quick request), then the whole range.
const RECENT_DAYS = 30;

function daysBefore(isoDate, days) {
  const ms = Date.parse(`${isoDate}T00:00:00Z`);
  return Number.isNaN(ms) ? isoDate : new Date(ms - days * 86400000).toISOString().slice(0, 10);
}
const SYMBOLS = ["SPY", "QQQ", "IWM"];

function nyDate(ms) {
  return new Date(ms).toLocaleDateString("en-CA", { timeZone: "America/New_York" });
}

function shortTime(ts) {
  const ms = tsMs(ts);
  if (ms === null) return DASH;
  return `${new Date(ms).toLocaleString("en-US", {
    timeZone: "America/New_York", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false,
  })}`;
}

function pct(v) {
  return v === null || v === undefined ? DASH : `${Number(v) > 0 ? "+" : Number(v) < 0 ? "−" : ""}${Math.abs(Number(v)).toFixed(1)}%`;
}

/** The trade's P&L cell: net when closed, unrealized (marked, before fees) while open. */
export function pnlCell(t) {
  if (t.status === "open") {
    return `<span class="${signClass(t.unrealizedPnlUsd)}" title="open: at the mid, before fees">${fmtMoney(t.unrealizedPnlUsd)}</span> <span class="muted small">open</span>`;
  }
  return `<span class="${signClass(t.netPnlUsd)}" data-testid="trade-net">${fmtMoney(t.netPnlUsd)}</span>`;
}

function query(f, format) {
  const q = new URLSearchParams({ from: f.from, to: f.to });
  if (f.symbol) q.set("symbol", f.symbol);
  if (f.strategy) q.set("strategy", f.strategy);
  if (format) q.set("format", format);
  return `/api/trades?${q}`;
}

async function downloadCsv(path, name) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${getToken()}` }, cache: "no-store" });
  if (!response.ok) throw new Error(`CSV export failed: HTTP ${response.status}`);
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function verdictHtml(risk) {
  const r = obj(risk);
  if (!risk) return `<span class="muted">no risk decision stored</span>`;
  if (r.approved) return `<span data-testid="trade-verdict">approved, ${esc(fmtText(r.quantity))} contract(s)</span>`;
  return `<span class="field-error" data-testid="trade-verdict">rejected</span><br>${arr(r.violations).map((v) => esc(fmtText(v))).join("<br>")}`;
}

export default async function trades(root, ctx) {
  // the server's day (the demo's replayed session), not the browser's
  const today = nyDate(nowMs());
  const monthAgo = nyDate(nowMs() - 29 * 86400000);
  root.innerHTML = `
    <h1>Trades</h1>
    <section class="card">
      <form id="trade-filters" class="filters" data-testid="trade-filters">
        <label>From <input type="date" id="f-from" data-testid="f-from" value="${monthAgo}" /></label>
        <label>To <input type="date" id="f-to" data-testid="f-to" value="${today}" /></label>
        <label>Symbol <select id="f-symbol" data-testid="f-symbol"><option value="">All</option>${SYMBOLS.map((s) => `<option>${s}</option>`).join("")}</select></label>
        <label>Strategy <select id="f-strategy" data-testid="f-strategy"><option value="">All</option>${STRATEGIES.map((s) => `<option value="${s}">${esc(s.replace(/_/g, " "))}</option>`).join("")}</select></label>
        <button type="submit" class="primary">Apply</button>
        <button type="button" id="csv" data-testid="trades-csv">Export CSV</button>
      </form>
      <p id="trades-error" class="field-error" data-testid="trades-error" hidden></p>
    </section>
    <div class="grid-3" id="trade-totals" data-testid="trade-totals"></div>
    <section class="card"><h2>Journal</h2><div id="journal"></div>
      <p class="muted small" id="journal-more" hidden><span data-testid="journal-shown"></span> <button type="button" id="more" data-testid="journal-more">Show more</button></p></section>
    <section class="card" id="trade-detail" data-testid="trade-detail" hidden></section>`;
  const form = root.querySelector("#trade-filters");
  const errEl = root.querySelector("#trades-error");
  const detail = root.querySelector("#trade-detail");
  let charts = [];
  const filters = () => ({
    from: root.querySelector("#f-from").value,
    to: root.querySelector("#f-to").value,
    symbol: root.querySelector("#f-symbol").value,
    strategy: root.querySelector("#f-strategy").value,
  });
  // Filters can come in the hash: #/trades?from=2025-03-14&to=2025-03-14
  const hashQuery = new URLSearchParams(window.location.hash.split("?")[1] || "");
  for (const key of ["from", "to", "symbol", "strategy"]) {
    if (hashQuery.get(key)) root.querySelector(`#f-${key}`).value = hashQuery.get(key);
  }

  function renderTotals(t, body) {
    const cards = [
      ["Net P&L (after fees)", fmtMoney(t.netPnlUsd), signClass(t.netPnlUsd), "totals-net", `${esc(fmtText(t.closed))} closed · ${esc(fmtText(t.wins))} won`],
      ["Fees", fmtMoney(t.commissionsUsd), "", "totals-fees", `gross ${fmtMoney(t.grossPnlUsd)} before fees`],
      ["Trades", esc(fmtText(t.trades)), "", "totals-trades", `${esc(fmtText(body.from))} to ${esc(fmtText(body.to))}`],
    ];
    root.querySelector("#trade-totals").innerHTML = cards.map(([title, value, cls, id, note]) =>
      `<section class="card stat"><h2>${esc(title)}</h2><p class="big ${cls}" data-testid="${id}">${value}</p><p class="muted small">${note}</p></section>`).join("");
  }

  function renderJournal(rows, body, shown) {
    const more = root.querySelector("#journal-more");
    more.hidden = rows.length <= shown;
    more.querySelector("[data-testid=journal-shown]").textContent = `Newest ${Math.min(shown, rows.length)} of ${rows.length} trades.`;
    more.querySelector("#more").onclick = () => renderJournal(rows, body, shown + PAGE_ROWS);
    root.querySelector("#journal").innerHTML = table(
      [
        { label: "Entry", render: (t) => shortTime(t.entryTs) },
        { label: "Contract", render: (t) => `<code>${esc(fmtText(t.contract))}</code>` },
        { label: "Strategy", render: (t) => esc(fmtText(t.strategy).replace(/_/g, " ")) },
        { label: "Qty", cls: "num", render: (t) => esc(fmtText(t.quantity)) },
        { label: "Entry price", cls: "num", render: (t) => fmtNum(t.entryPrice) },
        { label: "Exit price", cls: "num", render: (t) => fmtNum(t.exitPrice) },
        { label: "Exit", render: (t) => (t.status === "open" ? "open" : `${shortTime(t.exitTs)} · ${esc(fmtText(t.exitReason))}`) },
        { label: "Fees", cls: "num", render: (t) => fmtMoney(t.commissionsUsd) },
        { label: "Net P&L", cls: "num", render: pnlCell },
        { label: "Net %", cls: "num", render: (t) => `<span class="${signClass(t.netPnlPercent)}">${pct(t.netPnlPercent)}</span>` },
      ],
      rows.slice(0, shown),
      {
        empty: `No trades from ${body.from} to ${body.to}. Each round trip the engine makes (its entry and exit, every fill, the fees and the P&L net of them) will appear here.`,
        testid: "trades-table",
        stack: true,
      },
    );
    root.querySelectorAll("#journal tbody tr[data-row]").forEach((tr) => {
      tr.classList.add("clickable");
      tr.tabIndex = 0;
      tr.setAttribute("data-testid", "trade-row");
      const open = () => openTrade(rows[Number(tr.dataset.row)]);
      tr.addEventListener("click", open);
      tr.addEventListener("keydown", (e) => e.key === "Enter" && open());
    });
  }

  async function openTrade(t) {
    charts.forEach(removeChart);
    charts = [];
    const sig = t.signal ? obj(t.signal) : null;
    const day = nyDate(tsMs(t.entryTs));
    detail.hidden = false;
    detail.innerHTML = `
      <h2>${esc(fmtText(t.contract))} <span class="muted small">${esc(fmtText(t.strategy).replace(/_/g, " "))} · ${esc(fmtText(t.quantity))} contracts</span></h2>
      <dl class="kv">
        <dt>Entry</dt><dd>${fmtTime(t.entryTs, { date: true })} at ${fmtNum(t.entryPrice)}</dd>
        <dt>Exit</dt><dd>${t.status === "open" ? "open" : `${fmtTime(t.exitTs, { date: true })} at ${fmtNum(t.exitPrice)} (${esc(fmtText(t.exitReason))})`}</dd>
        <dt>Net P&amp;L</dt><dd data-testid="detail-net">${pnlCell(t)} ${t.status === "open" ? "" : `· ${pct(t.netPnlPercent)} · fees ${fmtMoney(t.commissionsUsd)}`}</dd>
        <dt>Signal</dt><dd data-testid="detail-signal">${sig ? `<code>${esc(fmtText(sig.signalId))}</code> at ${fmtTime(sig.ts)} · confidence ${Math.round(Number(sig.confidence) * 100)}%` : '<span class="muted">no signal linked (an entry placed before signals were linked to orders)</span>'}</dd>
        <dt>Rationale</dt><dd class="wrap" data-testid="detail-rationale">${sig ? esc(fmtText(sig.rationale)) : DASH}</dd>
        <dt>Risk verdict</dt><dd>${sig ? verdictHtml(sig.risk) : DASH}</dd>
      </dl>
      <h3>Fills</h3>
      ${table(
        [
          { label: "Time", render: (f) => fmtTime(f.ts) },
          { label: "Side", render: (f) => esc(fmtText(f.side)) },
          { label: "Qty", cls: "num", render: (f) => esc(fmtText(f.quantity)) },
          { label: "Price", cls: "num", render: (f) => fmtNum(f.price) },
          { label: "Fee", cls: "num", render: (f) => fmtMoney(f.commissionUsd) },
          { label: "Order", render: (f) => `<code>${esc(fmtText(f.orderId))}</code>` },
        ],
        arr(t.fills),
        { empty: "No fills recorded for this trade.", testid: "fills-table", stack: true },
      )}
      <div class="grid-2">
        <div><h3>${esc(fmtText(t.underlying))}</h3><div class="chart" id="underlying-chart" data-testid="underlying-chart"></div></div>
        <div><h3>Option (mid)</h3><div class="chart" id="option-chart" data-testid="option-chart"></div></div>
      </div>`;
    detail.scrollIntoView({ block: "start" });
    const markers = arr(t.fills).map((f) => ({ time: f.ts, side: f.side, text: `${f.side === "BUY" ? "in" : "out"} ${f.price}` }));
    const [under, option] = await Promise.all([
      api(`/api/bars?symbol=${encodeURIComponent(t.underlying)}&date=${day}&interval=1m`).catch(() => ({})),
      api(`/api/bars?symbol=${encodeURIComponent(t.contract)}&date=${day}&interval=1m`).catch(() => ({})),
    ]);
    if (!ctx.alive()) return;
    charts = [
      candleChart(detail.querySelector("#underlying-chart"), arr(obj(under).bars), markers),
      candleChart(detail.querySelector("#option-chart"), arr(obj(option).bars), markers),
    ];
  }

  let loads = 0;
  async function load() {
    const seq = ++loads;
    const current = () => ctx.alive() && seq === loads;
    errEl.hidden = true;
    const f = filters();
    const recentFrom = daysBefore(f.to, RECENT_DAYS - 1);
    let body;
    try {
      if (recentFrom > f.from) {
        const recent = obj(await api(query({ ...f, from: recentFrom })));
        if (!current()) return;
        root.querySelector("#trade-totals").innerHTML =
          `<section class="card stat" data-testid="totals-loading"><p class="muted small">Showing ${esc(recentFrom)} to ${esc(f.to)}; loading ${esc(f.from)} onwards for the totals…</p></section>`;
        renderJournal(arr(recent.trades).filter((t) => t && typeof t === "object").reverse(), recent, PAGE_ROWS);
      }
      body = obj(await api(query(f)));
    } catch (err) {
      if (!current()) return;
      errEl.textContent = err.message;
      errEl.hidden = false;
      return;
    }
    if (!current()) return;
    renderTotals(obj(body.totals), body);
    const rows = arr(body.trades).filter((t) => t && typeof t === "object").reverse(); // newest first
    renderJournal(rows, body, PAGE_ROWS);
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    detail.hidden = true;
    load();
  });
  root.querySelector("#csv").addEventListener("click", () => {
    const f = filters();
    downloadCsv(query(f, "csv"), `trades-${f.from}-${f.to}.csv`).catch((err) => {
      errEl.textContent = err.message;
      errEl.hidden = false;
    });
  });
  await load();
}
