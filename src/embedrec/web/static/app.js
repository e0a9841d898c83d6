// embedrec's page: search, rate, recommendations with reasons, "more like this", and the movie map.
// Plain browser JavaScript, no build step and nothing loaded from elsewhere. Data goes into the DOM
// through textContent only.
"use strict";

const $ = (id) => document.getElementById(id);
const N_RECS = 12;
const MIN_RATINGS = 20; // "more like this" skips movies too rarely rated to have a trustworthy embedding
const state = {
  scale: { low: 0.5, high: 5, step: 0.5 },
  ratings: new Map(), // item id -> {id, title, year, rating}
  recs: [],
  similar: [],
  storeKey: "embedrec-ratings",
  recsTicket: 0,
};

// -- the API ------------------------------------------------------------------------------------
async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const detail = typeof data.detail === "string" ? data.detail
      : Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : res.statusText;
    throw new Error(detail);
  }
  return data;
}

// -- small DOM helpers --------------------------------------------------------------------------
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}
const fmt = (n) => n.toLocaleString("en-US");
const plural = (n, word) => `${fmt(n)} ${word}${n === 1 ? "" : "s"}`;
// "Usual Suspects, The (1995)" -> "The Usual Suspects": how people say it; the year is shown apart.
const name = (title) => title.replace(/\s*\(\d{4}\)\s*$/, "").replace(/^(.*), (The|A|An)$/, "$2 $1");
const stars = (v) => `${v % 1 ? v.toFixed(1) : v.toFixed(0)}★`;
function debounce(fn, ms) {
  let t = 0;
  const call = (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
  call.cancel = () => clearTimeout(t);
  return call;
}

// -- star widget: whole stars, half stars when the scale has them --------------------------------
function starCount() { return Math.max(1, Math.min(10, Math.ceil(state.scale.high))); }
function halves() { return state.scale.step !== null && state.scale.step <= 0.5 + 1e-9; }
function clampRating(v) {
  const { low, high } = state.scale;
  return Math.min(high, Math.max(low, v));
}

function starWidget(item) {
  const wrap = el("span", "stars-wrap");
  const box = el("span", "stars");
  box.tabIndex = 0;
  box.setAttribute("role", "slider");
  box.setAttribute("aria-label", `Rate ${item.title}`);
  box.setAttribute("aria-valuemin", state.scale.low);
  box.setAttribute("aria-valuemax", state.scale.high);
  const label = el("span", "stars-value");
  const cells = [];
  for (let k = 1; k <= starCount(); k++) {
    const star = el("span", "star");
    star.dataset.k = k;
    star.appendChild(el("span", "fill"));
    box.appendChild(star);
    cells.push(star);
  }
  const current = () => (state.ratings.get(String(item.id)) || {}).rating || 0;
  const paint = (v) => {
    cells.forEach((c, i) => { c.firstChild.style.width = `${Math.max(0, Math.min(1, v - i)) * 100}%`; });
    label.textContent = v ? stars(v) : "";
    box.setAttribute("aria-valuenow", v);
  };
  const valueAt = (ev) => {
    const star = ev.target.closest(".star");
    if (!star) return 0;
    const k = Number(star.dataset.k);
    const r = star.getBoundingClientRect();
    const half = halves() && ev.clientX - r.left < r.width / 2;
    return clampRating(half ? k - 0.5 : k);
  };
  box.addEventListener("mousemove", (ev) => { box.classList.add("preview"); paint(valueAt(ev) || current()); });
  box.addEventListener("mouseleave", () => { box.classList.remove("preview"); paint(current()); });
  box.addEventListener("click", (ev) => { const v = valueAt(ev); if (v) rate(item, v); });
  box.addEventListener("keydown", (ev) => {
    const step = halves() ? 0.5 : 1;
    if (ev.key === "ArrowRight" || ev.key === "ArrowUp") rate(item, clampRating((current() || 0) + step));
    else if (ev.key === "ArrowLeft" || ev.key === "ArrowDown") rate(item, clampRating((current() || step * 2) - step));
    else return;
    ev.preventDefault();
  });
  wrap.append(box, label);
  wrap.repaint = () => paint(current());
  wrap.repaint();
  wrap.dataset.item = item.id;
  return wrap;
}

function repaintStars() {
  document.querySelectorAll(".stars-wrap").forEach((w) => w.repaint && w.repaint());
}

// -- movie cards ----------------------------------------------------------------------------------
function card(item, opts = {}) {
  const li = el("li", "card");
  li.dataset.id = item.id;
  const line1 = el("div", "line1");
  const title = el("div", "title", name(item.title));
  if (item.year) title.appendChild(el("span", "year", ` (${item.year})`));
  line1.appendChild(title);
  if (opts.score === "rating") line1.appendChild(el("span", "score", `predicted ${item.score.toFixed(1)}★`));
  if (opts.score === "similarity") line1.appendChild(el("span", "score sim", `${Math.round(item.score * 100)}% alike`));
  li.appendChild(line1);

  const meta = el("div", "meta");
  (item.genres || []).slice(0, 4).forEach((g) => meta.appendChild(el("span", "chip", g)));
  meta.appendChild(el("span", "", plural(item.n_ratings, "rating")));
  li.appendChild(meta);

  if (item.because && item.because.length) li.appendChild(reasons(item.because));
  const line3 = el("div", "line3");
  line3.appendChild(starWidget(item));
  const more = el("button", "more", "More like this →");
  more.addEventListener("click", () => showSimilar(item));
  line3.appendChild(more);
  li.appendChild(line3);
  li.addEventListener("mouseenter", () => mapView.focus(item.id));
  li.addEventListener("mouseleave", () => mapView.focus(null));
  return li;
}

// "Because you liked A 5★ and B 4.5★, and it is unlike C 1★": a low rating counts for items unlike it.
function reasons(because) {
  const mid = (state.scale.low + state.scale.high) / 2;
  const liked = because.filter((b) => b.rating >= mid), disliked = because.filter((b) => b.rating < mid);
  const why = el("div", "because");
  const add = (text) => why.appendChild(document.createTextNode(text));
  const list = (items) => items.forEach((b, i) => {
    if (i) add(i === items.length - 1 ? " and " : ", ");
    why.appendChild(el("b", "", name(b.title)));
    add(` ${stars(b.rating)}`);
  });
  if (liked.length) { add("Because you liked "); list(liked); }
  if (disliked.length) { add(liked.length ? ", and it is unlike " : "Because it is unlike "); list(disliked); }
  return why;
}

function fill(list, items, opts) {
  list.replaceChildren(...items.map((it) => card(it, opts)));
}

// -- ratings and recommendations ----------------------------------------------------------------
function rate(item, value) {
  state.ratings.set(String(item.id), { id: item.id, title: item.title, year: item.year, rating: value });
  ratingsChanged();
}

function unrate(id) {
  state.ratings.delete(String(id));
  ratingsChanged();
}

function ratingsChanged() {
  localStorage.setItem(state.storeKey, JSON.stringify([...state.ratings.values()]));
  renderRated();
  repaintStars();
  refreshRecs();
}

function renderRated() {
  const list = $("rated");
  const rows = [...state.ratings.values()].reverse().map((r) => {
    const li = el("li");
    li.appendChild(el("span", "name", r.year ? `${name(r.title)} (${r.year})` : name(r.title)));
    li.appendChild(starWidget(r));
    const x = el("button", "icon", "×");
    x.title = `Forget ${r.title}`;
    x.setAttribute("aria-label", x.title);
    x.addEventListener("click", () => unrate(r.id));
    li.appendChild(x);
    return li;
  });
  list.replaceChildren(...rows);
  $("rated-count").textContent = rows.length ? `(${rows.length})` : "";
  $("rated-empty").hidden = rows.length > 0;
  $("clear").hidden = rows.length === 0;
}

const refreshRecs = debounce(async () => {
  const ticket = ++state.recsTicket;
  const ratings = [...state.ratings.values()].map((r) => ({ item: r.id, rating: r.rating }));
  $("recs-error").hidden = true;
  if (!ratings.length) {
    state.recs = [];
    $("recs").replaceChildren();
    $("recs-empty").hidden = false;
    mapView.draw();
    return;
  }
  $("recs-busy").hidden = false;
  try {
    const data = await api("recommendations", { ratings, n: N_RECS });
    if (ticket !== state.recsTicket) return; // a newer rating has overtaken this answer
    state.recs = data.items;
    $("recs-empty").hidden = true;
    fill($("recs"), data.items, { score: "rating" });
  } catch (err) {
    if (ticket !== state.recsTicket) return;
    $("recs-error").textContent = err.message;
    $("recs-error").hidden = false;
  } finally {
    if (ticket === state.recsTicket) $("recs-busy").hidden = true;
    mapView.draw();
  }
}, 150);

// -- search with suggestions ----------------------------------------------------------------------
const search = { active: -1, items: [], seq: 0 };

function closeSuggest() {
  search.seq += 1; // an answer still on its way must not reopen the list
  suggest.cancel();
  $("suggest").hidden = true;
  $("q").parentElement.setAttribute("aria-expanded", "false");
  search.active = -1;
}

const suggest = debounce(async (q) => {
  if (!q.trim()) { closeSuggest(); return; }
  const seq = search.seq;
  try {
    const data = await api(`items?q=${encodeURIComponent(q)}&limit=8`);
    if ($("q").value !== q || seq !== search.seq) return;
    search.items = data.items;
    const rows = data.items.map((it, i) => {
      const li = el("li");
      li.setAttribute("role", "option");
      li.id = `suggest-${i}`;
      li.appendChild(el("span", "", it.title));
      li.appendChild(el("span", "sub", `${(it.genres || []).join(" · ")} — ${plural(it.n_ratings, "rating")}`));
      li.addEventListener("mousedown", (ev) => { ev.preventDefault(); pick(i); });
      return li;
    });
    $("suggest").replaceChildren(...rows);
    $("suggest").hidden = rows.length === 0;
    $("q").parentElement.setAttribute("aria-expanded", String(rows.length > 0));
    search.active = -1;
  } catch (err) { closeSuggest(); }
}, 120);

function highlightSuggestion(i) {
  const rows = [...$("suggest").children];
  search.active = Math.max(-1, Math.min(rows.length - 1, i));
  rows.forEach((r, k) => r.setAttribute("aria-selected", String(k === search.active)));
}

async function showResults(q, first) {
  closeSuggest();
  try {
    const data = await api(`items?q=${encodeURIComponent(q)}&limit=20`);
    let items = data.items;
    if (first) items = [first, ...items.filter((it) => String(it.id) !== String(first.id))];
    $("results-title").textContent = q.trim() ? `Results for “${q.trim()}”` : "Popular movies";
    fill($("results"), items);
    if (!items.length) $("results").replaceChildren(el("li", "empty", "No movie title is close to that."));
  } catch (err) {
    $("results").replaceChildren(el("li", "error", err.message));
  }
}

function pick(i) {
  const item = search.items[i];
  if (item) showResults($("q").value, item);
}

// -- more like this -------------------------------------------------------------------------------
async function showSimilar(item) {
  try {
    const data = await api(`items/${encodeURIComponent(item.id)}/similar?n=10&min_ratings=${MIN_RATINGS}`);
    state.similar = data.items;
    $("similar-title").textContent = data.item.year ? `${name(data.item.title)} (${data.item.year})` : name(data.item.title);
    fill($("similar"), data.items, { score: "similarity" });
    $("similar-panel").hidden = false;
    $("similar-panel").scrollIntoView({ behavior: "smooth", block: "nearest" });
    mapView.draw();
  } catch (err) {
    $("similar-title").textContent = name(item.title);
    $("similar").replaceChildren(el("li", "error", err.message));
    $("similar-panel").hidden = false;
  }
}

// -- the map: a canvas scatter with zoom, pan, hover and click ---------------------------------------
const mapView = (() => {
  const canvas = $("map");
  const ctx = canvas.getContext("2d");
  const tip = $("tooltip");
  let pts = null; // {ids, x, y, titles, genres, n_ratings, index: Map(id -> i)}
  let view = { k: 1, dx: 0, dy: 0 }; // zoom and pan on top of the fitted frame
  let frame = null; // data -> pixel transform that fits all points
  let hover = -1;
  let focusId = null;
  let drag = null;

  function resize() {
    const r = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(r.width * dpr);
    canvas.height = Math.round(r.height * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    fit();
    draw();
  }

  function fit() {
    if (!pts) return;
    const r = canvas.getBoundingClientRect();
    const pad = 18;
    const xs = pts.x, ys = pts.y;
    const [x0, x1] = quantileRange(xs), [y0, y1] = quantileRange(ys);
    const s = Math.min((r.width - 2 * pad) / (x1 - x0 || 1), (r.height - 2 * pad) / (y1 - y0 || 1));
    frame = { s, cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, w: r.width, h: r.height };
  }

  function quantileRange(values) { // ignore the outermost 0.5% so a few outliers don't shrink the map
    const v = Float64Array.from(values).sort();
    const q = (p) => v[Math.min(v.length - 1, Math.max(0, Math.round(p * (v.length - 1))))];
    return [q(0.005), q(0.995)];
  }

  const px = (i) => frame.w / 2 + view.dx + (pts.x[i] - frame.cx) * frame.s * view.k;
  const py = (i) => frame.h / 2 + view.dy - (pts.y[i] - frame.cy) * frame.s * view.k;

  function idsOf(list) {
    const out = [];
    for (const it of list) { const i = pts.index.get(String(it.id)); if (i !== undefined) out.push(i); }
    return out;
  }

  function ring(i, color, r) {
    const x = px(i), y = py(i);
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = color;
    ctx.fill();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
  }

  function label(i, color, taken) { // taken: boxes of labels already drawn; a label never covers another
    const x = px(i), y = py(i);
    const text = name(pts.titles[i]);
    ctx.font = "600 11.5px system-ui, sans-serif";
    const w = ctx.measureText(text).width;
    for (const dy of [4, 17, -9, 30, -22]) {
      const box = [x + 8, y + dy - 10, x + 8 + w, y + dy + 3];
      if (taken.some((b) => box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3])) continue;
      taken.push(box);
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(255,255,255,.9)";
      ctx.strokeText(text, x + 8, y + dy);
      ctx.fillStyle = color;
      ctx.fillText(text, x + 8, y + dy);
      return;
    }
  }

  function draw() {
    const r = canvas.getBoundingClientRect();
    ctx.clearRect(0, 0, r.width, r.height);
    if (!pts || !frame) return;
    // rarely rated movies (barely trained vectors) faint and small, well-known ones darker on top
    for (const [rare, color, h] of [[true, "rgba(92, 104, 140, 0.22)", 1.2], [false, "rgba(72, 84, 124, 0.55)", 1.8]]) {
      ctx.fillStyle = color;
      for (let i = 0; i < pts.x.length; i++) {
        if ((pts.n_ratings[i] < 10) !== rare) continue;
        const x = px(i), y = py(i);
        if (x < -4 || y < -4 || x > r.width + 4 || y > r.height + 4) continue;
        ctx.fillRect(x - h, y - h, 2 * h, 2 * h);
      }
    }
    const css = getComputedStyle(document.documentElement);
    const similar = idsOf(state.similar), recs = idsOf(state.recs), rated = idsOf([...state.ratings.values()]);
    similar.forEach((i) => ring(i, css.getPropertyValue("--similar"), 5));
    recs.forEach((i) => ring(i, css.getPropertyValue("--rec"), 5.5));
    rated.forEach((i) => ring(i, css.getPropertyValue("--rated"), 6.5));
    const taken = [];
    rated.forEach((i) => label(i, "#92400e", taken));
    const focus = focusId === null ? -1 : pts.index.get(String(focusId));
    for (const i of [hover, focus === undefined ? -1 : focus]) {
      if (i < 0) continue;
      ctx.beginPath();
      ctx.arc(px(i), py(i), 9, 0, 2 * Math.PI);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#1f2433";
      ctx.stroke();
    }
  }

  function nearest(mx, my) {
    let best = -1, bestD = 10 * 10;
    for (let i = 0; i < pts.x.length; i++) {
      const dx = px(i) - mx, dy = py(i) - my;
      const d = dx * dx + dy * dy + (pts.n_ratings[i] < 10 ? 30 : 0); // well-known movies win near-ties
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  function showTip(i, mx, my) {
    if (i < 0) { tip.hidden = true; return; }
    const rec = state.recs.find((it) => String(it.id) === String(pts.ids[i]));
    const mine = state.ratings.get(String(pts.ids[i]));
    tip.replaceChildren(
      el("div", "t", pts.titles[i]),
      el("div", "s", pts.genres[i].split("|").join(" · ")),
      el("div", "s", `${plural(pts.n_ratings[i], "rating")}${mine ? ` · you: ${stars(mine.rating)}` : ""}${rec ? ` · predicted ${rec.score.toFixed(1)}★` : ""}`),
    );
    tip.hidden = false;
    const w = canvas.getBoundingClientRect().width;
    tip.style.left = `${Math.min(mx + 14, w - tip.offsetWidth - 6)}px`;
    tip.style.top = `${Math.max(6, my - tip.offsetHeight - 10)}px`;
  }

  function pointer(ev) {
    const r = canvas.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  }

  canvas.addEventListener("mousemove", (ev) => {
    if (!pts) return;
    const [mx, my] = pointer(ev);
    if (drag) {
      view.dx = drag.dx + mx - drag.x;
      view.dy = drag.dy + my - drag.y;
      drag.moved = drag.moved || Math.abs(mx - drag.x) + Math.abs(my - drag.y) > 3;
      draw();
      return;
    }
    const i = nearest(mx, my);
    if (i !== hover) { hover = i; draw(); }
    showTip(i, mx, my);
    canvas.style.cursor = i >= 0 ? "pointer" : "grab";
  });
  canvas.addEventListener("mouseleave", () => { hover = -1; tip.hidden = true; drag = null; draw(); });
  canvas.addEventListener("mousedown", (ev) => {
    const [x, y] = pointer(ev);
    drag = { x, y, dx: view.dx, dy: view.dy, moved: false };
    canvas.classList.add("dragging");
  });
  window.addEventListener("mouseup", (ev) => {
    if (!drag) return;
    const moved = drag.moved;
    drag = null;
    canvas.classList.remove("dragging");
    if (!moved && ev.target === canvas && hover >= 0) {
      showSimilar({ id: pts.ids[hover], title: pts.titles[hover] });
    }
  });
  canvas.addEventListener("wheel", (ev) => {
    if (!pts) return;
    ev.preventDefault();
    const [mx, my] = pointer(ev);
    const k = Math.min(40, Math.max(0.5, view.k * Math.exp(-ev.deltaY * 0.0015)));
    const f = k / view.k; // keep the point under the cursor still
    view.dx = (view.dx + frame.w / 2 - mx) * f + mx - frame.w / 2;
    view.dy = (view.dy + frame.h / 2 - my) * f + my - frame.h / 2;
    view.k = k;
    draw();
  }, { passive: false });
  canvas.addEventListener("dblclick", () => { view = { k: 1, dx: 0, dy: 0 }; draw(); });
  new ResizeObserver(resize).observe(canvas);

  async function load(method) {
    $("map-status").hidden = false;
    $("map-status").textContent = method === "pca" ? "computing the map…"
      : `computing the ${method === "tsne" ? "t-SNE" : method.toUpperCase()} map — the first time takes a while…`;
    try {
      const data = await api(`map?method=${encodeURIComponent(method)}`);
      data.index = new Map(data.ids.map((id, i) => [String(id), i]));
      pts = data;
      view = { k: 1, dx: 0, dy: 0 };
      $("map-status").hidden = true;
      $("map-caption").textContent = `${data.note}. Close movies were liked by the same people.`;
      resize();
    } catch (err) {
      $("map-status").textContent = `no map: ${err.message}`;
    }
  }

  return {
    load, draw,
    focus(id) { focusId = id; draw(); },
    hovered() { return hover >= 0 ? pts.titles[hover] : null; },
  };
})();

// -- start ------------------------------------------------------------------------------------------
async function start() {
  const health = await api("health");
  state.scale = health.scale;
  state.storeKey = `embedrec-ratings:${health.model}:${health.n_items}`;
  $("model-info").textContent = `${health.model} · ${fmt(health.n_items)} movies · ${fmt(health.n_users)} users`
    + (health.n_factors ? ` · ${health.n_factors} factors` : "");
  try {
    for (const r of JSON.parse(localStorage.getItem(state.storeKey) || "[]")) state.ratings.set(String(r.id), r);
  } catch (err) { localStorage.removeItem(state.storeKey); }

  const method = $("method");
  const labels = { pca: "PCA", tsne: "t-SNE", umap: "UMAP" };
  health.map_methods.forEach((m) => {
    const option = el("option", "", labels[m] || m);
    option.value = m;
    method.appendChild(option);
  });
  method.value = health.map_methods.includes("pca") ? "pca" : health.map_methods[0];
  method.addEventListener("change", () => mapView.load(method.value));

  const q = $("q");
  q.addEventListener("input", () => suggest(q.value));
  q.addEventListener("keydown", (ev) => {
    const open = !$("suggest").hidden;
    if (ev.key === "ArrowDown" && open) { highlightSuggestion(search.active + 1); ev.preventDefault(); }
    else if (ev.key === "ArrowUp" && open) { highlightSuggestion(search.active - 1); ev.preventDefault(); }
    else if (ev.key === "Enter") { if (open && search.active >= 0) pick(search.active); else showResults(q.value); }
    else if (ev.key === "Escape") closeSuggest();
  });
  q.addEventListener("blur", () => setTimeout(closeSuggest, 100));
  $("similar-close").addEventListener("click", () => {
    $("similar-panel").hidden = true;
    state.similar = [];
    mapView.draw();
  });
  $("clear").addEventListener("click", () => { state.ratings.clear(); ratingsChanged(); });

  renderRated();
  showResults("");
  refreshRecs();
  if (health.map_methods.length) mapView.load(method.value);
  else $("map-status").textContent = "this server offers no map";
}

start().catch((err) => { $("model-info").textContent = `cannot reach the model: ${err.message}`; });
