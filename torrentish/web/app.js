// The page: the torrent list, the toolbar, the add and remove dialogs, and the poll that keeps
// them live. The detail panel is details.js; talking to the daemon is rpc.js.

import { Rpc, RpcError, rpcUrl } from "./rpc.js";
import { Details } from "./details.js";
import { h, progressBar, setClass, setProgress, setText, syncChildren } from "./dom.js";
import * as fmt from "./format.js";

const POLL_MS = 2000; // while the page is visible
const HIDDEN_POLL_MS = 10000; // in a background tab
const MAX_TORRENT_FILE = 32 * 1024 * 1024; // the daemon refuses bigger .torrent files anyway

// Only what the list shows: torrent-get's cost grows with the fields asked for.
const LIST_FIELDS = [
  "id", "name", "status", "error", "errorString", "percentDone", "metadataPercentComplete",
  "recheckProgress", "isFinished", "sizeWhenDone", "leftUntilDone", "rateDownload", "rateUpload",
  "peersConnected", "peersSendingToUs", "peersGettingFromUs", "uploadRatio", "eta",
];

const $ = (selector) => document.querySelector(selector);
const rpc = new Rpc(rpcUrl(window.location));
const selected = new Set();
let torrents = [];
let session = null; // session-get's answer, asked for once

// -- the poll -------------------------------------------------------------------------------

let timer = null;
let polling = false;
let pollAgain = false;

async function poll() {
  if (polling) {
    pollAgain = true; // an action happened mid-poll: its effect shows in the next one
    return;
  }
  polling = true;
  clearTimeout(timer);
  try {
    if (session === null) session = await rpc.session();
    torrents = await rpc.torrents(LIST_FIELDS);
    renderList();
    await details.refresh();
    showBanner(null);
  } catch (error) {
    if (!(error instanceof RpcError)) console.error(error); // our bug: keep the stack
    showBanner(error instanceof RpcError && error.offline
      ? "Cannot reach the daemon; retrying…"
      : `Error: ${error.message}`);
  } finally {
    polling = false;
  }
  if (pollAgain) {
    pollAgain = false;
    poll();
  } else {
    timer = setTimeout(poll, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
  }
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) poll();
});

// -- the list -------------------------------------------------------------------------------

const STATE_FILTERS = {
  all: () => true,
  active: (t) => t.rateDownload > 0 || t.rateUpload > 0 || t.status === 2,
  downloading: (t) => t.status === 3 || t.status === 4,
  seeding: (t) => t.status === 5 || t.status === 6,
  stopped: (t) => t.status === 0,
  error: (t) => t.error !== 0,
};

function visibleTorrents() {
  const byState = STATE_FILTERS[$("#state-filter").value] ?? STATE_FILTERS.all;
  const text = $("#name-filter").value.trim().toLowerCase();
  return torrents.filter((t) => byState(t) && (!text || String(t.name).toLowerCase().includes(text)));
}

function createRow(t) {
  const select = h("input", { type: "checkbox", class: "select", "aria-label": "Select" });
  select.addEventListener("click", (event) => event.stopPropagation());
  select.addEventListener("change", () => {
    if (select.checked) selected.add(t.id);
    else selected.delete(t.id);
    updateToolbar();
  });
  const row = h("li", { class: "torrent", tabindex: "0" },
    h("label", { class: "select" }, select),
    h("div", { class: "main" },
      h("span", { class: "name" }),
      progressBar(),
      h("span", { class: "sub" }, h("span", { class: "state" }), " ", h("span", { class: "have" }))),
    h("div", { class: "stats" },
      h("span", { class: "down", title: "Download rate" }),
      h("span", { class: "up", title: "Upload rate" }),
      h("span", { class: "peers" }),
      h("span", { class: "ratio", title: "Upload ratio" }),
      h("span", { class: "eta", title: "Time left" })));
  row.addEventListener("click", () => openDetails(t.id));
  row.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target === row) openDetails(t.id);
  });
  return row;
}

