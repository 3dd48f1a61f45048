// Strikes: the live 0DTE chain per symbol with Greeks, 2-minute candles of the underlying
// and of a selected option. The chain (~120 rows on a busy day) scrolls inside a bounded box,
// centred on the money, so the candles below stay within reach.
import { api } from "../api.js";
import { candleChart, disposeCharts } from "../charts.js";
import { arr, esc, fmtInt, fmtNum, fmtPct, fmtText, fmtTime, num, obj } from "../format.js";
import { table } from "../ui.js";

const SYMBOLS = ["SPY", "QQQ", "IWM"];
const SIZE_TITLE = "Bid size + ask size of the snapshot (displayed liquidity); traded volume is not in the chain snapshots.";
const EX_DIV_TITLE = "Early-exercise risk: an in-the-money call on an ex-dividend day (American exercise); never selected.";

function sizeOf(r) {
  if (num(r.volume) !== null) return r.volume;
  const b = num(r.bidSize), a = num(r.askSize);
  return b === null && a === null ? null : (b ?? 0) + (a ?? 0);
}

function rightCell(r) {
  const badge = r.earlyExerciseRisk === true
    ? ` <span class="pill state-reducing" title="${esc(EX_DIV_TITLE)}" data-testid="ex-div">ex-div</span>`
    : "";
  return `${esc(fmtText(r.right))}${badge}`;
}

