// Settings: automation and risk parameters, and the account risk limits. The API validates;
// a 422 puts each message next to the field it names.
import { ApiError, api } from "../api.js";
import { esc, fmtText, label, obj } from "../format.js";
import { normTrading } from "../normalize.js";
import { flash } from "../ui.js";

// [key, kind, hint]; fractions are edited as fractions (0.02 = 2%), as the API takes them.
const FIELDS = [
  ["masterSwitch", "bool", "Nothing trades while off."],
  ["dataCollection", "bool", ""],
  ["signalGeneration", "bool", ""],
  ["tradeExecution", "bool", "Needs risk management on."],
  ["riskManagement", "bool", ""],
  ["maxPositions", "int", "1 – 20 open positions"],
  ["maxDayTrades", "int", "0 – 100 (PDT rule: 3 in 5 sessions under $25k)"],
  ["maxRiskPerTrade", "float", "fraction of equity, > 0 and ≤ 0.10"],
  ["stopLossPercentage", "float", "fraction of premium, > 0 and ≤ 1"],
  ["takeProfitPercentage", "float", "fraction of premium, > 0 and ≤ 10"],
  ["minConfidence", "float", "0 – 1"],
];

// The account risk limits: [key, kind, min, max, step, hint], bounds as in
// domain/controls.py `RiskLimits` (the API enforces them; "> 0" bounds are exclusive there,
// the inputs' min only guides the spinner). POST /api/risk/limits takes any subset.
const LIMITS = [
  ["dailyLossLimit", "float", 0, 0.5, 0.01, "fraction of start-of-day equity, > 0 and ≤ 0.50"],
  ["maxDrawdown", "float", 0, 0.9, 0.01, "fraction of peak equity, > 0 and ≤ 0.90"],
  ["maxConsecutiveLosses", "int", 1, 100, 1, "1 – 100 losing trades in a row"],
  ["minSecondsBetweenTrades", "int", 0, 23400, 1, "0 – 23,400 seconds"],
  ["pdtEquityThresholdUsd", "float", 0, null, 1000, "USD, ≥ 0; the PDT cap applies below it"],
  ["pdtWindowSessions", "int", 1, 20, 1, "1 – 20 sessions"],
  ["maxSpreadFraction", "float", 0, 1, 0.01, "(ask − bid) / mid, > 0 and ≤ 1"],
  ["minDisplayedSize", "int", 1, 10000, 1, "1 – 10,000 contracts on our side"],
  ["maxSymbolExposure", "float", 0, 1, 0.01, "premium per underlying, fraction of equity, > 0 and ≤ 1"],
  ["maxPortfolioDelta", "float", 0, 100, 0.5, "|dollar delta|, > 0 and ≤ 100"],
  ["maxPortfolioGamma", "float", 0, 10, 0.05, "|gamma P&L of a 1% move|, > 0 and ≤ 10"],
];

const limitLabel = (k) => label(k).replace(/^Pdt /, "PDT ");

const toCamel = (s) => String(s).replace(/_([a-z])/g, (_, c) => c.toUpperCase());

