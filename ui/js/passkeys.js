// Passkeys grouped by site, searchable; delete with confirmation (and the PIN once set).
import { $, ago, call, confirmDialog, day, el, toast } from "./util.js";
import { app } from "./main.js";

let all = [];

function matches(p, q) {
  if (!q) return true;
  return [p.rp_id, p.rp_name, p.user_name, p.user_display_name].some((s) => s && s.toLowerCase().includes(q));
}

function emptyState() {
  return el("div", { class: "card empty-card", id: "passkeys-empty" },
    el("h2", {}, "No passkeys yet"),
    el("p", { class: "lead" }, "Add one wherever a site offers passkeys or security keys:"),
    el("ol", {},
      el("li", {}, "Open the site's security settings and choose “Add a passkey” or “Add a security key”."),
      el("li", {}, "When your browser asks, choose “USB security key”."),
      el("li", {}, "Approve in the window that appears, with your PIN.")));
}

function row(p) {
  const who = p.user_display_name && p.user_display_name !== p.user_name
    ? `${p.user_display_name} · ${p.user_name || ""}` : p.user_name || p.user_display_name || "(no user name)";
  const used = p.last_used ? `last used ${ago(p.last_used)}` : "never used";
  return el("div", { class: "cred", "data-id": p.id },
    el("div", { class: "cred-user" },
      el("strong", {}, who),
      el("span", { class: "cred-meta" }, `Created ${day(p.created)} · ${used}`)),
    p.pin_bound ? el("span", { class: "badge", title: "The TPM signs with this key only after your PIN" }, "PIN-protected") : null,
    el("button", { class: "btn btn-ghost btn-small", "aria-label": `Delete passkey for ${who} on ${p.rp_id}`, onclick: () => remove(p, who) }, "Delete"));
}

function render() {
  const q = $("passkey-search").value.trim().toLowerCase();
  const list = $("passkey-list");
  if (!all.length) { list.replaceChildren(emptyState()); return; }
  const shown = all.filter((p) => matches(p, q));
  if (!shown.length) { list.replaceChildren(el("p", { class: "empty" }, `No passkey matches “${q}”.`)); return; }
  const sites = new Map();
  for (const p of shown) {
    if (!sites.has(p.rp_id)) sites.set(p.rp_id, []);
    sites.get(p.rp_id).push(p);
  }
  const groups = [...sites.keys()].sort().map((rp) => {
    const creds = sites.get(rp);
    const name = creds[0].rp_name && creds[0].rp_name !== rp ? creds[0].rp_name : null;
    return el("section", { class: "site", "aria-label": rp },
      el("div", { class: "site-head" },
        el("div", { class: "site-avatar", "aria-hidden": "true" }, rp.replace(/^www\./, "").charAt(0)),
        el("div", {}, el("div", { class: "site-name" }, rp), name ? el("div", { class: "cred-meta" }, name) : null),
        el("span", { class: "site-count" }, `${creds.length} passkey${creds.length === 1 ? "" : "s"}`)),
      creds.map(row));
  });
  list.replaceChildren(...groups);
}

function remove(p, who) {
  const pinSet = app.status && app.status.pin_set;
  confirmDialog({
    title: "Delete this passkey?",
    text: `${who} on ${p.rp_id}. You will no longer be able to sign in to ${p.rp_id} with it; the site may still list it until you remove it there too.`,
    ok: "Delete passkey",
    pin: pinSet,
  }, async ({ pin }) => {
    await call("delete_passkey", { id: p.id, pin: pin || null });
    toast(`Deleted the passkey for ${p.rp_id}.`);
    await loadPasskeys();
  });
}

export async function loadPasskeys() {
  try {
    const r = await call("list_passkeys");
    all = r.passkeys;
  } catch (e) {
    all = [];
  }
  render();
}

export function initPasskeys() {
  $("passkey-search").addEventListener("input", render);
}
