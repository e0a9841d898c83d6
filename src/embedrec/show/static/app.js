// embedrec's web page: search (a combobox), your ratings, recommendations with the ratings behind each,
// "more like this", and the movie map. ES modules, no build step, nothing loaded from elsewhere; this
// module only wires the components together, each gets the state it needs passed in.
import { createApi } from "embedrec/api.js";
import { fillCards } from "embedrec/cards.js";
import { createCombobox } from "embedrec/combobox.js";
import { announce, displayTitle, el, fmt, plural, stars, titleWithYear } from "embedrec/dom.js";
import { renderLegend } from "embedrec/legend.js";
import { createMap } from "embedrec/map.js";
import { RatingStore, renderRated, repaintSliders } from "embedrec/ratings.js";
import { createRecommendations } from "embedrec/recommendations.js";

const MIN_RATINGS = 20; // "more like this" skips movies too rarely rated to have a trustworthy embedding
const RARE = 10; // movies with fewer ratings are drawn faint: their vectors have barely been trained
const METHODS = { pca: "PCA", tsne: "t-SNE", umap: "UMAP" };
const ROLES = { // the map's highlighted layers, each with its own shape as well as its colour
  similar: { name: "more like this", color: "#c026d3", shape: "triangle", r: 5.5 },
  recs: { name: "recommended", color: "#0d9488", shape: "diamond", r: 6 },
  rated: { name: "your ratings", color: "#f59e0b", shape: "star", r: 6.5, label: true, labelColor: "#92400e" },
  chosen: { name: "chosen movie", color: "#1f2433", shape: "circle", r: 6, label: true, linkColor: "rgba(192, 38, 211, .45)" },
};
const BASE = [
  { color: "rgba(92, 104, 140, 0.22)", shape: "square", r: 1.2, faint: true },
  { color: "rgba(72, 84, 124, 0.55)", shape: "square", r: 1.8 },
];
const HINT = "drag to pan · scroll or +/− to zoom · arrow keys move between movies · Enter or click: more like it";

function elements(doc) {
  const $ = (id) => doc.getElementById(id);
  return {
    modelInfo: $("model-info"), busy: $("busy"), alert: $("alert"), live: $("announce"),
    q: $("q"), suggest: $("suggest"),
    rated: { list: $("rated"), count: $("rated-count"), empty: $("rated-empty"), clear: $("clear") },
    recs: $("recs"), recsEmpty: $("recs-empty"),
    similarPanel: $("similar-panel"), similarTitle: $("similar-title"), similar: $("similar"), similarClose: $("similar-close"),
    resultsPanel: $("results-panel"), resultsTitle: $("results-title"), resultsNote: $("results-note"), results: $("results"),
    method: $("method"), caption: $("map-caption"), map: $("map"), legend: $("legend"),
  };
}

