// The approval prompt: one request at a time, in arrival order. It says what is asked and
// by which application, asks for the PIN when one is needed, counts down the deadline, and
// reports the answer. Enter approves (never without a needed PIN), Escape denies.
import { $, call, on } from "./util.js";

const queue = [];          // pending prompts, oldest first
let current = null;        // the one on screen
let deadline = 0;          // ms timestamp
let total = 1;
let ticker = null;

function show(next) {
  current = next;
  const p = next.prompt;
  // The words come from the daemon's vocabulary (Prompt::wording), the same the terminal
  // agent shows.
  const w = next.wording;
  $("prompt-title").textContent = w.title;
  $("prompt-detail").textContent = w.detail;
  $("prompt-client").textContent = w.requested_by;
  // Several accounts for the site: the person picks one here, and the site gets that one
  // without asking again.
  const box = $("prompt-accounts");
  box.querySelectorAll("label").forEach((l) => l.remove());
  const accounts = p.accounts || [];
  box.hidden = accounts.length < 2;
  accounts.forEach((name, i) => {
    const label = document.createElement("label");
    label.className = "account-choice";
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "prompt-account";
    radio.value = String(i);
    radio.id = `prompt-account-${i}`;
    if (i === 0) radio.checked = true;
    label.append(radio, document.createTextNode(` ${name}`));
    box.append(label);
  });
  const needPin = p.pin_required;
  $("prompt-pin-row").hidden = !needPin;
  $("prompt-pin").value = "";
  const note = $("prompt-pin-note");
  note.className = p.pin_was_wrong || p.pin_retries === 0 ? "error-text" : "note";
  note.textContent = w.pin_note || "";
  $("prompt-approve").textContent = w.approve;
  $("prompt-approve").className = p.operation === "reset" ? "btn btn-danger" : "btn btn-primary";
  total = Math.max(next.timeout_ms, 1);
  deadline = Date.now() + next.timeout_ms;
  updateQueue();
  const wasHidden = $("prompt-layer").hidden;
  $("prompt-layer").hidden = false;
  // Display latency: from the daemon sending the prompt (and from the request raising it,
  // which includes starting the app when it was not running) to the frame that shows it.
  if (wasHidden && next.sent_unix_ms) {
    requestAnimationFrame(() => requestAnimationFrame(() => {
      const now = Date.now();
      const sinceSent = Math.max(0, now - next.sent_unix_ms);
      const sinceAsked = next.asked_unix_ms ? Math.max(0, now - next.asked_unix_ms) : sinceSent;
      $("prompt-layer").dataset.latencyMs = String(sinceSent);
      $("prompt-layer").dataset.sinceAskedMs = String(sinceAsked);
      call("prompt_painted", { sinceAskedMs: sinceAsked, sinceSentMs: sinceSent }).catch(() => {});
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
  const picked = document.querySelector('input[name="prompt-account"]:checked');
  const choice = approve && (current.prompt.accounts || []).length > 1 && picked ? Number(picked.value) : null;
  try {
    await call("answer_prompt", { id, approve, pin: approve && pinNeeded ? pin : null, choice });
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
  on("prompt-closed", ({ id }) => drop(id));
  // The early read (early.js) paints a waiting prompt soonest. The read after the listeners
  // above is the one that counts: it adds a prompt that came in between, and takes away one
  // the early read saw that was closed before the listeners were there.
  const early = new Set();
  let settled = false;
  if (window.earlyPrompts) {
    // early.js turns a refusal into an empty list: this never rejects.
    window.earlyPrompts.then((list) => {
      if (!settled) list.forEach((p) => { early.add(p.id); add(p); });
    });
  }
  call("pending_prompts").then((list) => {
    settled = true;
    const now = new Set(list.map((p) => p.id));
    list.forEach(add);
    early.forEach((id) => { if (!now.has(id)) drop(id); });
  }, () => { settled = true; });
}

function drop(id) {
  const i = queue.findIndex((q) => q.id === id);
  if (i >= 0) { queue.splice(i, 1); updateQueue(); }
  if (current && current.id === id) next();
}
