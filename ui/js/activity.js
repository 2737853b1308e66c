// The audit log: approvals, denials, PIN failures, management; filter, search, export.
import { $, call, el, moment, toast } from "./util.js";

let records = [];

const words = {
  register: "New passkey", sign_in: "Sign-in", pin_set: "PIN set", pin_change: "PIN changed",
  pin_verify: "PIN check", delete: "Passkey deleted", reset: "Authenticator reset", config: "Settings changed",
  u2f_register: "Security key registration", u2f_sign_in: "Security key sign-in", update_user: "User details updated",
  uv: "PIN check", silent_check: "Passkey lookup (no approval)",
  agent_registered: "Approval agent connected", agent_refused: "Approval agent refused",
  agent_replaced: "Approval agent replaced", read_passkeys: "Passkey list read", read_audit: "Activity read",
  prompt_flood: "Prompts refused for a while",
};
const approvals = new Set(["register", "sign_in", "u2f_register", "u2f_sign_in", "uv", "reset"]);
const outcomes = {
  ok: ["Approved", "ok"], denied: ["Denied", "bad"], timeout: ["Timed out", "bad"], cancelled: ["Cancelled", "other"],
  wrong_pin: ["Wrong PIN", "bad"], blocked: ["Blocked", "bad"], excluded: ["Already registered", "other"],
  blocked_site: ["Site blocked", "bad"], throttled: ["Too many prompts", "bad"],
};
const filters = {
  all: () => true,
  sign_in: (r) => r.event === "sign_in" || r.event === "u2f_sign_in",
  register: (r) => r.event === "register" || r.event === "u2f_register",
  refused: (r) => ["denied", "timeout", "cancelled", "blocked_site"].includes(r.outcome),
  pin: (r) => r.event.startsWith("pin") || r.outcome === "wrong_pin" || r.outcome === "blocked",
  manage: (r) => ["delete", "reset", "config", "update_user", "pin_set", "pin_change",
    "agent_registered", "agent_refused", "agent_replaced", "read_passkeys", "read_audit"].includes(r.event),
};

function render() {
  const f = filters[$("activity-filter").value] || filters.all;
  const q = $("activity-search").value.trim().toLowerCase();
  const shown = records.filter(f).filter((r) => !q || [r.rp_id, r.client, r.event].some((s) => s && s.toLowerCase().includes(q)));
  const body = $("activity-table").tBodies[0];
  body.replaceChildren(...shown.slice().reverse().map((r) => {
    let [label, kind] = outcomes[r.outcome] || [r.outcome, "other"];
    if (r.outcome === "ok" && !approvals.has(r.event)) label = "Done";
    const what = (words[r.event] || r.event) + (r.detail === "local" ? " (from this app)" : "");
    return el("tr", { "data-event": r.event, "data-outcome": r.outcome, "data-rp": r.rp_id || "" },
      el("td", { class: "time" }, moment(r.time)),
      el("td", {}, what),
      el("td", {}, r.rp_id || "—"),
      el("td", {}, r.client || (r.detail === "local" ? "tpm-passkey" : "—")),
      el("td", {}, el("span", { class: `outcome outcome-${kind}` }, label)));
  }));
  $("activity-empty").hidden = shown.length > 0;
  $("activity-empty").textContent = records.length ? "Nothing matches this filter." : "Nothing here yet: approvals, denials and PIN events will appear here.";
}

// Whether the log verifies: its hash chain, the TPM-certified checkpoints and the TPM's
// audit index now (docs/DESIGN.md "Audit checkpoints"). A rewritten log, even one whose
// hashes were all recomputed, shows here with the first entry that cannot be trusted.
async function showIntegrity() {
  const p = $("activity-integrity");
  try {
    const c = await call("audit_verify", {});
    const ok = c.first_bad_seq === null && !c.problem;
    p.dataset.intact = String(ok);
    p.dataset.tpmChecked = String(Boolean(c.tpm_checked));
    p.className = ok ? "note integrity-ok" : "error-text";
    if (c.first_bad_seq !== null) {
      p.textContent = `The log was altered: entry #${c.first_bad_seq} is the first that cannot be trusted. ${c.problem || ""}`;
    } else if (c.problem) {
      p.textContent = `The log could not be fully checked: ${c.problem}`;
    } else if (c.tpm_checked) {
      const upTo = c.vouched_through === null ? "" : ` up to entry #${c.vouched_through}`;
      const n = c.checkpoints_verified;
      p.textContent = `The log is intact: ${c.entries} entries, and the TPM vouches for them${upTo} (${n} signed checkpoint${n === 1 ? " verifies" : "s verify"}).`;
    } else {
      p.textContent = `The log is intact: its ${c.entries} entries form an unbroken hash chain (no TPM checkpoints on this install).`;
    }
    if (c.notice) p.textContent += ` Note: ${c.notice}.`;
  } catch (e) {
    p.textContent = "";
  }
}

export async function loadActivity() {
  try {
    records = (await call("audit_tail", { limit: 500 })).records;
  } catch (e) {
    records = [];
  }
  render();
  await showIntegrity();
}

export function initActivity() {
  $("activity-filter").addEventListener("change", render);
  $("activity-search").addEventListener("input", render);
  $("activity-export").addEventListener("click", async () => {
    try { toast(`Saved to ${await call("export_audit")}`); } catch (e) { toast(String(e)); }
  });
}
