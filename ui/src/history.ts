/** The History tab: the last 100 notifications, live or not, with their state. */
import type { Api } from "./ipc";
import { errorMessage } from "./ipc";
import { el, replaceChildren } from "./dom";
import { BODY_LIMIT, TITLE_LIMIT, kindLabel, parseTime, stateLabel, timeLabel, truncate } from "./format";
import type { NotificationView } from "./types";

export const HISTORY_LIMIT = 100;

export class HistoryView {
  readonly root: HTMLElement;
  private readonly body: HTMLElement;
  private seq = 0;

  constructor(private readonly api: Api) {
    const refresh = el("button", { type: "button", class: "refresh" }, "Refresh");
    refresh.addEventListener("click", () => void this.load());
    this.body = el("div", { class: "history-body", "aria-live": "polite" });
    this.root = el(
      "section",
      { class: "history", "aria-labelledby": "history-heading" },
      el("div", { class: "section-head" }, el("h2", { id: "history-heading" }, "History"), refresh),
      this.body,
    );
  }

  async load(): Promise<void> {
    const seq = ++this.seq;
    this.root.setAttribute("aria-busy", "true");
    try {
      const items = await this.api.history(HISTORY_LIMIT);
      if (seq !== this.seq) return;
      this.render(Array.isArray(items) ? items : []);
    } catch (err) {
      if (seq !== this.seq) return;
      replaceChildren(this.body, el("p", { class: "error" }, `History could not be loaded: ${errorMessage(err)}`));
    } finally {
      if (seq === this.seq) this.root.removeAttribute("aria-busy");
    }
  }

  private render(items: NotificationView[]): void {
    if (items.length === 0) {
      replaceChildren(this.body, el("p", { class: "empty" }, "No notifications yet."));
      return;
    }
    const list = el(
      "ul",
      { class: "history-list", "aria-label": "Past notifications, newest first" },
      ...items.map((n) => {
        const t = parseTime(n.updated_at) ?? parseTime(n.created_at);
        return el(
          "li",
          { class: "history-item", "data-id": n.id },
          el("div", { class: "meta" },
            el("span", { class: "kind" }, kindLabel(n.kind)),
            el("span", { class: `state${n.live ? " live" : ""}` }, n.live ? "live" : stateLabel(n.state)),
            t === null ? null : el("time", { datetime: new Date(t).toISOString() }, timeLabel(t)),
          ),
          el("p", { class: "title" }, truncate(n.title, TITLE_LIMIT)),
          n.body === "" ? null : el("p", { class: "body" }, truncate(n.body, BODY_LIMIT)),
        );
      }),
    );
    replaceChildren(this.body, list);
  }
}
