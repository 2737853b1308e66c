// Runs first, while the page is still being parsed: asks for the prompts already waiting.
// A cold start exists for a prompt, and the app's modules take ~60 ms to load in a fresh
// web process; the answer is there when prompt.js looks (docs/PERFORMANCE.md "The app").
// A classic script on purpose: a module script waits for the page to be parsed and for
// its whole module graph to load.
"use strict";
window.earlyPrompts = window.__TAURI__
  ? window.__TAURI__.core.invoke("pending_prompts").catch(() => [])
  : Promise.resolve([]);