export default async function settings(root, ctx) {
  const data = normTrading(await api("/api/trading"));
  ctx.updateHeader(data);
  let current = obj(data.settings);
  let limits = obj(data.riskLimits);
  root.innerHTML = `
    <h1>Settings</h1>
    <form id="settings-form" class="card" novalidate>
      <h2>Automation and per-trade risk</h2>
      <div id="form-error" class="flash flash-error" role="alert" data-testid="form-error" hidden></div>
      <h3 class="subhead">Switches</h3>
      <div class="fields">${FIELDS.filter((f) => f[1] === "bool").map(([k, kind, hint]) => fieldHtml(k, kind, hint)).join("")}</div>
      <h3 class="subhead">Per-trade parameters</h3>
      <div class="fields">${FIELDS.filter((f) => f[1] !== "bool").map(([k, kind, hint]) => fieldHtml(k, kind, hint)).join("")}</div>
      <div class="actions"><button type="submit" class="primary" data-testid="save-settings">Save</button>
        <span id="settings-flash" class="flash" role="status" data-testid="settings-flash" hidden></span></div>
    </form>
    <form id="limits-form" class="card" novalidate data-testid="limits-form">
      <h2>Account risk limits</h2>
      <p class="muted small">Circuit breakers and pre-trade limits of the current mode's account; fractions are edited as fractions.</p>
      <div id="limits-error" class="flash flash-error" role="alert" data-testid="limits-form-error" hidden></div>
      <div class="fields">${LIMITS.map((f) => limitHtml(...f)).join("")}</div>
      <div id="limits-other"></div>
      <div class="actions"><button type="submit" class="primary" data-testid="save-limits">Save limits</button>
        <span id="limits-flash" class="flash" role="status" data-testid="limits-flash" hidden></span></div>
    </form>`;

  function fieldHtml(k, kind, hint) {
    const input = kind === "bool"
      ? `<input type="checkbox" id="f-${k}" name="${k}" data-testid="field-${k}" />`
      : `<input type="number" id="f-${k}" name="${k}" data-testid="field-${k}" step="${kind === "int" ? "1" : "any"}" inputmode="decimal" />`;
    return `<div class="field ${kind === "bool" ? "field-bool" : ""}" data-field="${k}">
      <label for="f-${k}">${esc(label(k))}</label>${input}
      ${hint ? `<small class="muted">${esc(hint)}</small>` : ""}
      <p class="field-error" id="err-${k}" data-testid="error-${k}" role="alert" hidden></p></div>`;
  }

  function limitHtml(k, kind, min, max, step, hint) {
    const bounds = `${min === null ? "" : `min="${min}"`} ${max === null ? "" : `max="${max}"`} step="${step}"`;
    return `<div class="field" data-field="${k}">
      <label for="l-${k}">${esc(limitLabel(k))}</label>
      <input type="number" id="l-${k}" name="${k}" data-testid="limit-${k}" ${bounds} inputmode="${kind === "int" ? "numeric" : "decimal"}" />
      <small class="muted">${esc(hint)}</small>
      <p class="field-error" id="lerr-${k}" data-testid="limit-error-${k}" role="alert" hidden></p></div>`;
  }

  function fillLimits() {
    for (const [k] of LIMITS) {
      const v = limits[k];
      const el = root.querySelector(`#l-${k}`);
      el.value = v === undefined || v === null ? "" : String(v);
      el.placeholder = v === undefined || v === null ? "—" : "";
    }
    // Limits the API has and this page does not know yet: shown, not editable.
    const other = Object.entries(limits).filter(([k]) => !LIMITS.some(([n]) => n === k));
    root.querySelector("#limits-other").innerHTML = other.length
      ? `<dl class="kv">${other.map(([k, v]) => `<dt>${esc(label(k))}</dt><dd>${esc(fmtText(v))}</dd>`).join("")}</dl>`
      : "";
  }

  function fill() {
    for (const [k, kind] of FIELDS) {
      const el = root.querySelector(`#f-${k}`);
      if (kind === "bool") {
        el.checked = current[k] === true;
        el.indeterminate = typeof current[k] !== "boolean";
      } else {
        el.value = current[k] === undefined || current[k] === null ? "" : String(current[k]);
      }
    }
  }

  // The two forms: their element, field keys, per-field error ids and form-level error box.
  const SETTINGS = { form: "#settings-form", keys: FIELDS.map(([k]) => k), err: (k) => `#err-${k}`, formErr: "#form-error" };
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
      const msg = fmtText(d && d.msg).replace(/^Value error, /, "");
      if (key) {
        const el = root.querySelector(spec.err(key));
        el.textContent = el.textContent ? `${el.textContent}; ${msg}` : msg;
        el.hidden = false;
        el.closest(".field").classList.add("invalid");
      } else {
        general.push(msg);
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

  root.querySelector("#settings-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    const changes = {};
    for (const [k, kind] of FIELDS) {
      const el = root.querySelector(`#f-${k}`);
      if (kind === "bool") {
        if (!el.indeterminate && el.checked !== current[k]) changes[k] = el.checked;
      } else if (el.value.trim() !== "" && String(current[k]) !== el.value.trim()) {
        const n = Number(el.value);
        changes[k] = Number.isFinite(n) ? n : el.value;
      }
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
      flash(flashEl, `Saved: ${Object.keys(changes).map(label).join(", ")}.`);
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
    const changes = {};
    for (const [k] of LIMITS) {
      const text = root.querySelector(`#l-${k}`).value.trim();
      if (text === "" || String(limits[k]) === text) continue;
      const n = Number(text);
      if (Number.isFinite(n) && n === Number(limits[k])) continue; // "0.050" is still 0.05
      changes[k] = Number.isFinite(n) ? n : text;
    }
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
      flash(flashEl, `Saved: ${Object.keys(changes).map(limitLabel).join(", ")}.`);
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
  fill();
  fillLimits();
}
