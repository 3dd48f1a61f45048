// Settings in the trader's units: the account's gauges, the automation settings and the account
// risk limits. Percentages are typed and shown in percent ("15" is 15%) with their dollar amount
// beside them; the API stores them as fractions (0.15), the unit the engine reads, and this page
// converts both ways. The API validates; a 422 puts each message next to the field it names,
// in percent for a percent field.
import { ApiError, api } from "../api.js";
import { esc, fmtMoney, fmtPct, fmtText, label, num, obj } from "../format.js";
import { normTrading } from "../normalize.js";
import { flash } from "../ui.js";

// [key, kind, bounds, hint]: kind "bool", "int", "pct" (a fraction shown in percent), "usd" or
// "sizing"; bounds as in domain/controls.py `AutomationSettings` ({gt|ge, le|lt}, in the API's
// unit), shown to the user in the field's unit.
const FIELDS = [
  ["masterSwitch", "bool", null, "Nothing trades while off."],
  ["dataCollection", "bool", null, ""],
  ["signalGeneration", "bool", null, ""],
  ["tradeExecution", "bool", null, "Needs risk management on."],
  ["riskManagement", "bool", null, ""],
  ["maxPositions", "int", { ge: 1, le: 20 }, "open positions"],
  ["maxDayTrades", "int", { ge: 0, le: 100 }, "PDT rule: 3 in 5 sessions under $25,000"],
  ["maxRiskPerTrade", "pct", { gt: 0, le: 0.1 }, "of equity, the premium one entry may risk"],
  ["stopLossPercentage", "pct", { gt: 0, le: 1 }, "loss on the premium paid that exits"],
  ["takeProfitPercentage", "pct", { gt: 0, le: 10 }, "gain on the premium paid that exits"],
  ["trailingStopPercentage", "pct", { ge: 0, lt: 1 }, "below the best bid since entry; 0 = off"],
  ["minConfidence", "pct", { ge: 0, le: 1 }, "a signal below it is not traded"],
  ["sizingMethod", "sizing", null, ""],
  ["startingEquityUsd", "usd", { ge: 1, le: 1e9 }, "the account's equity on its first session (paper)"],
];

const SIZING = [
  ["fixed_fractional", "Fixed fractional: risk per trade of equity"],
  ["half_kelly", "Half-Kelly: from the confidence, capped at risk per trade"],
  ["volatility_adjusted", "Volatility-adjusted: less when VIX is high"],
];

// The account risk limits: [key, kind, bounds, step, hint], bounds as in domain/controls.py
// `RiskLimits`. POST /api/risk/limits takes any subset.
const LIMITS = [
  ["dailyLossLimit", "pct", { gt: 0, le: 0.5 }, 0.5, "of the day's starting equity"],
  ["maxDrawdown", "pct", { gt: 0, le: 0.9 }, 0.5, "of the peak equity"],
  ["maxConsecutiveLosses", "int", { ge: 1, le: 100 }, 1, "losing trades in a row"],
  ["minSecondsBetweenTrades", "int", { ge: 0, le: 23400 }, 1, "seconds between entries"],
  ["pdtEquityThresholdUsd", "usd", { ge: 0 }, 1000, "the PDT cap applies below it"],
  ["pdtWindowSessions", "int", { ge: 1, le: 20 }, 1, "sessions"],
  ["maxSpreadFraction", "pct", { gt: 0, le: 1 }, 1, "(ask − bid) / mid"],
  ["minDisplayedSize", "int", { ge: 1, le: 10000 }, 1, "contracts on our side"],
  ["maxSymbolExposure", "pct", { gt: 0, le: 1 }, 0.5, "premium per underlying, of equity"],
  ["maxPortfolioDelta", "float", { gt: 0, le: 100 }, 0.5, "|dollar delta|"],
  ["maxPortfolioGamma", "float", { gt: 0, le: 10 }, 0.05, "|gamma P&L of a 1% move|"],
];

