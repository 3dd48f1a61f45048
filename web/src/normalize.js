// Maps API responses onto the shapes the pages render. Accepts both the dashboard's
// contract (flat fields such as `pnl`, `positions`, `emergencyStop`) and the API Lambda's
// richer shapes (`controls`, `counters`, `openPositions`, `market`, health as a list), so a
// field added or renamed on one side degrades to "—" instead of breaking a page.
import { arr, num, obj } from "./format.js";

const toCamel = (s) => String(s).replace(/[_-]([a-z])/g, (_, c) => c.toUpperCase());

export function normHealth(h) {
  const comps = obj(h).components;
  if (!Array.isArray(comps)) return { components: obj(comps) };
  const out = {};
  for (const c of comps) if (c && c.name) out[toCamel(c.name)] = c;
  return { components: out };
}

function controlsView(d) {
  const c = obj(d.controls);
  const change = obj(c.emergencyStopChange);
  return {
    tradingState: d.tradingState ?? c.tradingState,
    paused: d.paused ?? c.paused,
    emergencyStop: d.emergencyStop && typeof d.emergencyStop === "object"
      ? d.emergencyStop
      : typeof c.emergencyStop === "boolean"
        ? { active: c.emergencyStop, by: change.actor, reason: change.reason, at: change.at }
        : undefined,
    stateReason: c.stateReason,
  };
}

export function normPositions(list) {
  return arr(list).filter((p) => p && typeof p === "object").map((p) => ({
    ...p,
    id: p.id ?? p.positionId,
    unrealizedPnl: p.unrealizedPnl ?? p.unrealizedPnlUsd,
    symbol: p.symbol ?? p.underlying,
  }));
}

export function normCurve(list) {
  return arr(list).filter((p) => p && typeof p === "object").map((p) => ({
    ts: p.ts ?? p.sessionDate ?? p.date,
    equity: p.equity ?? p.equityUsd,
    drawdown: p.drawdown,
  }));
}

export function normTrading(raw) {
  const d = obj(raw);
  return {
    ...d,
    ...controlsView(d),
    settings: d.settings ?? d.automation,
    positions: normPositions(d.positions ?? d.openPositions),
  };
}

export function normDashboard(raw) {
  const d = obj(raw);
  const counters = obj(d.counters);
  let pnl = d.pnl;
  if (!pnl && (counters.realizedPnlUsd !== undefined || d.unrealizedPnlUsd !== undefined)) {
    const r = num(counters.realizedPnlUsd), u = num(d.unrealizedPnlUsd);
    pnl = {
      realized: r, unrealized: u, today: r === null && u === null ? null : (r ?? 0) + (u ?? 0),
      fees: num(counters.commissionsUsd), realizedGross: num(counters.realizedGrossPnlUsd),
    };
  }
  let market = d.marketStatus;
  if (!market && d.market) {
    const m = obj(d.market);
    market = {
      phase: m.phase,
      nextChangeEt: m.nextEventAt,
      nextEvent: m.nextEvent,
      secondsToNextChange: m.secondsToNextEvent,
      session: { open: m.openEt, close: m.closeEt, flatten: m.flattenEt, earlyClose: m.earlyClose },
    };
  }
  return {
    ...d,
    ...controlsView(d),
    pnl,
    marketStatus: market,
    automation: d.automation ?? d.settings,
    equityCurve: d.equityCurve === undefined ? undefined : normCurve(d.equityCurve),
    recentSignals: arr(d.recentSignals),
  };
}

export function normAnalytics(raw) {
  const d = obj(raw);
  const curve = normCurve(d.equityCurve);
  let metrics = d.metrics;
  if (!metrics) {
    const trades = obj(d.trades);
    metrics = {};
    for (const k of ["totalReturn", "sharpe", "sortino", "maxDrawdown", "startingEquityUsd"]) if (k in d) metrics[k] = d[k];
    for (const [k, v] of Object.entries(trades)) metrics[k === "trades" ? "totalTrades" : k] = v;
  }
  return {
    ...d,
    metrics,
    equityCurve: curve,
    drawdown: d.drawdown ?? curve.map((p) => ({ ts: p.ts, drawdown: num(p.drawdown) === null ? null : -Math.abs(num(p.drawdown)) })),
  };
}
