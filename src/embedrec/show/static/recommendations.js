// The visitor's recommendations, asked for again (debounced) whenever the ratings change; when answers
// cross, the newest request wins.
import { announce, debounce, displayTitle } from "embedrec/dom.js";
import { fillCards } from "embedrec/cards.js";

/**
 * els: {list, empty, live}; api: from createApi; store: the RatingStore; cardOpts: passed to the cards;
 * onChange(items) after each new list (the map highlights them). Returns {refresh, items()}.
 */
export function createRecommendations({ list, empty, live }, { api, store, cardOpts, onChange, n = 12 }) {
  let items = [];
  let ticket = 0;

  function show(next) {
    items = next;
    fillCards(list, items, { ...cardOpts, score: "rating" });
    empty.hidden = items.length > 0 || store.size > 0;
    onChange(items);
  }

  async function refresh() {
    const mine = ++ticket;
    const ratings = store.values().map((r) => ({ item: r.id, rating: r.rating }));
    if (!ratings.length) {
      show([]);
      return;
    }
    try {
      const data = await api.post("recommendations", { ratings, n }, { what: "Updating your recommendations", target: list });
      if (mine !== ticket) return; // a newer rating has overtaken this answer
      show(data.items);
      if (items.length) {
        const predicted = items[0].stars != null ? `, predicted ${items[0].stars.toFixed(1)} stars` : "";
        announce(live, `${items.length} recommendations, first ${displayTitle(items[0].title)}${predicted}.`);
      }
    } catch (err) {
      // the alert region already says what failed; the last good list stays
    }
  }

  const later = debounce(refresh, 150);
  store.subscribe(() => later());
  return { refresh: later.now, items: () => items };
}
