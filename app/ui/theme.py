"""Look and behaviour of the window: a theme on system fonts, CSS, and the page's small script.

Nothing here loads from the internet: fonts are the system's (no Google Fonts), and the script
(inline, in the page's head) only adds keyboard shortcuts and the window-wide PDF drop zone.
"""

from __future__ import annotations

import gradio as gr

SANS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Ubuntu", "Cantarell", "Noto Sans",
        "DejaVu Sans", "Helvetica Neue", "Arial", "sans-serif"]
MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "DejaVu Sans Mono", "monospace"]

# elem_ids the script and the tests rely on.
DROP_ID = "dl-drop"
INPUT_ID = "dl-input"


def theme() -> gr.themes.Base:
    """A calm indigo theme on system fonts."""
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="slate", neutral_hue="slate",
                          radius_size="md", font=SANS, font_mono=MONO).set(
        body_background_fill="#f6f7fb", block_shadow="none", block_border_width="1px",
        button_cancel_background_fill="#dc2626", button_cancel_background_fill_hover="#b91c1c",
        button_cancel_text_color="white", button_cancel_text_color_hover="white")


CSS = """
.gradio-container { max-width: 1500px !important; }
/* The sidebar's tabs scroll on their own, so the tabs and the chat never leave the screen. */
#dl-sidebar { min-width: 320px; max-width: 380px; position: sticky; top: 8px;
  align-self: flex-start; }
#dl-tab-library, #dl-tab-several, #dl-settings { max-height: calc(100vh - 240px); overflow-y: auto;
  padding-right: 4px; }
/* Apply stays in view at the foot of the scrolling settings tab (a 720-pixel-high screen cuts the tab). */
#dl-apply { position: sticky; bottom: 0; z-index: 5; }
#dl-tabs button[role=tab] { padding-left: 10px; padding-right: 10px; }
#dl-main { gap: 8px; }
#dl-brand h1 { font-size: 1.35rem; margin: 0; }
#dl-brand p { margin: 0; color: var(--body-text-color-subdued); font-size: .85rem; }
#dl-docs label, #dl-several label { white-space: pre-line; width: 100%; line-height: 1.35; align-items: flex-start; }
#dl-docs .wrap, #dl-several .wrap { flex-direction: column; gap: 6px; }
#dl-docs input, #dl-several input { margin-top: 3px; }
.dl-status { display: flex; flex-wrap: wrap; gap: 6px 18px; font-size: .85rem;
  color: var(--body-text-color-subdued); padding: 2px 4px; }
.dl-status b { color: var(--body-text-color); font-weight: 600; margin-right: 4px; }
.dl-status-error { color: var(--error-text-color); }
.dl-status i { font-style: normal; color: var(--body-text-color); }
.dl-expect { font-size: .82rem; padding: 5px 10px; border-radius: 8px;
  background: var(--color-accent-soft); color: var(--body-text-color); }
.dl-expect code { font-size: .8rem; white-space: nowrap; }
#dl-chat mark { background: #fde68a; color: inherit; padding: 0 2px; border-radius: 3px; }
/* Gradio's queue and timing text ("queue: 1/1 0.0/0.1s") would flicker over the chat. */
#dl-chat .progress-text, #dl-chat .eta-bar, #dl-chat .meta-text, #dl-chat .meta-text-center,
#dl-status .progress-text, #dl-status .meta-text, #dl-expect .meta-text { display: none !important; }
.dl-job { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px;
  margin-bottom: 6px; background: var(--background-fill-primary); font-size: .85rem; }
.dl-job-head { display: flex; justify-content: space-between; gap: 8px; font-weight: 600; }
.dl-job-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.dl-job-pct { margin-left: auto; }
.dl-job-close { border: none; background: none; padding: 0 2px; cursor: pointer; font-size: 1rem;
  line-height: 1; color: var(--body-text-color-subdued); }
.dl-job-close:hover, .dl-job-close:focus-visible { color: var(--body-text-color); }
.dl-bar { height: 6px; border-radius: 3px; background: var(--neutral-200); margin: 6px 0 4px;
  overflow: hidden; }
.dl-bar > div { height: 100%; background: var(--color-accent); transition: width .4s; }
.dl-job-detail { color: var(--body-text-color-subdued); }
.dl-job-failed { border-color: var(--error-border-color); }
.dl-job-failed .dl-bar > div { background: var(--error-text-color); }
.dl-job-failed .dl-job-detail { color: var(--error-text-color); }
.dl-job-done .dl-bar > div { background: #16a34a; }
#dl-progress { max-height: 30vh; overflow-y: auto; }  /* many cards never push the library away */
.dl-download-card { display: flex; flex-wrap: wrap; align-items: baseline; gap: 8px; font-size: .85rem; }
.dl-download-card a { padding: 0; min-width: 0; overflow-wrap: anywhere; text-align: left;
  font-weight: 600; color: var(--color-accent); }
.dl-download-size { flex: none; color: var(--body-text-color-subdued); }
.dl-download-note { flex-basis: 100%; color: var(--body-text-color-subdued); font-size: .8rem; }
#dl-keys, #dl-keys p { color: var(--body-text-color-subdued); font-size: .8rem; margin: 0; }
#dl-drop { min-height: 0 !important; }
#dl-drop .wrap { font-size: .9rem; }
#dl-drop-overlay { position: fixed; inset: 0; z-index: 1000; display: none;
  align-items: center; justify-content: center; background: rgba(79, 70, 229, .12);
  border: 3px dashed var(--color-accent); font-size: 1.4rem; font-weight: 600;
  color: var(--color-accent); pointer-events: none; }
body.dl-dragging #dl-drop-overlay { display: flex; }
#dl-confirm { border: 1px solid var(--error-border-color); border-radius: 8px; padding: 8px; }
#dl-delete { color: var(--error-text-color); }
footer { display: none !important; }
"""

# Added to the page's <head>: Esc stops the answer; PDFs dropped anywhere are handed to the upload
# component's file input (a drop on the component itself is left to the component).
HEAD = """<script>
(() => {
  const overlay = () => {
    let el = document.getElementById('dl-drop-overlay');
    if (!el) {
      el = document.createElement('div');
      el.id = 'dl-drop-overlay';
      el.textContent = 'Drop PDFs to add them to the library';
      document.body.appendChild(el);
    }
    return el;
  };
  const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files');
  const inDropZone = (e) => e.target instanceof Element && e.target.closest('#DROP_ID');
  let depth = 0;
  window.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    overlay();
    depth += 1;
    document.body.classList.add('dl-dragging');
  });
  window.addEventListener('dragleave', (e) => {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) document.body.classList.remove('dl-dragging');
  });
  window.addEventListener('dragover', (e) => { if (hasFiles(e) && !inDropZone(e)) e.preventDefault(); });
  window.addEventListener('drop', (e) => {
    depth = 0;
    document.body.classList.remove('dl-dragging');
    if (!hasFiles(e) || inDropZone(e)) return;
    e.preventDefault();
    const input = document.querySelector('#DROP_ID input[type=file]');
    if (!input) return;
    const files = new DataTransfer();
    for (const f of e.dataTransfer.files) files.items.add(f);
    input.files = files.files;
    input.dispatchEvent(new Event('change', { bubbles: true }));
  });
  window.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    const stop = document.querySelector('#INPUT_ID [data-testid=stop-button]');
    if (stop) { e.preventDefault(); stop.click(); }
  });
})();
</script>""".replace("DROP_ID", DROP_ID).replace("INPUT_ID", INPUT_ID)
