// The map's legend: every entry is a shape in a colour next to its name, so none relies on colour alone.
import { el } from "embedrec/dom.js";
import { shapeSwatch } from "embedrec/shapes.js";

/** Fill `list` (a <ul>) with entries {name, color, shape, stroke?, ring?} and an optional hint line. */
export function renderLegend(list, entries, hint) {
  list.classList.add("emap-legend");
  const items = entries.map((e) => {
    const li = el("li");
    li.append(shapeSwatch(e.shape, e.color, { stroke: e.stroke || "#fff", ring: Boolean(e.ring) }), el("span", "", e.name));
    return li;
  });
  if (hint) items.push(el("li", "emap-hint", hint));
  list.replaceChildren(...items);
}
