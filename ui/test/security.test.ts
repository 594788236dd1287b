/** Text written by strangers stays text; the build obeys the CSP. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { BODY_LIMIT } from "../src/format";
import { flush, item, makeNotification, makeStatus, mount } from "./helpers";

const UI = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const IMG = `<img src=x onerror="window.__pwned=1">`;
const SCRIPT = `<script>window.__pwned=2</script>`;

describe("security", () => {
  it("hostile_text_is_rendered_as_text", async () => {
    const evil = makeNotification({
      id: "evil",
      title: `Bob ${IMG}`,
      body: `Hi ${SCRIPT} <b>bold</b> &amp;`,
      actions: ["open", "reject"],
    });
    const { root, ipc } = await mount(
      makeStatus({
        account: { name: `<i>Eve</i>`, username: IMG },
        notifications: [evil],
        my_pending_requests: [{ request_id: "r", session_name: SCRIPT, to: IMG, kind: "assign" }],
        storage: "memory_only",
        storage_note: `${IMG} no keychain`,
      }),
    );
    const li = item(root, "evil");
    expect(li.querySelector(".title")!.textContent).toBe(`Bob ${IMG}`);
    expect(li.querySelector(".body")!.textContent).toBe(`Hi ${SCRIPT} <b>bold</b> &amp;`);
    expect(root.querySelector(".requests li")!.textContent).toContain(SCRIPT);
    expect(root.querySelector(".storage-note")!.textContent).toBe(`${IMG} no keychain`);
    expect(root.querySelector(".account-name")!.textContent).toContain("<i>Eve</i>");
    // No element came from the data.
    expect(root.querySelectorAll("img, script, b, i")).toHaveLength(0);
    // The reject dialog's heading quotes the title as text too.
    (li.querySelector('[data-action="reject"]') as HTMLButtonElement).click();
    expect(li.querySelector('[role="dialog"] h4')!.textContent).toBe(`Reject: Bob ${IMG}`);
    expect(root.querySelectorAll("img, script")).toHaveLength(0);

    // History and sign-in too.
    ipc.handlers.history = () => [evil];
    root.querySelector<HTMLButtonElement>("#tab-history")!.click();
    await flush();
    expect(root.querySelector(".history-list .title")!.textContent).toBe(`Bob ${IMG}`);
    ipc.push(
      makeStatus({
        connection: "signed_out",
        signin: { user_code: SCRIPT, verification_uri: `javascript:alert(1)${IMG}`, expires_at: "x" },
      }),
    );
    expect(root.querySelector(".user-code")!.textContent).toBe(SCRIPT);
    expect(root.querySelector(".uri")!.textContent).toBe(`javascript:alert(1)${IMG}`);
    expect(root.querySelectorAll("img, script, a")).toHaveLength(0);
    await flush();
    expect((window as unknown as { __pwned?: number }).__pwned).toBeUndefined();
  });

  it("long_body_is_truncated_with_an_ellipsis", async () => {
    const long = "x".repeat(5000);
    const emoji = "😀".repeat(600);
    const { root } = await mount(
      makeStatus({ notifications: [makeNotification({ id: "a", body: long }), makeNotification({ id: "b", body: emoji })] }),
    );
    const a = item(root, "a").querySelector(".body")!.textContent!;
    expect(Array.from(a)).toHaveLength(BODY_LIMIT);
    expect(a.endsWith("…")).toBe(true);
    const b = item(root, "b").querySelector(".body")!.textContent!;
    expect(Array.from(b)).toHaveLength(BODY_LIMIT);
    expect(b.slice(0, -1)).toMatch(/^(😀)+$/u); // never half an emoji
  });

  it("source_never_builds_markup_from_strings", () => {
    const src = join(UI, "src");
    for (const f of readdirSync(src)) {
      const text = readFileSync(join(src, f), "utf8");
      expect(text, f).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/);
    }
  });

  it("build_output_obeys_the_csp", () => {
    const out = mkdtempSync(join(tmpdir(), "panel-dist-"));
    try {
      execFileSync(process.execPath, [join(UI, "build.mjs"), "--outdir", out], { stdio: "pipe" });
      expect(readdirSync(out).sort()).toEqual(["index.html", "panel.css", "panel.js"]);
      const html = readFileSync(join(out, "index.html"), "utf8");
      // Scripts and styles only from files of our own.
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts).toHaveLength(1);
      expect(scripts[0]![1]).toMatch(/src="panel\.js"/);
      expect(scripts[0]![2]!.trim()).toBe("");
      expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
      expect(html).toMatch(/<link rel="stylesheet" href="panel\.css">/);
      // Nothing remote.
      for (const f of ["index.html", "panel.css", "panel.js"]) {
        const text = readFileSync(join(out, f), "utf8");
        expect(text, f).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
        expect(text, f).not.toMatch(/@import|url\(\s*["']?(https?:)?\/\//i);
      }
      const js = readFileSync(join(out, "panel.js"), "utf8");
      expect(js).not.toMatch(/innerHTML|\beval\(/);
      expect(js).toContain("status-changed");
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