function updateRow(row, t) {
  const state = fmt.describeState(t);
  setClass(row, `torrent ${state.kind}${selected.has(t.id) ? " selected" : ""}${t.id === details.id ? " open" : ""}`);
  row.dataset.id = t.id;
  row.querySelector("input.select").checked = selected.has(t.id);
  row.querySelector("input.select").setAttribute("aria-label", `Select ${t.name}`);
  setText(row.querySelector(".name"), t.name || "(no name yet)");
  row.querySelector(".name").title = t.name || "";
  setProgress(row.querySelector(".bar"), fmt.progressOf(t));
  setText(row.querySelector(".state"), state.text);
  setText(row.querySelector(".have"), fmt.formatHave(t));
  setText(row.querySelector(".down"), fmt.formatRate(t.rateDownload));
  setText(row.querySelector(".up"), fmt.formatRate(t.rateUpload));
  setText(row.querySelector(".peers"), fmt.formatPeers(t));
  setText(row.querySelector(".ratio"), fmt.formatRatio(t.uploadRatio));
  setText(row.querySelector(".eta"), fmt.formatEta(t.eta));
}

function renderList() {
  const present = new Set(torrents.map((t) => t.id));
  for (const id of selected) if (!present.has(id)) selected.delete(id);
  const shown = visibleTorrents();
  syncChildren($("#torrents"), shown, (t) => t.id, createRow, updateRow);
  $("#empty").hidden = torrents.length > 0;
  $("#no-match").hidden = torrents.length === 0 || shown.length > 0;
  const down = torrents.reduce((sum, t) => sum + (t.rateDownload || 0), 0);
  const up = torrents.reduce((sum, t) => sum + (t.rateUpload || 0), 0);
  setText($("#total-down"), `↓ ${fmt.formatRate(down)}`);
  setText($("#total-up"), `↑ ${fmt.formatRate(up)}`);
  document.title = down > 0 || up > 0
    ? `↓ ${fmt.formatRate(down)} ↑ ${fmt.formatRate(up)} – torrentish`
    : "torrentish";
  updateToolbar();
}

function updateToolbar() {
  const shown = visibleTorrents();
  const chosen = torrents.filter((t) => selected.has(t.id));
  const enabled = {
    "torrent-start": chosen.some((t) => t.status === 0),
    "torrent-stop": chosen.some((t) => t.status !== 0),
    "torrent-verify": chosen.length > 0,
    remove: chosen.length > 0,
  };
  for (const button of document.querySelectorAll("[data-action]")) button.disabled = !enabled[button.dataset.action];
  const all = $("#select-all");
  all.checked = shown.length > 0 && shown.every((t) => selected.has(t.id));
  all.indeterminate = !all.checked && shown.some((t) => selected.has(t.id));
  for (const row of $("#torrents").children) {
    row.classList.toggle("selected", selected.has(Number(row.dataset.id)));
    row.classList.toggle("open", Number(row.dataset.id) === details.id);
  }
}

$("#select-all").addEventListener("change", (event) => {
  for (const t of visibleTorrents()) {
    if (event.target.checked) selected.add(t.id);
    else selected.delete(t.id);
  }
  renderList();
});
$("#state-filter").addEventListener("change", renderList);
$("#name-filter").addEventListener("input", renderList);

// -- actions --------------------------------------------------------------------------------

// Start, stop, verify or (through the dialog) remove these torrents.
async function act(action, ids) {
  if (ids.length === 0) return;
  if (action === "remove") {
    askRemove(ids);
    return;
  }
  try {
    await rpc.call(action, { ids });
  } catch (error) {
    toast(error.message);
  }
  poll();
}

for (const button of document.querySelectorAll("[data-action]")) {
  button.addEventListener("click", () => act(button.dataset.action, [...selected]));
}

function askRemove(ids) {
  const names = torrents.filter((t) => ids.includes(t.id)).map((t) => t.name);
  const dialog = $("#remove-dialog");
  $("#remove-what").textContent = names.length === 1
    ? `Remove “${names[0]}” from the list?`
    : `Remove these ${ids.length} torrents from the list?`;
  dialog.querySelector("[name=delete]").checked = false;
  dialog.dataset.ids = JSON.stringify(ids);
  dialog.showModal();
}

$("#remove-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const dialog = $("#remove-dialog");
  const ids = JSON.parse(dialog.dataset.ids || "[]");
  const deleteData = dialog.querySelector("[name=delete]").checked;
  dialog.close();
  try {
    await rpc.call("torrent-remove", { ids, "delete-local-data": deleteData });
    for (const id of ids) selected.delete(id);
    if (ids.includes(details.id)) closeDetails();
  } catch (error) {
    toast(error.message);
  }
  poll();
});
$("#remove-cancel").addEventListener("click", () => $("#remove-dialog").close());

