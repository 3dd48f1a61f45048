// Defensive formatting: anything missing or malformed renders as an em dash.

export const DASH = "—";
const NY = "America/New_York";

export function isNum(v) {
  return typeof v === "number" ? Number.isFinite(v) : typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v));
}

export function num(v) {
  return isNum(v) ? Number(v) : null;
}

export function fmtNum(v, digits = 2) {
  const n = num(v);
  return n === null ? DASH : n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtInt(v) {
  const n = num(v);
  return n === null ? DASH : Math.round(n).toLocaleString("en-US");
}

export function fmtMoney(v) {
  const n = num(v);
  if (n === null) return DASH;
  const s = Math.abs(n).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return `${n < 0 ? "−" : ""}$${s}`;
}

export function fmtPct(v, digits = 1) {
  const n = num(v);
  return n === null ? DASH : `${(n * 100).toFixed(digits)}%`;
}

export function fmtText(v) {
  if (v === null || v === undefined || v === "") return DASH;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// The trading modes (smart0dte TradingMode) as the header and the mode card show them.
const MODE_LABELS = { paper: "PAPER", ibkr_paper: "IB PAPER", live: "LIVE" };

/** "paper" | "ibkr_paper" | "live" for a known mode, else null. */
export function modeKey(v) {
  const key = String(v ?? "").toLowerCase();
  return key in MODE_LABELS ? key : null;
}

/** The mode's badge text: PAPER, IB PAPER, LIVE (anything else upper-cased, or a dash). */
export function modeLabel(v) {
  const key = modeKey(v);
  return key ? MODE_LABELS[key] : fmtText(v).toUpperCase();
}

export function signClass(v) {
  const n = num(v);
  return n === null || n === 0 ? "" : n > 0 ? "pos" : "neg";
}

/** Milliseconds since the epoch from an ISO string or a number in s, ms, µs or ns. */
export function tsMs(ts) {
  if (ts === null || ts === undefined || ts === "") return null;
  if (typeof ts === "number" || (typeof ts === "string" && /^\d+(\.\d+)?$/.test(ts))) {
    const n = Number(ts);
    if (!Number.isFinite(n)) return null;
    if (n > 1e17) return n / 1e6;
    if (n > 1e14) return n / 1e3;
    if (n > 1e11) return n;
    return n * 1000;
  }
  // A bare session date ("2025-03-14") means that New York day: pin it to midday UTC so
  // it never shows as the evening before.
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(ts) ? `${ts}T12:00:00Z` : ts);
  return Number.isFinite(ms) ? ms : null;
}

export function fmtTime(ts, { date = false } = {}) {
  const ms = tsMs(ts);
  if (ms === null) return DASH;
  const opts = { timeZone: NY, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
  if (date) Object.assign(opts, { year: "numeric", month: "2-digit", day: "2-digit" });
  return `${new Date(ms).toLocaleString("en-US", opts)} ET`;
}

export function fmtDuration(ms) {
  if (!isNum(ms)) return DASH;
  let s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const pad = (x) => String(x).padStart(2, "0");
  return h > 0 ? `${h}h ${pad(m)}m ${pad(s)}s` : `${m}m ${pad(s)}s`;
}

export function esc(v) {
  return String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** camelCase -> "Camel case" label. */
export function label(key) {
  const words = String(key).replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/_/g, " ").toLowerCase()
    .replace(/\bpnl\b/g, "P&L").replace(/ usd$/, " (USD)");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function arr(v) {
  return Array.isArray(v) ? v : [];
}

export function obj(v) {
  return v && typeof v === "object" && !Array.isArray(v) ? v : {};
}