async function start(doc) {
  const els = elements(doc);
  const api = createApi({ busy: els.busy, alert: els.alert });
  const health = await api.get("health", { what: "Loading the model" });
  els.modelInfo.textContent = `${health.model} · ${fmt(health.n_items)} movies · ${fmt(health.n_users)} users`
    + (health.n_factors ? ` · ${health.n_factors} factors` : "");
  const store = new RatingStore(`embedrec-ratings:${health.model}:${health.n_items}`, health.scale);
  const shown = { similar: [], similarOf: null, map: null, mapIndex: new Map(), mapTicket: 0 };

  const map = createMap(els.map, {
    label: "Map of the movies: each point is a movie placed by its learned embedding",
    describe: (id) => describePoint(id),
    onSelect: (id) => (id === null ? closeSimilar() : showSimilar({ id, title: pointTitle(id) }, { fromMap: true })),
  });
  const cardOpts = {
    store, onMore: health.n_factors ? (item) => showSimilar(item) : null, onHover: (id) => map.emphasize(id),
  };
  const recs = createRecommendations({ list: els.recs, empty: els.recsEmpty, live: els.live }, {
    api, store, cardOpts, onChange: () => highlight(),
  });

  function highlight() {
    const chosen = shown.similarOf ? [shown.similarOf.id] : [];
    map.setLayers([
      { ...ROLES.similar, ids: shown.similar.map((it) => it.id) },
      { ...ROLES.recs, ids: recs.items().map((it) => it.id) },
      { ...ROLES.rated, ids: store.values().map((r) => r.id) },
      { ...ROLES.chosen, ids: chosen, linksFrom: chosen[0] ?? null },
    ]);
  }

  function pointTitle(id) {
    const i = shown.mapIndex.get(String(id));
    return i === undefined ? String(id) : shown.map.titles[i];
  }

  function describePoint(id) {
    const i = shown.mapIndex.get(String(id));
    if (i === undefined) return null;
    const m = shown.map;
    const mine = store.get(id);
    const rec = recs.items().find((it) => String(it.id) === String(id));
    const lines = [];
    if (m.genres[i]) lines.push(m.genres[i].split("|").join(" · "));
    lines.push(plural(m.n_ratings[i], "rating")
      + (mine ? ` · you: ${stars(mine.rating)}` : "") + (rec && rec.stars != null ? ` · predicted ${rec.stars.toFixed(1)}★` : ""));
    return { title: titleWithYear(m.titles[i]), lines };
  }

  // -- search -------------------------------------------------------------------------------------------
  async function showResults(q, first = null) {
    const text = q.trim();
    let data;
    try {
      data = await api.get(`items?q=${encodeURIComponent(text)}&limit=20`, {
        what: text ? "Searching" : "Loading popular movies", target: els.results,
      });
    } catch (err) {
      return;
    }
    let items = data.items;
    if (first) items = [first, ...items.filter((it) => String(it.id) !== String(first.id))];
    els.resultsTitle.textContent = text ? `Results for “${text}”` : "Popular movies";
    // The server says which title a text stands for when it took a different one (if it does).
    const match = first ? null : data.match;
    els.resultsNote.hidden = !(match && match.title.toLowerCase() !== text.toLowerCase());
    if (match) els.resultsNote.textContent = `Closest title: ${match.title}`;
    fillCards(els.results, items, cardOpts);
    if (!items.length) els.results.replaceChildren(el("li", "empty", "No movie title is close to that."));
    if (text) {
      announce(els.live, items.length ? `${plural(items.length, "result")} for ${text}, first ${displayTitle(items[0].title)}.` : `No movie title is close to ${text}.`);
      const top = els.resultsPanel.getBoundingClientRect().top;
      if (top > window.innerHeight || top < 0) els.resultsPanel.scrollIntoView({ block: "start" });
    }
  }

  createCombobox(els.q, els.suggest, {
    suggest: async (text) => (await api.get(`items?q=${encodeURIComponent(text)}&limit=8`, { quiet: true })).items,
    render: (it) => ({ label: it.title, sub: `${(it.genres || []).join(" · ")} — ${plural(it.n_ratings, "rating")}` }),
    onPick: (item, text) => showResults(text, item),
    onSubmit: (text) => showResults(text),
  });

  // -- more like this -------------------------------------------------------------------------------------
  async function showSimilar(item, { fromMap = false } = {}) {
    const name = displayTitle(item.title);
    let data;
    try {
      data = await api.get(`items/${encodeURIComponent(item.id)}/similar?n=10&min_ratings=${MIN_RATINGS}`, {
        what: `Finding movies like ${name}`, target: els.similar,
      });
    } catch (err) {
      return;
    }
    shown.similar = data.items;
    shown.similarOf = data.item;
    const title = displayTitle(data.item.title);
    els.similarTitle.textContent = data.item.year ? `${title} (${data.item.year})` : title;
    fillCards(els.similar, data.items, { ...cardOpts, score: "similarity" });
    els.similarPanel.hidden = false;
    const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    if (!fromMap) els.similarPanel.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "nearest" });
    highlight();
    announce(els.live, data.items.length
      ? `More like ${title}: ${plural(data.items.length, "movie")}, first ${displayTitle(data.items[0].title)}.`
      : `No movie with enough ratings is like ${title}.`);
  }

  function closeSimilar() {
    els.similarPanel.hidden = true;
    shown.similar = [];
    shown.similarOf = null;
    highlight();
  }
  els.similarClose.addEventListener("click", closeSimilar);

  // -- the map ----------------------------------------------------------------------------------------------
  async function loadMap(method) {
    const ticket = ++shown.mapTicket;
    const name = METHODS[method] || method;
    map.setStatus(method === "pca" ? "computing the map…" : `computing the ${name} map — the first time takes a while…`);
    let data;
    try {
      data = await api.get(`map?method=${encodeURIComponent(method)}`, { what: `Computing the ${name} map`, target: els.map });
    } catch (err) {
      if (ticket === shown.mapTicket) map.setStatus(`no map: ${err.message}`);
      return;
    }
    if (ticket !== shown.mapTicket) return; // another projection was asked for meanwhile
    shown.map = data;
    shown.mapIndex = new Map(data.ids.map((id, i) => [String(id), i]));
    map.setPoints({
      ids: data.ids, x: data.x, y: data.y, names: data.titles.map(displayTitle),
      style: data.n_ratings.map((n) => (n < RARE ? 0 : 1)), styles: BASE,
    });
    map.setStatus(null);
    els.map.dataset.method = method;
    els.caption.textContent = `${data.note}. Close movies were liked by the same people.`;
  }

  renderLegend(els.legend, [ROLES.rated, ROLES.recs, ROLES.similar, ROLES.chosen], HINT);
  for (const m of health.map_methods) {
    const option = el("option", "", METHODS[m] || m);
    option.value = m;
    els.method.appendChild(option);
  }
  els.method.value = health.map_methods.includes("pca") ? "pca" : health.map_methods[0];
  els.method.addEventListener("change", () => loadMap(els.method.value));

  // -- ratings ------------------------------------------------------------------------------------------------
  store.subscribe(() => {
    renderRated(els.rated, store);
    repaintSliders(doc, store);
    highlight();
  });
  els.rated.clear.addEventListener("click", () => store.clear());
  renderRated(els.rated, store);
  highlight();
  showResults("");
  recs.refresh();
  if (health.map_methods.length) loadMap(els.method.value);
  else map.setStatus("this server offers no map");
  doc.body.dataset.ready = "1";
}

start(document).catch((err) => {
  document.getElementById("model-info").textContent = `cannot reach the model: ${err.message}`;
});
