// Settings: change PIN, always require the PIN, minimum PIN length, start at login, prompt
// limits, site rules, recovery, reset.
import { $, call, confirmDialog, el, toast } from "./util.js";
import { app, refreshStatus } from "./main.js";

const RESET_PHRASE = "erase all passkeys";

function card(title, ...body) {
  return el("section", { class: "card", "aria-labelledby": `h-${title.replace(/\W+/g, "-")}` },
    el("h2", { id: `h-${title.replace(/\W+/g, "-")}` }, title), ...body);
}

function setting(id, title, text, control) {
  return el("div", { class: "setting" },
    el("div", {}, el("label", { for: id }, el("strong", {}, title)), el("p", { id: `${id}-desc` }, text)), control);
}

function changePinCard(min) {
  const err = el("p", { class: "error-text", "aria-live": "assertive" });
  const old = el("input", { type: "password", id: "pin-old", autocomplete: "current-password" });
  const neu = el("input", { type: "password", id: "pin-new", autocomplete: "new-password" });
  const again = el("input", { type: "password", id: "pin-again", autocomplete: "new-password" });
  const submit = async (e) => {
    e.preventDefault();
    err.textContent = "";
    if (neu.value.length < min) { err.textContent = `The new PIN needs at least ${min} characters.`; return; }
    if (neu.value !== again.value) { err.textContent = "The two new PINs differ."; return; }
    try {
      await call("change_pin", { old: old.value, new: neu.value });
      toast("PIN changed.");
    } catch (x) { err.textContent = String(x); }
    finally { old.value = ""; neu.value = ""; again.value = ""; refreshStatus(); }
  };
  return card("PIN", el("p", { class: "lead" }, "The TPM checks your PIN; 8 wrong tries in a row block it for good."),
    el("form", { class: "inline-form", onsubmit: submit },
      el("div", { class: "field" }, el("label", { for: "pin-old" }, "Current PIN"), old),
      el("div", { class: "field" }, el("label", { for: "pin-new" }, "New PIN"), neu),
      el("div", { class: "field" }, el("label", { for: "pin-again" }, "New PIN again"), again),
      el("button", { class: "btn btn-primary", type: "submit", id: "pin-change" }, "Change PIN")),
    err);
}

async function protectionCard(s) {
  const uv = el("input", { type: "checkbox", role: "switch", class: "switch", id: "always-uv", "aria-describedby": "always-uv-desc" });
  uv.checked = s.always_uv;
  uv.addEventListener("change", () => {
    const on = uv.checked;
    uv.checked = !on; // until confirmed
    const apply = async ({ pin }) => {
      await call("set_settings", { alwaysUv: on, minPinLength: null, pin: pin || null });
      toast(on ? "Every passkey now needs your PIN." : "Sites may now skip the PIN.");
      await loadSettings();
    };
    if (on) apply({}).catch((e) => toast(String(e)));
    else confirmDialog({ title: "Stop always requiring the PIN?", text: "Sites that do not ask for verification could then use your passkeys with a click, and legacy security-key (U2F) sign-ins become possible.", ok: "Turn off", pin: s.pin_set }, apply);
  });
  const len = el("input", { type: "number", id: "min-pin", min: String(s.min_pin_length), max: "63", value: String(s.min_pin_length), "aria-describedby": "min-pin-desc" });
  const save = el("button", { class: "btn btn-ghost btn-small", id: "min-pin-save" }, "Save");
  save.addEventListener("click", async () => {
    try { await call("set_settings", { alwaysUv: null, minPinLength: Number(len.value), pin: null }); toast("Minimum PIN length saved."); await loadSettings(); }
    catch (e) { toast(String(e)); }
  });
  let login = false;
  try { login = await call("start_at_login", {}); } catch (e) { /* not available */ }
  const start = el("input", { type: "checkbox", role: "switch", class: "switch", id: "start-login", "aria-describedby": "start-login-desc" });
  start.checked = login;
  start.addEventListener("change", async () => {
    try { start.checked = await call("start_at_login", { enabled: start.checked }); } catch (e) { toast(String(e)); }
  });
  return card("Protection",
    setting("always-uv", "Always require PIN", "Every sign-in and new passkey needs your PIN, and keys are bound to it inside the TPM.", uv),
    setting("min-pin", "Minimum PIN length", "It can only go up. Sites may ask for it when you make a passkey.", el("div", { class: "tools" }, len, save)),
    setting("start-login", "Start at login", "Open tpm-passkey in the background when you log in, ready for approvals.", start));
}