export default async function strikes(root, ctx) {
  const wanted = new URLSearchParams(window.location.hash.split("?")[1] || "").get("symbol");
  let symbol = SYMBOLS.includes(wanted) ? wanted : "SPY";
  let selected = null;
  let centre = true; // scroll the chain to the money on the next render (first load, new symbol)
  root.innerHTML = `
    <h1>Strikes</h1>
    <div class="tabs" role="tablist">${SYMBOLS.map((s) =>
      `<button role="tab" class="tab" data-symbol="${s}" data-testid="symbol-${s}">${s}</button>`).join("")}</div>
    <section class="card"><h2 id="chain-title">Chain</h2><p class="muted small" id="chain-meta"></p><div id="chain"></div></section>
    <div class="grid-2">
      <section class="card"><h2 id="underlying-title">Underlying, 2-minute</h2><div class="chart" id="underlying-chart" data-testid="underlying-chart"></div></section>
      <section class="card"><h2 id="option-title">Option, 2-minute</h2><div class="chart" id="option-chart"><p class="muted chart-empty">Select a row in the chain.</p></div></section>
    </div>`;

  async function drawCharts() {
    disposeCharts();
    const under = root.querySelector("#underlying-chart");
    under.innerHTML = "";
    const bars = await api(`/api/bars?symbol=${encodeURIComponent(symbol)}&interval=2m`).catch((e) => ({ error: e }));
    if (!ctx.alive()) return;
    if (bars.error) under.innerHTML = `<p class="muted chart-empty">${esc(bars.error.message)}</p>`;
    else candleChart(under, obj(bars).bars);
    root.querySelector("#underlying-title").textContent = `${symbol}, 2-minute`;
    const opt = root.querySelector("#option-chart");
    if (!selected) return;
    opt.innerHTML = "";
    root.querySelector("#option-title").textContent = `${selected}, 2-minute`;
    const ob = await api(`/api/bars?symbol=${encodeURIComponent(selected)}&interval=2m`).catch((e) => ({ error: e }));
    if (!ctx.alive()) return;
    if (ob.error) opt.innerHTML = `<p class="muted chart-empty">${esc(ob.error.message)}</p>`;
    else candleChart(opt, obj(ob).bars);
  }

  async function loadChain() {
    const d = obj(await api(`/api/strikes?symbol=${encodeURIComponent(symbol)}`));
    if (!ctx.alive()) return;
    root.querySelectorAll(".tab").forEach((t) => t.classList.toggle("active", t.dataset.symbol === symbol));
    root.querySelector("#chain-title").textContent = `${fmtText(d.symbol ?? symbol)} 0DTE chain`;
    root.querySelector("#chain-meta").textContent = `Underlying ${fmtNum(d.underlyingPrice)} · as of ${fmtTime(d.ts)}`;
    const oldWrap = root.querySelector("#chain .table-wrap");
    const keepScroll = oldWrap && !centre ? oldWrap.scrollTop : null;
    const rows = arr(d.rows).filter((r) => r && typeof r === "object")
      .sort((a, b) => (num(a.strike) ?? 0) - (num(b.strike) ?? 0) || String(a.right).localeCompare(String(b.right)));
    root.querySelector("#chain").innerHTML = table(
      [
        { label: "Contract", cls: "hide-phone", render: (r) => `<code>${esc(fmtText(r.contract))}</code>` },
        { label: "Strike", cls: "num", render: (r) => fmtNum(r.strike) },
        { label: "Right", render: rightCell },
        { label: "Bid", cls: "num", render: (r) => fmtNum(r.bid) },
        { label: "Ask", cls: "num", render: (r) => fmtNum(r.ask) },
        {
          label: "Displayed size",
          cls: "num",
          render: (r) => `<span title="bid ${esc(fmtInt(r.bidSize))} + ask ${esc(fmtInt(r.askSize))}">${fmtInt(sizeOf(r))}</span>`,
        },
        { label: "IV", cls: "num", render: (r) => fmtPct(r.iv) },
        { label: "Delta", cls: "num", render: (r) => fmtNum(r.delta, 3) },
        { label: "Gamma", cls: "num", render: (r) => fmtNum(r.gamma, 4) },
        { label: "Theta/min", cls: "num", render: (r) => fmtNum(r.thetaPerMinute, 4) },
        { label: "Vega", cls: "num", render: (r) => fmtNum(r.vega, 4) },
      ],
      rows,
      { empty: "No chain snapshot for this symbol yet.", testid: "chain-table" },
    );
    const sizeTh = [...root.querySelectorAll("#chain th")].find((th) => th.textContent === "Displayed size");
    if (sizeTh) Object.assign(sizeTh, { title: SIZE_TITLE }).dataset.testid = "size-header";
    // Bounded height with a sticky header (inline styles: no stylesheet change needed).
    const wrap = root.querySelector("#chain .table-wrap");
    wrap.style.maxHeight = "min(65vh, 34rem)";
    wrap.style.overflowY = "auto";
    wrap.dataset.testid = "chain-scroll";
    root.querySelectorAll("#chain thead th").forEach((th) => {
      Object.assign(th.style, { position: "sticky", top: "0", background: "var(--card)", zIndex: "1" });
    });
    const spot = num(d.underlyingPrice);
    root.querySelectorAll("#chain tbody tr[data-row]").forEach((tr) => {
      const row = rows[Number(tr.dataset.row)];
      if (row.earlyExerciseRisk === true) tr.dataset.exDiv = "true";
      if (row.selectable === false) tr.title = row.earlyExerciseRisk === true ? EX_DIV_TITLE : "Not selectable (quote unusable).";
    });
    if (keepScroll !== null) {
      wrap.scrollTop = keepScroll;
    } else if (spot !== null && rows.length) {
      // First row at or above the underlying price, centred in the box.
      const i = Math.max(0, rows.findIndex((r) => (num(r.strike) ?? -Infinity) >= spot));
      const tr = root.querySelector(`#chain tbody tr[data-row="${i}"]`);
      if (tr) wrap.scrollTop = Math.max(0, tr.offsetTop - wrap.clientHeight / 2);
    }
    centre = false;
    root.querySelectorAll("#chain tbody tr[data-row]").forEach((tr) => {
      const contract = rows[Number(tr.dataset.row)].contract;
      if (!contract) return;
      tr.classList.add("clickable");
      tr.classList.toggle("selected", contract === selected);
      tr.addEventListener("click", () => {
        selected = contract;
        root.querySelectorAll("#chain tr.selected").forEach((x) => x.classList.remove("selected"));
        tr.classList.add("selected");
        drawCharts().catch(ctx.showError);
      });
    });
  }

  root.querySelectorAll(".tab").forEach((t) => t.addEventListener("click", async () => {
    symbol = t.dataset.symbol;
    selected = null;
    centre = true;
    root.querySelector("#option-chart").innerHTML = '<p class="muted chart-empty">Select a row in the chain.</p>';
    root.querySelector("#option-title").textContent = "Option, 2-minute";
    await loadChain().catch(ctx.showError);
    await drawCharts().catch(ctx.showError);
  }));

  await loadChain();
  await drawCharts();
  ctx.every(15000, () => loadChain().catch(ctx.showError));
}
