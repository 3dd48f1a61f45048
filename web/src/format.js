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
  return `${n < 0 && s !== "0.00" ? "−" : ""}$${s}`;
}

/** A fraction as a percent with one decimal (0.15 -> "15.0%"), the minus a true one. */
export function fmtPct(v, digits = 1) {
  const n = num(v);
  if (n === null) return DASH;
  const text = Math.abs(n * 100).toFixed(digits);
  return `${n < 0 && Number(text) !== 0 ? "−" : ""}${text}%`;
}

/** Profit factor (gross wins / gross losses); 0 says why: there was no winning trade. */
export function fmtProfitFactor(v) {
  const n = num(v);
  if (n === null) return DASH;
  return n === 0 ? "0.00 (no winning trade)" : fmtNum(n, 2);
}

/** A model or strategy confidence (0..1) as a percent: 0.8385 -> "83.9%". */
export function fmtConfidence(v) {
  return fmtPct(v, 1);
}

/** Any value as words: yes/no for booleans, a dash for nothing. */
export function fmtText(v) {
  if (v === null || v === undefined || v === "") return DASH;
  if (typeof v === "boolean") return v ? "yes" : "no";
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

/**
 * The trading state as one word, the same in the header and on the Trading page: the API's
 * state, HALTED while an emergency stop is active, PAUSED while an active mode is paused.
 * `key` is its lower-case class name.
 */
export function tradingStateWord({ tradingState, paused, emergencyStop } = {}) {
  let word = fmtText(tradingState).toUpperCase();
  if (emergencyStop && emergencyStop.active === true && word === "ACTIVE") word = "HALTED";
  if (paused === true && word === "ACTIVE") word = "PAUSED";
  return { word, key: word === DASH ? "unknown" : word.toLowerCase() };
}

/** What the state means for the next minute, in words. */
export const STATE_MEANINGS = {
  active: "new entries allowed; exits run",
  paused: "no new entries; open positions keep their stops and exits",
  halted: "emergency stop: no new entries; open positions are sold",
  reducing: "no new entries until the broker and the book agree; exits run",
};

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

// The server's clock (simulated in the demo) less the browser's: "today" is the server's day.
let clockOffsetMs = 0;

/** Take "now" from the server (an ISO time it just reported), so "today" follows its clock. */
export function setServerNow(ts) {
  const ms = tsMs(ts);
  if (ms !== null) clockOffsetMs = ms - Date.now();
}

/** Now by the server's clock, in ms since the epoch. */
export function nowMs() {
  return Date.now() + clockOffsetMs;
}

const NY_DAY = new Intl.DateTimeFormat("en-CA", { timeZone: NY, year: "numeric", month: "2-digit", day: "2-digit" });
const NY_HHMM = new Intl.DateTimeFormat("en-GB", { timeZone: NY, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const NY_WEEKDAY = new Intl.DateTimeFormat("en-US", { timeZone: NY, weekday: "short" });
const NY_MONTH_DAY = new Intl.DateTimeFormat("en-US", { timeZone: NY, month: "short", day: "numeric" });

/** The New York calendar day of a time: "2025-03-14". */
export function nyDay(ms) {
  return NY_DAY.format(new Date(ms));
}

/**
 * A time as a trader reads it, in New York: "10:31 ET" today, "Fri 10:31 ET" within the past
 * week, "Fri Mar 14 2025 10:31 ET" further away (the year only when not this year). `date`
 * always names the day.
 */
export function fmtTime(ts, { date = false } = {}) {
  const ms = tsMs(ts);
  if (ms === null) return DASH;
  const at = new Date(ms);
  const hhmm = `${NY_HHMM.format(at)} ET`;
  const day = nyDay(ms);
  const today = nyDay(nowMs());
  if (day === today && !date) return hhmm;
  const ageDays = (Date.parse(`${today}T12:00:00Z`) - Date.parse(`${day}T12:00:00Z`)) / 86_400_000;
  if (!date && ageDays > 0 && ageDays < 7) return `${NY_WEEKDAY.format(at)} ${hhmm}`;
  const year = day.slice(0, 4) === today.slice(0, 4) ? "" : ` ${day.slice(0, 4)}`;
  return `${NY_WEEKDAY.format(at)} ${NY_MONTH_DAY.format(at)}${year} ${hhmm}`;
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
    .replace(/\bpnl\b/g, "P&L").replace(/ usd$/, " (USD)").replace(/\b(vix|vwap|atm|iv)\b/g, (w) => w.toUpperCase());
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function arr(v) {
  return Array.isArray(v) ? v : [];
}

export function obj(v) {
  return v && typeof v === "object" && !Array.isArray(v) ? v : {};
}
