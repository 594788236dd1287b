/**
 * An inline dialog that asks for a reason (Reject, Withdraw: R8). A blank reason is
 * refused next to the field and nothing is sent. Escape or Cancel closes it; focus
 * moves into the field on open and back to the opener on close.
 */
import { el, setText, uid } from "./dom";
import { errorMessage } from "./ipc";
import { REASON_REQUIRED, reasonIsValid } from "./format";

export interface ReasonDialogOptions {
  /** The dialog's heading, e.g. "Reject the request from Sam Lee". */
  heading: string;
  /** The field's label. */
  label: string;
  /** The submit button's label. */
  submitLabel: string;
  /** Sends the reason; a rejection is shown in the dialog. */
  submit: (reason: string) => Promise<unknown>;
  /** Called after the dialog closed (by Cancel, Escape or success). */
  onClose: (how: "cancel" | "done") => void;
}

export class ReasonDialog {
  readonly root: HTMLElement;
  readonly field: HTMLInputElement;
  private readonly error: HTMLElement;
  private readonly submitButton: HTMLButtonElement;
  private readonly cancelButton: HTMLButtonElement;
  private busy = false;
  private closed = false;

  constructor(private readonly opts: ReasonDialogOptions) {
    const headingId = uid("reason-heading");
    const fieldId = uid("reason-field");
    const errorId = uid("reason-error");
    this.field = el("input", {
      type: "text",
      id: fieldId,
      class: "reason-field",
      maxlength: 1000,
      autocomplete: "off",
      "aria-describedby": errorId,
      required: true,
    });
    this.error = el("p", { id: errorId, class: "field-error", "aria-live": "polite" });
    this.submitButton = el("button", { type: "submit", class: "danger" }, opts.submitLabel);
    this.cancelButton = el("button", { type: "button" }, "Cancel");
    const form = el(
      "form",
      { class: "reason-form", novalidate: true },
      el("label", { for: fieldId }, opts.label),
      this.field,
      this.error,
      el("div", { class: "buttons" }, this.submitButton, this.cancelButton),
    );
    this.root = el(
      "div",
      { class: "inline-dialog", role: "dialog", "aria-labelledby": headingId },
      el("h4", { id: headingId, class: "dialog-heading" }, opts.heading),
      form,
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void this.send();
    });
    this.field.addEventListener("input", () => {
      if (this.field.getAttribute("aria-invalid") === "true" && reasonIsValid(this.field.value)) {
        this.field.removeAttribute("aria-invalid");
        setText(this.error, "");
      }
    });
    this.cancelButton.addEventListener("click", () => this.close("cancel"));
    this.root.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        this.close("cancel");
      }
    });
  }

  focus(): void {
    this.field.focus();
  }

  /** Shows `message` next to the field. */
  showError(message: string): void {
    setText(this.error, message);
    this.field.setAttribute("aria-invalid", "true");
  }

  close(how: "cancel" | "done"): void {
    if (this.closed) return;
    this.closed = true;
    this.root.remove();
    this.opts.onClose(how);
  }

  private async send(): Promise<void> {
    if (this.busy) return;
    const reason = this.field.value;
    if (!reasonIsValid(reason)) {
      this.showError(REASON_REQUIRED);
      this.field.focus();
      return;
    }
    this.busy = true;
    this.submitButton.disabled = true;
    this.root.setAttribute("aria-busy", "true");
    setText(this.error, "");
    try {
      await this.opts.submit(reason.trim());
      this.close("done");
    } catch (err) {
      this.showError(errorMessage(err));
      this.field.focus();
    } finally {
      this.busy = false;
      this.submitButton.disabled = false;
      this.root.removeAttribute("aria-busy");
    }
  }
}
