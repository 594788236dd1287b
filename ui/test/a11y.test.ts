/** Accessibility: every control is named, nothing jumps the Tab order, live regions are polite. */
import { describe, expect, it } from "vitest";
import { button, flush, makeNotification, makeStatus, mount } from "./helpers";

function accessibleName(c: HTMLElement): string {
  const aria = c.getAttribute("aria-label");
  if (aria) return aria;
  const by = c.getAttribute("aria-labelledby");
  if (by) return by.split(" ").map((id) => document.getElementById(id)?.textContent ?? "").join(" ").trim();
  if (c.id) {
    const l = document.querySelector(`label[for="${c.id}"]`);
    if (l) return l.textContent!.trim();
  }
  if (c.tagName === "BUTTON") return c.textContent!.trim();
  return "";
}

describe("accessibility", () => {
  it("every_control_is_labelled_and_the_tab_order_is_natural", async () => {
    const { root } = await mount(
      makeStatus({
        connection: "not_configured",
        signin: { user_code: "AB-CD", verification_uri: "https://microsoft.com/devicelogin", expires_at: "2030-01-01T00:00:00Z" },
        notifications: [
          makeNotification({ id: "x", kind: "new_conversation", actions: ["open", "accept", "reject", "yes", "no", "dismiss", "block"] }),
        ],
        my_pending_requests: [{ request_id: "r", session_name: "S", to: "T", kind: "assign" }],
      }),
    );
    button(root.querySelector(".live-list")!, "Reject…").click();
    button(root.querySelector(".requests")!, "Withdraw…").click();
    root.querySelector<HTMLButtonElement>("#tab-preferences")!.click();
    await flush();
    const controls = Array.from(root.querySelectorAll<HTMLElement>("button, input, textarea, select"));
    expect(controls.length).toBeGreaterThan(40);
    for (const c of controls) {
      expect(accessibleName(c), c.outerHTML).not.toBe("");
    }
    for (const t of Array.from(root.querySelectorAll("[tabindex]"))) {
      expect(Number(t.getAttribute("tabindex"))).toBeLessThanOrEqual(0);
    }
    // Buttons are real buttons that never submit a form by accident.
    for (const b of Array.from(root.querySelectorAll("button"))) {
      expect(["button", "submit"]).toContain(b.getAttribute("type"));
    }
    // Dialogs are named.
    for (const d of Array.from(root.querySelectorAll('[role="dialog"], [role="alertdialog"]'))) {
      expect(accessibleName(d as HTMLElement)).not.toBe("");
    }
  });

  it("errors_and_news_are_in_polite_live_regions", async () => {
    const { root } = await mount(makeStatus({ notifications: [makeNotification({ actions: ["open", "reject"] })] }));
    button(root, "Reject…").click();
    for (const sel of [".item-error", ".field-error", '[data-role="announcer"]', "header .status-line"]) {
      const els = Array.from(root.querySelectorAll(sel));
      expect(els.length, sel).toBeGreaterThan(0);
      for (const e of els) expect(e.getAttribute("aria-live"), sel).toBe("polite");
    }
  });

  it("stylesheet_has_focus_styles_dark_mode_and_reduced_motion", async () => {
    const { readFileSync } = await import("node:fs");
    const { dirname, resolve } = await import("node:path");
    const { fileURLToPath } = await import("node:url");
    const css = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), "../static/panel.css"), "utf8");
    expect(css).toMatch(/:focus-visible\s*\{[^}]*outline:\s*3px/);
    expect(css).toMatch(/@media \(prefers-color-scheme: dark\)/);
    expect(css).toMatch(/@media \(prefers-reduced-motion: reduce\)[\s\S]*transition: none/);
  });
});
