// Strikes: the 0DTE chain as traders read it, one row per strike (calls | strike | puts), at the
// latest minute or at a minute chosen in the session (after the close: the last trading minute).
// The ATM strike, the contracts held and those traded by then are marked; in-the-money sides are
// shaded. The chain (~60 strikes on a busy day) scrolls inside a bounded box centred on the ATM
// strike, with 2-minute candles of the underlying and of the selected option below it. Phones
// keep bid, ask and delta on each side; narrow screens also drop size, gamma and vega. The candles
// carry the session's fills of that underlying or option as buy/sell markers.
import { api } from "../api.js";
import { candleChart, disposeCharts } from "../charts.js";
import { arr, esc, fmtInt, fmtNum, fmtPct, num, obj, tsMs } from "../format.js";

const SYMBOLS = ["SPY", "QQQ", "IWM"];
const SIZE_TITLE = "Bid size + ask size of the snapshot (displayed liquidity); traded volume is not in the chain snapshots.";
const EX_DIV_TITLE = "Early-exercise risk: an in-the-money call on an ex-dividend day (American exercise); never selected.";

/** One side's columns, from the strike outwards (the call side shows them mirrored). */
const SIDE_COLUMNS = [
  { label: "Bid", render: (r) => fmtNum(r.bid) },
  { label: "Ask", render: (r) => fmtNum(r.ask) },
  { label: "Size", cls: "hide-narrow", title: SIZE_TITLE, render: (r) => sizeCell(r) },
  { label: "IV", cls: "hide-phone", render: (r) => fmtPct(r.iv) },
  { label: "Delta", render: (r) => fmtNum(r.delta, 3) },
  { label: "Gamma", cls: "hide-narrow", render: (r) => fmtNum(r.gamma, 4) },
  { label: "Theta/min", cls: "hide-phone", render: (r) => fmtNum(r.thetaPerMinute, 4) },
  { label: "Vega", cls: "hide-narrow", render: (r) => fmtNum(r.vega, 4) },
];
const SIDES = [
  { key: "C", name: "Call", columns: [...SIDE_COLUMNS].reverse() },
  { key: "P", name: "Put", columns: SIDE_COLUMNS },
];

function sizeCell(r) {
  const b = num(r.bidSize), a = num(r.askSize);
  const size = num(r.volume) ?? (b === null && a === null ? null : (b ?? 0) + (a ?? 0));
  return `<span title="bid ${esc(fmtInt(b))} + ask ${esc(fmtInt(a))}">${fmtInt(size)}</span>`;
}

/** "HH:MM" New York time of an instant, or "" when it is not one. */
function nyMinute(ts) {
  const ms = tsMs(ts);
  if (ms === null) return "";
  return new Date(ms).toLocaleTimeString("en-GB", { timeZone: "America/New_York", hour: "2-digit", minute: "2-digit" });
}

/** The chain's rows grouped by strike, ascending: [{strike, C: row|null, P: row|null}]. */
function byStrike(rows) {
  const strikes = new Map();
  for (const r of arr(rows)) {
    const strike = r && typeof r === "object" ? num(r.strike) : null;
    if (strike === null || (r.right !== "C" && r.right !== "P")) continue;
    if (!strikes.has(strike)) strikes.set(strike, { strike, C: null, P: null });
    strikes.get(strike)[r.right] = r;
  }
  return [...strikes.values()].sort((a, b) => a.strike - b.strike);
}

function marks(line, atm) {
  const out = [];
  if (atm) out.push('<span class="mark mark-atm" data-testid="atm-mark" title="At the money: the strike nearest the underlying">ATM</span>');
  for (const side of SIDES) {
    const r = line[side.key];
    if (!r) continue;
    const held = num(r.heldQuantity) ?? 0;
    if (held > 0) {
      out.push(`<span class="mark mark-held" data-testid="held-mark" data-contract="${esc(r.contract)}" title="Held: ${held} ${side.name.toLowerCase()}${held === 1 ? "" : "s"}">${side.key} held ×${held}</span>`);
    } else if (r.traded === true) {
      out.push(`<span class="mark mark-traded" data-testid="traded-mark" data-contract="${esc(r.contract)}" title="Traded this session, not held now">${side.key} traded</span>`);
    }
    if (r.earlyExerciseRisk === true) {
      out.push(`<span class="mark mark-exdiv" data-testid="ex-div" title="${esc(EX_DIV_TITLE)}">ex-div</span>`);
    }
  }
  return out.length ? `<span class="marks">${out.join("")}</span>` : "";
}

