/** The panel's errors and warnings reach ChatBell's log files through tauri-plugin-log. */
import { describe, expect, it, vi } from "vitest";
import { forwardLogs, MAX_LOG_CHARS } from "../src/log";
import { MockIpc, makeStatus } from "./helpers";

function logged(ipc: MockIpc): unknown[] {
  return ipc.calls.filter(([c]) => c === "plugin:log|log").map(([, a]) => a);
}

describe("webview logs", () => {
  it("errors_warnings_and_uncaught_failures_go_to_the_log", () => {
    const ipc = new MockIpc(makeStatus());
    ipc.handlers["plugin:log|log"] = () => null;
    const win = window;
    const saved = { warn: win.console.warn, error: win.console.error, info: win.console.info };
    win.console.warn = vi.fn();
    win.console.error = vi.fn();
    win.console.info = vi.fn();
    try {
      forwardLogs(ipc, win);
      win.console.error("could not render", new Error("boom"));
      win.console.warn("slow status", { ms: 900 });
      win.console.info("not forwarded");
      win.dispatchEvent(new ErrorEvent("error", { message: "TypeError: x is undefined", filename: "panel.js", lineno: 7 }));
      win.console.error("x".repeat(MAX_LOG_CHARS + 50));
    } finally {
      win.console.warn = saved.warn;
      win.console.error = saved.error;
      win.console.info = saved.info;
    }
    const lines = logged(ipc) as { level: number; message: string; location: string }[];
    expect(lines.slice(0, 3)).toEqual([
      { level: 5, message: "could not render Error: boom", location: "panel" },
      { level: 4, message: 'slow status {"ms":900}', location: "panel" },
      { level: 5, message: "TypeError: x is undefined panel.js:7", location: "panel" },
    ]);
    expect(lines[3]!.message.length).toBe(MAX_LOG_CHARS + 1);
    expect(lines).toHaveLength(4);
  });

  it("a_log_that_cannot_be_sent_is_dropped_quietly", async () => {
    const ipc = new MockIpc(makeStatus()); // no handler: the command is refused
    const saved = window.console.error;
    window.console.error = vi.fn();
    try {
      forwardLogs(ipc, window);
      expect(() => window.console.error("oops")).not.toThrow();
      await Promise.resolve();
    } finally {
      window.console.error = saved;
    }
    expect(logged(ipc)).toHaveLength(1);
  });
});
