// Settings: automation and risk parameters. The API validates; a 422 puts each message
// next to the field it names.
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

const toCamel = (s) => String(s).replace(/_([a-z])/g, (_, c) => c.toUpperCase());

export default async function settings(root, ctx) {
  const data = normTrading(await api("/api/trading"));
  ctx.updateHeader(data);
  let current = obj(data.settings);
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
    <section class="card"><h2>Account risk limits</h2><div id="limits"></div></section>`;

  function fieldHtml(k, kind, hint) {
    const input = kind === "bool"
      ? `<input type="checkbox" id="f-${k}" name="${k}" data-testid="field-${k}" />`
      : `<input type="number" id="f-${k}" name="${k}" data-testid="field-${k}" step="${kind === "int" ? "1" : "any"}" inputmode="decimal" />`;
    return `<div class="field ${kind === "bool" ? "field-bool" : ""}" data-field="${k}">
      <label for="f-${k}">${esc(label(k))}</label>${input}
      ${hint ? `<small class="muted">${esc(hint)}</small>` : ""}
      <p class="field-error" id="err-${k}" data-testid="error-${k}" role="alert" hidden></p></div>`;
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
    const limits = obj(data.riskLimits);
    root.querySelector("#limits").innerHTML = Object.keys(limits).length
      ? `<dl class="kv">${Object.entries(limits).map(([k, v]) => `<dt>${esc(label(k))}</dt><dd>${esc(fmtText(v))}</dd>`).join("")}</dl>`
      : '<p class="muted">—</p>';
  }

  function clearErrors() {
    root.querySelectorAll(".field-error").forEach((e) => { e.hidden = true; e.textContent = ""; });
    root.querySelectorAll(".field.invalid").forEach((e) => e.classList.remove("invalid"));
    root.querySelector("#form-error").hidden = true;
  }

  function showErrors(err) {
    const body = obj(err.body);
    const detail = Array.isArray(body.detail) ? [...body.detail] : [];
    // An API error naming one field: {"message": ..., "field": "maxPositions"}.
    if (!detail.length && typeof body.field === "string") detail.push({ loc: [body.field], msg: body.message ?? err.message });
    const general = [];
    for (const d of detail) {
      const loc = Array.isArray(d && d.loc) ? d.loc : [];
      const key = loc.map(toCamel).reverse().find((p) => FIELDS.some(([k]) => k === p));
      const msg = fmtText(d && d.msg).replace(/^Value error, /, "");
      if (key) {
        const el = root.querySelector(`#err-${key}`);
        el.textContent = el.textContent ? `${el.textContent}; ${msg}` : msg;
        el.hidden = false;
        el.closest(".field").classList.add("invalid");
      } else {
        general.push(msg);
      }
    }
    if (general.length || !detail.length) {
      const formErr = root.querySelector("#form-error");
      formErr.textContent = general.length ? general.join("; ") : err.message;
      formErr.hidden = false;
    }
    const first = root.querySelector(".field.invalid input");
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
  fill();
}