async function sitesCard(s) {
  let rules = [];
  try { rules = (await call("list_site_rules")).rules; } catch (e) { /* shown empty */ }
  const words = { block: "Blocked: refused without asking you", require_pin: "Always asks for your PIN" };
  const remove = (r) => confirmDialog({
    title: `Remove the rule for ${r.rp_id}?`, text: "The site is then treated like any other.", ok: "Remove rule", pin: s.pin_set,
  }, async ({ pin }) => { await call("set_site_rule", { rpId: r.rp_id, rule: null, pin: pin || null }); toast("Rule removed."); await loadSettings(); });
  const list = rules.length
    ? el("ul", { class: "rules", id: "site-rules" }, rules.map((r) => el("li", { class: "setting", "data-site": r.rp_id },
        el("div", {}, el("strong", {}, r.rp_id), el("p", {}, words[r.rule] || r.rule)),
        el("button", { class: "btn btn-ghost btn-small", "aria-label": `Remove the rule for ${r.rp_id}`, onclick: () => remove(r) }, "Remove"))))
    : el("p", { class: "note", id: "site-rules" }, "No site rules.");
  const site = el("input", { type: "text", id: "rule-site", placeholder: "github.com", autocomplete: "off", spellcheck: "false" });
  const kind = el("select", { id: "rule-kind" }, el("option", { value: "require_pin" }, "Always require PIN"), el("option", { value: "block" }, "Block"));
  const err = el("p", { class: "error-text", "aria-live": "assertive" });
  const add = async (e) => {
    e.preventDefault();
    err.textContent = "";
    try { await call("set_site_rule", { rpId: site.value.trim(), rule: kind.value, pin: null }); toast("Rule saved."); await loadSettings(); }
    catch (x) { err.textContent = String(x); }
  };
  return card("Site rules", el("p", { class: "lead" }, "Block a site outright, or make one always ask for your PIN even when the rest do not."),
    list,
    el("form", { class: "inline-form", onsubmit: add },
      el("div", { class: "field" }, el("label", { for: "rule-site" }, "Site"), site),
      el("div", { class: "field" }, el("label", { for: "rule-kind" }, "Rule"), kind),
      el("button", { class: "btn btn-primary", type: "submit", id: "rule-add" }, "Add rule")),
    err);
}

// A form's submit handler that saves through `command` with `args(pin)` and no PIN first;
// when the daemon answers that the change needs the PIN (it loosens a protection), it asks
// for it with `dialog` and saves again. Other refusals are shown in `err`.
function savingAskingPin(command, args, saved, dialog, err) {
  const save = async (pin) => { await call(command, args(pin)); toast(saved); await loadSettings(); };
  return async (e) => {
    e.preventDefault();
    err.textContent = "";
    try { await save(null); }
    catch (x) {
      if (x.kind !== "pin_required") { err.textContent = String(x); return; }
      confirmDialog({ ...dialog, ok: "Save", pin: true }, ({ pin }) => save(pin));
    }
  };
}

