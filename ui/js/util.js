// Small helpers shared by the views. Everything a website controls (site names, user
// names) is put on screen with textContent only: never as HTML.

const tauri = window.__TAURI__;

/** A refused command: its text is what the app or daemon wrote, `kind` is what to decide
 * on ("pin_required", "wrong_pin", "start_failed", … : docs/CONTROL.md), never the text. */
export class Refusal extends Error {
  constructor(e) {
    super(typeof e === "string" ? e : (e && e.message) || String(e));
    this.kind = (e && e.kind) || "other";
  }
  toString() { return this.message; }
}

/** Calls a Rust command; rejects with a Refusal. */
export function call(cmd, args = {}) {
  if (!tauri) return Promise.reject(new Refusal("Open this window from the tpm-passkey app."));
  return tauri.core.invoke(cmd, args).catch((e) => { throw new Refusal(e); });
}

/** Follows an event the app emits ("prompt", "prompt-closed", "daemon", "wink"). */
export function on(event, handler) {
  if (tauri) tauri.event.listen(event, (e) => handler(e.payload));
}

/** Builds an element: el("p", {class: "x"}, "text", child…). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export const $ = (id) => document.getElementById(id);

let toastTimer;
/** A short message at the bottom of the window. */
export function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium" });
export const day = (secs) => dateFmt.format(new Date(secs * 1000));
export const moment = (secs) => timeFmt.format(new Date(secs * 1000));

/** "3 minutes ago", "yesterday" … */
export function ago(secs) {
  const s = Math.round(Date.now() / 1000 - secs);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  if (s < 60) return rtf.format(-s, "second");
  if (s < 3600) return rtf.format(-Math.round(s / 60), "minute");
  if (s < 86400) return rtf.format(-Math.round(s / 3600), "hour");
  return rtf.format(-Math.round(s / 86400), "day");
}

/**
 * A confirmation dialog. opts: {title, text, ok, pin (bool), phrase (string to type)}.
 * `action({pin})` runs on confirm; a rejection keeps the dialog open with its message.
 */
export function confirmDialog(opts, action) {
  const d = $("confirm");
  $("confirm-title").textContent = opts.title;
  $("confirm-text").textContent = opts.text;
  $("confirm-ok").textContent = opts.ok;
  $("confirm-error").textContent = "";
  $("confirm-pin-row").hidden = !opts.pin;
  $("confirm-pin").value = "";
  $("confirm-phrase-row").hidden = !opts.phrase;
  $("confirm-phrase").value = "";
  if (opts.phrase) $("confirm-phrase-label").textContent = `Type “${opts.phrase}” to confirm`;
  const form = $("confirm-form");
  const done = () => { form.onsubmit = null; $("confirm-cancel").onclick = null; d.close(); };
  $("confirm-cancel").onclick = done;
  form.onsubmit = async (e) => {
    e.preventDefault();
    if (opts.phrase && $("confirm-phrase").value.trim() !== opts.phrase) {
      $("confirm-error").textContent = "Type the words exactly as shown.";
      return;
    }
    $("confirm-ok").disabled = true;
    try {
      await action({ pin: opts.pin ? $("confirm-pin").value : null, phrase: $("confirm-phrase").value });
      done();
    } catch (err) {
      $("confirm-error").textContent = String(err);
    } finally {
      $("confirm-ok").disabled = false;
      $("confirm-pin").value = "";
    }
  };
  d.showModal();
  (opts.phrase ? $("confirm-phrase") : opts.pin ? $("confirm-pin") : $("confirm-cancel")).focus();
}

/** A rough PIN strength: 0 (weak) … 3 (strong), with a hint. */
export function pinStrength(pin, min) {
  if (pin.length < min) return { score: 0, hint: `At least ${min} characters.` };
  const digitsOnly = /^\d+$/.test(pin);
  const repeated = /^(.)\1+$/.test(pin);
  const sequence = "0123456789012345678909876543210".includes(pin) || "abcdefghijklmnopqrstuvwxyz".includes(pin.toLowerCase());
  if (repeated || sequence) return { score: 0, hint: "Avoid repeated or consecutive characters." };
  if (["1234", "0000", "1111", "123456", "password", "qwerty", "1212", "2580"].includes(pin.toLowerCase()))
    return { score: 0, hint: "That PIN is among the most common: pick another." };
  const classes = [/\d/, /[a-z]/, /[A-Z]/, /[^a-zA-Z0-9]/].filter((r) => r.test(pin)).length;
  if (digitsOnly && pin.length < 6) return { score: 1, hint: "Fine: the TPM blocks it after 8 wrong tries. Longer is stronger." };
  if (pin.length >= 8 && classes >= 2) return { score: 3, hint: "Strong." };
  return { score: 2, hint: "Good." };
}
