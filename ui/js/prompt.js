// The approval prompt: one request at a time, in arrival order. It says what is asked and
// by which application, asks for the PIN when one is needed, counts down the deadline, and
// reports the answer. Enter approves (never without a needed PIN), Escape denies.
import { $, call, on } from "./util.js";

const queue = [];          // pending prompts, oldest first
let current = null;        // the one on screen
let deadline = 0;          // ms timestamp
let total = 1;
let ticker = null;

/** Plain words for what is asked. */
export function describe(p) {
  const site = p.rp_name && p.rp_name !== p.rp_id ? `${p.rp_name} (${p.rp_id})` : p.rp_id || "a website";
  const as = p.user ? ` as ${p.user}` : "";
  // A token without an rpId works for whichever site uses it first: say so.
  if (p.any_site) {
    const what = p.operation === "register" ? "create a passkey" : p.operation === "sign_in" ? "sign in" : "use your passkeys";
    return [`Allow ${what} for any site`, `The requesting application did not name a site: approving lets it ${what} once, for any site it chooses.`];
  }
  switch (p.operation) {
    case "register": return [`Create a passkey for ${p.rp_id || "a website"}`, `A new passkey for ${site}${as}, kept in this computer's TPM.`];
    case "sign_in": return [`Sign in to ${p.rp_id || "a website"}${as}`, `Use your passkey for ${site}.`];
    case "already_registered": return [`${p.rp_id} checks for an existing passkey`, "You already have a passkey for this site. Approving only confirms it; nothing is created."];
    case "reset": return ["Erase all passkeys", `Every passkey and the PIN will be gone for good. Sites will no longer accept these passkeys.${p.pin_required ? " Type your PIN to confirm." : ""}`];
    case "select": return ["Use this authenticator?", "An application asks you to choose tpm-passkey among your security keys."];
    case "verify": return ["Confirm it's you", p.rp_id ? `Enter your PIN to continue with ${site}.` : "Enter your PIN to unlock passkey management."];
    case "u2f_register": return [`Register a security key for ${p.rp_id || "a website"}`, "A legacy (U2F) registration."];
    case "u2f_sign_in": return [`Sign in to ${p.rp_id || "a website"}`, "A legacy (U2F) sign-in with your security key."];
    default: return ["Approve this request?", ""];
  }
}

function clientLine(p) {
  if (p.client_name) return `Requested by ${p.client_name}${p.client_pid ? ` (process ${p.client_pid})` : ""}`;
  return "Requested by an application that could not be identified";
}

function show(next) {
  current = next;
  const p = next.prompt;
  const [title, detail] = describe(p);
  $("prompt-title").textContent = title;
  $("prompt-detail").textContent = detail;
  $("prompt-client").textContent = clientLine(p);
  const needPin = p.pin_required;
  $("prompt-pin-row").hidden = !needPin;
  $("prompt-pin").value = "";
  const note = $("prompt-pin-note");
  note.className = p.pin_was_wrong || p.pin_retries === 0 ? "error-text" : "note";
  if (needPin) {
    const left = p.pin_retries;
    if (left === 0) note.textContent = "Your PIN is blocked: only a reset makes this authenticator usable again.";
    else if (p.pin_was_wrong) note.textContent = `Wrong PIN. ${left ?? "Some"} attempt${left === 1 ? "" : "s"} left before the TPM blocks it.`;
    else note.textContent = left != null ? `${left} attempt${left === 1 ? "" : "s"} left.` : "";
  }
  $("prompt-approve").textContent = p.operation === "reset" ? "Erase everything" : "Approve";
  $("prompt-approve").className = p.operation === "reset" ? "btn btn-danger" : "btn btn-primary";
  total = Math.max(next.timeout_ms, 1);
  deadline = Date.now() + next.timeout_ms;
  updateQueue();
  const wasHidden = $("prompt-layer").hidden;
  $("prompt-layer").hidden = false;
  // Display latency: from the daemon sending the prompt to the frame that shows it.
  if (wasHidden && next.sent_unix_ms) {
    requestAnimationFrame(() => requestAnimationFrame(() => {
      $("prompt-layer").dataset.latencyMs = String(Date.now() - next.sent_unix_ms);
    }));
  }
  (needPin ? $("prompt-pin") : $("prompt-approve")).focus();
  clearInterval(ticker);
  tick();
  ticker = setInterval(tick, 250);
}

function tick() {
  const left = Math.max(0, deadline - Date.now());
  $("prompt-bar").style.width = `${(100 * left) / total}%`;
  $("prompt-time").textContent = `${Math.ceil(left / 1000)} s left to answer`;
}

function updateQueue() {
  const more = queue.length;
  $("prompt-queue").hidden = more === 0;
  $("prompt-queue").textContent = `${more} more request${more === 1 ? "" : "s"} waiting`;
}

function next() {
  clearInterval(ticker);
  current = null;
  if (queue.length) show(queue.shift());
  else $("prompt-layer").hidden = true;
  document.dispatchEvent(new CustomEvent("prompts-changed"));
}

async function answer(approve) {
  if (!current) return;
  const pinNeeded = current.prompt.pin_required;
  const pin = $("prompt-pin").value;
  if (approve && pinNeeded && !pin) {
    const row = $("prompt-pin-row");
    row.classList.remove("shake"); void row.offsetWidth; row.classList.add("shake");
    $("prompt-pin-note").textContent = "Type your PIN to approve.";
    $("prompt-pin-note").className = "error-text";
    $("prompt-pin").focus();
    return;
  }
  const id = current.id;
  $("prompt-pin").value = "";
  try {
    await call("answer_prompt", { id, approve, pin: approve && pinNeeded ? pin : null });
  } catch (e) {
    console.warn("answer", e);
  }
  if (current && current.id === id) next();
}

function add(p) {
  if ((current && current.id === p.id) || queue.some((q) => q.id === p.id)) return;
  if (!current) show(p); else { queue.push(p); updateQueue(); }
}

export function initPrompts() {
  $("prompt-form").addEventListener("submit", (e) => { e.preventDefault(); answer(true); });
  $("prompt-deny").addEventListener("click", () => answer(false));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && current) { e.preventDefault(); answer(false); }
  });
  on("prompt", add);
  on("prompt-closed", ({ id }) => {
    const i = queue.findIndex((q) => q.id === id);
    if (i >= 0) { queue.splice(i, 1); updateQueue(); }
    if (current && current.id === id) next();
  });
  call("pending_prompts").then((list) => list.forEach(add), () => {});
}
