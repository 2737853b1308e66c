// Boot: navigation, the service state (header pill, banners, tray), and the views.
import { $, call, confirmDialog, on, toast } from "./util.js";
import { initPrompts } from "./prompt.js";
import { showWizard } from "./wizard.js";
import { initPasskeys, loadPasskeys } from "./passkeys.js";
import { initActivity, loadActivity } from "./activity.js";
import { initSettings, loadSettings } from "./settings.js";

export const app = { status: null, tpm: null, view: "passkeys", wizard: false };

const loaders = { passkeys: loadPasskeys, activity: loadActivity, settings: loadSettings };

export function go(view) {
  app.view = view;
  for (const t of document.querySelectorAll(".tabs button")) {
    const on = t.dataset.view === view;
    t.setAttribute("aria-selected", on ? "true" : "false");
    t.tabIndex = on ? 0 : -1;
  }
  for (const name of ["passkeys", "activity", "settings"]) $(`view-${name}`).hidden = app.wizard || name !== view;
  $("view-wizard").hidden = !app.wizard;
  document.body.classList.toggle("in-wizard", app.wizard);
  if (!app.wizard) loaders[view]();
}

function pill(text, kind) {
  const p = $("state-pill");
  p.textContent = text;
  p.className = `pill pill-${kind}`;
  call("set_tray_status", { label: text }).catch(() => {});
}

/** Re-reads the daemon's status and updates every surface that shows it. */
export async function refreshStatus() {
  try {
    const s = await call("status");
    app.status = s;
    $("banner-down").hidden = true;
    $("banner-simulated").hidden = !s.simulated;
    $("banner-legacy").hidden = s.pin_protection !== "legacy";
    $("banner-lost").hidden = s.pin_protection !== "lost";
    $("banner-tpm-unreachable").hidden = s.tpm !== "unreachable";
    $("banner-tpm-replaced").hidden = s.tpm !== "replaced";
    if (s.tpm === "unreachable") pill("TPM unreachable", "danger");
    else if (s.tpm === "replaced") pill("TPM replaced", "danger");
    else if (s.pin_set && s.pin_retries === 0) pill("PIN blocked", "danger");
    else if (s.pin_auth_blocked) pill("PIN paused: restart the service", "danger");
    else if (s.simulated) pill("Simulated TPM", "warn");
    else pill("Ready", "ok");
    // Which way the TPM is reached, in the daemon's words.
    $("state-pill").title = s.path_text || "";
    if (!s.pin_set && !app.wizard) { app.wizard = true; showWizard(); go(app.view); }
  } catch (e) {
    app.status = null;
    $("banner-down").hidden = false;
    // A start that failed says why (a store refused as restored or edited, and what to do).
    const why = e.kind === "start_failed" ? String(e) : "";
    $("banner-down-why").hidden = !why;
    $("banner-down-why").textContent = why;
    pill("Service not running", "muted");
  }
  return app.status;
}

export function finishWizard() {
  app.wizard = false;
  go("passkeys");
  refreshStatus();
}

function initNav() {
  const tabs = [...document.querySelectorAll(".tabs button")];
  tabs.forEach((t, i) => {
    t.addEventListener("click", () => go(t.dataset.view));
    t.addEventListener("keydown", (e) => {
      const d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (!d) return;
      const n = tabs[(i + d + tabs.length) % tabs.length];
      n.focus(); go(n.dataset.view);
    });
  });
  $("prune-dead").addEventListener("click", () => confirmDialog({
    title: "Remove dead passkeys?",
    text: "Every passkey this TPM cannot use is removed for good. Passkeys made on this TPM stay.",
    ok: "Remove",
  }, async () => {
    const n = await call("prune_dead_passkeys");
    toast(`Removed ${n} passkey${n === 1 ? "" : "s"} this TPM cannot use.`);
    await refreshStatus();
  }));
  $("start-daemon").addEventListener("click", async () => {
    try { const how = await call("start_daemon"); toast(how === "systemd" ? "Starting the service…" : "Started the service."); }
    catch (e) { toast(String(e)); }
    setTimeout(refreshStatus, 1500);
  });
}

initNav();
initPrompts();
initPasskeys();
initActivity();
initSettings();
on("daemon", () => { refreshStatus(); if (!app.wizard) loaders[app.view](); });
// The approval slot: another program holds it (we are refused), tried to take it (refused),
// or proved the PIN and took it. Never silent.
on("agent-state", ({ state, message }) => {
  const show = state === "refused" || state === "replaced" || state === "contested";
  $("banner-agent").hidden = !show;
  $("banner-agent-text").textContent = state === "refused"
    ? `This app is not approving requests: ${message}`
    : message;
  $("agent-take-over").hidden = !(state === "refused" || state === "replaced");
});
$("agent-take-over").addEventListener("click", () => confirmDialog({
  title: "Approve requests with this app?",
  text: "Another program is the approval agent now. Taking over needs your PIN; the other program is told, and the change is in the activity log.",
  ok: "Take over", pin: true,
}, async ({ pin }) => {
  await call("take_over_agent", { pin });
  $("banner-agent").hidden = true;
}));
on("wink", () => toast("An application is looking for this authenticator."));
// The approval-fatigue defence started a cool-down: say so until dismissed.
on("notice", (text) => {
  $("banner-notice-text").textContent = text;
  $("banner-notice").hidden = false;
});
$("notice-dismiss").addEventListener("click", () => { $("banner-notice").hidden = true; });
$("notice-settings").addEventListener("click", () => { $("banner-notice").hidden = true; go("settings"); });
document.addEventListener("prompts-changed", () => { refreshStatus(); if (!app.wizard) loaders[app.view](); });
refreshStatus().then(() => { if (!app.wizard) go("passkeys"); });
// Only while the window is shown: a status costs the daemon a wake-up and a TPM command.
setInterval(() => { if (document.visibilityState === "visible") refreshStatus(); }, 5000);