// The approval-fatigue defence: limits, the cool-downs in force, and lifting them.
function limitsCard(s) {
  const f = s.fatigue;
  const num = (id, value, min) => el("input", { type: "number", id, min: String(min), value: String(value), class: "narrow" });
  const on = el("input", { type: "checkbox", role: "switch", class: "switch", id: "limits-on", "aria-describedby": "limits-on-desc" });
  on.checked = f.enabled;
  const perSite = num("limits-per-site", f.unapproved_per_site, 0);
  const windowSecs = num("limits-window", f.window_secs, 1);
  const denials = num("limits-denials", f.denials_in_a_row, 0);
  const cooldown = num("limits-cooldown", f.cooldown_secs, 1);
  const err = el("p", { class: "error-text", "aria-live": "assertive" });
  const limits = () => ({ enabled: on.checked, unapproved_per_site: Number(perSite.value), window_secs: Number(windowSecs.value),
    denials_in_a_row: Number(denials.value), cooldown_secs: Number(cooldown.value) });
  const save = savingAskingPin("set_fatigue_limits", (pin) => ({ limits: limits(), pin }), "Prompt limits saved.",
    { title: "Loosen the prompt limits?", text: "A program that floods you with prompts could then ask more often before it is stopped." }, err);
  const cooling = (s.cooldowns || []).map((c) => el("li", { class: "setting cooldown" },
    el("div", {}, el("strong", {}, c.site ? c.site : "Every site"), el("p", {}, `${c.reason} — ${Math.ceil(c.seconds_left / 60)} min left.`))));
  const lift = el("button", { class: "btn btn-ghost btn-small", id: "limits-lift", type: "button" }, "Show prompts again…");
  lift.addEventListener("click", () => confirmDialog({
    title: "Show prompts again now?", text: "Only do this if you asked for those sign-ins yourself.", ok: "Show prompts", pin: s.pin_set,
  }, async ({ pin }) => { await call("lift_cooldowns", { pin: pin || null }); toast("Prompts are shown again."); await loadSettings(); }));
  return card("Prompt limits",
    el("p", { class: "lead", id: "limits-summary" }, f.enabled
      ? `After ${f.unapproved_per_site} prompts for one site that you did not approve within ${f.window_secs} s, or ${f.denials_in_a_row} denials in a row, further prompts are refused without asking you for ${Math.round(f.cooldown_secs / 60)} min.`
      : "Off: every prompt is shown, however many arrive."),
    cooling.length ? el("ul", { class: "rules", id: "cooldowns" }, cooling, el("li", {}, lift)) : el("p", { class: "note", id: "cooldowns" }, "No cool-down in force."),
    setting("limits-on", "Stop prompt floods", "A program that keeps asking hopes you approve one to make it stop. Turning this off or loosening a limit needs your PIN.", on),
    el("form", { class: "inline-form", onsubmit: save },
      el("div", { class: "field" }, el("label", { for: "limits-per-site" }, "Unapproved prompts per site"), perSite),
      el("div", { class: "field" }, el("label", { for: "limits-window" }, "within (s)"), windowSecs),
      el("div", { class: "field" }, el("label", { for: "limits-denials" }, "Denials in a row"), denials),
      el("div", { class: "field" }, el("label", { for: "limits-cooldown" }, "Cool-down (s)"), cooldown),
      el("button", { class: "btn btn-primary", type: "submit", id: "limits-save" }, "Save limits")),
    err);
}

// Step-up by risk: the PIN where a site asks only for presence, when it has not been typed
// for a while or the site is new here. Only matters with "Always require PIN" off.
function stepUpCard(s) {
  const st = s.step_up;
  const on = el("input", { type: "checkbox", role: "switch", class: "switch", id: "stepup-on", "aria-describedby": "stepup-on-desc" });
  on.checked = st.enabled;
  const hours = el("input", { type: "number", id: "stepup-hours", min: "0", step: "0.5", value: String(st.uv_max_age_secs / 3600), class: "narrow" });
  const fresh = el("input", { type: "checkbox", id: "stepup-new-sites" });
  fresh.checked = st.new_sites;
  const err = el("p", { class: "error-text", "aria-live": "assertive" });
  const value = () => ({ enabled: on.checked, uv_max_age_secs: Math.round(Number(hours.value) * 3600), new_sites: fresh.checked });
  const save = savingAskingPin("set_step_up", (pin) => ({ stepUp: value(), pin }), "Saved.",
    { title: "Ask for the PIN less often?", text: "Sites that ask only for a click could then use your passkeys longer without your PIN." }, err);
  return card("When sites ask only for a click",
    el("p", { class: "lead", id: "stepup-summary" }, s.always_uv
      ? "Every passkey already needs your PIN (Always require PIN is on)."
      : st.enabled
        ? `Your PIN is asked anyway when you have not typed it for ${st.uv_max_age_secs / 3600} h${st.new_sites ? ", and the first time a site is used here" : ""}.`
        : "A click is enough where a site asks for no more."),
    setting("stepup-on", "Ask for the PIN by risk", "Turning this off or asking less often needs your PIN.", on),
    el("form", { class: "inline-form", onsubmit: save },
      el("div", { class: "field" }, el("label", { for: "stepup-hours" }, "PIN at least every (hours)"), hours),
      el("div", { class: "field" }, el("label", { for: "stepup-new-sites" }, "PIN for new sites"), fresh),
      el("button", { class: "btn btn-primary", type: "submit", id: "stepup-save" }, "Save")),
    err);
}

