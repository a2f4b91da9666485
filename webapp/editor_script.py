"""The page's "Fix the cut-out" editor: a ``gr.HTML`` whose script paints keep and remove strokes.

Why its own component and not Gradio's ImageEditor: the strokes must reach the server as pure
white and black (a browser's antialiased edges are grey), a tap must fill a region, the
person's matte is shown as a tint under the strokes, and the keyboard must work (brush
toggle, undo). The script keeps two layers (keep, remove: painting one erases the other),
an operation list for undo, and after each change puts the strokes, thresholded to pure
black and white at the editor's size, into the component's value with the token of the photo
it was painted on (``webapp/cutout_editor.py``). "Apply" runs the tab's own job (its main
button), which reads that value.

Its words are the catalogues' ``ui.page.editor_*`` messages (the page script's table), so a
change of the page's language renames it at once.
"""
from __future__ import annotations

from typing import Any

import gradio as gr

from webapp.cutout_editor import editor_value
from webapp.language import ui
from webapp.ui import UI_ONLY

TEMPLATE = """
<div class="pl-editor">
  <p class="pl-ed-empty" data-word="editor_empty"></p>
  <div class="pl-ed-body" hidden>
    <div class="pl-ed-tools" role="toolbar" data-label-word="editor_tools">
      <div class="pl-ed-group" role="group" data-label-word="editor_label">
        <button type="button" data-label="keep" aria-pressed="true"><span class="pl-ed-swatch keep"></span><span data-word="editor_keep"></span></button>
        <button type="button" data-label="remove" aria-pressed="false"><span class="pl-ed-swatch remove"></span><span data-word="editor_remove"></span></button>
      </div>
      <div class="pl-ed-group" role="group" data-label-word="editor_tool">
        <button type="button" data-tool="brush" aria-pressed="true" data-word="editor_brush"></button>
        <button type="button" data-tool="region" aria-pressed="false" data-word="editor_region"></button>
      </div>
      <label class="pl-ed-size"><span data-word="editor_size"></span>
        <input type="range" min="2" max="120" step="1" value="24"></label>
      <button type="button" data-act="undo" data-word="editor_undo" disabled></button>
      <button type="button" data-act="clear" data-word="editor_clear" disabled></button>
      <label class="pl-ed-show"><input type="checkbox" checked><span data-word="editor_show"></span></label>
    </div>
    <p class="pl-ed-legend"><span class="pl-ed-swatch removed"></span><span data-word="editor_legend"></span></p>
    <canvas class="pl-ed-canvas" tabindex="0" role="img"></canvas>
    <p class="pl-ed-help" data-word="editor_help"></p>
    <p class="pl-ed-help pl-ed-keys" data-word="editor_keys"></p>
    <div class="pl-ed-actions">
      <button type="button" class="pl-ed-apply" data-act="apply" data-word="editor_apply" disabled></button>
      <span class="pl-ed-status" role="status" aria-live="polite"></span>
      <button type="button" class="pl-ed-see" data-act="see" data-word="editor_see_result" hidden></button>
    </div>
  </div>
</div>
"""

