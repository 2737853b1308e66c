// First run: what protects the keys (TPM found or simulated), choose the PIN, how to use it.
import { $, call, el, pinStrength } from "./util.js";
import { app, finishWizard } from "./main.js";

let step = 0;

function frame(title, lead, ...body) {
  const steps = el("ol", { class: "steps", "aria-label": `Step ${step + 1} of 3` },
    [0, 1, 2].map((i) => el("li", { class: i <= step ? "done" : "" })));
  return el("div", { class: "wizard" }, steps,
    el("div", { class: "card" }, el("h1", { id: "wizard-title" }, title), el("p", { class: "lead" }, lead), ...body));
}

function render(node) {
  const v = $("view-wizard");
  v.replaceChildren(node);
  const first = v.querySelector("input, button.btn-primary");
  if (first) first.focus();
}

async function tpmStep() {
  step = 0;
  let t = null;
  try { t = await call("tpm_info"); } catch (e) { /* shown below */ }
  const facts = t ? el("dl", { class: "facts" },
    el("dt", {}, "TPM"), el("dd", { id: "wizard-tpm" }, t.simulated ? "Simulated (software)" : "Hardware TPM 2.0 found"),
    el("dt", {}, "Path"), el("dd", { id: "wizard-path" }, t.path_text || ""),
    el("dt", {}, "Maker"), el("dd", {}, `${t.manufacturer} ${t.vendor}`.trim()),
    el("dt", {}, "Firmware"), el("dd", {}, t.firmware),
    el("dt", {}, "Lockout"), el("dd", {}, t.in_lockout
      ? "The TPM is in lockout now; it recovers by itself."
      : `${t.lockout_counter} of ${t.lockout_max_tries} failed owner authorisations; one is forgiven every ${t.lockout_recovery_secs} s`))
    : el("p", { class: "error-text" }, "The TPM could not be read.");
  const meaning = t && t.simulated
    ? el("p", { class: "banner banner-warn" }, "No TPM chip is in use: a software TPM stands in. Your passkeys work, but they are only as safe as the files in your home folder. On a computer with a TPM, add your user to the tss group and restart the service.")
    : el("p", {}, "Your passkeys' private keys will be made inside this chip and can never be copied out, not even by this app.");
  render(frame("Welcome to tpm-passkey", "Passkeys replace passwords and one-time codes. They cannot be phished: each works only for the site that made it.",
    el("h3", {}, "What protects your keys"), facts, meaning,
    el("div", { class: "actions" }, el("button", { class: "btn btn-primary", id: "wizard-next", onclick: pinStep }, "Continue"))));
}

function pinStep() {
  step = 1;
  const min = app.status ? app.status.min_pin_length : 4;
  const bar = el("div");
  const hint = el("p", { class: "note", id: "pin-hint", "aria-live": "polite" }, `At least ${min} characters.`);
  const err = el("p", { class: "error-text", id: "pin-error", "aria-live": "assertive" });
  const pin = el("input", { type: "password", id: "wizard-pin", autocomplete: "new-password", "aria-describedby": "pin-hint" });
  const again = el("input", { type: "password", id: "wizard-pin2", autocomplete: "new-password" });
  const colours = ["var(--danger)", "var(--warn)", "var(--accent)", "var(--ok)"];
  again.addEventListener("input", () => { err.textContent = ""; });
  pin.addEventListener("input", () => {
    err.textContent = "";
    const s = pinStrength(pin.value, min);
    bar.style.width = `${pin.value ? 25 + s.score * 25 : 0}%`;
    bar.style.background = colours[s.score];
    hint.textContent = s.hint;
  });
  const submit = async (e) => {
    e.preventDefault();
    err.textContent = "";
    if (pin.value.length < min) { err.textContent = `The PIN needs at least ${min} characters.`; pin.focus(); return; }
    if (pin.value !== again.value) { err.textContent = "The two PINs differ."; again.focus(); return; }
    try {
      await call("set_pin", { pin: pin.value });
      pin.value = ""; again.value = "";
      howStep();
    } catch (x) { err.textContent = String(x); }
  };
  render(frame("Choose your PIN", "You type it to approve sign-ins. The TPM checks it and blocks it after 8 wrong tries in a row, so a short PIN is still safe; it never leaves this computer.",
    el("form", { onsubmit: submit },
      el("div", { class: "field" }, el("label", { for: "wizard-pin" }, "PIN"), pin, el("div", { class: "strength", "aria-hidden": "true" }, bar), hint),
      el("div", { class: "field" }, el("label", { for: "wizard-pin2" }, "PIN again"), again),
      err,
      el("div", { class: "actions" }, el("button", { class: "btn btn-primary", type: "submit", id: "wizard-set-pin" }, "Set PIN")))));
}

function howStep() {
  step = 2;
  const result = el("p", { id: "wizard-try-result", class: "note", "aria-live": "polite" });
  const tryIt = async () => {
    $("wizard-try").disabled = true;
    result.className = "note";
    result.textContent = "Waiting for your approval…";
    try {
      await call("test_sign_in");
      result.className = "ok-text";
      result.textContent = "It works: a passkey was made inside your TPM, it signed in, and the signature checked out.";
    } catch (e) {
      result.className = "error-text";
      result.textContent = String(e);
    } finally {
      $("wizard-try").disabled = false;
    }
  };
  render(frame("You're ready", "tpm-passkey now appears to your browser and to ssh as a USB security key.",
    el("ol", { class: "how" },
      el("li", {}, "On a website's security settings, choose “Add a passkey” or “Add a security key”."),
      el("li", {}, "If the browser asks where to save it, pick “USB security key”."),
      el("li", {}, "This window comes to the front and says who asks for what. Check the site, type your PIN, approve."),
      el("li", {}, "For ssh: ssh-keygen -t ecdsa-sk makes a key that lives here.")),
    el("h3", {}, "Try it now"),
    el("p", {}, "A built-in test site (tpm-passkey.test) makes a passkey and signs in with it, just as a real site would. Approve both requests with your PIN."),
    result,
    el("p", { class: "note" }, "Every approval, denial and PIN failure is listed under Activity."),
    el("div", { class: "actions" },
      el("button", { class: "btn btn-ghost", id: "wizard-try", onclick: tryIt }, "Try a test sign-in"),
      el("button", { class: "btn btn-primary", id: "wizard-done", onclick: finishWizard }, "Go to my passkeys"))));
}

export function showWizard() { tpmStep(); }
