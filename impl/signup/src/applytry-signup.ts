// <applytry-signup>: the one-click trial form as a web component. It asks for a code by SMS,
// counts down what Retry-After asks, solves a challenge when the service wants one, then opens
// the trial with the code. Every outcome lands in one live region (#message) with its
// `data-code`, so screen readers announce it and pages can style or test it.
//
//   <script type="module" src="https://SERVICE/signup/applytry-signup.js"></script>
//   <applytry-signup api="https://SERVICE"></applytry-signup>
//
// Attributes: api (the service; default: where this script came from), lang (zh | en; default:
// the browser's languages), api-key and api-key-header (X-APP-Key unless a proxy renames it).
import { type ApplytryClient, createApplytryClient } from "../client";
import { solveChallenge } from "./challenge";
import { type Language, pickLanguage, type Words, words } from "./messages";
import { STYLES } from "./styles";

type Kind = "info" | "error" | "success";

interface Outcome {
  kind: Kind;
  code: string;
  retryAfter?: number;
  /** The catalogue's key for the text, when not `code`'s own. */
  words?: string;
  /** The service's own words, said after ours (the returnMsg of a success). */
  said?: string;
  /** The field a 400 names, by the form's id. */
  field?: string;
}

const PROBLEMS = new Set([400, 401, 403, 404, 408, 413, 415, 429]);
// A 201 that waits longer than a resend interval is an hourly or daily allowance used up.
const LONG_WAIT_S = 120;
// The request's fields by the form's ids, for a 400 whose detail names one.
const FIELDS: Record<string, string> = {
  phone: "phone",
  phoneVerifyCode: "code",
  companyName: "company",
  email: "email",
};
const FULL_WIDTH = /[\uFF10-\uFF19\uFF0B]/g;

/** Full-width digits and plus sign, as Chinese keyboards type them, as ASCII. */
function ascii(text: string): string {
  return text.replace(FULL_WIDTH, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0));
}

function halfWidth(text: string): string {
  return ascii(text).trim();
}

function retryAfter(response: Response): number | undefined {
  const seconds = Number(response.headers.get("Retry-After"));
  return Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds) : undefined;
}

/** A problem (RFC 9457) answer as an outcome. Its `detail` is the service's words for
 * developers, never shown; it only tells which field a 400 is about ("... - 'email'",
 * "phone is not a valid phone number"). Statuses the form cannot cause (405, ...) are the
 * service's or the site's failure: said as a 500. */
function problem(response: Response, body?: unknown): Outcome {
  const status = response.status;
  const code = PROBLEMS.has(status) ? `http-${status}` : "http-500";
  const detail = (body as { detail?: unknown } | undefined)?.detail;
  const named = typeof detail === "string" ? /'(\w+)'$|^(\w+) is /.exec(detail) : null;
  const field = named ? FIELDS[named[1] ?? named[2]] : undefined;
  return { kind: "error", code, retryAfter: retryAfter(response), field };
}

const NETWORK: Outcome = { kind: "error", code: "network" };

const TEMPLATE = `
<h2 id="heading"></h2>
<form id="signup" novalidate>
  <div class="field">
    <label for="phone" data-words="phone"></label>
    <div class="row">
      <input id="phone" name="phone" type="tel" autocomplete="tel" inputmode="tel" maxlength="32"
             aria-describedby="phone-hint" required>
      <button id="send" type="button"></button>
    </div>
    <p id="phone-hint" class="hint" data-words="phoneHint"></p>
  </div>
  <div id="challenge" class="challenge" hidden>
    <label for="progress" data-words="solving"></label>
    <progress id="progress" max="1" value="0"></progress>
  </div>
  <div class="field">
    <label for="code" data-words="code"></label>
    <input id="code" name="code" autocomplete="one-time-code" inputmode="numeric" maxlength="12"
           required>
  </div>
  <div class="field">
    <label for="company" data-words="company"></label>
    <input id="company" name="company" autocomplete="organization" maxlength="128" required>
  </div>
  <div class="field">
    <label for="email" data-words="email"></label>
    <input id="email" name="email" type="email" autocomplete="email" maxlength="254" required>
  </div>
  <div class="row"><button id="apply" type="submit"></button></div>
</form>
<p id="message" role="status" aria-live="polite" tabindex="-1"></p>
`;

/** A button that waits: disabled, counting the seconds down in its label, then back. */
class Countdown {
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly button: HTMLButtonElement,
    private readonly counting: (seconds: number) => string,
    private readonly idle: () => string,
  ) {}

  get running(): boolean {
    return this.#timer !== undefined;
  }

  start(seconds: number): void {
    this.stop();
    const end = Date.now() + seconds * 1000;
    const tick = () => {
      const left = Math.ceil((end - Date.now()) / 1000);
      if (left <= 0) {
        this.stop();
        return;
      }
      this.button.disabled = true;
      this.button.dataset.countdown = String(left);
      this.button.textContent = this.counting(left);
    };
    tick();
    this.#timer = setInterval(tick, 250);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    delete this.button.dataset.countdown;
    this.button.disabled = false;
    this.button.textContent = this.idle();
  }
}

