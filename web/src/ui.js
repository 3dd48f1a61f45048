// Small DOM helpers shared by the pages.
import { esc } from "./format.js";

export function h(html) {
  const t = document.createElement("template");
  t.innerHTML = html.trim();
  return t.content.firstElementChild;
}

/** A table from rows and column specs {key, label, render(row) -> html, cls}. */
export function table(columns, rows, { empty = "Nothing to show.", testid = "", stack = false } = {}) {
  const head = columns.map((c) => `<th scope="col" class="${c.cls || ""}">${esc(c.label)}</th>`).join("");
  const body = rows.length
    ? rows
        .map(
          (r, i) =>
            `<tr data-row="${i}">${columns
              .map((c) => `<td class="${c.cls || ""}" data-label="${esc(c.label)}">${c.render(r)}</td>`)
              .join("")}</tr>`,
        )
        .join("")
    : `<tr><td colspan="${columns.length}" class="empty">${esc(empty)}</td></tr>`;
  return `<div class="table-wrap"><table ${stack ? 'class="stack"' : ""} ${testid ? `data-testid="${testid}"` : ""}><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

/**
 * Modal confirmation. `requireTyped` makes the user type that word before OK is enabled.
 * Resolves true when confirmed.
 */
export function confirmDialog({ title, messageHtml, okLabel = "OK", requireTyped = null }) {
  const dialog = document.getElementById("confirm-dialog");
  const ok = document.getElementById("confirm-ok");
  const typed = document.getElementById("confirm-typed");
  const typedLabel = document.getElementById("confirm-typed-label");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-message").innerHTML = messageHtml;
  ok.textContent = okLabel;
  typed.value = "";
  document.getElementById("confirm-word").textContent = requireTyped || "";
  typedLabel.hidden = !requireTyped;
  ok.disabled = Boolean(requireTyped);
  typed.oninput = () => {
    ok.disabled = requireTyped ? typed.value.trim() !== requireTyped : false;
  };
  return new Promise((resolve) => {
    dialog.onclose = () => resolve(dialog.returnValue === "ok");
    dialog.returnValue = "";
    dialog.showModal();
    (requireTyped ? typed : ok).focus();
  });
}

export function flash(container, message, kind = "ok") {
  if (!container) return;
  container.textContent = message;
  container.className = `flash flash-${kind}`;
  container.hidden = false;
}
