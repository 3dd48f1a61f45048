// The learning workflow's walk-forward parameter optimization per rule strategy, as
// GET /api/analytics/optimization/{strategy} serves it: recommended vs default parameters and
// their out-of-sample results. A report only: nothing here changes what the strategies trade with.
import { api } from "./api.js";
import { arr, esc, fmtInt, fmtMoney, fmtPct, fmtText, fmtTime, label, obj, signClass } from "./format.js";
import { table } from "./ui.js";

export const STRATEGIES = ["momentum_breakout", "mean_reversion", "gap_fill", "vix_spike"];

async function fetchOne(strategy) {
  try {
    return { strategy, ...obj(await api(`/api/analytics/optimization/${encodeURIComponent(strategy)}`)) };
  } catch (err) {
    return { strategy, optimization: null, note: `could not load: ${err.message}` };
  }
}

function params(recommended, defaults) {
  const names = [...new Set([...Object.keys(obj(recommended)), ...Object.keys(obj(defaults))])];
  if (!names.length) return '<span class="muted">—</span>';
  return names
    .map((n) => {
      const r = obj(recommended)[n];
      const d = obj(defaults)[n];
      const changed = JSON.stringify(r) !== JSON.stringify(d);
      return `<div><code>${esc(n)}</code> ${changed ? `<strong>${esc(fmtText(r))}</strong>` : esc(fmtText(r))} <span class="muted">(default ${esc(fmtText(d))})</span></div>`;
    })
    .join("");
}

function oos(m) {
  const v = obj(m);
  return `<span class="${signClass(v.netPnlUsd)}">${fmtMoney(v.netPnlUsd)}</span><div class="muted">${fmtInt(v.trades)} trades, win ${fmtPct(v.winRate)}</div>`;
}

function row(r) {
  const o = r.optimization && typeof r.optimization === "object" ? r.optimization : null;
  if (!o) return { strategy: r.strategy, note: r.note || "no optimization result" };
  return { strategy: r.strategy, o, s: obj(o.summary) };
}

function render(rows) {
  return table(
    [
      {
        label: "Strategy",
        cls: "wrap",
        render: (r) =>
          `<strong>${esc(label(r.strategy))}</strong>` +
          (r.o
            ? `<div class="muted">${esc(fmtText(r.o.source))}, ${fmtInt(arr(r.o.folds).length)} folds</div><div class="muted">generated ${esc(fmtTime(r.o.generatedAt, { date: true }))}</div>`
            : ""),
      },
      {
        label: "Recommended (vs default)",
        cls: "wrap",
        render: (r) => (r.o ? params(r.s.recommendedParams, r.o.defaultParams) : `<span class="muted">${esc(r.note)}</span>`),
      },
      { label: "OOS walk-forward", cls: "num", render: (r) => (r.o ? oos(r.s.outOfSample) : "—") },
      { label: "OOS defaults", cls: "num", render: (r) => (r.o ? oos(r.s.defaultOutOfSample) : "—") },
      { label: "Beats defaults", render: (r) => (r.o ? (r.s.beatsDefaults === true ? "yes" : "no") : "—") },
    ],
    rows,
    { empty: "No strategies.", testid: "optimization-table", stack: true },
  );
}

/** Fills `container` with every strategy's optimization summary; `alive()` false stops it. */
export async function showOptimization(container, alive) {
  const results = await Promise.all(STRATEGIES.map(fetchOne));
  if (!alive()) return;
  container.innerHTML = render(results.map(row));
}
