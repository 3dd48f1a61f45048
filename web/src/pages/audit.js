// Audit log: every mutating call and automated decision, newest first.
import { api } from "../api.js";
import { arr, esc, fmtText, fmtTime, obj, tsMs } from "../format.js";
import { table } from "../ui.js";

function details(v) {
  if (v === null || v === undefined || v === "") return "—";
  return `<code class="details">${esc(typeof v === "object" ? JSON.stringify(v) : String(v))}</code>`;
}

export default async function audit(root, ctx) {
  root.innerHTML = `
    <h1>Audit log</h1>
    <section class="card">
      <label class="block">Filter <input id="audit-filter" type="search" placeholder="actor, action or reason" data-testid="audit-filter" /></label>
      <div id="audit"></div>
    </section>`;
  let records = [];
  const render = () => {
    const q = root.querySelector("#audit-filter").value.trim().toLowerCase();
    const rows = records.filter((r) => !q || JSON.stringify(r).toLowerCase().includes(q));
    root.querySelector("#audit").innerHTML = table(
      [
        { label: "Time", render: (r) => fmtTime(r.ts, { date: true }) },
        { label: "Actor", render: (r) => esc(fmtText(r.actor)) },
        { label: "Action", render: (r) => `<strong>${esc(fmtText(r.action))}</strong>` },
        { label: "Reason", cls: "wrap", render: (r) => esc(fmtText(r.reason)) },
        { label: "Details", cls: "wrap", render: (r) => details(r.details) },
      ],
      rows,
      { empty: "No audit records.", testid: "audit-table", stack: true },
    );
  };
  async function load() {
    const d = obj(await api("/api/audit"));
    if (!ctx.alive()) return;
    records = arr(d.records).filter((r) => r && typeof r === "object")
      .sort((a, b) => (tsMs(b.ts) ?? 0) - (tsMs(a.ts) ?? 0));
    render();
  }
  root.querySelector("#audit-filter").addEventListener("input", render);
  await load();
  ctx.every(10000, () => load().catch(ctx.showError));
}
