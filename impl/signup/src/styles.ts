// The form's look. A website themes it with these custom properties on the element or any
// ancestor: --applytry-font, --applytry-text, --applytry-muted, --applytry-background,
// --applytry-border, --applytry-accent, --applytry-accent-text, --applytry-error,
// --applytry-success, --applytry-radius, --applytry-max-width.
export const STYLES = `
:host {
  display: block;
  box-sizing: border-box;
  max-width: var(--applytry-max-width, 28rem);
  margin: 0 auto;
  padding: 1.25rem;
  font: 1rem/1.5 var(--applytry-font, system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", sans-serif);
  color: var(--applytry-text, #1f2328);
  background: var(--applytry-background, #ffffff);
  border: 1px solid var(--applytry-border, #d0d7de);
  border-radius: var(--applytry-radius, 0.5rem);
}
:host([hidden]) { display: none; }
*, *::before, *::after { box-sizing: inherit; }
h2 { margin: 0 0 1rem; font-size: 1.25rem; line-height: 1.3; }
form { display: grid; gap: 0.875rem; }
form[hidden], [hidden] { display: none !important; }
.field { display: grid; gap: 0.25rem; min-width: 0; }
label { font-weight: 600; }
.row { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.row input { flex: 1 1 10rem; }
input {
  min-width: 0;
  width: 100%;
  padding: 0.5rem 0.625rem;
  font: inherit;
  color: inherit;
  background: var(--applytry-background, #ffffff);
  border: 1px solid var(--applytry-border, #8c959f);
  border-radius: var(--applytry-radius, 0.5rem);
}
input[aria-invalid="true"] { border-color: var(--applytry-error, #b42318); border-width: 2px; }
button {
  flex: 0 0 auto;
  padding: 0.5rem 1rem;
  font: inherit;
  font-weight: 600;
  color: var(--applytry-accent-text, #ffffff);
  background: var(--applytry-accent, #0a58ca);
  border: 0;
  border-radius: var(--applytry-radius, 0.5rem);
  cursor: pointer;
}
button:disabled { color: #3d444d; background: #d8dee4; cursor: not-allowed; }
input:focus-visible, button:focus-visible {
  outline: 3px solid var(--applytry-accent, #0a58ca);
  outline-offset: 2px;
}
.hint { margin: 0; font-size: 0.875rem; color: var(--applytry-muted, #57606a); }
.challenge { display: grid; gap: 0.25rem; }
progress { width: 100%; height: 0.5rem; accent-color: var(--applytry-accent, #0a58ca); }
#message { margin: 1rem 0 0; min-height: 1.5em; overflow-wrap: anywhere; }
#message:empty { margin: 0; min-height: 0; }
#message:focus { outline: none; } /* focused only to be read and seen, never typed in */
#message[data-kind="error"] { color: var(--applytry-error, #b42318); font-weight: 600; }
#message[data-kind="success"] { color: var(--applytry-success, #1a7f37); font-weight: 600; }
`;
