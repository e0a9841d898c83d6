// Small DOM and text helpers shared by the web page and the exported map. Data reaches the page through
// textContent only, never innerHTML.

/** A new element with an optional class and text. */
export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

export const fmt = (n) => n.toLocaleString("en-US");
export const plural = (n, word) => `${fmt(n)} ${word}${n === 1 ? "" : "s"}`;

/** "Usual Suspects, The (1995)" -> "The Usual Suspects": how people say it; the year is shown apart. */
export const displayTitle = (title) =>
  String(title).replace(/\s*\(\d{4}\)\s*$/, "").replace(/^(.*), (The|A|An)$/, "$2 $1");

/** "Usual Suspects, The (1995)" -> "The Usual Suspects (1995)". */
export function titleWithYear(title) {
  const year = /\((\d{4})\)\s*$/.exec(String(title));
  return year ? `${displayTitle(title)} (${year[1]})` : displayTitle(title);
}

/** 4.5 -> "4.5★", 4 -> "4★". */
export const stars = (v) => `${v % 1 ? v.toFixed(1) : v.toFixed(0)}★`;

/** `fn` called `ms` after the last call; `.cancel()` drops a pending call, `.now(...)` runs at once. */
export function debounce(fn, ms) {
  let timer = 0;
  const call = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  call.cancel = () => clearTimeout(timer);
  call.now = (...args) => {
    clearTimeout(timer);
    return fn(...args);
  };
  return call;
}

/** Put `text` into a live region; the same text twice is announced twice. */
export function announce(region, text) {
  if (!region) return;
  if (region.textContent === text) region.textContent = "";
  region.textContent = text;
}
