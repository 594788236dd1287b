/** The live list: R21 buttons, R8 reject/withdraw, R12 open, R20 reply window, R16 count. */
import { describe, expect, it } from "vitest";
import { REASON_REQUIRED } from "../src/format";
import {
  NOW,
  button,
  flush,
  iso,
  item,
  key,
  makeNotification,
  makeStatus,
  mount,
  type,
} from "./helpers";

const request = makeNotification({
  id: "req-7",
  kind: "assign_request",
  request_id: "r7",
  title: "Sam Lee asks you to take over: +44 7700 900123",
  body: "Customer wants a refund",
  actions: ["accept", "reject"],
});

describe("live notifications", () => {
  it("r21_every_action_of_a_live_notification_is_a_button", async () => {
    const all = makeNotification({
      id: "all",
      kind: "new_conversation",
      actions: ["open", "accept", "reject", "yes", "no", "dismiss", "block"],
    });
    const { root } = await mount(makeStatus({ notifications: [all] }));
    const buttons = Array.from(item(root, "all").querySelectorAll<HTMLButtonElement>(".actions button"));
    expect(buttons.map((b) => b.textContent)).toEqual([
      "View chat",
      "Accept",
      "Reject…",
      "Yes, assign to me",
      "No",
      "Dismiss",
      "Block number",
    ]);
    for (const b of buttons) {
      expect(b.tagName).toBe("BUTTON");
      expect(b.type).toBe("button");
      expect(b.disabled).toBe(false);
    }
    // The group of buttons is named after the notification.
    const group = item(root, "all").querySelector(".actions")!;
    expect(document.getElementById(group.getAttribute("aria-labelledby")!)!.textContent).toBe("Maria Lopez");
  });

  it("r21_only_live_notifications_are_listed_newest_first", async () => {
    const older = makeNotification({ id: "old", title: "Older", updated_at: iso(NOW - 60 * 60_000) });
    const newer = makeNotification({ id: "new", title: "Newer", updated_at: iso(NOW - 60_000) });
    const gone = makeNotification({ id: "gone", title: "Done already", live: false, state: "accepted" });
    const { root } = await mount(makeStatus({ notifications: [older, gone, newer] }));
    const titles = Array.from(root.querySelectorAll(".live-list li .title")).map((t) => t.textContent);
    expect(titles).toEqual(["Newer", "Older"]);
  });

  it("r21_nothing_live_says_so", async () => {
    const { root } = await mount(makeStatus());
    expect(root.querySelector<HTMLElement>(".live .empty")!.hidden).toBe(false);
    expect(root.querySelector<HTMLElement>(".live-list")!.hidden).toBe(true);
  });

  it("r12_view_chat_sends_open", async () => {
    const { root, ipc } = await mount(makeStatus({ notifications: [makeNotification({ actions: ["open"] })] }));
    button(item(root, "n1"), "View chat").click();
    await flush();
    expect(ipc.writes()).toEqual([["act", { id: "n1", action: "open" }]]);
  });

  it("r12_the_summary_s_main_action_has_its_toast_s_words", async () => {
    const summary = makeNotification({ id: "sum", kind: "catch_up_summary", session_id: null, title: "7 chats need you" });
    const { root, ipc } = await mount(makeStatus({ notifications: [summary] }));
    button(item(root, "sum"), "Show chats").click();
    await flush();
    expect(ipc.writes()).toEqual([["act", { id: "sum", action: "open" }]]);
  });

  it("r2_r6_accept_yes_no_dismiss_send_their_action", async () => {
    const conv = makeNotification({ id: "c", kind: "new_conversation", actions: ["accept", "dismiss"] });
    const offer = makeNotification({ id: "o", kind: "assign_to_me", actions: ["yes", "no"] });
    const { root, ipc } = await mount(makeStatus({ notifications: [conv, offer] }));
    button(item(root, "c"), "Accept").click();
    await flush();
    button(item(root, "c"), "Dismiss").click();
    await flush();
    button(item(root, "o"), "Yes, assign to me").click();
    await flush();
    button(item(root, "o"), "No").click();
    await flush();
    expect(ipc.writes()).toEqual([
      ["act", { id: "c", action: "accept" }],
      ["act", { id: "c", action: "dismiss" }],
      ["act", { id: "o", action: "yes" }],
      ["act", { id: "o", action: "no" }],
    ]);
  });

  it("r9_block_asks_for_confirmation_since_it_blocks_for_every_agent", async () => {
    const first = makeNotification({ id: "f", kind: "new_conversation", actions: ["accept", "dismiss", "block"] });
    const { root, ipc } = await mount(makeStatus({ notifications: [first] }));
    const li = item(root, "f");
    button(li, "Block number").click();
    await flush();
    expect(ipc.writes()).toEqual([]);
    const confirm = li.querySelector('[role="alertdialog"]')!;
    expect(confirm.textContent).toContain("every agent");
    // Focus goes to the safe choice; Cancel sends nothing and returns focus.
    expect(document.activeElement).toBe(button(confirm, "Cancel"));
    button(confirm, "Cancel").click();
    expect(li.querySelector('[role="alertdialog"]')).toBeNull();
    expect(document.activeElement).toBe(button(li, "Block number"));
    expect(ipc.writes()).toEqual([]);
    // Escape cancels too.
    button(li, "Block number").click();
    key(document.activeElement!, "Escape");
    expect(li.querySelector('[role="alertdialog"]')).toBeNull();
    expect(ipc.writes()).toEqual([]);
    // Confirming sends block.
    button(li, "Block number").click();
    button(li.querySelector('[role="alertdialog"]')!, "Block for every agent").click();
    await flush();
    expect(ipc.writes()).toEqual([["act", { id: "f", action: "block" }]]);
  });

  it("r15_block_anyway_is_confirmed_and_says_the_owner_keeps_the_chat", async () => {
    const tooLate = makeNotification({
      id: "info:1",
      kind: "action_failed",
      title: "Too late",
      body: "Sam Patel accepted this chat first.",
      actions: ["open", "block_anyway", "dismiss"],
    });
    const { root, ipc } = await mount(makeStatus({ notifications: [tooLate] }));
    const li = item(root, "info:1");
    button(li, "Block anyway").click();
    await flush();
    expect(ipc.writes()).toEqual([]);
    const confirm = li.querySelector('[role="alertdialog"]')!;
    expect(confirm.textContent).toContain("Block it anyway?");
    expect(confirm.textContent).toContain("they are told");
    expect(document.activeElement).toBe(button(confirm, "Cancel"));
    button(confirm, "Cancel").click();
    expect(document.activeElement).toBe(button(li, "Block anyway"));
    button(li, "Block anyway").click();
    button(li.querySelector('[role="alertdialog"]')!, "Block for every agent").click();
    await flush();
    expect(ipc.writes()).toEqual([["act", { id: "info:1", action: "block_anyway" }]]);
  });

  it("r8_blank_reject_reason_is_refused_and_nothing_is_sent", async () => {
    const { root, ipc } = await mount(makeStatus({ notifications: [request] }));
    const li = item(root, "req-7");
    button(li, "Reject…").click();
    const dialog = li.querySelector('[role="dialog"]')!;
    const field = dialog.querySelector<HTMLInputElement>(".reason-field")!;
    for (const blank of ["", "   ", "\n\t  "]) {
      type(field, blank);
      button(dialog, "Send rejection").click();
      await flush();
      const err = document.getElementById(field.getAttribute("aria-describedby")!)!;
      expect(err.textContent).toBe(REASON_REQUIRED);
      expect(err.textContent).toBe("A reason is required: it may not be empty or blank");
      expect(field.getAttribute("aria-invalid")).toBe("true");
      expect(document.activeElement).toBe(field);
    }
    expect(ipc.writes()).toEqual([]);
    // The dialog stays open for a real reason.
    expect(li.querySelector('[role="dialog"]')).toBe(dialog);
  });

  it("r8_reject_sends_the_reason", async () => {
    const { root, ipc } = await mount(makeStatus({ notifications: [request] }));
    const li = item(root, "req-7");
    button(li, "Reject…").click();
    const dialog = li.querySelector('[role="dialog"]')!;
    type(dialog.querySelector<HTMLInputElement>(".reason-field")!, "  In a call with another customer  ");
    button(dialog, "Send rejection").click();
    await flush();
    expect(ipc.writes()).toEqual([
      ["act", { id: "req-7", action: "reject", reason: "In a call with another customer" }],
    ]);
    expect(li.querySelector('[role="dialog"]')).toBeNull();
  });

  it("r8_reject_refused_by_the_backend_shows_its_message_in_the_dialog", async () => {
    const { root, ipc } = await mount(makeStatus({ notifications: [request] }));
    ipc.handlers.act = () => {
      throw "The request was withdrawn by Sam Lee";
    };
    const li = item(root, "req-7");
    button(li, "Reject…").click();
    const dialog = li.querySelector('[role="dialog"]')!;
    type(dialog.querySelector<HTMLInputElement>(".reason-field")!, "busy");
    button(dialog, "Send rejection").click();
    await flush();
    expect(dialog.querySelector(".field-error")!.textContent).toBe("The request was withdrawn by Sam Lee");
    expect(li.querySelector('[role="dialog"]')).toBe(dialog);
  });

  it("keyboard_escape_closes_the_reject_dialog_and_returns_focus", async () => {
    const { root, ipc } = await mount(makeStatus({ notifications: [request] }));
    const li = item(root, "req-7");
    const reject = button(li, "Reject…");
    reject.focus();
    reject.click();
    const dialog = li.querySelector('[role="dialog"]')!;
    const field = dialog.querySelector<HTMLInputElement>(".reason-field")!;
    // Focus moved into the dialog, onto its labelled field.
    expect(document.activeElement).toBe(field);
    expect(dialog.querySelector(`label[for="${field.id}"]`)!.textContent).toMatch(/Reason/);
    expect(document.getElementById(dialog.getAttribute("aria-labelledby")!)!.textContent).toMatch(/^Reject: /);
    type(field, "half-typed");
    key(field, "Escape");
    expect(li.querySelector('[role="dialog"]')).toBeNull();
    expect(document.activeElement).toBe(reject);
    // Cancel does the same.
    reject.click();
    button(li.querySelector('[role="dialog"]')!, "Cancel").click();
    expect(li.querySelector('[role="dialog"]')).toBeNull();
    expect(document.activeElement).toBe(reject);
    expect(ipc.writes()).toEqual([]);
  });

  it("act_error_is_shown_inline", async () => {
    const conv = makeNotification({ id: "c", kind: "new_conversation", actions: ["accept"] });
    const { root, ipc } = await mount(makeStatus({ notifications: [conv] }));
    ipc.handlers.act = () => {
      throw "Alex Rivera already took this chat";
    };
    const alert = (globalThis as { alert?: unknown }).alert;
    let alerted = false;
    (globalThis as { alert?: unknown }).alert = () => {
      alerted = true;
    };
    try {
      button(item(root, "c"), "Accept").click();
      await flush();
    } finally {
      (globalThis as { alert?: unknown }).alert = alert;
    }
    const err = item(root, "c").querySelector(".item-error")!;
    expect(err.textContent).toBe("Alex Rivera already took this chat");
    expect(err.getAttribute("aria-live")).toBe("polite");
    expect(alerted).toBe(false);
    // The buttons work again after the failure.
    expect(button(item(root, "c"), "Accept").disabled).toBe(false);
    // A later success clears the message.
    ipc.handlers.act = () => null;
    button(item(root, "c"), "Accept").click();
    await flush();
    expect(err.textContent).toBe("");
  });

  it("act_buttons_are_disabled_while_the_action_is_in_flight", async () => {
    const conv = makeNotification({ id: "c", kind: "new_conversation", actions: ["accept", "dismiss"] });
    const { root, ipc } = await mount(makeStatus({ notifications: [conv] }));
    let finish!: (v: null) => void;
    ipc.handlers.act = () => new Promise((r) => (finish = r));
    button(item(root, "c"), "Accept").click();
    await flush();
    expect(button(item(root, "c"), "Accept").disabled).toBe(true);
    button(item(root, "c"), "Dismiss").click();
    expect(ipc.callsOf("act")).toHaveLength(1);
    finish(null);
    await flush();
    expect(button(item(root, "c"), "Dismiss").disabled).toBe(false);
  });

  it("r8_withdraw_asks_for_a_reason", async () => {
    const { root, ipc } = await mount(
      makeStatus({
        my_pending_requests: [{ request_id: "r9", session_name: "+1 555 0100", to: "Alex Rivera", kind: "assign" }],
      }),
    );
    const section = root.querySelector<HTMLElement>(".requests")!;
    expect(section.hidden).toBe(false);
    const li = section.querySelector("li")!;
    expect(li.textContent).toContain("Assign request to Alex Rivera: +1 555 0100");
    const withdraw = button(li, "Withdraw…");
    withdraw.click();
    const dialog = li.querySelector('[role="dialog"]')!;
    const field = dialog.querySelector<HTMLInputElement>(".reason-field")!;
    expect(document.activeElement).toBe(field);
    type(field, "   ");
    button(dialog, "Withdraw request").click();
    await flush();
    expect(dialog.querySelector(".field-error")!.textContent).toBe(REASON_REQUIRED);
    expect(ipc.writes()).toEqual([]);
    type(field, "Customer left");
    button(dialog, "Withdraw request").click();
    await flush();
    expect(ipc.writes()).toEqual([["withdraw_request", { requestId: "r9", reason: "Customer left" }]]);
    // Once the backend drops it, the section goes away.
    ipc.push(makeStatus({ my_pending_requests: [] }));
    expect(section.hidden).toBe(true);
    expect(section.querySelectorAll("li")).toHaveLength(0);
  });

  it("r8_withdraw_escape_returns_focus", async () => {
    const { root, ipc } = await mount(
      makeStatus({
        my_pending_requests: [{ request_id: "r9", session_name: "Contoso", to: "Alex", kind: "discuss" }],
      }),
    );
    const li = root.querySelector(".requests li")!;
    expect(li.textContent).toContain("Discuss request to Alex: Contoso");
    const withdraw = button(li, "Withdraw…");
    withdraw.click();
    key(document.activeElement!, "Escape");
    expect(li.querySelector('[role="dialog"]')).toBeNull();
    expect(document.activeElement).toBe(withdraw);
    expect(ipc.writes()).toEqual([]);
  });

  it("r20_reply_window_countdown_warns_under_an_hour", async () => {
    const wa = makeNotification({
      id: "wa",
      reply_window_ends_at: iso(NOW + (3 * 60 + 12) * 60_000 + 30_000),
    });
    const sms = makeNotification({ id: "sms", reply_window_ends_at: null });
    const { root, clock } = await mount(makeStatus({ notifications: [wa, sms] }));
    const rw = item(root, "wa").querySelector<HTMLElement>(".reply-window")!;
    expect(rw.textContent).toBe("Reply window: 3 h 12 min left");
    expect(rw.dataset.level).toBe("ok");
    expect(rw.classList.contains("warn")).toBe(false);
    expect(item(root, "sms").querySelector<HTMLElement>(".reply-window")!.hidden).toBe(true);

    clock.advance((2 * 60 + 15) * 60_000); // 57 min left
    expect(rw.textContent).toBe("Reply window: 57 min left, closing soon");
    expect(rw.dataset.level).toBe("warn");
    expect(rw.classList.contains("warn")).toBe(true);

    clock.advance(57 * 60_000); // 30 s left
    expect(rw.textContent).toBe("Reply window: less than 1 min left, closing soon");

    clock.advance(60_000);
    expect(rw.dataset.level).toBe("closed");
    expect(rw.textContent).toMatch(/^Reply window closed/);
  });

  it("r20_reply_window_warning_reads_as_such_and_offers_view_chat_and_dismiss", async () => {
    const warning = makeNotification({
      id: "reply:1",
      kind: "reply_window_closing",
      title: "Reply window closing: Ana",
      body: "Free-form WhatsApp replies end in 60 min; after that, only templates.",
      actions: ["open", "dismiss"],
      reply_window_ends_at: iso(NOW + 59 * 60_000),
    });
    const { root, ipc } = await mount(makeStatus({ notifications: [warning] }));
    const li = item(root, "reply:1");
    expect(li.textContent).toContain("Reply window closing");
    expect(li.querySelector<HTMLElement>(".reply-window")!.dataset.level).toBe("warn");
    button(li, "Dismiss").click();
    await flush();
    expect(ipc.writes()).toEqual([["act", { id: "reply:1", action: "dismiss" }]]);
  });

  it("r20_age_moves_with_the_clock", async () => {
    const { root, clock } = await mount(makeStatus({ notifications: [makeNotification()] }));
    const age = item(root, "n1").querySelector("time")!;
    expect(age.textContent).toBe("2 min ago");
    expect(age.getAttribute("datetime")).toBe(iso(NOW - 2 * 60_000));
    clock.advance(60 * 60_000);
    expect(age.textContent).toBe("1 h ago");
  });

  it("r16_message_count_is_shown", async () => {
    const burst = makeNotification({ count: 3 });
    const { root, ipc } = await mount(makeStatus({ notifications: [burst] }));
    expect(item(root, "n1").querySelector(".count")!.textContent).toBe("3 messages");
    ipc.push(makeStatus({ notifications: [{ ...burst, count: 4, body: "Anyone there?" }] }));
    expect(item(root, "n1").querySelector(".count")!.textContent).toBe("4 messages");
    expect(item(root, "n1").querySelector(".body")!.textContent).toBe("Anyone there?");
  });

  it("status_changed_event_rerenders", async () => {
    const { root, ipc } = await mount(makeStatus({ unread: 0 }));
    expect(root.querySelectorAll(".live-list li")).toHaveLength(0);
    expect(root.querySelector(".unread")!.textContent).toBe("No unread");

    ipc.push(makeStatus({ unread: 2, connection: "offline", notifications: [request] }));
    expect(root.querySelectorAll(".live-list li")).toHaveLength(1);
    expect(root.querySelector(".unread")!.textContent).toBe("2 unread");
    expect(root.querySelector(".connection")!.textContent).toBe("Offline");

    // An open Reject dialog, its draft and focus survive an unrelated update.
    const li = item(root, "req-7");
    button(li, "Reject…").click();
    const field = li.querySelector<HTMLInputElement>(".reason-field")!;
    type(field, "draft");
    const other = makeNotification({ id: "n2", title: "New one", updated_at: iso(NOW) });
    ipc.push(makeStatus({ unread: 3, notifications: [request, other] }));
    expect(item(root, "req-7")).toBe(li);
    expect(li.querySelector<HTMLInputElement>(".reason-field")).toBe(field);
    expect(field.value).toBe("draft");
    expect(document.activeElement).toBe(field);
    expect(Array.from(root.querySelectorAll(".live-list li")).map((x) => x.getAttribute("data-id"))).toEqual([
      "n2",
      "req-7",
    ]);
    // No status() poll was needed: the push did it.
    expect(ipc.callsOf("status")).toHaveLength(1);
  });

  it("r8_answered_elsewhere_closes_the_dialog_and_keeps_focus_in_the_panel", async () => {
    const { root, ipc } = await mount(makeStatus({ notifications: [request] }));
    button(item(root, "req-7"), "Reject…").click();
    expect(document.activeElement!.classList.contains("reason-field")).toBe(true);
    ipc.push(makeStatus({ notifications: [{ ...request, live: false, state: "withdrawn" }] }));
    expect(root.querySelector(".live-list li")).toBeNull();
    expect(document.activeElement).toBe(root.querySelector("#live-heading"));
  });

  it("new_items_are_announced_politely", async () => {
    const { root, ipc } = await mount(makeStatus({ notifications: [makeNotification()] }));
    const announcer = root.querySelector('[data-role="announcer"]')!;
    expect(announcer.getAttribute("aria-live")).toBe("polite");
    expect(announcer.textContent).toBe(""); // what was there at start is not news
    ipc.push(makeStatus({ notifications: [makeNotification(), { ...request, updated_at: iso(NOW) }] }));
    expect(announcer.textContent).toBe(`New: ${request.title}`);
  });
});
