// Thin wrappers over lightweight-charts (from npm) with New York time on the axis and money in
// dollars. Each chart's container says how many points (`data-points`) and markers
// (`data-markers`) it draws, and lists its markers in words below the canvas.
import { AreaSeries, CandlestickSeries, HistogramSeries, LineSeries, createChart, createSeriesMarkers } from "lightweight-charts";
import { arr, esc, fmtMoney, num, tsMs } from "./format.js";

const LINE_COLORS = ["#38bdf8", "#f59e0b", "#a78bfa", "#34d399", "#f472b6", "#e5e7eb"];
const dollars = { type: "custom", minMove: 0.01, formatter: (v) => fmtMoney(v) };

const live = new Set();

function nyLabel(seconds, withDate, withTime = true) {
  const opts = { timeZone: "America/New_York" };
  if (withTime) Object.assign(opts, { hour: "2-digit", minute: "2-digit", hour12: false });
  if (withDate) Object.assign(opts, { month: "short", day: "numeric" });
  return new Date(seconds * 1000).toLocaleString("en-US", opts);
}

function baseChart(el) {
  const chart = createChart(el, {
    autoSize: true,
    layout: { background: { color: "transparent" }, textColor: "#9aa4b2", attributionLogo: false },
    grid: { vertLines: { color: "#1f2937" }, horzLines: { color: "#1f2937" } },
    rightPriceScale: { borderColor: "#374151" },
    timeScale: {
      borderColor: "#374151",
      timeVisible: true,
      secondsVisible: false,
      // TickMarkType: 0 year, 1 month, 2 day of month, 3 time, 4 time with seconds.
      tickMarkFormatter: (t, type) => (type < 3 ? nyLabel(t, true, false) : nyLabel(t, false)),
    },
    localization: { timeFormatter: (t) => `${nyLabel(t, true)} ET` },
  });
  live.add(chart);
  return chart;
}

/** Sorted, de-duplicated points with time in epoch seconds; drops malformed ones. */
function points(items, valueOf) {
  const byTime = new Map();
  for (const it of arr(items)) {
    const ms = tsMs(it && (it.ts ?? it.time ?? it.date));
    const v = valueOf(it);
    if (ms === null || v === null) continue;
    byTime.set(Math.floor(ms / 1000), v);
  }
  return [...byTime.entries()].sort((a, b) => a[0] - b[0]);
}

/** An area (or, with `negative`, a histogram) of `items[key]` over time; `money` formats dollars. */
export function lineChart(el, items, key, { color = "#38bdf8", negative = false, percent = false, money = false } = {}) {
  const data = points(items, (it) => num(it && it[key])).map(([time, value]) => ({ time, value }));
  el.dataset.points = String(data.length);
  if (!data.length) return noData(el);
  const chart = baseChart(el);
  const series = negative
    ? chart.addSeries(HistogramSeries, { color: "#f87171" })
    : chart.addSeries(AreaSeries, { lineColor: color, topColor: `${color}55`, bottomColor: `${color}05`, lineWidth: 2 });
  if (percent) series.applyOptions({ priceFormat: { type: "custom", minMove: 0.0001, formatter: (v) => `${(v * 100).toFixed(1)}%` } });
  if (money) series.applyOptions({ priceFormat: dollars });
  series.setData(data);
  chart.timeScale().fitContent();
  return chart;
}

/** One line per entry of `lines` ([{name, points: [{ts, value}]}]) in dollars, with a legend. */
export function linesChart(el, lines) {
  const drawn = arr(lines)
    .map((l) => ({ name: String(l.name), data: points(l.points, (p) => num(p && p.value)).map(([time, value]) => ({ time, value })) }))
    .filter((l) => l.data.length);
  el.dataset.points = String(drawn.reduce((n, l) => n + l.data.length, 0));
  if (!drawn.length) return noData(el);
  el.innerHTML = "";
  const canvas = document.createElement("div");
  canvas.className = "chart-canvas";
  el.append(canvas);
  const chart = baseChart(canvas);
  drawn.forEach((l, i) => {
    const color = LINE_COLORS[i % LINE_COLORS.length];
    chart.addSeries(LineSeries, { color, lineWidth: 2, priceFormat: dollars, title: l.name }).setData(l.data);
  });
  const legend = document.createElement("p");
  legend.className = "chart-legend small";
  legend.innerHTML = drawn.map((l, i) => `<span><i style="background:${LINE_COLORS[i % LINE_COLORS.length]}"></i>${esc(l.name)} ${fmtMoney(l.data[l.data.length - 1].value)}</span>`).join("");
  el.append(legend);
  chart.timeScale().fitContent();
  return chart;
}

/**
 * Candles of `bars`; optional `markers` ([{time, price, side: "BUY"|"SELL", text}]) are drawn on
 * the candle holding their time (a buy below it, a sell above) and listed in words.
 */
export function candleChart(el, bars, markers = []) {
  const data = points(bars, (b) => {
    const o = num(b && b.open), hi = num(b && b.high), lo = num(b && b.low), c = num(b && b.close);
    return [o, hi, lo, c].includes(null) ? null : { open: o, high: hi, low: lo, close: c };
  }).map(([time, v]) => ({ time, ...v }));
  el.dataset.points = String(data.length);
  if (!data.length) return noData(el);
  const placed = placeMarkers(data, markers);
  el.dataset.markers = String(placed.length);
  el.innerHTML = "";
  const canvas = document.createElement("div");
  canvas.className = "chart-canvas";
  el.append(canvas);
  const chart = baseChart(canvas);
  const series = chart.addSeries(CandlestickSeries, {
    upColor: "#22c55e", downColor: "#ef4444", borderVisible: false, wickUpColor: "#22c55e", wickDownColor: "#ef4444",
  });
  series.setData(data);
  if (placed.length) {
    createSeriesMarkers(series, placed.map((m) => ({
      time: m.time,
      position: m.buy ? "belowBar" : "aboveBar",
      shape: m.buy ? "arrowUp" : "arrowDown",
      color: m.buy ? "#22c55e" : "#f87171",
      text: m.text,
    })));
    const list = document.createElement("p");
    list.className = "chart-legend small";
    list.dataset.testid = "chart-markers";
    list.innerHTML = placed.map((m) => `<span class="marker-${m.buy ? "buy" : "sell"}">${m.buy ? "▲" : "▼"} ${esc(m.text)} at ${esc(nyLabel(m.at, false))} ET</span>`).join("");
    el.append(list);
  }
  chart.timeScale().fitContent();
  return chart;
}

/** Markers within the bars' span, each on the last bar opening at or before it, in time order. */
function placeMarkers(data, markers) {
  const out = [];
  for (const m of arr(markers)) {
    const ms = tsMs(m && m.time);
    if (ms === null) continue;
    const at = Math.floor(ms / 1000);
    let bar = null;
    for (const d of data) if (d.time <= at) bar = d;
    if (bar === null || at - bar.time > 3600) continue;
    out.push({ time: bar.time, at, buy: String(m.side).toUpperCase() === "BUY", text: String(m.text ?? m.side ?? "") });
  }
  return out.sort((a, b) => a.at - b.at);
}

function noData(el) {
  el.innerHTML = '<p class="muted chart-empty">No data yet.</p>';
  return null;
}

export function removeChart(chart) {
  if (!chart) return;
  live.delete(chart);
  chart.remove();
}

export function disposeCharts() {
  for (const c of live) {
    try {
      c.remove();
    } catch {
      /* already gone */
    }
  }
  live.clear();
}
