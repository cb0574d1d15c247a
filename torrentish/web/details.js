// The detail panel of one torrent: an overview, its files (wanted, priority), peers and
// trackers. It asks the daemon only for the fields of the tab on show, on the page's poll.

import { h, progressBar, setProgress, setText, syncChildren } from "./dom.js";
import * as fmt from "./format.js";

const OVERVIEW_FIELDS = [
  "id", "name", "status", "error", "errorString", "percentDone", "metadataPercentComplete",
  "recheckProgress", "isFinished", "sizeWhenDone", "leftUntilDone", "totalSize", "haveValid",
  "downloadedEver", "uploadedEver", "corruptEver", "uploadRatio", "rateDownload", "rateUpload", "eta",
  "peersConnected", "peersSendingToUs", "peersGettingFromUs", "downloadDir", "hashString",
  "addedDate", "doneDate", "pieceCount", "pieceSize", "magnetLink", "comment",
];
const TAB_FIELDS = {
  overview: [],
  files: ["fileStats"], // names and lengths ("files") are asked for once, when not known yet
  peers: ["peers"],
  trackers: ["trackerStats"],
};

export class Details {
  constructor(root, rpc, { act, close, toast }) {
    this.root = root;
    this.rpc = rpc;
    this.toast = toast;
    this.id = null;
    this.tab = "overview";
    this.files = []; // the open torrent's file names and lengths
    this.edits = 0; // bumped by every change made here: a poll begun before it is stale
    root.querySelector("#details-close").addEventListener("click", close);
    for (const button of root.querySelectorAll("[data-detail-action]")) {
      button.addEventListener("click", () => act(button.dataset.detailAction));
    }
    for (const button of root.querySelectorAll("[data-tab]")) {
      button.addEventListener("click", () => this.showTab(button.dataset.tab));
    }
  }

  open(id, summary) {
    if (this.id !== id) {
      this.id = id;
      this.files = [];
      for (const list of this.root.querySelectorAll(".items, .facts")) list.replaceChildren();
      setText(this.root.querySelector("#details-name"), summary?.name ?? "");
      this.showTab("overview", false);
    }
    this.root.hidden = false;
  }

  close() {
    this.id = null;
    this.root.hidden = true;
  }

