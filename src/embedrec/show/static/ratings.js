// The visitor's ratings: kept in this browser (localStorage, one list per model), edited with a star
// slider, and listed in the "Your ratings" panel.
import { displayTitle, el, stars } from "embedrec/dom.js";

/** The ratings of this visitor, saved on every change; subscribers hear about each change. */
export class RatingStore {
  constructor(key, scale) {
    this.key = key;
    this.scale = scale; // {low, high, step}
    this.items = new Map(); // String(id) -> {id, title, year, rating}
    this.listeners = [];
    try {
      for (const r of JSON.parse(localStorage.getItem(key) || "[]")) this.items.set(String(r.id), r);
    } catch (err) {
      localStorage.removeItem(key); // an unreadable list is dropped rather than breaking the page
    }
  }

  get size() { return this.items.size; }
  get(id) { return this.items.get(String(id)); }
  values() { return [...this.items.values()]; }
  /** Whether the scale has half stars. */
  get halves() { return this.scale.step !== null && this.scale.step <= 0.5 + 1e-9; }
  clamp(v) { return Math.min(this.scale.high, Math.max(this.scale.low, v)); }

  set(item, rating) {
    this.items.set(String(item.id), { id: item.id, title: item.title, year: item.year ?? null, rating: this.clamp(rating) });
    this.changed();
  }

  delete(id) {
    this.items.delete(String(id));
    this.changed();
  }

  clear() {
    this.items.clear();
    this.changed();
  }

  subscribe(fn) { this.listeners.push(fn); }

  changed() {
    localStorage.setItem(this.key, JSON.stringify(this.values()));
    for (const fn of this.listeners) fn(this);
  }
}

/** A star widget (role=slider) for one item: click a star (its left half for a half star), or use the
 * keys: arrows step, Home/End give the lowest/highest rating, digits a number of stars, Delete forgets. */
export function starSlider(item, store) {
  const wrap = el("span", "stars-wrap");
  const box = el("span", "stars");
  box.tabIndex = 0;
  box.dataset.item = String(item.id);
  box.setAttribute("role", "slider");
  box.setAttribute("aria-label", `Your rating of ${displayTitle(item.title)}`);
  box.setAttribute("aria-valuemin", store.scale.low);
  box.setAttribute("aria-valuemax", store.scale.high);
  const n = Math.max(1, Math.min(10, Math.ceil(store.scale.high)));
  for (let k = 1; k <= n; k++) {
    const star = el("span", "star");
    star.dataset.k = k;
    star.appendChild(el("span", "fill"));
    box.appendChild(star);
  }
  const label = el("span", "stars-value");
  label.setAttribute("aria-hidden", "true");
  wrap.append(box, label);

  const current = () => store.get(item.id)?.rating || 0;
  const valueAt = (ev) => {
    const star = ev.target.closest(".star");
    if (!star) return 0;
    const k = Number(star.dataset.k);
    const r = star.getBoundingClientRect();
    return store.clamp(store.halves && ev.clientX - r.left < r.width / 2 ? k - 0.5 : k);
  };
  box.addEventListener("mousemove", (ev) => {
    box.classList.add("preview");
    paintSlider(box, valueAt(ev) || current());
  });
  box.addEventListener("mouseleave", () => {
    box.classList.remove("preview");
    paintSlider(box, current());
  });
  box.addEventListener("click", (ev) => {
    const v = valueAt(ev);
    if (v) store.set(item, v);
  });
  box.addEventListener("keydown", (ev) => {
    const step = store.halves ? 0.5 : 1;
    const v = current();
    let next = null;
    if (ev.key === "ArrowRight" || ev.key === "ArrowUp") next = v + step;
    else if (ev.key === "ArrowLeft" || ev.key === "ArrowDown") next = v ? v - step : null;
    else if (ev.key === "PageUp") next = v + 1;
    else if (ev.key === "PageDown") next = v ? v - 1 : null;
    else if (ev.key === "Home") next = store.scale.low;
    else if (ev.key === "End") next = store.scale.high;
    else if (/^[1-9]$/.test(ev.key)) next = Number(ev.key);
    else if (ev.key === "Delete" || ev.key === "Backspace") {
      if (v) store.delete(item.id);
      ev.preventDefault();
      return;
    } else return;
    ev.preventDefault();
    if (next !== null) store.set(item, next);
  });
  paintSlider(box, current());
  return wrap;
}

/** Show `value` stars (0: not rated) on a slider made by starSlider. */
export function paintSlider(box, value) {
  [...box.children].forEach((c, i) => { c.firstChild.style.width = `${Math.max(0, Math.min(1, value - i)) * 100}%`; });
  box.nextSibling.textContent = value ? stars(value) : "";
  if (value) {
    box.setAttribute("aria-valuenow", value);
    box.setAttribute("aria-valuetext", `${value} stars`);
  } else {
    box.removeAttribute("aria-valuenow");
    box.setAttribute("aria-valuetext", "not rated");
  }
}

/** Repaint every star slider under `root` from the store (after any rating changed). */
export function repaintSliders(root, store) {
  root.querySelectorAll(".stars[data-item]").forEach((box) => paintSlider(box, store.get(box.dataset.item)?.rating || 0));
}

/** The "Your ratings" list, latest first; a slider that had the keyboard focus keeps it. */
export function renderRated({ list, count, empty, clear }, store) {
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.item : undefined;
  const rows = store.values().reverse().map((r) => {
    const li = el("li");
    li.appendChild(el("span", "name", r.year ? `${displayTitle(r.title)} (${r.year})` : displayTitle(r.title)));
    li.appendChild(starSlider(r, store));
    const forget = el("button", "icon", "×");
    forget.type = "button";
    forget.title = `Forget ${displayTitle(r.title)}`;
    forget.setAttribute("aria-label", forget.title);
    forget.addEventListener("click", () => store.delete(r.id));
    li.appendChild(forget);
    return li;
  });
  list.replaceChildren(...rows);
  count.textContent = rows.length ? `(${rows.length})` : "";
  empty.hidden = rows.length > 0;
  clear.hidden = rows.length === 0;
  if (focused !== undefined) list.querySelector(`.stars[data-item="${CSS.escape(focused)}"]`)?.focus();
}
