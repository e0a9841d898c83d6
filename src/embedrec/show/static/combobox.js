// A search box as an ARIA 1.2 combobox: the input controls a listbox of suggestions; Down and Up move the
// active option (aria-activedescendant, focus stays in the input), Enter picks it or submits the text,
// Escape closes the list (or clears the text when the list is closed). While the suggestions for the
// text just typed are on their way, the list is stale (aria-busy): Enter submits the text instead of
// picking a suggestion made for fewer letters.
import { debounce, el } from "embedrec/dom.js";

/**
 * suggest(text) -> items (or a promise of them); render(item) -> {label, sub}; onPick(item, text) when
 * an option is chosen; onSubmit(text) on Enter without an option; onInput(text) on every edit.
 */
export function createCombobox(input, listbox, { suggest, render, onPick, onSubmit = () => {}, onInput = () => {}, delay = 120 }) {
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", listbox.id);
  input.autocomplete = "off";
  listbox.setAttribute("role", "listbox");
  listbox.setAttribute("aria-busy", "false");
  listbox.hidden = true;
  let items = [];
  let active = -1;
  let seq = 0; // an answer to an older text must not open the list
  let stale = false; // the options shown were made for an older text

  const options = () => [...listbox.children];

  function setStale(value) {
    stale = value;
    listbox.setAttribute("aria-busy", String(value));
  }

  function close() {
    seq += 1;
    ask.cancel();
    setStale(false);
    listbox.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function open(list) {
    items = list;
    active = -1;
    setStale(false);
    input.removeAttribute("aria-activedescendant");
    listbox.replaceChildren(...list.map((item, i) => {
      const { label, sub } = render(item);
      const li = el("li", "option");
      li.id = `${listbox.id}-${i}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.appendChild(el("span", "option-label", label));
      if (sub) li.appendChild(el("span", "option-sub", sub));
      li.addEventListener("mousedown", (ev) => ev.preventDefault()); // keep the focus in the input
      li.addEventListener("click", () => pick(i));
      return li;
    }));
    listbox.hidden = list.length === 0;
    input.setAttribute("aria-expanded", String(list.length > 0));
  }

  function setActive(i) {
    const rows = options();
    if (!rows.length) return;
    active = (i + rows.length) % rows.length; // wraps around, as the APG pattern does
    rows.forEach((r, k) => r.setAttribute("aria-selected", String(k === active)));
    input.setAttribute("aria-activedescendant", rows[active].id);
    rows[active].scrollIntoView({ block: "nearest" });
  }

  function pick(i) {
    const item = items[i];
    const text = input.value;
    close();
    if (item !== undefined) onPick(item, text);
  }

  async function run(text) {
    const mine = ++seq;
    let list = [];
    try {
      list = await suggest(text);
    } catch (err) {
      list = [];
    }
    if (mine !== seq || input.value !== text) return;
    open(list);
  }
  const ask = debounce(run, delay);

  input.addEventListener("input", () => {
    onInput(input.value);
    active = -1; // typing leaves the options; none is active until the arrows choose one
    input.removeAttribute("aria-activedescendant");
    options().forEach((r) => r.setAttribute("aria-selected", "false"));
    if (input.value.trim()) {
      setStale(true);
      ask(input.value);
    } else close();
  });
  input.addEventListener("keydown", (ev) => {
    const isOpen = !listbox.hidden;
    const ready = isOpen && !stale;
    if (ev.key === "ArrowDown") {
      if (ready && !ev.altKey) setActive(active + 1);
      else if (input.value.trim()) ask.now(input.value);
    } else if (ev.key === "ArrowUp") {
      if (isOpen && ev.altKey) close();
      else if (ready) setActive(active < 0 ? -1 : active - 1);
    } else if (ev.key === "Enter") {
      if (ready && active >= 0) pick(active);
      else { close(); onSubmit(input.value); }
    } else if (ev.key === "Escape") {
      if (isOpen) close();
      else if (input.value) { input.value = ""; onInput(""); }
      else return;
    } else return;
    ev.preventDefault();
  });
  input.addEventListener("blur", () => close());

  return { close };
}
