// Thin wrappers over lightweight-charts (from npm) with New York time on the axis.
import { AreaSeries, CandlestickSeries, HistogramSeries, createChart, createSeriesMarkers } from "lightweight-charts";
import { arr, num, tsMs } from "./format.js";

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

export function lineChart(el, items, key, { color = "#38bdf8", negative = false, percent = false } = {}) {
  const data = points(items, (it) => num(it && it[key])).map(([time, value]) => ({ time, value }));
  if (!data.length) return noData(el);
  const chart = baseChart(el);
  const series = negative
    ? chart.addSeries(HistogramSeries, { color: "#f87171" })
    : chart.addSeries(AreaSeries, { lineColor: color, topColor: `${color}55`, bottomColor: `${color}05`, lineWidth: 2 });
  if (percent) series.applyOptions({ priceFormat: { type: "custom", minMove: 0.0001, formatter: (v) => `${(v * 100).toFixed(1)}%` } });
  series.setData(data);
  chart.timeScale().fitContent();
  return chart;
}

/** Candles; optional `markers` [{ts, text, side: "BUY"|"SELL"}] are drawn on the bar of their minute. */
export function candleChart(el, bars, { markers = [] } = {}) {
  const data = points(bars, (b) => {
    const o = num(b && b.open), hi = num(b && b.high), lo = num(b && b.low), c = num(b && b.close);
    return [o, hi, lo, c].includes(null) ? null : { open: o, high: hi, low: lo, close: c };
  }).map(([time, v]) => ({ time, ...v }));
  if (!data.length) return noData(el);
  const chart = baseChart(el);
  const series = chart.addSeries(CandlestickSeries, {
    upColor: "#22c55e", downColor: "#ef4444", borderVisible: false, wickUpColor: "#22c55e", wickDownColor: "#ef4444",
  });
  series.setData(data);
  const marks = points(markers, (m) => m).map(([t, m]) => {
    const bar = [...data].reverse().find((d) => d.time <= t) ?? data[0];
    const buy = m.side === "BUY";
    return { time: bar.time, position: buy ? "belowBar" : "aboveBar", shape: buy ? "arrowUp" : "arrowDown", color: buy ? "#38bdf8" : "#f59e0b", text: m.text };
  });
  if (marks.length) createSeriesMarkers(series, marks.sort((a, b) => a.time - b.time));
  chart.timeScale().fitContent();
  return chart;
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