// Attestation (docs/DESIGN.md "TPM attestation"): whether new passkeys carry the TPM's
// statement, vouched for by an organisation's CA, or self-attestation (the default).
function attestationCard(s) {
  const a = s.attestation || { provisioned: false, on: false, issuer: null };
  const on = el("input", { type: "checkbox", role: "switch", class: "switch", id: "attestation-on", "aria-describedby": "attestation-on-desc" });
  on.checked = a.on;
  on.disabled = !a.provisioned;
  const err = el("p", { class: "error-text", "aria-live": "assertive" });
  const save = savingAskingPin("set_attestation", (pin) => ({ on: on.checked, pin }), on.checked ? "New passkeys carry the TPM's attestation." : "New passkeys carry self-attestation.",
    { title: "Let sites tell this computer's TPM?", text: "With attestation on, every site that asks learns that your passkeys live in this TPM, certified by your organisation." }, err);
  on.addEventListener("change", (e) => save(e).catch(() => {}));
  return card("Attestation",
    el("p", { class: "lead", id: "attestation-state", "data-provisioned": String(a.provisioned), "data-on": String(a.on) }, !a.provisioned
      ? ["Not enrolled: new passkeys carry self-attestation (a site learns nothing about this computer). Your organisation can enrol this TPM with ",
        el("code", {}, "tpm-passkey attestation request"), " and ", el("code", {}, "attestation install"), "."]
      : a.on
        ? `On: new passkeys carry the TPM's attestation, certified by ${a.issuer}.`
        : `Enrolled with ${a.issuer}; off: new passkeys carry self-attestation.`),
    setting("attestation-on", "TPM attestation for new passkeys", "Sites that ask can then verify that keys live in this TPM. Turning it on needs your PIN.", on),
    err);
}

// Recovery without back doors (docs/RECOVERY.md).
function recoveryCard() {
  return card("If you lose this computer or the PIN",
    el("ul", { class: "plain" },
      el("li", {}, "Your passkeys cannot be copied off this computer: their keys never leave its TPM. Register a second authenticator (a phone or a security key) on every important site now."),
      el("li", {}, "A forgotten PIN allows 8 tries; after that only a reset, which erases every passkey, makes the authenticator usable again."),
      el("li", {}, "Sites should let you back in with your other authenticator, not with a code sent by SMS or e-mail.")),
    el("p", { class: "note", id: "recovery-doc" }, "The whole guide: RECOVERY.md, installed with tpm-passkey's documentation (/usr/share/doc/tpm-passkey/RECOVERY.md) and in docs/ of its source."));
}

function resetCard(s) {
  const go = () => confirmDialog({
    title: "Erase all passkeys?",
    text: "Every passkey on this computer and your PIN are erased, for good. Sites will no longer accept them; you will need another way to sign in to each.",
    ok: "Erase everything", pin: s.pin_set, phrase: RESET_PHRASE,
  }, async ({ pin, phrase }) => {
    await call("reset", { confirmation: phrase, pin: pin || null });
    toast("Everything was erased.");
    await refreshStatus();
  });
  // Forgot the PIN: the same erasure without it, behind the typed words alone.
  const forgot = () => confirmDialog({
    title: "Forgot your PIN?",
    text: "Without the PIN, the only way forward is to erase every passkey and the PIN. Sites will no longer accept them; register again afterwards. This is recorded in the activity log.",
    ok: "Erase everything", pin: false, phrase: RESET_PHRASE,
  }, async ({ phrase }) => {
    await call("reset_forgotten_pin", { confirmation: phrase });
    toast("Everything was erased.");
    await refreshStatus();
  });
  return el("section", { class: "card danger-card", "aria-labelledby": "h-reset" },
    el("h2", { id: "h-reset" }, "Reset authenticator"),
    el("p", { class: "lead" }, "Erases every passkey and the PIN. Use it when you hand this computer on, or when the PIN is blocked."),
    el("div", { class: "actions" },
      el("button", { class: "btn btn-danger", id: "reset-open", onclick: go }, "Reset…"),
      s.pin_set ? el("button", { class: "btn btn-link", id: "reset-forgot", onclick: forgot }, "I forgot my PIN…") : null));
}

export async function loadSettings() {
  const v = $("view-settings");
  const s = await refreshStatus();
  if (!s) { v.replaceChildren(el("h1", {}, "Settings"), el("p", { class: "empty" }, "The service is not running.")); return; }
  v.replaceChildren(el("div", { class: "view-head" }, el("h1", {}, "Settings")),
    changePinCard(s.min_pin_length), await protectionCard(s), stepUpCard(s), limitsCard(s), await sitesCard(s), attestationCard(s), recoveryCard(), resetCard(s));
}

export function initSettings() {}