function chainTable(lines, spot, atmStrike, selected) {
  const headCells = (side) => side.columns
    .map((c) => `<th scope="col" class="num side-${side.key} ${c.cls || ""}"${c.title ? ` title="${esc(c.title)}"` : ""}>${esc(c.label)}</th>`)
    .join("");
  // The sides' names sit in the header cells next to the strike (bid and ask are on every screen).
  const groupCells = (side) => side.columns
    .map((c, i) => {
      const inner = side.key === "C" ? i === side.columns.length - 1 : i === 0;
      return `<th class="group side-${side.key} ${c.cls || ""}">${inner ? `${side.name}s` : ""}</th>`;
    })
    .join("");
  const cells = (line, side) => {
    const r = line[side.key];
    if (!r) return side.columns.map((c) => `<td class="num side-${side.key} ${c.cls || ""}">—</td>`).join("");
    const itm = spot !== null && (side.key === "C" ? line.strike < spot : line.strike > spot);
    const cls = [
      "num", "pick", `side-${side.key}`,
      itm ? "itm" : "",
      (num(r.heldQuantity) ?? 0) > 0 ? "held" : r.traded === true ? "traded" : "",
      r.contract === selected ? "selected" : "",
      r.selectable === false ? "unselectable" : "",
    ].filter(Boolean).join(" ");
    const title = r.selectable === false
      ? (r.earlyExerciseRisk === true ? EX_DIV_TITLE : "Not selectable (quote unusable).")
      : String(r.contract ?? "");
    return side.columns
      .map((c) => `<td class="${cls} ${c.cls || ""}" data-label="${side.name} ${esc(c.label)}" data-contract="${esc(r.contract ?? "")}" title="${esc(title)}">${c.render(r)}</td>`)
      .join("");
  };
  const body = lines.length
    ? lines.map((line, i) => {
      const atm = atmStrike !== null && line.strike === atmStrike;
      return `<tr data-row="${i}" data-strike="${line.strike}"${atm ? ' class="atm" data-testid="atm-row"' : ""}>${cells(line, SIDES[0])}`
        + `<th scope="row" class="strike">${fmtNum(line.strike)}${marks(line, atm)}</th>${cells(line, SIDES[1])}</tr>`;
    }).join("")
    : `<tr><td colspan="${2 * SIDE_COLUMNS.length + 1}" class="empty">No chain snapshot for this symbol yet.</td></tr>`;
  return `<div class="table-wrap chain-wrap" data-testid="chain-scroll"><table class="chain" data-testid="chain-table">`
    + `<thead><tr class="groups">${groupCells(SIDES[0])}<th class="group strike"></th>${groupCells(SIDES[1])}</tr>`
    + `<tr>${headCells(SIDES[0])}<th scope="col" class="strike">Strike</th>${headCells(SIDES[1])}</tr></thead>`
    + `<tbody>${body}</tbody></table></div>`;
}