// Notification kinds (domain/controls.py `NotificationLevels`): [key, label, what is sent]. Each takes
// on (every channel, with an alert), silent (Telegram without sound; not emailed) or off.
const NOTIFICATIONS = [
  ["fill", "Fills", "each fill"],
  ["exit", "Exits", "a position closed, with its net P&L"],
  ["limitBreach", "Limit reached", "a risk limit refusing an entry (once a day per limit)"],
  ["circuitBreaker", "Circuit breaker", "the limits reducing or halting trading (once a day)"],
  ["emergencyStop", "Emergency stop", "who pressed it, why, what stopped"],
  ["resume", "Resume", "a resume after a stop or a pause"],
  ["reconciliation", "Reconciliation", "the book and the broker apart; the store repaired"],
  ["openNearClose", "Open near the close", "a position open five minutes before the close"],
  ["flattenFailure", "Flatten failure", "positions left after the flatten"],
  ["feedDown", "Feed down", "the market-data feed down"],
  ["gatewayDown", "Gateway down", "IB Gateway down"],
  ["ibReauthentication", "IB re-authentication", "IB's weekly login is due (Sunday evening)"],
  ["dailyReport", "Daily report", "after the close"],
  ["learning", "Learning", "the nightly model training's result"],
];
const LEVELS = [["on", "On"], ["silent", "Silent"], ["off", "Off"]];

const KINDS = Object.fromEntries([...FIELDS, ...LIMITS].map(([k, kind]) => [k, kind]));
const LABELS = {
  maxRiskPerTrade: "Risk per trade",
  stopLossPercentage: "Stop loss",
  takeProfitPercentage: "Take profit",
  trailingStopPercentage: "Trailing stop",
  minConfidence: "Minimum confidence",
  startingEquityUsd: "Paper starting equity",
  maxSpreadFraction: "Max spread",
};
const fieldLabel = (k) => LABELS[k] ?? label(k).replace(/^Pdt /, "PDT ").replace(/ \(USD\)$/, "");
const toCamel = (s) => String(s).replace(/_([a-z])/g, (_, c) => c.toUpperCase());

/** A stored fraction as the percent typed (0.15 -> 15, no float noise). */
export function toPercent(fraction) {
  return +(Number(fraction) * 100).toPrecision(12);
}

/** A typed percent as the fraction the API stores (15 -> 0.15). */
export function toFraction(percent) {
  return +(Number(percent) / 100).toPrecision(12);
}

/** A bound in the field's own unit: "10%", "$1,000,000,000.00", "20". */
function boundText(kind, v) {
  if (kind === "pct") return `${toPercent(v).toLocaleString("en-US")}%`;
  if (kind === "usd") return fmtMoney(v);
  return Number(v).toLocaleString("en-US");
}

/** "more than 0% and at most 10%": the bounds of a field in its unit. */
function rangeText(kind, b) {
  if (!b) return "";
  const parts = [];
  if (b.gt !== undefined) parts.push(`more than ${boundText(kind, b.gt)}`);
  if (b.ge !== undefined) parts.push(`at least ${boundText(kind, b.ge)}`);
  if (b.lt !== undefined) parts.push(`less than ${boundText(kind, b.lt)}`);
  if (b.le !== undefined) parts.push(`at most ${boundText(kind, b.le)}`);
  return parts.join(" and ");
}

/** The API's error on a field in the field's unit: a percent field's limits in percent. */
function errorText(key, detail) {
  const msg = fmtText(detail && detail.msg).replace(/^Value error, /, "");
  const ctx = obj(detail && detail.ctx);
  const kind = KINDS[key];
  const limits = ["gt", "ge", "lt", "le"].filter((k) => num(ctx[k]) !== null);
  if (kind === "pct" && limits.length) {
    return `${fieldLabel(key)} must be ${rangeText(kind, { [limits[0]]: ctx[limits[0]] })}`;
  }
  return msg;
}

