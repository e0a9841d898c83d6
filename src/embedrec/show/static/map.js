// The one canvas map of an embedding space, shared by the web page and the exported HTML file.
//
// createMap(root, options) fills `root` with a focusable canvas, a tooltip, zoom buttons and a live
// region, and returns the component. A page hands it points (setPoints) and highlighted layers
// (setLayers), both by id, and hears back through options.onSelect. All state lives in this closure.
// What was drawn is published on root.dataset.layout (screen positions of the highlighted points, the
// label boxes, the focused and hovered point), so tests and scripts can check it without globals.
import { announce, el } from "embedrec/dom.js";
import { bulkBox, fitFrame, labelBox, nearestPoint, stepFrom } from "embedrec/geometry.js";
import { tracePath } from "embedrec/shapes.js";

const MARGIN = 28; // px kept free around the points when the frame is fitted, so markers and labels fit
const LABEL_FONT = "600 11.5px system-ui, sans-serif";
const LABEL_H = 15;
const HIT = { mouse: 10, pen: 10, touch: 18 }; // px: how close a pointer must come to hit a point
const ZOOM = { min: 0.5, max: 60, step: 1.5 };
const HELP =
  "Arrow keys move to the nearest point in that direction, Enter selects it, Escape clears, " +
  "plus and minus zoom, 0 fits the whole map.";

/**
 * options: label (the canvas's accessible name), describe(id) -> {title, lines} for the tooltip and the
 * live region, onSelect(id | null) when a point is clicked or Enter is pressed (null: Escape).
 * Points: {ids, x, y, names (label text), style (a code per point), styles: [{color, shape, r, alpha, faint}]}.
 * Layers: [{name, ids, color, shape, r, stroke, ring, label, labelColor, linksFrom, linkColor}].
 */