export default async function strikes(root, ctx) {
  const wanted = new URLSearchParams(window.location.hash.split("?")[1] || "").get("symbol");
  let symbol = SYMBOLS.includes(wanted) ? wanted : "SPY";
  let selected = null;
  let at = null; // "HH:MM" New York, or null for the latest minute
  let last = null; // the last chain response
  let centre = true; // scroll the chain to the ATM strike on the next render
  root.innerHTML = `
    <h1>Strikes</h1>
    <div class="tabs" role="tablist">${SYMBOLS.map((s) =>
      `<button role="tab" class="tab" data-symbol="${s}" data-testid="symbol-${s}">${s}</button>`).join("")}</div>
    <section class="card chain-card">
      <div class="chain-head">
        <h2 id="chain-title">Chain</h2>
        <form class="chain-time" id="chain-time" data-testid="chain-time">
          <button type="button" id="chain-prev" aria-label="One minute earlier" title="One minute earlier">◀</button>
          <label>Minute (ET) <input type="time" step="60" id="chain-at" data-testid="chain-at" required></label>
          <button type="button" id="chain-next" aria-label="One minute later" title="One minute later">▶</button>
          <button type="button" id="chain-latest" data-testid="chain-latest">Latest</button>
        </form>
      </div>
      <p class="muted small" id="chain-meta" data-testid="chain-meta"></p>
      <p class="small chain-note" id="chain-note" data-testid="chain-note" hidden></p>
      <p class="legend small muted"><span class="mark mark-atm">ATM</span> nearest the underlying
        · <span class="mark mark-held">held</span> open position · <span class="mark mark-traded">traded</span> this session
        · <span class="legend-itm">shaded</span> in the money · tap a side for its candles</p>
      <div id="chain"></div>
    </section>
    <div class="grid-2">
      <section class="card"><h2 id="underlying-title">Underlying, 2-minute</h2><div class="chart" id="underlying-chart" data-testid="underlying-chart"></div></section>
      <section class="card"><h2 id="option-title">Option, 2-minute</h2><div class="chart" id="option-chart"><p class="muted chart-empty">Select a call or a put in the chain.</p></div></section>
    </div>`;
  const picker = root.querySelector("#chain-at");

  function barsPath(sym) {
    const day = last && typeof last.sessionDate === "string" ? `&date=${encodeURIComponent(last.sessionDate)}` : "";
    return `/api/bars?symbol=${encodeURIComponent(sym)}&interval=2m${day}`;
  }

  /** The session's fills as candle markers (from the analytics API; none when it cannot say). */
  async function dayFills() {
    const day = last && typeof last.sessionDate === "string" ? `?date=${encodeURIComponent(last.sessionDate)}` : "";
    return arr(obj(await api(`/api/analytics/intraday${day}`).catch(() => ({}))).fills);
  }
  const toMarkers = (fills) => fills.map((f) => ({
    time: f.ts, price: num(f.price), side: f.side, text: `${f.side === "BUY" ? "Buy" : "Sell"} ${fmtInt(f.quantity)} @ ${fmtNum(f.price)}`,
  }));

  let chartRequests = 0; // as for the chain: only the newest drawing lands
  async function drawCharts() {
    const request = ++chartRequests;
    const current = () => ctx.alive() && request === chartRequests;
    disposeCharts();
    const under = root.querySelector("#underlying-chart");
    under.innerHTML = "";
    const [bars, fills] = await Promise.all([api(barsPath(symbol)).catch((e) => ({ error: e })), dayFills()]);
    if (!current()) return;
    if (bars.error) under.innerHTML = `<p class="muted chart-empty">${esc(bars.error.message)}</p>`;
    else candleChart(under, obj(bars).bars, toMarkers(fills.filter((f) => f.underlying === symbol)));
    root.querySelector("#underlying-title").textContent = `${symbol}, 2-minute`;
    const opt = root.querySelector("#option-chart");
    if (!selected) return;
    opt.innerHTML = "";
    root.querySelector("#option-title").textContent = `${selected}, 2-minute`;
    const ob = await api(barsPath(selected)).catch((e) => ({ error: e }));
    if (!current()) return;
    if (ob.error) opt.innerHTML = `<p class="muted chart-empty">${esc(ob.error.message)}</p>`;
    else candleChart(opt, obj(ob).bars, toMarkers(fills.filter((f) => f.contract === selected)));
  }

  function describe(d) {
    const shown = nyMinute(d.ts);
    const closed = tsMs(d.atLatest) !== null && tsMs(d.atLatest) === tsMs(d.sessionClose);
    const day = typeof d.sessionDate === "string" ? d.sessionDate : "";
    root.querySelector("#chain-title").textContent = `${d.symbol ?? symbol} 0DTE chain`;
    root.querySelector("#chain-meta").textContent = [
      `Underlying ${fmtNum(d.underlyingPrice)}`,
      `ATM ${fmtNum(d.atmStrike)}`,
      `snapshot ${shown || "—"} ET${day ? ` on ${day}` : ""}`,
      `${fmtNum(d.minutesToExpiry, 0)} min to expiry`,
    ].join(" · ");
    const note = root.querySelector("#chain-note");
    note.hidden = !(closed && at === null);
    if (closed && at === null) {
      note.textContent = `The session has closed: this is its last trading minute (${shown} ET), the last with IV and Greeks. Choose any minute of the session above.`;
    }
    picker.min = nyMinute(d.atEarliest);
    picker.max = nyMinute(d.atLatest);
    if (document.activeElement !== picker) picker.value = at ?? shown;
    root.querySelector("#chain-latest").disabled = at === null;
  }

  let chainRequests = 0; // only the newest chain request is drawn (a slow answer for an earlier symbol is dropped)
  async function loadChain() {
    const query = `symbol=${encodeURIComponent(symbol)}${at ? `&at=${encodeURIComponent(at)}` : ""}`;
    const request = ++chainRequests;
    const d = obj(await api(`/api/strikes?${query}`));
    if (!ctx.alive() || request !== chainRequests) return;
    last = d;
    root.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.dataset.symbol === symbol));
    describe(d);
    const oldWrap = root.querySelector("#chain .table-wrap");
    const keepScroll = oldWrap && !centre ? oldWrap.scrollTop : null;
    const spot = num(d.underlyingPrice);
    const atmStrike = num(d.atmStrike);
    const lines = byStrike(d.rows);
    root.querySelector("#chain").innerHTML = chainTable(lines, spot, atmStrike, selected);
    const wrap = root.querySelector("#chain .table-wrap");
    if (keepScroll !== null) {
      wrap.scrollTop = keepScroll;
    } else {
      const row = root.querySelector("#chain tr.atm");
      if (row) wrap.scrollTop = Math.max(0, row.offsetTop - wrap.clientHeight / 2);
    }
    centre = false;
    root.querySelectorAll("#chain td.pick").forEach((td) => td.addEventListener("click", () => {
      selected = td.dataset.contract;
      root.querySelectorAll("#chain td.selected").forEach((x) => x.classList.remove("selected"));
      root.querySelectorAll(`#chain td[data-contract="${CSS.escape(selected)}"]`).forEach((x) => x.classList.add("selected"));
      drawCharts().catch(ctx.showError);
    }));
  }

  async function choose(minute) {
    const previous = at;
    at = minute;
    centre = true;
    try {
      await loadChain();
    } catch (err) {
      // A refused minute leaves the chain, and the picker, at the minute shown.
      at = previous;
      picker.value = at ?? nyMinute(last && last.ts);
      ctx.showError(err);
    }
  }

  function step(minutes) {
    const base = picker.value || nyMinute(last && last.ts);
    const lo = picker.min, hi = picker.max;
    if (!/^\d{2}:\d{2}$/.test(base)) return;
    const [h, m] = base.split(":").map(Number);
    const total = Math.min(Math.max(h * 60 + m + minutes, 0), 23 * 60 + 59);
    let next = `${String(Math.floor(total / 60)).padStart(2, "0")}:${String(total % 60).padStart(2, "0")}`;
    if (lo && next < lo) next = lo;
    if (hi && next > hi) next = hi;
    choose(next);
  }

  root.querySelector("#chain-time").addEventListener("submit", (e) => e.preventDefault());
  picker.addEventListener("change", () => {
    if (/^\d{2}:\d{2}$/.test(picker.value)) choose(picker.value);
  });
  root.querySelector("#chain-prev").addEventListener("click", () => step(-1));
  root.querySelector("#chain-next").addEventListener("click", () => step(1));
  root.querySelector("#chain-latest").addEventListener("click", () => choose(null));

  root.querySelectorAll(".tab").forEach((t) => t.addEventListener("click", async () => {
    symbol = t.dataset.symbol;
    selected = null;
    centre = true;
    root.querySelector("#option-chart").innerHTML = '<p class="muted chart-empty">Select a call or a put in the chain.</p>';
    root.querySelector("#option-title").textContent = "Option, 2-minute";
    await loadChain().catch(ctx.showError);
    await drawCharts().catch(ctx.showError);
  }));

  await loadChain();
  await drawCharts();
  // Only the latest minute moves; a chosen minute stays as it was.
  ctx.every(15000, () => (at === null ? loadChain().catch(ctx.showError) : undefined));
}