export class ApplytrySignup extends HTMLElement {
  static observedAttributes = ["lang"];

  readonly #root: ShadowRoot;
  #language: Language = "en";
  #sent = false;
  #busy = false;
  #last: Outcome | undefined;
  #sendWait: Countdown;
  #applyWait: Countdown;

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
    // A constructed sheet, which a page's Content-Security-Policy (style-src) does not block.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLES);
    this.#root.adoptedStyleSheets = [sheet];
    const template = document.createElement("template");
    template.innerHTML = TEMPLATE;
    this.#root.append(template.content);
    this.#sendWait = new Countdown(
      this.#button("send"),
      (s) => this.#words.sendIn(s),
      () => (this.#sent ? this.#words.sendAgain : this.#words.send),
    );
    this.#applyWait = new Countdown(
      this.#button("apply"),
      (s) => this.#words.applyIn(s),
      () => this.#words.apply,
    );
    this.#button("send").addEventListener("click", () => void this.#sendCode());
    this.#form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.#apply();
    });
    // Enter in the phone field asks for the code rather than submitting the whole form.
    this.#input("phone").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        if (!this.#button("send").disabled) void this.#sendCode();
      }
    });
    for (const input of this.#root.querySelectorAll("input")) {
      input.addEventListener("input", () => input.removeAttribute("aria-invalid"));
    }
    // Chinese keyboards may type full-width digits; show (and send) them as ASCII.
    for (const id of ["phone", "code"]) {
      const input = this.#input(id);
      input.addEventListener("input", () => {
        const typed = ascii(input.value);
        if (typed !== input.value) input.value = typed;
      });
    }
  }

  connectedCallback(): void {
    this.#render();
  }

  attributeChangedCallback(): void {
    this.#render();
  }

  get #words(): Words {
    return words(this.#language);
  }

  get #form(): HTMLFormElement {
    return this.#root.getElementById("signup") as HTMLFormElement;
  }

  get #message(): HTMLElement {
    return this.#root.getElementById("message") as HTMLElement;
  }

  #input(id: string): HTMLInputElement {
    return this.#root.getElementById(id) as HTMLInputElement;
  }

  #button(id: string): HTMLButtonElement {
    return this.#root.getElementById(id) as HTMLButtonElement;
  }

  #render(): void {
    const chosen = this.getAttribute("lang");
    this.#language = chosen ? pickLanguage([chosen]) : pickLanguage(navigator.languages ?? []);
    const texts = this.#words as unknown as Record<string, string>;
    this.#root.getElementById("heading")!.textContent = this.#words.heading;
    for (const element of this.#root.querySelectorAll<HTMLElement>("[data-words]")) {
      element.textContent = texts[element.dataset.words!];
    }
    this.#form.lang = this.#language === "zh" ? "zh-CN" : "en";
    this.#message.lang = this.#form.lang;
    if (!this.#sendWait.running) this.#sendWait.stop();
    if (!this.#applyWait.running) this.#applyWait.stop();
    if (this.#last) this.#say(this.#last); // in the new language
  }

  #client(): ApplytryClient {
    const api = this.getAttribute("api") ?? new URL("..", import.meta.url).href;
    const key = this.getAttribute("api-key");
    const headers: Record<string, string> = {
      "Accept-Language": this.#language === "zh" ? "zh-CN" : "en",
    };
    if (key) headers[this.getAttribute("api-key-header") || "X-APP-Key"] = key;
    return createApplytryClient(api, { headers });
  }

  #say(outcome: Outcome): void {
    const message = this.#message;
    const outcomes = this.#words.outcomes;
    // A wait is shown on the button that counts it down, not in the message.
    let text = outcomes[outcome.words ?? outcome.code] ?? outcomes["http-500"];
    if (outcome.said) text += (this.#language === "zh" ? "" : " ") + outcome.said;
    this.#last = outcome;
    message.dataset.kind = outcome.kind;
    message.dataset.code = outcome.code;
    message.textContent = text;
  }

  #invalid(input: HTMLInputElement): void {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }

  async #busyWith(work: () => Promise<void>): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    const send = this.#button("send");
    const apply = this.#button("apply");
    const pressed = this.#root.activeElement as HTMLElement | null;
    send.disabled = apply.disabled = true;
    this.#say({ kind: "info", code: "pending" });
    try {
      await work();
    } catch {
      this.#say(NETWORK); // fetch rejects only when no answer came back
    } finally {
      this.#busy = false;
      if (!this.#sendWait.running) send.disabled = false;
      if (!this.#applyWait.running) apply.disabled = false;
      // Disabling the pressed button took the focus; give it back, or, while the button waits
      // out a countdown, to the message that says why (which a small screen scrolls to).
      if (pressed && !this.#root.activeElement) {
        if ((pressed as HTMLButtonElement).disabled) this.#message.focus();
        else pressed.focus();
      }
    }
  }

  async #sendCode(): Promise<void> {
    const phoneInput = this.#input("phone");
    const phone = halfWidth(phoneInput.value);
    if (!phone) {
      this.#say({ kind: "error", code: "missing-phone" });
      this.#invalid(phoneInput);
      return;
    }
    await this.#busyWith(async () => {
      const client = this.#client();
      let outcome = await this.#generate(client, phone);
      if (outcome.code === "challenge") {
        outcome = await this.#withChallenge(client, phone, outcome);
      }
      this.#say(outcome);
      if (outcome.code === "generate-200") {
        this.#sent = true;
        this.#sendWait.stop();
        this.#input("code").focus();
      } else if (outcome.retryAfter) {
        this.#sendWait.start(outcome.retryAfter);
      }
      if (outcome.code === "http-400") this.#invalid(phoneInput);
    });
  }

  async #generate(client: ApplytryClient, phone: string, challenge?: string): Promise<Outcome> {
    const body = challenge ? { phone, challenge } : { phone };
    const { data, error, response } = await client.POST("/applyTry/generateverifycode", { body });
    if (!data) return problem(response, error);
    const wait = retryAfter(response);
    if (data.challengeRequired) return { kind: "info", code: "challenge", retryAfter: wait };
    if (data.retCode === "201" && wait && wait > LONG_WAIT_S) {
      return { kind: "info", code: "generate-201", retryAfter: wait, words: "generate-201-later" };
    }
    // 201 is a wait, which the button counts down; 202, 204 and 205 are failures.
    const kind: Kind = data.retCode === "200" || data.retCode === "201" ? "info" : "error";
    return { kind, code: `generate-${data.retCode}`, retryAfter: wait };
  }

  /** The service asked for a challenge: solve it, with progress shown, and ask again. */
  async #withChallenge(client: ApplytryClient, phone: string, asked: Outcome): Promise<Outcome> {
    const failed: Outcome = { kind: "error", code: "challenge-failed", retryAfter: asked.retryAfter };
    const box = this.#root.getElementById("challenge")!;
    const progress = this.#root.getElementById("progress") as HTMLProgressElement;
    this.#say({ kind: "info", code: "challenge-solving" });
    progress.value = 0;
    box.hidden = false;
    try {
      const { data, error, response } = await client.POST("/applyTry/challenge", { body: { phone } });
      if (!data) return problem(response, error);
      // A third-party challenge needs that provider's widget, which this form does not carry.
      if (data.kind !== "altcha") return { kind: "error", code: "challenge-unsupported" };
      const solution = await solveChallenge(data, (share) => (progress.value = share));
      if (!solution) return failed;
      progress.value = 1;
      const outcome = await this.#generate(client, phone, solution);
      return outcome.code === "challenge" ? failed : outcome;
    } finally {
      box.hidden = true;
    }
  }

  async #apply(): Promise<void> {
    const phone = this.#input("phone");
    if (!halfWidth(phone.value)) {
      this.#say({ kind: "error", code: "missing-phone" });
      this.#invalid(phone);
      return;
    }
    const fields = ["code", "company", "email"].map((id) => this.#input(id));
    const missing = fields.filter((input) => !input.value.trim());
    if (missing.length) {
      for (const input of missing) input.setAttribute("aria-invalid", "true");
      this.#say({ kind: "error", code: "missing-fields" });
      missing[0].focus();
      return;
    }
    const [code, company, email] = fields;
    await this.#busyWith(async () => {
      const { data, error, response } = await this.#client().POST("/applyTry/applyTenant", {
        body: {
          companyName: company.value.trim(),
          phone: halfWidth(phone.value),
          phoneVerifyCode: halfWidth(code.value).replace(/\s+/g, ""),
          email: email.value.trim(),
        },
      });
      if (!data) {
        const outcome = problem(response, error);
        this.#say(outcome);
        if (outcome.field) this.#invalid(this.#input(outcome.field));
        if (outcome.retryAfter) this.#applyWait.start(outcome.retryAfter);
        return;
      }
      const outcome = `apply-${data.returnCode}`;
      if (data.returnCode === "000") {
        this.#say({ kind: "success", code: outcome, said: data.returnMsg });
        this.#message.focus(); // the form, and the button that had focus, go away
        this.#form.hidden = true;
        this.dispatchEvent(
          new CustomEvent("applytry-signup-done", {
            bubbles: true,
            composed: true,
            detail: { returnCode: data.returnCode, returnMsg: data.returnMsg },
          }),
        );
        return;
      }
      this.#say({ kind: "error", code: outcome });
      if (data.returnCode === "001" || data.returnCode === "002") this.#invalid(code);
    });
  }
}

if (!customElements.get("applytry-signup")) {
  customElements.define("applytry-signup", ApplytrySignup);
}
