// Asks the app for its name and version through Tauri's IPC (window.__TAURI_INTERNALS__).
const out = document.getElementById("version");
const ipc = window.__TAURI_INTERNALS__;
if (ipc) {
  ipc.invoke("app_info").then(
    (info) => { out.textContent = `${info.name} ${info.version}`; },
    (err) => { out.textContent = `Could not reach the app: ${err}`; },
  );
} else {
  out.textContent = "Open this page from the tpm-passkey app.";
}