CSS = """
.pl-editor { display: flex; flex-direction: column; gap: 8px; }
.pl-editor .pl-ed-empty, .pl-editor .pl-ed-help { margin: 0; color: var(--body-text-color-subdued); font-size: 0.9em; }
/* the keys are for a keyboard: a phone's visitor would read them to no purpose */
@media (hover: none) and (pointer: coarse) { .pl-editor .pl-ed-keys { display: none; } }
.pl-editor .pl-ed-body { display: flex; flex-direction: column; gap: 8px; }
.pl-editor .pl-ed-body[hidden] { display: none; }
.pl-editor .pl-ed-tools { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.pl-editor .pl-ed-group { display: inline-flex; gap: 0; }
.pl-editor button { min-height: 40px; min-width: 40px; padding: 0 12px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--button-secondary-border-color, #d1d5db); background: var(--button-secondary-background-fill, #f3f4f6);
  color: var(--button-secondary-text-color, #111827); font: inherit; display: inline-flex; align-items: center; gap: 6px; }
.pl-editor .pl-ed-group button:first-child { border-radius: 6px 0 0 6px; }
.pl-editor .pl-ed-group button:last-child { border-radius: 0 6px 6px 0; border-left: 0; }
.pl-editor button[aria-pressed=true] { background: #111827; border-color: #111827; color: #fff; }
.pl-editor button:disabled { opacity: 0.55; cursor: not-allowed; }
.pl-editor button:focus-visible, .pl-editor canvas:focus-visible, .pl-editor input:focus-visible {
  outline: 2px solid #4f46e5; outline-offset: 2px; }
.pl-editor .pl-ed-swatch { width: 14px; height: 14px; border-radius: 50%; border: 2px solid #fff; display: inline-block; }
.pl-editor .pl-ed-swatch.keep { background: #1e88e5; }
.pl-editor .pl-ed-swatch.remove { background: #ff6d00; }
.pl-editor .pl-ed-swatch.removed { border-radius: 3px; border-color: #6b7280;
  background: repeating-linear-gradient(45deg, #fff 0 2px, #3a3a52 2px 7px); }
.pl-editor .pl-ed-legend { margin: 0; display: flex; gap: 8px; align-items: center; font-size: 0.9em; }
.pl-editor .pl-ed-see[hidden] { display: none; }
.pl-editor .pl-ed-size, .pl-editor .pl-ed-show { display: inline-flex; align-items: center; gap: 6px; min-height: 40px; }
.pl-editor .pl-ed-size input { width: 110px; }
.pl-editor .pl-ed-show input { width: 20px; height: 20px; appearance: auto; -webkit-appearance: checkbox; accent-color: #1e3a8a; }
.pl-editor canvas { display: block; max-width: 100%; max-height: 70vh; margin: 0 auto; touch-action: none;
  cursor: crosshair; border-radius: 6px; background: #ddd; }
.pl-editor .pl-ed-actions { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; }
.pl-editor .pl-ed-apply { background: var(--button-primary-background-fill, #4f46e5); color: var(--button-primary-text-color, #fff);
  border-color: transparent; font-weight: 600; }
.pl-editor .pl-ed-status { font-size: 0.9em; }
"""