  showTab(tab, refresh = true) {
    this.tab = tab;
    for (const button of this.root.querySelectorAll("[data-tab]")) {
      button.setAttribute("aria-selected", String(button.dataset.tab === tab));
    }
    for (const panel of this.root.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== tab;
    if (refresh) this.refresh();
  }

  // Called by the page's poll (and on a tab change): fetch and show the open torrent.
  async refresh() {
    if (this.id === null) return;
    const id = this.id;
    const edits = this.edits;
    const fields = [...OVERVIEW_FIELDS, ...TAB_FIELDS[this.tab]];
    if (this.tab === "files" && this.files.length === 0) fields.push("files");
    const [t] = await this.rpc.torrents(fields, [id]);
    if (id !== this.id || edits !== this.edits) return; // closed, switched or edited meanwhile
    if (!t) {
      setText(this.root.querySelector("#details-name"), "This torrent is gone.");
      return;
    }
    if (Array.isArray(t.files) && t.files.length) this.files = t.files;
    setText(this.root.querySelector("#details-name"), t.name || "(no name yet)");
    this.renderOverview(t);
    if (this.tab === "files") this.renderFiles(t);
    if (this.tab === "peers") this.renderPeers(t);
    if (this.tab === "trackers") this.renderTrackers(t);
  }

  renderOverview(t) {
    const state = fmt.describeState(t);
    const facts = [
      ["State", state.text],
      ["Progress", t.leftUntilDone === 0 && t.sizeWhenDone > 0 ? "100%" : fmt.formatHave(t)],
      ["Rates", `↓ ${fmt.formatRate(t.rateDownload)}  ↑ ${fmt.formatRate(t.rateUpload)}`],
      ["Time left", fmt.formatEta(t.eta)],
      ["Peers", fmt.formatPeers(t)],
      ["Downloaded", fmt.formatSize(t.downloadedEver)],
      ["Uploaded", `${fmt.formatSize(t.uploadedEver)} (ratio ${fmt.formatRatio(t.uploadRatio)})`],
      ["Size", fmt.formatSize(t.totalSize)],
      ["Pieces", t.pieceCount ? `${t.pieceCount} × ${fmt.formatSize(t.pieceSize)}` : "–"],
      ["Corrupt", t.corruptEver ? fmt.formatSize(t.corruptEver) : "none"],
      ["Location", t.downloadDir || "–"],
      ["Info hash", t.hashString || "–"],
      ["Added", fmt.formatDate(t.addedDate)],
      ["Completed", fmt.formatDate(t.doneDate)],
    ];
    if (t.comment) facts.push(["Comment", t.comment]);
    const stopped = t.status === 0;
    this.root.querySelector("[data-detail-action=torrent-start]").disabled = !stopped;
    this.root.querySelector("[data-detail-action=torrent-stop]").disabled = stopped;
    this.root.querySelector("[data-detail-action=torrent-verify]").disabled = t.status === 1 || t.status === 2;
    if (t.error) facts.push(["Error", t.errorString || `error ${t.error}`]);
    const list = this.root.querySelector("#overview");
    syncChildren(list, facts, ([label]) => label,
      ([label]) => h("div", {}, h("dt", { text: label }), h("dd")),
      (item, [, value]) => setText(item.lastChild, value));
    let magnet = list.querySelector(".magnet");
    if (!magnet && t.magnetLink) {
      const input = h("input", { type: "text", readonly: true, "aria-label": "Magnet link" });
      input.addEventListener("focus", () => input.select());
      const copy = h("button", { type: "button", text: "Copy" });
      copy.addEventListener("click", () => this.copy(input));
      magnet = h("div", { class: "magnet" }, h("dt", { text: "Magnet" }), h("dd", {}, input, copy));
    }
    if (magnet) {
      list.append(magnet); // syncChildren leaves it out of order; it belongs last
      const input = magnet.querySelector("input");
      if (input.value !== t.magnetLink) input.value = t.magnetLink || "";
    }
  }

  async copy(input) {
    try {
      await navigator.clipboard.writeText(input.value);
      this.toast("Magnet link copied");
    } catch (error) {
      input.focus(); // no clipboard on plain http off localhost: the text is selected instead
      input.select();
    }
  }

  renderFiles(t) {
    const stats = Array.isArray(t.fileStats) ? t.fileStats : [];
    const prefix = this.files.length > 1 ? `${t.name}/` : "";
    const items = this.files.map((file, index) => ({ index, file, stat: stats[index] ?? {} }));
    syncChildren(this.root.querySelector("#files"), items, (item) => item.index,
      (item) => this.createFile(item), (li, item) => {
        const name = String(item.file.name ?? "");
        setText(li.querySelector(".name"), name.startsWith(prefix) ? name.slice(prefix.length) : name);
        li.querySelector(".name").title = name;
        const done = item.stat.bytesCompleted ?? item.file.bytesCompleted ?? 0;
        const length = item.file.length ?? 0;
        setText(li.querySelector(".size"),
          `${fmt.formatSize(done)} of ${fmt.formatSize(length)}`);
        setProgress(li.querySelector(".bar"), length ? done / length : 1);
        const wanted = li.querySelector("input");
        if (document.activeElement !== wanted) wanted.checked = item.stat.wanted !== false;
        const priority = li.querySelector("select");
        if (document.activeElement !== priority) priority.value = String(item.stat.priority ?? 0);
        li.classList.toggle("unwanted", item.stat.wanted === false);
      });
  }

  createFile({ index }) {
    const wanted = h("input", { type: "checkbox", "aria-label": "Download this file" });
    wanted.addEventListener("change", () =>
      this.setFiles(wanted.checked ? "files-wanted" : "files-unwanted", index));
    const priority = h("select", { "aria-label": "Priority" },
      ...Object.entries(fmt.PRIORITY_NAMES).map(([value, name]) => h("option", { value, text: name })));
    priority.addEventListener("change", () => {
      const key = { "-1": "priority-low", "0": "priority-normal", "1": "priority-high" }[priority.value];
      this.setFiles(key, index);
    });
    return h("li", { class: "file" },
      h("label", { class: "wanted" }, wanted),
      h("div", { class: "main" }, h("span", { class: "name" }), progressBar(), h("span", { class: "size" })),
      priority);
  }

  // torrent-set for one file. (An empty index list would mean "every file": never sent.)
  async setFiles(key, index) {
    this.edits++;
    try {
      await this.rpc.call("torrent-set", { ids: [this.id], [key]: [index] });
    } catch (error) {
      this.toast(error.message);
    }
    this.edits++;
    this.refresh();
  }

  renderPeers(t) {
    const peers = Array.isArray(t.peers) ? t.peers : [];
    this.root.querySelector("#no-peers").hidden = peers.length > 0;
    syncChildren(this.root.querySelector("#peers"), peers, (p) => `${p.address}:${p.port}`,
      () => h("li", { class: "peer" },
        h("span", { class: "address" }), h("span", { class: "client" }),
        h("span", { class: "flags", title: "Transmission's peer flags" }),
        h("span", { class: "progress" }), h("span", { class: "rates" })),
      (li, p) => {
        setText(li.querySelector(".address"), p.address?.includes(":") ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`);
        setText(li.querySelector(".client"), p.clientName || "unknown client");
        setText(li.querySelector(".flags"), p.flagStr || "");
        setText(li.querySelector(".progress"), `has ${fmt.formatPercent(p.progress)}`);
        setText(li.querySelector(".rates"), `↓ ${fmt.formatRate(p.rateToClient)}  ↑ ${fmt.formatRate(p.rateToPeer)}`);
      });
  }

  renderTrackers(t) {
    const trackers = Array.isArray(t.trackerStats) ? t.trackerStats : [];
    this.root.querySelector("#no-trackers").hidden = trackers.length > 0;
    syncChildren(this.root.querySelector("#trackers"), trackers, (s) => `${s.tier}:${s.announce}`,
      () => h("li", { class: "tracker" },
        h("span", { class: "url" }), h("span", { class: "result" }),
        h("span", { class: "counts" }), h("span", { class: "next" })),
      (li, s) => {
        setText(li.querySelector(".url"), `Tier ${(s.tier ?? 0) + 1}: ${s.announce ?? ""}`);
        const result = s.hasAnnounced
          ? `${s.lastAnnounceSucceeded ? "OK" : "Failed"}: ${s.lastAnnounceResult || ""} (${fmt.formatDate(s.lastAnnounceTime)})`
          : "Not announced yet";
        setText(li.querySelector(".result"), result);
        const count = (n) => (typeof n === "number" && n >= 0 ? String(n) : "–");
        setText(li.querySelector(".counts"), `${count(s.seederCount)} seeders, ${count(s.leecherCount)} leechers`);
        setText(li.querySelector(".next"), s.nextAnnounceTime > 0 ? `next announce ${fmt.formatDate(s.nextAnnounceTime)}` : "");
      });
  }
}
