/** Entry point: mounts the panel with Tauri's IPC. */
import { mountPanel } from "./app";
import { el, replaceChildren } from "./dom";
import { tauriIpc } from "./ipc";
import { forwardLogs } from "./log";

function boot(): void {
  const container = document.getElementById("app");
  if (!container) return;
  const ipc = tauriIpc();
  if (!ipc) {
    replaceChildren(
      container,
      el("main", {},
        el("h1", {}, "ChatBell"),
        el("p", { role: "alert" }, "This panel runs inside the ChatBell app: it cannot reach ChatBell from here."),
      ),
    );
    return;
  }
  forwardLogs(ipc);
  mountPanel(container, { ipc });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();