# The editor's script (Gradio runs it once per component with element, props and watch).
EDITOR_JS = r"""
const root = element.querySelector('.pl-editor');
const body = root.querySelector('.pl-ed-body');
const canvas = root.querySelector('canvas');
const view = canvas.getContext('2d');
const sizeInput = root.querySelector('.pl-ed-size input');
const showInput = root.querySelector('.pl-ed-show input');
const statusLine = root.querySelector('.pl-ed-status');
const KEEP = '#1e88e5', REMOVE = '#ff6d00', REGION_TOLERANCE = 36, REACH = 0.05;  // REACH: strokes.BAND_SHARE
const MAX_CHARS = 470 * 1024;  // the server's limit on the strokes' data URL, with room
let W = 0, H = 0, token = null, photo = null, pixels = null, tint = null;
let layers = null, edges = null, ops = [], op = null, pending = null, hover = null, drawn = false;
let label = 'keep', tool = 'brush', dirty = false, waiting = false, exported = null, applied = null, status = '';
let smooth = null;  // the photo lightly blurred: a tapped region follows colours, not JPEG noise
// FNV-1a of the strokes sent: the server says which strokes its result used (webapp/cutout_editor.py)
const digest = (text) => { let h = 0x811c9dc5; for (let i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h.toString(16).padStart(8, '0'); };
// every canvas here is read back (strokes, regions, the export): kept in memory, not on the GPU
const make = (w, h) => { const c = document.createElement('canvas'); c.width = w; c.height = h;
  c.getContext('2d', {willReadFrequently: true}); return c; };
const words = () => (window.portraitLabWords && window.portraitLabWords()) || {};
const say = (key) => words()['ui.page.' + key] || '';

function relabel() {
  root.querySelectorAll('[data-word]').forEach((el) => { const text = say(el.dataset.word); if (text) el.textContent = text; });
  root.querySelectorAll('[data-label-word]').forEach((el) => el.setAttribute('aria-label', say(el.dataset.labelWord)));
  canvas.setAttribute('aria-label', say('editor_canvas'));
  setStatus(status);
}
new MutationObserver(relabel).observe(document.documentElement, {attributes: true, attributeFilter: ['lang']});
relabel(); setTimeout(relabel, 500);

function setStatus(key) { status = key || ''; statusLine.textContent = status ? say(status) : ''; }
function pressed() {
  root.querySelectorAll('[data-label]').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.label === label)));
  root.querySelectorAll('[data-tool]').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.tool === tool)));
  root.querySelector('[data-act=undo]').disabled = !ops.length;
  root.querySelector('[data-act=clear]').disabled = !visibleOps().length;
  root.querySelector('[data-act=apply]').disabled = !dirty || waiting;
}
const visibleOps = () => { const last = ops.map((o) => o.type).lastIndexOf('clear'); return ops.slice(last + 1); };

function loadImage(url) {
  return new Promise((resolve, reject) => { const img = new Image(); img.onload = () => resolve(img); img.onerror = reject; img.src = url; });
}
async function setMatte(url) {
  const img = await loadImage(url);
  const c = make(W, H), g = c.getContext('2d');
  g.drawImage(img, 0, 0, W, H);
  const data = g.getImageData(0, 0, W, H);
  // what the cut-out removes: darkened and striped, so it shows on dark hair and light walls alike
  const d = data.data, stripe = Math.max(6, Math.round(W / 90));
  for (let i = 0; i < d.length; i += 4) {
    const clear = (255 - d[i]) / 255, p = i / 4, on = ((p % W) + Math.floor(p / W)) % stripe < stripe / 3;
    d[i] = d[i + 1] = on ? 255 : 20; d[i + 2] = on ? 255 : 40; d[i + 3] = Math.round(clear * (on ? 150 : 140));
  }
  g.putImageData(data, 0, 0);
  tint = c;
}
async function start(value) {
  const img = await loadImage(value.photo);
  W = img.naturalWidth; H = img.naturalHeight;
  canvas.width = W; canvas.height = H;
  photo = make(W, H); photo.getContext('2d').drawImage(img, 0, 0);
  pixels = photo.getContext('2d').getImageData(0, 0, W, H).data;
  smooth = boxBlur(pixels, W, H, 2);
  layers = {keep: make(W, H), remove: make(W, H)}; edges = null;
  ops = []; dirty = false; hover = null;
  await setMatte(value.matte);
  body.hidden = false; root.querySelector('.pl-ed-empty').hidden = true;
  drawn = true; pressed(); render();
}
// A separable box blur (radius r) of RGBA pixels, RGB only: JPEG noise and fabric texture smoothed
// before a tapped region is grown.
function boxBlur(src, w, h, r) {
  const tmp = new Float32Array(w * h * 3), out = new Float32Array(w * h * 3), n = 2 * r + 1;
  for (let y = 0; y < h; y++) for (let c = 0; c < 3; c++) {
    let sum = 0;
    for (let k = -r; k <= r; k++) sum += src[(y * w + Math.min(w - 1, Math.max(0, k))) * 4 + c];
    for (let x = 0; x < w; x++) {
      tmp[(y * w + x) * 3 + c] = sum / n;
      sum += src[(y * w + Math.min(w - 1, x + r + 1)) * 4 + c] - src[(y * w + Math.max(0, x - r)) * 4 + c];
    }
  }
  for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
    let sum = 0;
    for (let k = -r; k <= r; k++) sum += tmp[(Math.min(h - 1, Math.max(0, k)) * w + x) * 3 + c];
    for (let y = 0; y < h; y++) {
      out[(y * w + x) * 3 + c] = sum / n;
      sum += tmp[(Math.min(h - 1, y + r + 1) * w + x) * 3 + c] - tmp[(Math.max(0, y - r) * w + x) * 3 + c];
    }
  }
  return out;
}
function reset() {
  token = null; ops = []; layers = null; tint = null; smooth = null; dirty = false; waiting = false; drawn = false;
  exported = null; applied = null; root.querySelector('.pl-ed-see').hidden = true;
  body.hidden = true; root.querySelector('.pl-ed-empty').hidden = false; setStatus('');
}

function render() {
  if (!drawn) return;
  view.clearRect(0, 0, W, H);
  view.drawImage(photo, 0, 0);
  if (showInput.checked && tint) view.drawImage(tint, 0, 0);
  const scratch = make(W, H), g = scratch.getContext('2d');
  for (const [name, colour] of [['keep', KEEP], ['remove', REMOVE]]) {
    g.globalCompositeOperation = 'source-over'; g.clearRect(0, 0, W, H); g.drawImage(layers[name], 0, 0);
    g.globalCompositeOperation = 'source-in'; g.fillStyle = colour; g.fillRect(0, 0, W, H);
    view.globalAlpha = 0.6; view.drawImage(scratch, 0, 0); view.globalAlpha = 1;
  }
  edges ||= [edgeOf(layers.keep), edgeOf(layers.remove)];  // of the strokes done (not redrawn while one is painted)
  for (const edge of edges) view.drawImage(edge, 0, 0);
  if (hover) {
    const ring = (radius, alpha) => {
      view.globalAlpha = alpha; view.beginPath(); view.arc(hover.x, hover.y, radius, 0, 2 * Math.PI);
      view.lineWidth = Math.max(1.5, W / 500); view.strokeStyle = '#fff'; view.stroke();
      view.setLineDash([4, 4]); view.strokeStyle = '#000'; view.stroke(); view.setLineDash([]); view.globalAlpha = 1;
    };
    ring(tool === 'brush' ? size() / 2 : 6, 1);
    // nearby pixels of the stroke's colours follow it up to this far (pipeline/cutout/strokes.py)
    if (tool === 'brush') ring(size() / 2 + REACH * Math.min(W, H), 0.45);
  }
}
// A black and white edge around the painted strokes: a stroke shows on any colour, the orange of
// a suit under Remove's orange included.
function edgeOf(mask) {
  const out = make(W, H), d = Math.max(1, Math.round(Math.min(W, H) / 400));
  const ring = (reach, colour) => {
    const c = make(W, H), g = c.getContext('2d');
    for (const [dx, dy] of [[-1, 0], [1, 0], [0, -1], [0, 1], [-1, -1], [1, 1], [-1, 1], [1, -1]]) g.drawImage(mask, dx * reach, dy * reach);
    g.globalCompositeOperation = 'destination-out'; g.drawImage(mask, 0, 0);
    g.globalCompositeOperation = 'source-in'; g.fillStyle = colour; g.fillRect(0, 0, W, H);
    out.getContext('2d').drawImage(c, 0, 0);
  };
  ring(2 * d, '#000'); ring(d, '#fff');
  return out;
}
let frame = 0;
const later = () => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); }); };
const size = () => Number(sizeInput.value);
const other = (name) => (name === 'keep' ? 'remove' : 'keep');

function paintSegment(o, a, b) {
  for (const [name, mode] of [[o.label, 'source-over'], [other(o.label), 'destination-out']]) {
    const g = layers[name].getContext('2d');
    g.globalCompositeOperation = mode; g.fillStyle = '#fff'; g.strokeStyle = '#fff';
    g.lineWidth = o.size; g.lineCap = 'round'; g.lineJoin = 'round';
    g.beginPath(); g.arc(b.x, b.y, o.size / 2, 0, 2 * Math.PI); g.fill();
    if (a) { g.beginPath(); g.moveTo(a.x, a.y); g.lineTo(b.x, b.y); g.stroke(); }
  }
}
// The region a tap means: pixels connected to it whose colour is near the tapped one, grown on
// the photo and on a lightly blurred copy; the larger wins (the copy for textured cloth and walls,
// the photo itself for a dark, glossy surface whose blurred highlights would stop the growth).
// On the copy, each pixel must also be within twice the tolerance in the photo itself: a blurred
// edge between hair and skin looks like hair, and without this a tap on hair ran down the cheek.
function regionMask(x, y) {
  const sx = Math.round(x), sy = Math.round(y);
  if (sx < 0 || sy < 0 || sx >= W || sy >= H) return new Uint8Array(W * H);
  const seed = sy * W + sx, inPhoto = (tolerance) => nearSeed(pixels, 4, seed, tolerance);
  const wide = inPhoto(2 * REGION_TOLERANCE), blurred = nearSeed(smooth, 3, seed, REGION_TOLERANCE);
  const sharp = grow(sx, sy, inPhoto(REGION_TOLERANCE - 6)), soft = grow(sx, sy, (i) => blurred(i) && wide(i));
  return sharp.count > soft.count ? sharp.mask : soft.mask;
}
function nearSeed(values, step, seed, tolerance) {
  const s = seed * step, r = values[s], gr = values[s + 1], bl = values[s + 2];
  return (i) => { const p = i * step, dr = values[p] - r, dg = values[p + 1] - gr, db = values[p + 2] - bl;
    return dr * dr + dg * dg + db * db <= tolerance * tolerance; };
}
function grow(sx, sy, near) {
  const mask = new Uint8Array(W * H);
  const stack = [sy * W + sx]; mask[sy * W + sx] = 1;
  let count = 1;
  while (stack.length) {
    const i = stack.pop(), px = i % W;
    for (const j of [px > 0 ? i - 1 : -1, px < W - 1 ? i + 1 : -1, i - W, i + W]) {
      if (j >= 0 && j < W * H && !mask[j] && near(j)) { mask[j] = 1; count += 1; stack.push(j); }
    }
  }
  return {mask, count};
}
function paintRegion(o) {
  const mask = regionMask(o.x, o.y);
  for (const name of ['keep', 'remove']) {
    const g = layers[name].getContext('2d'); g.globalCompositeOperation = 'source-over';
    const data = g.getImageData(0, 0, W, H), d = data.data;
    for (let i = 0; i < mask.length; i++) if (mask[i]) {
      const on = name === o.label; d[i * 4] = d[i * 4 + 1] = d[i * 4 + 2] = 255; d[i * 4 + 3] = on ? 255 : 0;
    }
    g.putImageData(data, 0, 0);
  }
}
function apply(o) {
  if (o.type === 'clear') { for (const c of Object.values(layers)) c.getContext('2d').clearRect(0, 0, W, H); return; }
  if (o.type === 'region') { paintRegion(o); return; }
  o.points.forEach((p, k) => paintSegment(o, k ? o.points[k - 1] : null, p));
}
function replay() { for (const c of Object.values(layers)) c.getContext('2d').clearRect(0, 0, W, H); ops.forEach(apply); }

// The strokes as the server reads them: white keep, black remove, transparent elsewhere, with
// no grey edge; at the editor's size, or smaller when that would not fit in a request.
function exportStrokes() {
  const keep = layers.keep.getContext('2d').getImageData(0, 0, W, H).data;
  const remove = layers.remove.getContext('2d').getImageData(0, 0, W, H).data;
  for (let step = 1; step <= 4; step *= 2) {
    const w = Math.max(1, Math.round(W / step)), h = Math.max(1, Math.round(H / step));
    const out = make(w, h), g = out.getContext('2d'), data = g.createImageData(w, h), d = data.data;
    let painted = false;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const src = (Math.min(H - 1, Math.floor(y * H / h)) * W + Math.min(W - 1, Math.floor(x * W / w))) * 4 + 3, o = (y * w + x) * 4;
      const value = keep[src] > 127 ? 255 : remove[src] > 127 ? 0 : -1;
      if (value >= 0) { d[o] = d[o + 1] = d[o + 2] = value; d[o + 3] = 255; painted = true; }
    }
    if (!painted) return null;
    g.putImageData(data, 0, 0);
    const url = out.toDataURL('image/png');
    if (url.length <= MAX_CHARS || step === 4) return url;
  }
  return null;
}
function changed() {
  edges = null;
  exported = exportStrokes();
  dirty = digest(exported || '') !== applied;
  pressed(); render();
  props.value = {token, strokes: exported};
  setStatus(dirty ? 'editor_not_applied' : '');
}

const at = (e) => { const r = canvas.getBoundingClientRect();
  return {x: (e.clientX - r.left) * W / r.width, y: (e.clientY - r.top) * H / r.height}; };
canvas.addEventListener('pointerdown', (e) => {
  if (!drawn || e.button > 0) return;
  e.preventDefault(); canvas.setPointerCapture(e.pointerId); canvas.focus({preventScroll: true});
  const p = at(e); hover = p;
  if (tool === 'brush') { op = {type: 'stroke', label, size: size(), points: [p]}; paintSegment(op, null, p); later(); }
  else pending = p;
});
canvas.addEventListener('pointermove', (e) => {
  if (!drawn) return;
  const p = at(e); hover = e.pointerType === 'touch' && !op ? null : p;
  if (op) { const last = op.points[op.points.length - 1]; op.points.push(p); paintSegment(op, last, p); }
  later();
});
const finish = () => {
  if (op) { ops.push(op); op = null; changed(); }
  else if (pending) { const o = {type: 'region', label, x: pending.x, y: pending.y}; pending = null; ops.push(o); apply(o); changed(); }
};
canvas.addEventListener('pointerup', (e) => { finish(); if (e.pointerType === 'touch') { hover = null; later(); } });
canvas.addEventListener('pointercancel', () => { if (op) { op = null; replay(); edges = null; render(); } pending = null; });
canvas.addEventListener('pointerleave', (e) => { if (e.pointerType !== 'touch' && !op) { hover = null; later(); } });

function undo() { if (!ops.length) return; ops.pop(); replay(); changed(); }
function clearAll() { if (!visibleOps().length) return; ops.push({type: 'clear'}); apply(ops[ops.length - 1]); changed(); }
function choose(what, value) { if (what === 'label') label = value; else tool = value; pressed(); later(); }
function runJob() {
  const button = document.getElementById(props.run_button);
  if (!button || !dirty || waiting) return;  // one run at a time: a second press waits for none
  waiting = true; pressed(); setStatus('editor_applying'); root.querySelector('.pl-ed-see').hidden = true;
  let tries = 240;
  const go = () => {
    if (tries-- <= 0) { waiting = false; pressed(); setStatus('editor_not_applied'); return; }
    if (button.disabled) { setTimeout(go, 500); return; }
    window.portraitLabStay = true; button.click();
    // the job over and, a moment later, still no new cut-out: it failed (the page says why)
    let grace = 4;
    const watchEnd = () => {
      if (!waiting) return;
      if (button.disabled || grace-- > 0) { setTimeout(watchEnd, 500); return; }
      waiting = false; pressed(); setStatus('editor_failed');
    };
    setTimeout(watchEnd, 1000);
  };
  go();
}
function seeResult() {
  const result = document.getElementById(props.result_id);
  if (result) { result.scrollIntoView({behavior: 'smooth', block: 'start'}); result.focus?.({preventScroll: true}); }
}
root.addEventListener('click', (e) => {
  const b = e.target.closest('button'); if (!b || b.disabled) return;
  if (b.dataset.label) choose('label', b.dataset.label);
  else if (b.dataset.tool) choose('tool', b.dataset.tool);
  else if (b.dataset.act === 'undo') undo();
  else if (b.dataset.act === 'clear') clearAll();
  else if (b.dataset.act === 'apply') runJob();
  else if (b.dataset.act === 'see') seeResult();
});
showInput.addEventListener('change', later);
sizeInput.addEventListener('input', later);
root.addEventListener('keydown', (e) => {
  if (!drawn || e.altKey) return;
  const key = e.key.toLowerCase(), onCanvas = e.target === canvas;
  if ((e.ctrlKey || e.metaKey) && key === 'z') { e.preventDefault(); undo(); return; }
  if (e.ctrlKey || e.metaKey) return;
  if (key === 'x') choose('label', other(label));
  else if (key === 'b') choose('tool', 'brush');
  else if (key === 'f') choose('tool', 'region');
  else if (key === 'z') undo();
  else if (key === '[' || key === ']') { sizeInput.value = Number(sizeInput.value) + (key === ']' ? 4 : -4); later(); }
  else if (onCanvas && e.key.startsWith('Arrow')) {
    const step = Math.max(2, W / 64), p = hover || {x: W / 2, y: H / 2};
    hover = {x: Math.min(W - 1, Math.max(0, p.x + (e.key === 'ArrowRight' ? step : e.key === 'ArrowLeft' ? -step : 0))),
             y: Math.min(H - 1, Math.max(0, p.y + (e.key === 'ArrowDown' ? step : e.key === 'ArrowUp' ? -step : 0)))};
    later();
  } else if (onCanvas && key === ' ') {
    const p = hover || {x: W / 2, y: H / 2}; hover = p;
    if (tool === 'brush') { const o = {type: 'stroke', label, size: size(), points: [p]}; paintSegment(o, null, p); ops.push(o); }
    else { const o = {type: 'region', label, x: p.x, y: p.y}; ops.push(o); apply(o); }
    changed();
  } else if (onCanvas && key === 'enter') runJob();
  else return;
  e.preventDefault();
});
canvas.addEventListener('focus', () => { if (drawn && !hover) { hover = {x: W / 2, y: H / 2}; later(); } });

async function onValue() {
  const v = props.value;
  if (!v) { reset(); return; }
  if (!v.matte) return;  // the strokes this script put there
  const fresh = v.token !== token || !drawn;
  token = v.token; applied = v.applied || null;
  if (fresh) exported = null;
  props.value = {token, strokes: exported};  // the pictures never travel back
  if (fresh) { if (v.photo) { await start(v); setStatus(''); } }
  else {
    await setMatte(v.matte); dirty = digest(exported || '') !== applied; waiting = false; pressed(); render();
    setStatus(dirty ? 'editor_not_applied' : exported ? 'editor_applied' : 'editor_applied_none');
    root.querySelector('.pl-ed-see').hidden = false;
  }
  root.dataset.token = token;
}
watch('value', () => { onValue().catch((error) => console.error('cut-out editor:', error)); });
// a fold opened after the result: the editor is drawn then, with the value already there
if (props.value) onValue().catch((error) => console.error('cut-out editor:', error));
"""


