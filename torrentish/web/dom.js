// Small DOM helpers. Text from the daemon (torrent and file names, tracker messages) only ever
// becomes text nodes or attribute values, never markup.

// h("li", { class: "row", onclick: f }, "text", child) -> an element.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (typeof value === "boolean") el.toggleAttribute(key, value);
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

// Change the DOM only when the text changes: polling every two seconds must not restart
// selections, transitions or screen readers for values that stayed the same.
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function setClass(el, name) {
  if (el.className !== name) el.className = name;
}

// Keep `container`'s children in step with `items`: one child per key, made by create(item)
// the first time, refreshed by update(child, item) on every call, removed when the key goes.
export function syncChildren(container, items, keyOf, create, update) {
  const existing = new Map();
  for (const child of container.children) existing.set(child.dataset.key, child);
  let previous = null;
  for (const item of items) {
    const key = String(keyOf(item));
    let child = existing.get(key);
    if (child) {
      existing.delete(key);
    } else {
      child = create(item);
      child.dataset.key = key;
    }
    update(child, item);
    const wanted = previous ? previous.nextSibling : container.firstChild;
    if (child !== wanted) container.insertBefore(child, wanted);
    previous = child;
  }
  for (const stale of existing.values()) stale.remove();
}

// A progress bar's fill; `fraction` 0..1.
export function setProgress(bar, fraction) {
  const percent = `${(Math.min(1, Math.max(0, fraction || 0)) * 100).toFixed(1)}%`;
  const fill = bar.firstElementChild;
  if (fill.style.width !== percent) fill.style.width = percent;
  bar.setAttribute("aria-valuenow", (Math.min(1, Math.max(0, fraction || 0)) * 100).toFixed(1));
}

export function progressBar() {
  return h("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" },
    h("div", { class: "fill" }));
}