// -- adding ---------------------------------------------------------------------------------

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] ?? "");
    reader.onerror = () => reject(new Error(`cannot read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

// Add magnet links or URLs and .torrent files; returns the error messages, one per failure.
async function addTorrents(links, files, { dir, paused }) {
  const common = {};
  if (dir) common["download-dir"] = dir;
  if (paused) common.paused = true;
  const requests = links.map((link) => ({ label: link, args: { ...common, filename: link } }));
  for (const file of files) {
    if (file.size > MAX_TORRENT_FILE) {
      requests.push({ label: file.name, error: "too big for a .torrent file" });
      continue;
    }
    requests.push({ label: file.name, args: { ...common, metainfo: await readBase64(file) } });
  }
  const errors = [];
  for (const request of requests) {
    if (request.error) {
      errors.push(`${request.label}: ${request.error}`);
      continue;
    }
    try {
      const result = await rpc.call("torrent-add", request.args);
      const duplicate = result["torrent-duplicate"];
      if (duplicate) toast(`Already there: ${duplicate.name}`);
    } catch (error) {
      errors.push(`${request.label}: ${error.message}`);
    }
  }
  poll();
  return errors;
}

$("#add-button").addEventListener("click", () => {
  const form = $("#add-form");
  form.reset();
  form.elements.dir.value = session?.["download-dir"] || "";
  $("#add-error").hidden = true;
  $("#add-dialog").showModal();
  form.elements.links.focus();
});
$("#add-cancel").addEventListener("click", () => $("#add-dialog").close());

$("#add-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const links = form.elements.links.value.split(/\s+/).filter(Boolean);
  const files = [...form.elements.files.files];
  const error = $("#add-error");
  if (links.length === 0 && files.length === 0) {
    error.textContent = "Paste a magnet link or URL, or choose a .torrent file.";
    error.hidden = false;
    return;
  }
  const submit = form.querySelector("[type=submit]");
  submit.disabled = true;
  const dir = form.elements.dir.value.trim();
  const errors = await addTorrents(links, files, {
    dir: dir && dir !== session?.["download-dir"] ? dir : "",
    paused: !form.elements.start.checked,
  });
  submit.disabled = false;
  if (errors.length) {
    error.textContent = errors.join("\n");
    error.hidden = false;
  } else {
    $("#add-dialog").close();
  }
});

// Dropping .torrent files anywhere on the page adds them.
let dragDepth = 0;
document.addEventListener("dragenter", (event) => {
  if (!event.dataTransfer?.types.includes("Files")) return;
  dragDepth++;
  $("#drop-hint").hidden = false;
});
document.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) $("#drop-hint").hidden = true;
});
document.addEventListener("dragover", (event) => event.preventDefault());
document.addEventListener("drop", async (event) => {
  event.preventDefault();
  dragDepth = 0;
  $("#drop-hint").hidden = true;
  const files = [...(event.dataTransfer?.files ?? [])].filter((f) => f.name.endsWith(".torrent"));
  if (files.length === 0) return;
  const errors = await addTorrents([], files, { dir: "", paused: false });
  if (errors.length) toast(errors.join("; "));
});

// -- details, banner, toast -----------------------------------------------------------------

const details = new Details($("#details"), rpc, {
  act: (action) => act(action, [details.id]),
  close: () => closeDetails(),
  toast: (message) => toast(message),
});

// The open panel is in the address (#ID), so a phone's back button closes it.
function openDetails(id) {
  if (window.location.hash !== `#${id}`) history.pushState({ details: id }, "", `#${id}`);
  route();
}

function closeDetails() {
  if (history.state?.details !== undefined) history.back();
  else {
    history.replaceState(null, "", window.location.pathname + window.location.search);
    route();
  }
}

function route(refresh = true) {
  const match = /^#(\d+)$/.exec(window.location.hash);
  if (match) {
    details.open(Number(match[1]), torrents.find((t) => t.id === Number(match[1])));
    if (refresh) poll();
  } else {
    details.close();
  }
  document.body.classList.toggle("details-open", Boolean(match));
  updateToolbar();
}
window.addEventListener("popstate", () => route());
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && details.id !== null && !document.querySelector("dialog[open]")) closeDetails();
});

function showBanner(message) {
  const banner = $("#banner");
  banner.hidden = !message;
  if (message) setText(banner, message);
}

let toastTimer = null;
function toast(message) {
  const element = $("#toast");
  element.textContent = message;
  element.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { element.hidden = true; }, 6000);
}

route(false);
poll();