def cutout_editor(run_button: str, result_id: str, elem_id: str) -> gr.HTML:
    """The editor; ``run_button``: the elem_id of the tab's main button, which "Apply" presses;
    ``result_id``: the result's, which "See the result" scrolls to (a phone shows it far above)."""
    return gr.HTML(None, html_template=TEMPLATE, css_template=CSS, js_on_load=EDITOR_JS, elem_id=elem_id,
                   run_button=run_button, result_id=result_id, apply_default_css=False)


def fix_controls(run_button: str, result_id: str, prefix: str) -> tuple[gr.HTML, gr.File, gr.State]:
    """"Fix the cut-out" under a tab's result: the editor in a fold, the stroke mask a script
    may send instead (hidden: the API's ``strokes``), and the session's handle of its last
    result (server-side state: ``webapp.cutout_editor.FoundHandle``)."""
    with gr.Accordion(ui("editor.title"), open=False, elem_id=f"{prefix}-fix", elem_classes=["fix-fold"]):
        editor = cutout_editor(run_button, result_id, f"{prefix}-editor")
    strokes = gr.File(label=ui("editor.strokes_file"), file_types=["image"], visible=False)
    return editor, strokes, gr.State(None)


def wire_fix(run: Any, photo: gr.Image, editor: gr.HTML, found: gr.State) -> None:
    """The editor is given the result's photo and matte after each success (a UI event, so the
    API's outputs stay as they were), and empties when the photo changes."""
    run.success(editor_value, found, editor, show_progress="hidden", **UI_ONLY)
    photo.change(lambda: None, None, editor, show_progress="hidden", **UI_ONLY)
