// The exported map page (`embedrec plot ... --out map.html`): the shared map component and legend, a
// title search, and the nearest neighbours of the chosen point, all from the data inlined in the page.
import { createCombobox } from "embedrec/combobox.js";
import { announce, el, fmt, plural } from "embedrec/dom.js";
import { renderLegend } from "embedrec/legend.js";
import { createMap } from "embedrec/map.js";
import { SHAPE_CYCLE } from "embedrec/shapes.js";

const SUGGESTIONS = 10;
const ROLES = {
  matches: { name: "search matches", color: "#1f2433", shape: "circle", r: 6, ring: true },
  neighbours: { name: "nearest neighbours", color: "#f08c00", shape: "diamond", r: 5.5, linkColor: "rgba(240, 140, 0, .7)" },
  selected: { name: "chosen point", color: "#d6336c", shape: "star", r: 7.5, label: true, labelColor: "#a61e4d" },
};
const HINT = "drag to pan · scroll or +/− to zoom · arrow keys move between points · Enter or click: nearest neighbours";

function start(doc) {
  const $ = (id) => doc.getElementById(id);
  const D = JSON.parse($("data").textContent);
  const K = D.k;
  const lower = D.label.map((s) => s.toLowerCase());
  const byCount = (a, b) => (D.count[b] || 0) - (D.count[a] || 0);
  const state = { matches: [], selected: -1 };

  function describe(i) {
    const parts = [];
    if (D.year[i] !== null) parts.push(String(D.year[i]));
    const g = D.genreSets[D.genres[i]];
    if (g) parts.push(g.split("|").join(", "));
    if (D.count[i] !== null) parts.push(plural(D.count[i], "rating"));
    return parts.join(" · ");
  }

  const map = createMap($("map"), {
    label: `Map of ${fmt(D.nPoints)} points: ${D.title}`,
    describe: (id) => ({ title: D.label[Number(id)], lines: [describe(Number(id))].filter(Boolean) }),
    onSelect: (id) => select(id === null ? -1 : Number(id)),
  });
  const styles = D.categories.map((name, c) => ({
    color: D.colors[c], shape: SHAPE_CYCLE[c % SHAPE_CYCLE.length], r: 2.6, alpha: 0.75,
  }));
  map.setPoints({ ids: D.label.map((_, i) => String(i)), x: D.x, y: D.y, names: D.label, style: D.c, styles });

  function highlight() {
    const s = state.selected;
    const near = s >= 0 ? Array.from({ length: K }, (_, j) => String(D.nbr[s * K + j])) : [];
    map.setLayers([
      { ...ROLES.neighbours, ids: near, linksFrom: s >= 0 ? String(s) : null },
      { ...ROLES.matches, ids: state.matches.map(String), label: state.matches.length <= 12 },
      { ...ROLES.selected, ids: s >= 0 ? [String(s)] : [] },
    ], { fade: state.matches.length > 0 || s >= 0 });
  }

  function similarity(i, j) {
    const v = D.sim[i * K + j] / 100; // euclidean "similarity" is minus the distance: show the distance
    return D.metric === "euclidean" ? `distance ${(-v).toFixed(2)}` : v.toFixed(2);
  }

  function select(i) {
    state.selected = i;
    $("details").hidden = i < 0;
    if (i >= 0) {
      $("selected").textContent = D.label[i];
      $("selected-meta").textContent = describe(i);
      $("neighbours-head").textContent = `Nearest ${K} in the full ${D.dims}-dimensional space (${D.metric})`;
      $("neighbours").replaceChildren(...Array.from({ length: K }, (_, j) => {
        const n = D.nbr[i * K + j];
        const b = el("button", "link", D.label[n]);
        b.type = "button";
        b.addEventListener("click", () => select(n));
        const li = el("li");
        li.append(b, el("span", "sim", ` ${similarity(i, j)}`));
        return li;
      }));
      const first = D.nbr[i * K];
      announce($("announce"), `${D.label[i]}: nearest ${K}, first ${D.label[first]}.`);
    }
    highlight();
  }

  function findMatches(text) {
    const q = text.trim().toLowerCase();
    state.matches = [];
    if (q) for (let i = 0; i < D.nPoints; i++) if (lower[i].includes(q)) state.matches.push(i);
    state.matches.sort(byCount);
    $("match-count").textContent = q ? `${fmt(state.matches.length)} match${state.matches.length === 1 ? "" : "es"}` : "";
    highlight();
  }

  createCombobox($("search"), $("matches"), {
    suggest: () => state.matches.slice(0, SUGGESTIONS),
    render: (i) => ({ label: D.label[i], sub: describe(i) }),
    onPick: (i) => select(i),
    onSubmit: () => { if (state.matches.length) select(state.matches[0]); },
    onInput: findMatches,
    delay: 60,
  });

  $("legend-head").textContent = D.colorLabel ? `Colour and shape: ${D.colorLabel}` : "Legend";
  const categories = D.colorLabel ? D.categories.map((name, c) => ({ name, color: styles[c].color, shape: styles[c].shape })) : [];
  renderLegend($("legend"), [...categories, ROLES.matches, ROLES.neighbours, ROLES.selected], HINT);
  doc.body.dataset.ready = "1";
}

start(document);