export function createMap(root, { label, describe, onSelect = () => {}, help = HELP }) {
  root.classList.add("emap");
  const canvas = el("canvas", "emap-canvas");
  canvas.tabIndex = 0;
  canvas.setAttribute("role", "application");
  canvas.setAttribute("aria-roledescription", "map");
  canvas.setAttribute("aria-label", label);
  const helpText = el("p", "sr-only", help);
  helpText.id = `${root.id || "emap"}-help`;
  canvas.setAttribute("aria-describedby", helpText.id);
  const tip = el("div", "emap-tip");
  tip.hidden = true;
  tip.setAttribute("aria-hidden", "true"); // the live region says the same to screen readers
  const live = el("p", "sr-only emap-live");
  live.setAttribute("aria-live", "polite");
  const status = el("p", "emap-status");
  status.setAttribute("role", "status");
  status.hidden = true;
  const zoom = el("div", "emap-zoom");
  zoom.setAttribute("role", "group");
  zoom.setAttribute("aria-label", "Zoom");
  const button = (text, name, action) => {
    const b = el("button", "", text);
    b.type = "button";
    b.setAttribute("aria-label", name);
    b.title = name;
    b.addEventListener("click", action);
    zoom.appendChild(b);
  };
  button("+", "Zoom in", () => zoomBy(ZOOM.step));
  button("−", "Zoom out", () => zoomBy(1 / ZOOM.step));
  button("⤢", "Fit the whole map", () => resetView());
  root.replaceChildren(canvas, tip, status, zoom, helpText, live);
  const ctx = canvas.getContext("2d");

  let pts = null; // {ids, x, y, names, style (code per point), styles: [{color, shape, r, alpha, faint}]}
  let index = new Map(); // id -> row
  let groups = []; // rows per style, drawn in style order
  let bulk = null; // [x0, x1, y0, y1]: the points without their outermost 0.5 %
  let layers = []; // [{name, ids, color, shape, r, stroke, label, linksFrom}], last drawn on top
  let fade = false; // draw the other points faintly (a search or a selection is showing)
  let frame = null; // data -> pixels: fits the bulk and every highlighted point
  let view = { k: 1, dx: 0, dy: 0 }; // the visitor's zoom and pan on top of the frame
  let W = 0, H = 0;
  let hover = -1; // row under the pointer
  let focusId = null; // keyboard focus, by id so that it survives a new projection
  let emphasis = null; // id shown ringed from outside (a card under the mouse)
  let pointer = null; // last pointer position over the canvas: [x, y, pointerType]
  let drag = null;

  const rowOf = (id) => (id === null || id === undefined ? -1 : index.get(String(id)) ?? -1);
  const sx = (i) => W / 2 + view.dx + (pts.x[i] - frame.cx) * frame.s * view.k;
  const sy = (i) => H / 2 + view.dy - (pts.y[i] - frame.cy) * frame.s * view.k;
  const rowsOf = (layer) => layer.ids.map(rowOf).filter((i) => i >= 0);

  function resize() {
    const r = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    W = r.width; H = r.height;
    canvas.width = Math.round(W * dpr);
    canvas.height = Math.round(H * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    refit();
  }

  /** A new frame (new points, highlights or size): the point under a still pointer is looked up again. */
  function refit() {
    const ok = Boolean(pts && pts.x.length && W && H);
    frame = ok ? fitFrame(bulk, layers.flatMap(rowsOf), pts.x, pts.y, W, H, MARGIN) : null;
    hover = pointer && !drag && frame ? nearestAt(pointer[0], pointer[1], HIT[pointer[2]] ?? 10) : -1;
    draw();
  }

  const faint = (i) => (pts.styles[pts.style[i]].faint ? 30 : 0); // well-known points win near-ties
  const nearestAt = (mx, my, radius) => nearestPoint(pts.x.length, sx, sy, mx, my, radius, faint);

  // -- drawing ----------------------------------------------------------------------------------------
  function draw() {
    ctx.clearRect(0, 0, W, H);
    if (!pts || !frame) { publish([], []); return; }
    pts.styles.forEach((style, c) => {
      ctx.globalAlpha = (style.alpha ?? 1) * (fade ? 0.3 : 1);
      ctx.fillStyle = style.color;
      ctx.beginPath();
      const square = style.shape === "square", r = style.r;
      for (const i of groups[c]) {
        const x = sx(i), y = sy(i);
        if (x < -6 || y < -6 || x > W + 6 || y > H + 6) continue;
        if (square) ctx.rect(x - r, y - r, 2 * r, 2 * r);
        else tracePath(ctx, style.shape, x, y, r);
      }
      ctx.fill();
    });
    ctx.globalAlpha = 1;
    const marks = [];
    for (const layer of layers) {
      const rows = rowsOf(layer);
      const from = rowOf(layer.linksFrom);
      if (from >= 0) {
        ctx.strokeStyle = layer.linkColor || layer.color;
        ctx.lineWidth = 1;
        ctx.beginPath();
        for (const i of rows) { ctx.moveTo(sx(from), sy(from)); ctx.lineTo(sx(i), sy(i)); }
        ctx.stroke();
      }
      ctx.fillStyle = layer.color;
      ctx.strokeStyle = layer.ring ? layer.color : layer.stroke || "#fff";
      ctx.lineWidth = layer.ring ? 2 : 1.5;
      for (const i of rows) { // a ring leaves the point's own colour and shape visible inside it
        ctx.beginPath();
        tracePath(ctx, layer.shape, sx(i), sy(i), layer.r);
        ctx.closePath();
        if (!layer.ring) ctx.fill();
        ctx.stroke();
        marks.push({ id: String(pts.ids[i]), layer: layer.name, x: sx(i), y: sy(i), r: layer.r });
      }
    }
    const labels = [];
    const taken = [];
    const named = new Set();
    for (const layer of [...layers].reverse()) { // the top layer is labelled first, each point once
      if (!layer.label) continue;
      for (const i of rowsOf(layer)) {
        if (named.has(i)) continue;
        named.add(i);
        const box = placeLabel(i, layer, taken);
        if (box) labels.push(box);
      }
    }
    const focus = document.activeElement === canvas ? rowOf(focusId) : -1;
    for (const [i, width] of [[rowOf(emphasis), 2], [hover, 2], [focus, 2.5]]) {
      if (i < 0) continue;
      ctx.beginPath();
      ctx.arc(sx(i), sy(i), 10, 0, 2 * Math.PI);
      ctx.lineWidth = width + 2;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
      ctx.lineWidth = width;
      ctx.strokeStyle = "#1f2433";
      ctx.stroke();
    }
    showTip(hover >= 0 ? hover : focus);
    publish(marks, labels);
  }

  /** Draw a point's name where it fits inside the canvas and covers no other label; null if nowhere. */
  function placeLabel(i, layer, taken) {
    const x = sx(i), y = sy(i);
    if (x < 0 || y < 0 || x > W || y > H) return null;
    ctx.font = LABEL_FONT;
    let text = pts.names[i];
    const room = Math.max(40, W * 0.6);
    if (ctx.measureText(text).width > room) {
      while (text.length > 4 && ctx.measureText(`${text}…`).width > room) text = text.slice(0, -1);
      text = `${text.trimEnd()}…`;
    }
    const box = labelBox(x, y, layer.r, ctx.measureText(text).width, LABEL_H, W, H, taken);
    if (!box) return null;
    taken.push(box);
    ctx.lineWidth = 3;
    ctx.strokeStyle = "rgba(255,255,255,.92)";
    ctx.textBaseline = "middle";
    ctx.strokeText(text, box[0], box[1] + LABEL_H / 2);
    ctx.fillStyle = layer.labelColor || "#1f2433";
    ctx.fillText(text, box[0], box[1] + LABEL_H / 2);
    return { id: String(pts.ids[i]), text, x0: box[0], y0: box[1], x1: box[2], y1: box[3] };
  }

  function showTip(i) {
    if (i < 0) { tip.hidden = true; delete tip.dataset.id; return; }
    const id = String(pts.ids[i]);
    if (tip.dataset.id !== id || tip.hidden) {
      const d = describe(id) || { title: pts.names[i], lines: [] };
      tip.replaceChildren(el("div", "emap-tip-title", d.title), ...d.lines.map((t) => el("div", "emap-tip-line", t)));
      tip.dataset.id = id;
      tip.hidden = false;
    }
    const x = sx(i), y = sy(i), tw = tip.offsetWidth, th = tip.offsetHeight;
    let left = x + 14 + tw > W - 4 ? x - 14 - tw : x + 14;
    let top = y - th - 12 < 4 ? y + 14 : y - th - 12;
    left = Math.max(4, Math.min(W - tw - 4, left));
    top = Math.max(4, Math.min(H - th - 4, top));
    tip.style.left = `${left}px`;
    tip.style.top = `${top}px`;
  }

  function publish(marks, labels) {
    const at = (i) => (i >= 0 && frame ? { id: String(pts.ids[i]), x: round(sx(i)), y: round(sy(i)) } : null);
    root.dataset.layout = JSON.stringify({
      width: round(W), height: round(H), zoom: view.k,
      points: marks.map((m) => ({ ...m, x: round(m.x), y: round(m.y) })),
      labels: labels.map((b) => ({ ...b, x0: round(b.x0), y0: round(b.y0), x1: round(b.x1), y1: round(b.y1) })),
      focused: pts ? at(rowOf(focusId)) : null,
      hovered: pts ? at(hover) : null,
    });
  }
  const round = (v) => Math.round(v * 10) / 10;

  // -- zoom, pan and the keyboard -----------------------------------------------------------------------
  function zoomBy(f, mx = W / 2, my = H / 2) {
    if (!frame) return;
    const k = Math.min(ZOOM.max, Math.max(ZOOM.min, view.k * f));
    const g = k / view.k; // keep the point under (mx, my) still
    view = { k, dx: (view.dx + W / 2 - mx) * g + mx - W / 2, dy: (view.dy + H / 2 - my) * g + my - H / 2 };
    draw();
  }

  function resetView() {
    view = { k: 1, dx: 0, dy: 0 };
    draw();
  }

  function setFocus(i) {
    focusId = i >= 0 ? String(pts.ids[i]) : null;
    if (i >= 0) { // keep the focused point inside the frame, panning if needed
      const x = sx(i), y = sy(i);
      if (x < MARGIN) view.dx += MARGIN - x;
      if (x > W - MARGIN) view.dx -= x - (W - MARGIN);
      if (y < MARGIN) view.dy += MARGIN - y;
      if (y > H - MARGIN) view.dy -= y - (H - MARGIN);
    }
    draw();
    root.dataset.focused = focusId ?? "";
    announce(live, i >= 0 ? spoken(focusId) : "No point focused.");
  }

  function spoken(id) {
    const d = describe(id) || { title: pts.names[rowOf(id)], lines: [] };
    const roles = layers.filter((l) => l.ids.some((x) => String(x) === id)).map((l) => l.name);
    return [d.title, ...d.lines, ...(roles.length ? [`Highlighted: ${roles.join(", ")}`] : [])].join(". ");
  }

  /** Where the keyboard starts: the top highlighted point, else the point nearest the middle. */
  function firstFocus() {
    for (const layer of [...layers].reverse()) {
      const rows = rowsOf(layer);
      if (rows.length) return rows[0];
    }
    return nearestAt(W / 2, H / 2, Math.hypot(W, H));
  }

  const ARROWS = { ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  canvas.addEventListener("keydown", (ev) => {
    if (!pts || !frame || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const focus = rowOf(focusId);
    if (ev.key in ARROWS) {
      if (focus < 0) setFocus(firstFocus());
      else {
        const next = stepFrom(pts.x.length, sx, sy, focus, ...ARROWS[ev.key]);
        if (next >= 0) setFocus(next);
        else announce(live, "No point further that way.");
      }
    } else if (ev.key === "Enter" || ev.key === " ") {
      if (focus >= 0) onSelect(focusId);
    } else if (ev.key === "Escape") {
      setFocus(-1);
      onSelect(null);
    } else if (ev.key === "+" || ev.key === "=") {
      zoomBy(ZOOM.step, ...(focus >= 0 ? [sx(focus), sy(focus)] : []));
    } else if (ev.key === "-" || ev.key === "_") {
      zoomBy(1 / ZOOM.step, ...(focus >= 0 ? [sx(focus), sy(focus)] : []));
    } else if (ev.key === "0") {
      resetView();
    } else return;
    ev.preventDefault();
  });
  canvas.addEventListener("focus", () => {
    if (pts && frame && rowOf(focusId) < 0) setFocus(firstFocus());
    else if (pts && frame) { draw(); announce(live, spoken(focusId)); }
  });
  canvas.addEventListener("blur", () => draw());

  // -- the pointer: hover, drag to pan, click or tap to select, wheel to zoom --------------------------
  const local = (ev) => {
    const r = canvas.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  };
  canvas.addEventListener("pointermove", (ev) => {
    const [mx, my] = local(ev);
    pointer = [mx, my, ev.pointerType];
    if (!pts || !frame) return;
    if (drag) {
      drag.moved = drag.moved || Math.abs(mx - drag.x) + Math.abs(my - drag.y) > 3;
      if (drag.moved) {
        view = { ...view, dx: drag.dx + mx - drag.x, dy: drag.dy + my - drag.y };
        hover = -1;
        draw();
      }
      return;
    }
    const i = nearestAt(mx, my, HIT[ev.pointerType] ?? 10);
    if (i !== hover) { hover = i; draw(); }
    canvas.style.cursor = i >= 0 ? "pointer" : "grab";
  });
  canvas.addEventListener("pointerleave", () => {
    pointer = null;
    if (!drag && hover >= 0) { hover = -1; draw(); }
  });
  canvas.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    const [x, y] = local(ev);
    drag = { x, y, dx: view.dx, dy: view.dy, moved: false, pan: ev.pointerType !== "touch" };
    if (drag.pan) {
      canvas.setPointerCapture(ev.pointerId);
      canvas.classList.add("dragging");
    }
  });
  canvas.addEventListener("pointerup", (ev) => {
    const d = drag;
    drag = null;
    canvas.classList.remove("dragging");
    if (!d || d.moved || !pts || !frame) return;
    const [mx, my] = local(ev);
    const i = nearestAt(mx, my, HIT[ev.pointerType] ?? 10);
    if (i >= 0) {
      focusId = String(pts.ids[i]);
      root.dataset.focused = focusId;
      onSelect(focusId);
    }
  });
  canvas.addEventListener("pointercancel", () => { drag = null; canvas.classList.remove("dragging"); });
  canvas.addEventListener("wheel", (ev) => {
    if (!frame) return;
    ev.preventDefault();
    const [mx, my] = local(ev);
    zoomBy(Math.exp(-ev.deltaY * 0.0015), mx, my);
  }, { passive: false });
  canvas.addEventListener("dblclick", resetView);
  new ResizeObserver(resize).observe(canvas);

  return {
    /** New points (a new projection): the view is reset; focus and highlights are kept by id. */
    setPoints(points) {
      pts = points;
      index = new Map(points.ids.map((id, i) => [String(id), i]));
      groups = points.styles.map(() => []);
      points.style.forEach((c, i) => groups[c].push(i));
      bulk = bulkBox(points.x, points.y);
      view = { k: 1, dx: 0, dy: 0 };
      root.dataset.points = String(points.ids.length);
      refit();
    },
    /** Highlighted layers, drawn in order (the last on top); `fade` dims every other point. New highlights
     * made elsewhere (a search, a rating) also move the keyboard's starting point to the top one. */
    setLayers(next, { fade: dim = false } = {}) {
      layers = next;
      fade = dim;
      if (document.activeElement !== canvas) focusId = null;
      if (pts) refit();
    },
    /** A message over the map (loading, an error); null hides it. */
    setStatus(text) {
      status.textContent = text || "";
      status.hidden = !text;
    },
    /** Ring one point (e.g. the card under the mouse); null removes the ring. */
    emphasize(id) {
      emphasis = id;
      if (pts) draw();
    },
    resetView,
    canvas,
  };
}
