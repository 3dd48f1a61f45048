// Audit log: every mutating call and automated decision of the session, newest first, each as a
// sentence with its recorded details behind a toggle. The API's order is kept: records of one
// instant stay in the order they happened.
import { api } from "../api.js";
import { arr, esc, fmtText, fmtTime, label, obj } from "../format.js";

/** The record in words: the API's sentence, else its action and reason. */
export function sentenceOf(r) {
  if (typeof r.sentence === "string" && r.sentence) return r.sentence;
  const action = label(fmtText(r.action).replace(/[._]/g, " "));
  return r.reason ? `${action}: ${fmtText(r.reason)}` : action;
}

function recordHtml(r, i) {
  const details = r.details && typeof r.details === "object" && Object.keys(r.details).length
    ? `<details data-testid="audit-details-${i}"><summary>Details as recorded</summary><pre><code class="details">${esc(JSON.stringify(r.details, null, 2))}</code></pre></details>`
    : "";
  return `<li data-testid="audit-record" data-action="${esc(fmtText(r.action))}">
    <span class="when">${esc(fmtTime(r.ts))}</span><span class="sentence">${esc(sentenceOf(r))}</span>
    <div class="muted small">${esc(fmtText(r.actor))}</div>${details}</li>`;
}

export default async function audit(root, ctx) {
  root.innerHTML = `
    <h1>Audit log</h1>
    <section class="card">
      <label class="block">Filter <input id="audit-filter" type="search" placeholder="words, actor or action" data-testid="audit-filter" /></label>
      <div id="audit" data-testid="audit-table"></div>
    </section>`;
  let records = [];
  const render = () => {
    const q = root.querySelector("#audit-filter").value.trim().toLowerCase();
    const rows = records.filter((r) => !q || `${sentenceOf(r)} ${JSON.stringify(r)}`.toLowerCase().includes(q));
    const empty = records.length
      ? "No record matches the filter."
      : "Nothing recorded this session yet. Every signal, risk decision, order, fill, position and change of a setting or control appears here as it happens.";
    root.querySelector("#audit").innerHTML = rows.length
      ? `<ol class="audit-list" reversed>${rows.map(recordHtml).join("")}</ol>`
      : `<p class="empty-state" data-testid="audit-empty">${esc(empty)}</p>`;
  };
  async function load() {
    const d = obj(await api("/api/audit"));
    if (!ctx.alive()) return;
    records = arr(d.records).filter((r) => r && typeof r === "object");
    // Keep a toggle the user opened across the refresh.
    const open = new Set([...root.querySelectorAll("#audit details[open]")].map((e) => e.dataset.testid));
    render();
    open.forEach((id) => { const el = root.querySelector(`[data-testid="${id}"]`); if (el) el.open = true; });
  }
  root.querySelector("#audit-filter").addEventListener("input", render);
  await load();
  ctx.every(10000, () => load().catch(ctx.showError));
}
