// Movie cards: title, year, genres, rating count, the card's score, the rated movies behind it, a star
// slider and "More like this"; and the lists made of them.
import { displayTitle, el, plural, stars } from "embedrec/dom.js";
import { starSlider } from "embedrec/ratings.js";

/**
 * One card. opts: store (a RatingStore), score ("rating": the predicted rating, item.stars, shown when the
 * server has one (a ranking model alone has none), "similarity": a cosine, or
 * none), onMore(item) for "More like this" (null: no such button), onHover(id | null) as the mouse enters
 * and leaves it.
 */
export function card(item, { store, score, onMore, onHover }) {
  const li = el("li", "card");
  li.dataset.id = String(item.id);
  const line1 = el("div", "line1");
  const title = el("h3", "title", displayTitle(item.title));
  if (item.year) title.appendChild(el("span", "year", ` (${item.year})`));
  line1.appendChild(title);
  if (score === "rating" && item.stars != null) line1.appendChild(el("span", "score", `predicted ${item.stars.toFixed(1)}★`));
  if (score === "similarity") line1.appendChild(el("span", "score sim", `${Math.round(item.score * 100)}% alike`));
  li.appendChild(line1);

  const meta = el("div", "meta");
  (item.genres || []).slice(0, 4).forEach((g) => meta.appendChild(el("span", "chip", g)));
  meta.appendChild(el("span", "", plural(item.n_ratings, "rating")));
  li.appendChild(meta);

  if (item.because && item.because.length) li.appendChild(reasons(item.because, store.scale));
  const line3 = el("div", "line3");
  line3.appendChild(starSlider(item, store));
  if (onMore) { // a model without item vectors has no "more like this"
    const more = el("button", "more", "More like this →");
    more.type = "button";
    more.setAttribute("aria-label", `More like ${displayTitle(item.title)}`);
    more.addEventListener("click", () => onMore(item));
    line3.appendChild(more);
  }
  li.appendChild(line3);
  li.addEventListener("mouseenter", () => onHover(item.id));
  li.addEventListener("mouseleave", () => onHover(null));
  return li;
}

/** "Because you liked A 5★ and B 4.5★, and it is unlike C 1★": the rated movies that weigh most for
 * this card (the server picks them per card); a low rating counts for movies unlike it. */
export function reasons(because, scale) {
  const mid = (scale.low + scale.high) / 2;
  const liked = because.filter((b) => b.rating >= mid), disliked = because.filter((b) => b.rating < mid);
  const why = el("p", "because");
  const add = (text) => why.appendChild(document.createTextNode(text));
  const list = (items) => items.forEach((b, i) => {
    if (i) add(i === items.length - 1 ? " and " : ", ");
    why.appendChild(el("b", "", displayTitle(b.title)));
    add(` ${stars(b.rating)}`);
  });
  if (liked.length) { add("Because you liked "); list(liked); }
  if (disliked.length) { add(liked.length ? ", and it is unlike " : "Because it is unlike "); list(disliked); }
  return why;
}

/** Replace a list's cards. */
export function fillCards(list, items, opts) {
  list.replaceChildren(...items.map((it) => card(it, opts)));
}