export default async function settings(root, ctx) {
  const data = normTrading(await api("/api/trading"));
  ctx.updateHeader(data);
  let current = obj(data.settings);
  let limits = obj(data.riskLimits);
  let account = null;
  root.innerHTML = `
    <h1>Settings</h1>
    <section class="card" data-testid="account-card">
      <h2>Account</h2>
      <div id="account" class="empty-state">Equity, buying power, today's loss and the drawdown against their limits appear here once the API reports the account.</div>
    </section>
    <form id="settings-form" class="card" novalidate>
      <h2>Automation and per-trade risk</h2>
      <p class="muted small">Percentages are typed in percent: 15 means 15%.</p>
      <div id="form-error" class="flash flash-error" role="alert" data-testid="form-error" hidden></div>
      <h3 class="subhead">Switches</h3>
      <div class="fields">${FIELDS.filter((f) => f[1] === "bool").map((f) => fieldHtml("f", ...f)).join("")}</div>
      <h3 class="subhead">Strategies</h3>
      <div class="fields" id="strategies" data-testid="strategies"><p class="empty-state">The rule strategies appear here, each with its own switch, once the API lists them.</p></div>
      <h3 class="subhead">Per-trade parameters</h3>
      <div class="fields">${FIELDS.filter((f) => f[1] !== "bool").map((f) => fieldHtml("f", ...f)).join("")}</div>
      <div class="actions"><button type="submit" class="primary" data-testid="save-settings">Save</button>
        <span id="settings-flash" class="flash" role="status" data-testid="settings-flash" hidden></span></div>
    </form>
    <form id="limits-form" class="card" novalidate data-testid="limits-form">
      <h2>Account risk limits</h2>
      <p class="muted small">Circuit breakers and pre-trade limits of the current mode's account; percentages in percent.</p>
      <div id="limits-error" class="flash flash-error" role="alert" data-testid="limits-form-error" hidden></div>
      <div class="fields">${LIMITS.map(([k, kind, b, step, hint]) => fieldHtml("l", k, kind, b, hint, step)).join("")}</div>
      <div id="limits-other"></div>
      <div class="actions"><button type="submit" class="primary" data-testid="save-limits">Save limits</button>
        <span id="limits-flash" class="flash" role="status" data-testid="limits-flash" hidden></span></div>
    </form>
    <form id="notify-form" class="card" novalidate data-testid="notify-form">
      <h2>Notifications</h2>
      <p class="muted small">Per kind, for the current mode: on goes to every channel with an alert, silent only to Telegram without sound (email cannot be silent, so it is not emailed), off nowhere.</p>
      <div id="notify-error" class="flash flash-error" role="alert" data-testid="notify-error" hidden></div>
      <div class="fields" id="notify-fields"></div>
      <div class="actions"><button type="submit" class="primary" data-testid="save-notifications">Save notifications</button>
        <span id="notify-flash" class="flash" role="status" data-testid="notify-flash" hidden></span></div>
    </form>`;

  // "f": a setting (ids f-, err-; test ids field-, error-); "l": a limit (l-, lerr-; limit-, limit-error-).
  function fieldHtml(p, k, kind, b, hint, step) {
    const testid = p === "f" ? `field-${k}` : `limit-${k}`;
    const errid = p === "f" ? `err-${k}` : `lerr-${k}`;
    const errTestid = p === "f" ? `error-${k}` : `limit-error-${k}`;
    let input;
    if (kind === "bool") {
      input = `<input type="checkbox" id="${p}-${k}" name="${k}" data-testid="${testid}" />`;
    } else if (kind === "sizing") {
      input = `<select id="${p}-${k}" name="${k}" data-testid="${testid}">${SIZING.map(([v, t]) => `<option value="${v}">${esc(t)}</option>`).join("")}</select>`;
    } else {
      const shown = (v) => (kind === "pct" ? toPercent(v) : v);
      const min = b && (b.ge ?? b.gt);
      const max = b && (b.le ?? b.lt);
      const attrs = `${min === undefined || min === null ? "" : `min="${shown(min)}"`} ${max === undefined || max === null ? "" : `max="${shown(max)}"`}`;
      const stepAttr = kind === "int" ? "1" : step ?? "any";
      const box = `<input type="number" id="${p}-${k}" name="${k}" data-testid="${testid}" ${attrs} step="${stepAttr}" inputmode="${kind === "int" ? "numeric" : "decimal"}" />`;
      input = kind === "pct" ? `<span class="input-unit">${box}<span class="unit">%</span></span>`
        : kind === "usd" ? `<span class="input-unit"><span class="unit">$</span>${box}</span>` : box;
    }
    const range = rangeText(kind, b);
    const note = [hint, range].filter(Boolean).join("; ");
    return `<div class="field ${kind === "bool" ? "field-bool" : ""}" data-field="${k}">
      <label for="${p}-${k}">${esc(fieldLabel(k))}</label>${input}
      ${note ? `<small class="muted">${esc(note)}</small>` : ""}
      ${kind === "pct" || kind === "usd" ? `<small class="dollars" data-testid="dollars-${k}"></small>` : ""}
      <p class="field-error" id="${errid}" data-testid="${errTestid}" role="alert" hidden></p></div>`;
  }

  const inputValue = (kind, v) => (v === undefined || v === null ? "" : kind === "pct" ? String(toPercent(v)) : String(v));

  // --- the dollar amounts beside the percentages ---------------------------------------------------

  function typedFraction(prefix, k) {
    const el = root.querySelector(`#${prefix}-${k}`);
    const n = el && el.value.trim() !== "" ? Number(el.value) : NaN;
    return Number.isFinite(n) ? toFraction(n) : null;
  }

  function dollars() {
    const a = account;
    const equity = a ? num(a.equityUsd) : null;
    const set = (k, text) => {
      const el = root.querySelector(`[data-testid=dollars-${k}]`);
      if (el) el.textContent = text;
    };
    const risk = typedFraction("f", "maxRiskPerTrade");
    const perTrade = equity !== null && risk !== null ? equity * risk : null;
    set("maxRiskPerTrade", perTrade === null ? "" : `${fmtPct(risk)} = ${fmtMoney(perTrade)} per trade at ${fmtMoney(equity)}`);
    const stop = typedFraction("f", "stopLossPercentage");
    set("stopLossPercentage", perTrade === null || stop === null ? ""
      : `a ${fmtMoney(perTrade)} position exits after losing ${fmtMoney(perTrade * stop)}`);
    const target = typedFraction("f", "takeProfitPercentage");
    set("takeProfitPercentage", perTrade === null || target === null ? ""
      : `a ${fmtMoney(perTrade)} position exits after gaining ${fmtMoney(perTrade * target)}`);
    const trail = typedFraction("f", "trailingStopPercentage");
    set("trailingStopPercentage", trail === null ? "" : trail === 0 ? "off"
      : `sells when the bid falls ${fmtPct(trail)} below its best since entry`);
    set("minConfidence", "");
    const start = a ? num(a.startingEquityUsd) : null;
    const peak = a ? num(a.peakEquityUsd) : null;
    const daily = typedFraction("l", "dailyLossLimit");
    set("dailyLossLimit", start === null || daily === null ? ""
      : `${fmtPct(daily)} = ${fmtMoney(start * daily)} of today's starting ${fmtMoney(start)}`);
    const dd = typedFraction("l", "maxDrawdown");
    set("maxDrawdown", peak === null || dd === null ? "" : `${fmtPct(dd)} = ${fmtMoney(peak * dd)} below the peak ${fmtMoney(peak)}`);
    const exposure = typedFraction("l", "maxSymbolExposure");
    set("maxSymbolExposure", equity === null || exposure === null ? ""
      : `${fmtPct(exposure)} = ${fmtMoney(equity * exposure)} of premium per underlying at ${fmtMoney(equity)}`);
    set("maxSpreadFraction", "");
    set("startingEquityUsd", a && a.planned ? "this session started with " + fmtMoney(a.startingEquityUsd) : "");
    set("pdtEquityThresholdUsd", equity === null ? "" : equity < (num(limits.pdtEquityThresholdUsd) ?? 0)
      ? `equity ${fmtMoney(equity)} is below it: the day-trade cap applies` : `equity ${fmtMoney(equity)} is above it`);
  }

  // --- the account gauges --------------------------------------------------------------------------

  function gaugeHtml(id, title, g) {
    const used = num(g.usedFraction) ?? 0;
    const limit = num(g.limitFraction);
    const share = limit ? Math.min(1, used / limit) : 0;
    const cls = share >= 1 ? "over" : share >= 0.6 ? "warn" : "";
    return `<div class="gauge ${cls}" data-testid="gauge-${id}">
      <div class="muted small">${esc(title)}</div>
      <div class="big">${fmtMoney(g.usedUsd)} <span class="muted small">of ${fmtMoney(g.limitUsd)}</span></div>
      <div class="bar" role="meter" aria-valuemin="0" aria-valuemax="${esc(fmtText(g.limitFraction))}" aria-valuenow="${esc(String(used))}" aria-label="${esc(title)}"><div class="fill" style="width:${(share * 100).toFixed(1)}%"></div></div>
      <div class="small">${fmtPct(used)} used of the ${fmtPct(limit)} limit</div></div>`;
  }

  function renderAccount() {
    const el = root.querySelector("#account");
    if (!account) return;
    const a = account;
    el.className = "";
    el.innerHTML = `<div class="gauges">
      <div class="gauge" data-testid="account-equity"><div class="muted small">Account equity</div><div class="big">${fmtMoney(a.equityUsd)}</div>
        <div class="small muted">started the day at ${fmtMoney(a.startingEquityUsd)}${a.planned ? "" : " (no session planned yet: the paper starting equity)"}</div></div>
      <div class="gauge" data-testid="account-buying-power"><div class="muted small">Buying power</div><div class="big">${fmtMoney(a.buyingPowerUsd)}</div>
        <div class="small muted">cash after open positions (${fmtMoney(a.positionsValueUsd)}) and working buys (${fmtMoney(a.workingBuysUsd)})</div></div>
      ${gaugeHtml("daily-loss", "Today's loss against the daily loss limit", obj(a.dailyLoss))}
      ${gaugeHtml("drawdown", "Drawdown against its limit", obj(a.drawdown))}
    </div>`;
  }

  function renderStrategies() {
    const el = root.querySelector("#strategies");
    const names = account && Array.isArray(account.strategies) ? account.strategies : [];
    if (!names.length) return;
    const off = new Set(Array.isArray(current.disabledStrategies) ? current.disabledStrategies : []);
    el.innerHTML = names.map((n) => `<div class="field field-bool" data-field="strategy-${esc(n)}">
      <label for="s-${esc(n)}">${esc(label(n).replace(/^Vix /, "VIX "))}</label>
      <input type="checkbox" id="s-${esc(n)}" data-strategy="${esc(n)}" data-testid="strategy-${esc(n)}" ${off.has(n) ? "" : "checked"} /></div>`).join("")
      + `<p class="field-error" id="err-disabledStrategies" data-testid="error-disabledStrategies" role="alert" hidden></p>`;
  }

  async function loadAccount() {
    try {
      account = obj(await api("/api/account"));
    } catch (err) {
      if (!ctx.alive() || (err instanceof ApiError && err.status === 401)) return;
      root.querySelector("#account").textContent = `The account could not be read (${err.message}); its equity, buying power and gauges appear here when it can.`;
      return;
    }
    if (!ctx.alive()) return;
    renderAccount();
    renderStrategies();
    dollars();
  }

  // --- filling and saving --------------------------------------------------------------------------

  function fillLimits() {
    for (const [k, kind] of LIMITS) {
      const el = root.querySelector(`#l-${k}`);
      el.value = inputValue(kind, limits[k]);
      el.placeholder = limits[k] === undefined || limits[k] === null ? "—" : "";
    }
    // Limits the API has and this page does not know yet: shown, not editable.
    const other = Object.entries(limits).filter(([k]) => !LIMITS.some(([n]) => n === k));
    root.querySelector("#limits-other").innerHTML = other.length
      ? `<dl class="kv">${other.map(([k, v]) => `<dt>${esc(label(k))}</dt><dd>${esc(fmtText(v))}</dd>`).join("")}</dl>`
      : "";
    dollars();
  }

  function fill() {
    for (const [k, kind] of FIELDS) {
      const el = root.querySelector(`#f-${k}`);
      if (kind === "bool") {
        el.checked = current[k] === true;
        el.indeterminate = typeof current[k] !== "boolean";
      } else if (kind === "sizing") {
        el.value = current[k] ?? SIZING[0][0];
      } else {
        el.value = inputValue(kind, current[k]);
      }
    }
    renderStrategies();
    dollars();
  }

  // The two forms: their element, field keys, per-field error ids and form-level error box.
  const SETTINGS = { form: "#settings-form", keys: [...FIELDS.map(([k]) => k), "disabledStrategies"], err: (k) => `#err-${k}`, formErr: "#form-error" };
  const LIMIT_FORM = { form: "#limits-form", keys: LIMITS.map(([k]) => k), err: (k) => `#lerr-${k}`, formErr: "#limits-error" };

  function clearErrors(spec = SETTINGS) {
    const form = root.querySelector(spec.form);
    form.querySelectorAll(".field-error").forEach((e) => { e.hidden = true; e.textContent = ""; });
    form.querySelectorAll(".field.invalid").forEach((e) => e.classList.remove("invalid"));
    root.querySelector(spec.formErr).hidden = true;
  }

  function showErrors(err, spec = SETTINGS) {
    const body = obj(err.body);
    const detail = Array.isArray(body.detail) ? [...body.detail] : [];
    // An API error naming one field: {"message": ..., "field": "maxPositions"}.
    if (!detail.length && typeof body.field === "string") detail.push({ loc: [body.field], msg: body.message ?? err.message });
    const general = [];
    for (const d of detail) {
      const loc = Array.isArray(d && d.loc) ? d.loc : [];
      const key = loc.map(toCamel).reverse().find((p) => spec.keys.includes(p));
      const el = key ? root.querySelector(spec.err(key)) : null;
      if (el) {
        const msg = errorText(key, d);
        el.textContent = el.textContent ? `${el.textContent}; ${msg}` : msg;
        el.hidden = false;
        (el.closest(".field") ?? el).classList.add("invalid");
      } else {
        general.push(fmtText(d && d.msg).replace(/^Value error, /, ""));
      }
    }
    if (general.length || !detail.length) {
      const formErr = root.querySelector(spec.formErr);
      formErr.textContent = general.length ? general.join("; ") : err.message;
      formErr.hidden = false;
    }
    const first = root.querySelector(`${spec.form} .field.invalid input`);
    if (first) first.focus();
  }

  /** What the form changes, in the API's units ({} when nothing). */
  function changesOf(prefix, fields, stored) {
    const changes = {};
    for (const [k, kind] of fields) {
      const el = root.querySelector(`#${prefix}-${k}`);
      if (kind === "bool") {
        if (!el.indeterminate && el.checked !== stored[k]) changes[k] = el.checked;
        continue;
      }
      const text = el.value.trim();
      if (text === "" || text === inputValue(kind, stored[k])) continue;
      if (kind === "sizing") {
        changes[k] = text;
        continue;
      }
      const n = Number(text);
      if (!Number.isFinite(n)) {
        changes[k] = text; // the API names what is wrong with it
        continue;
      }
      const value = kind === "pct" ? toFraction(n) : n;
      if (value !== Number(stored[k])) changes[k] = value; // "5.0" is still 5
    }
    return changes;
  }

  root.querySelector("#settings-form").addEventListener("input", dollars);
  root.querySelector("#limits-form").addEventListener("input", dollars);

  root.querySelector("#settings-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    const changes = changesOf("f", FIELDS, current);
    const boxes = [...root.querySelectorAll("#strategies [data-strategy]")];
    if (boxes.length) {
      const off = boxes.filter((b) => !b.checked).map((b) => b.dataset.strategy);
      const before = Array.isArray(current.disabledStrategies) ? current.disabledStrategies : [];
      if (off.length !== before.length || off.some((n) => !before.includes(n))) changes.disabledStrategies = off;
    }
    const flashEl = root.querySelector("#settings-flash");
    if (!Object.keys(changes).length) {
      flash(flashEl, "No changes.");
      return;
    }
    try {
      const saved = obj(await api("/api/automation/settings", { method: "POST", body: changes }));
      current = Object.keys(saved).length ? obj(saved.settings ?? saved) : { ...current, ...changes };
      fill();
      flash(flashEl, `Saved: ${Object.keys(changes).map((k) => (k === "disabledStrategies" ? "Strategies" : fieldLabel(k))).join(", ")}.`);
      loadAccount();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) showErrors(err);
      else if (!(err instanceof ApiError && err.status === 401)) {
        root.querySelector("#form-error").textContent = err.message;
        root.querySelector("#form-error").hidden = false;
      }
    }
  });
  root.querySelector("#limits-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(LIMIT_FORM);
    const flashEl = root.querySelector("#limits-flash");
    flashEl.hidden = true;
    const changes = changesOf("l", LIMITS, limits);
    if (!Object.keys(changes).length) {
      flash(flashEl, "No changes.");
      return;
    }
    const btn = root.querySelector("[data-testid=save-limits]");
    btn.disabled = true;
    try {
      const saved = obj(await api("/api/risk/limits", { method: "POST", body: changes }));
      // Reload what the API now holds; the POST's answer stands in if that read fails.
      const fresh = await api("/api/trading").then(normTrading, () => null);
      if (!ctx.alive()) return;
      if (fresh) ctx.updateHeader(fresh);
      limits = fresh && Object.keys(obj(fresh.riskLimits)).length
        ? obj(fresh.riskLimits)
        : Object.keys(obj(saved.riskLimits)).length ? obj(saved.riskLimits) : { ...limits, ...changes };
      fillLimits();
      flash(flashEl, `Saved: ${Object.keys(changes).map(fieldLabel).join(", ")}.`);
      loadAccount();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) showErrors(err, LIMIT_FORM);
      else if (!(err instanceof ApiError && err.status === 401)) {
        root.querySelector("#limits-error").textContent = err.message;
        root.querySelector("#limits-error").hidden = false;
      }
    } finally {
      btn.disabled = false;
    }
  });
  // --- notifications ---------------------------------------------------------------------------------

  function fillNotifications() {
    const levels = obj(current.notifications);
    const el = root.querySelector("#notify-fields");
    if (!Object.keys(levels).length) {
      el.innerHTML = `<p class="empty-state">The API reports no notification levels.</p>`;
      return;
    }
    el.innerHTML = NOTIFICATIONS.map(([k, name, hint]) => `<div class="field" data-field="notify-${k}">
      <label for="n-${k}">${esc(name)}</label>
      <select id="n-${k}" data-kind="${k}" data-testid="notify-${k}">${LEVELS.map(([v, t]) => `<option value="${v}" ${levels[k] === v ? "selected" : ""}>${t}</option>`).join("")}</select>
      <small class="muted">${esc(hint)}</small></div>`).join("");
  }

  root.querySelector("#notify-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const errEl = root.querySelector("#notify-error");
    errEl.hidden = true;
    const flashEl = root.querySelector("#notify-flash");
    const stored = obj(current.notifications);
    const changes = Object.fromEntries([...root.querySelectorAll("#notify-fields [data-kind]")]
      .filter((el) => el.value !== stored[el.dataset.kind]).map((el) => [el.dataset.kind, el.value]));
    if (!Object.keys(changes).length) {
      flash(flashEl, "No changes.");
      return;
    }
    try {
      const saved = obj(await api("/api/automation/settings", { method: "POST", body: { notifications: changes } }));
      current = Object.keys(obj(saved.settings)).length ? obj(saved.settings) : { ...current, notifications: { ...stored, ...changes } };
      fillNotifications();
      const names = Object.fromEntries(NOTIFICATIONS.map(([k, name]) => [k, name]));
      flash(flashEl, `Saved: ${Object.entries(changes).map(([k, v]) => `${names[k]} ${v}`).join(", ")}.`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      errEl.textContent = err.message;
      errEl.hidden = false;
    }
  });

  fill();
  fillLimits();
  fillNotifications();
  await loadAccount();
}
