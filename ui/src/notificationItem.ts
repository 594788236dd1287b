/**
 * One live notification in the panel: text, count, age, reply window (R20) and a
 * button for each of its actions (R21). Updated in place when the backend pushes a
 * new status, so focus, an open Reject dialog or a Block confirmation survive.
 */
import type { Api } from "./ipc";
import { errorMessage } from "./ipc";
import { el, replaceChildren, setText, uid } from "./dom";
import {
  BODY_LIMIT,
  TITLE_LIMIT,
  actionLabel,
  ageLabel,
  countLabel,
  kindLabel,
  parseTime,
  replyWindow,
  truncate,
} from "./format";
import { ReasonDialog } from "./reasonDialog";
import type { Action, NotificationView } from "./types";

/** The actions that block a customer's number, each confirmed first (R9, R15). */
type BlockAction = "block" | "block_anyway";

function isBlock(action: Action): action is BlockAction {
  return action === "block" || action === "block_anyway";
}

const BLOCK_WARNINGS: Record<BlockAction, string> = {
  block:
    "It is blocked for every agent, not just you: its chat closes and nobody is notified about it again until it is unblocked.",
  block_anyway:
    "Another agent owns this chat. Dynamics closes every chat of a blocked number, theirs too: it stays theirs, and they are told.",
};

export class NotificationItem {
  readonly li: HTMLLIElement;
  private view: NotificationView;
  private readonly kindEl: HTMLElement;
  private readonly titleEl: HTMLElement;
  private readonly bodyEl: HTMLElement;
  private readonly countEl: HTMLElement;
  private readonly ageEl: HTMLTimeElement;
  private readonly replyEl: HTMLElement;
  private readonly actionsEl: HTMLElement;
  private readonly extraEl: HTMLElement;
  private readonly errorEl: HTMLElement;
  private buttons = new Map<Action, HTMLButtonElement>();
  private actionsKey = "";
  private dialog: ReasonDialog | null = null;
  private confirm: { root: HTMLElement; action: BlockAction } | null = null;
  private busy = false;

  constructor(
    view: NotificationView,
    private readonly api: Api,
    private readonly now: () => number,
  ) {
    this.view = view;
    const titleId = uid("n-title");
    this.kindEl = el("p", { class: "kind" });
    this.titleEl = el("h3", { id: titleId, class: "title" });
    this.bodyEl = el("p", { class: "body" });
    this.countEl = el("span", { class: "count" });
    this.ageEl = el("time", { class: "age" });
    this.replyEl = el("p", { class: "reply-window" });
    this.actionsEl = el("div", { class: "actions", role: "group", "aria-labelledby": titleId });
    this.extraEl = el("div", { class: "extra" });
    this.errorEl = el("p", { class: "item-error", "aria-live": "polite" });
    this.li = el(
      "li",
      { class: "notification", "data-id": view.id, "aria-labelledby": titleId },
      el("article", {},
        el("div", { class: "meta" }, this.kindEl, this.countEl, this.ageEl),
        this.titleEl,
        this.bodyEl,
        this.replyEl,
        this.actionsEl,
        this.extraEl,
        this.errorEl,
      ),
    );
    this.update(view);
  }

  get id(): string {
    return this.view.id;
  }

  /** True when focus is inside this item. */
  hasFocus(): boolean {
    return this.li.contains(document.activeElement);
  }

  update(view: NotificationView): void {
    this.view = view;
    this.li.dataset.kind = view.kind;
    setText(this.kindEl, kindLabel(view.kind));
    setText(this.titleEl, truncate(view.title, TITLE_LIMIT));
    setText(this.bodyEl, truncate(view.body, BODY_LIMIT));
    this.bodyEl.hidden = view.body === "";
    const count = countLabel(view);
    setText(this.countEl, count ?? "");
    this.countEl.hidden = count === null;
    this.renderActions();
    this.tick();
  }

  /** Re-computes what depends on the time: age and reply window. */
  tick(): void {
    const now = this.now();
    const updated = parseTime(this.view.updated_at) ?? parseTime(this.view.created_at);
    if (updated !== null) {
      this.ageEl.hidden = false;
      this.ageEl.dateTime = new Date(updated).toISOString();
      setText(this.ageEl, ageLabel(updated, now));
    } else {
      this.ageEl.hidden = true;
    }
    const ends = parseTime(this.view.reply_window_ends_at);
    if (ends === null) {
      this.replyEl.hidden = true;
      setText(this.replyEl, "");
      delete this.replyEl.dataset.level;
    } else {
      const rw = replyWindow(ends, now);
      this.replyEl.hidden = false;
      this.replyEl.dataset.level = rw.level;
      this.replyEl.classList.toggle("warn", rw.level === "warn");
      this.replyEl.classList.toggle("closed", rw.level === "closed");
      setText(this.replyEl, rw.text);
    }
  }

  private renderActions(): void {
    const key = this.view.actions.map((a) => `${a}:${actionLabel(a, this.view)}`).join(",");
    if (key === this.actionsKey) return;
    this.actionsKey = key;
    const hadFocus = this.actionsEl.contains(document.activeElement)
      ? (document.activeElement as HTMLElement).dataset.action
      : undefined;
    this.buttons.clear();
    const buttons = this.view.actions.map((action, i) => {
      const b = el(
        "button",
        {
          type: "button",
          class: i === 0 ? "primary" : isBlock(action) ? "danger-outline" : "",
          "data-action": action,
          disabled: this.busy,
        },
        actionLabel(action, this.view),
      );
      b.addEventListener("click", () => this.onAction(action));
      this.buttons.set(action, b);
      return b;
    });
    replaceChildren(this.actionsEl, ...buttons);
    this.actionsEl.hidden = buttons.length === 0;
    // An open dialog whose action went away (e.g. the request was answered elsewhere) closes.
    if (this.dialog && !this.view.actions.includes("reject")) this.dialog.close("cancel");
    if (this.confirm && !this.view.actions.includes(this.confirm.action)) this.closeConfirm(false);
    if (hadFocus) {
      const again = this.buttons.get(hadFocus as Action) ?? buttons[0];
      again?.focus();
    }
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    for (const b of this.buttons.values()) b.disabled = busy;
    if (busy) this.li.setAttribute("aria-busy", "true");
    else this.li.removeAttribute("aria-busy");
  }

  private showError(message: string): void {
    setText(this.errorEl, message);
  }

  private onAction(action: Action): void {
    if (this.busy) return;
    if (action === "reject") return this.openRejectDialog();
    if (isBlock(action)) return this.openBlockConfirm(action);
    void this.send(action);
  }

  private async send(action: Action, reason?: string): Promise<void> {
    this.setBusy(true);
    this.showError("");
    try {
      await this.api.act(reason === undefined ? { id: this.view.id, action } : { id: this.view.id, action, reason });
    } catch (err) {
      this.showError(errorMessage(err));
    } finally {
      this.setBusy(false);
    }
  }

  private openRejectDialog(): void {
    if (this.dialog) {
      this.dialog.focus();
      return;
    }
    this.closeConfirm(false);
    this.showError("");
    const opener = () => this.buttons.get("reject");
    this.dialog = new ReasonDialog({
      heading: `Reject: ${truncate(this.view.title, 80)}`,
      label: "Reason (the requester sees it)",
      submitLabel: "Send rejection",
      submit: (reason) => this.api.act({ id: this.view.id, action: "reject", reason }),
      onClose: (how) => {
        this.dialog = null;
        if (how === "cancel" || this.li.isConnected) opener()?.focus();
      },
    });
    this.extraEl.appendChild(this.dialog.root);
    this.dialog.focus();
  }

  private openBlockConfirm(action: BlockAction): void {
    if (this.confirm) return;
    this.dialog?.close("cancel");
    this.showError("");
    const headingId = uid("block-heading");
    const yes = el("button", { type: "button", class: "danger" }, "Block for every agent");
    const no = el("button", { type: "button" }, "Cancel");
    const root = el(
      "div",
      { class: "inline-dialog", role: "alertdialog", "aria-labelledby": headingId },
      el("h4", { id: headingId, class: "dialog-heading" }, action === "block" ? "Block this number?" : "Block it anyway?"),
      el("p", {}, BLOCK_WARNINGS[action]),
      el("div", { class: "buttons" }, yes, no),
    );
    this.confirm = { root, action };
    yes.addEventListener("click", () => {
      this.closeConfirm(false);
      void this.send(action).then(() => {
        if (this.li.isConnected) this.buttons.get(action)?.focus();
      });
    });
    no.addEventListener("click", () => this.closeConfirm(true));
    root.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        this.closeConfirm(true);
      }
    });
    this.extraEl.appendChild(root);
    no.focus();
  }

  private closeConfirm(restoreFocus: boolean): void {
    if (!this.confirm) return;
    const { root, action } = this.confirm;
    root.remove();
    this.confirm = null;
    if (restoreFocus) this.buttons.get(action)?.focus();
  }
}
