// Plain functions that turn RPC values into the text the page shows. No DOM, no state:
// the browser tests call them directly. Sizes and rates use binary units with one decimal,
// like the torrentish command line (torrentish/formats/units.py): "1.5 KiB", "2.0 MiB/s".

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function formatSize(bytes) {
  if (typeof bytes !== "number" || !Number.isFinite(bytes)) return "–";
  if (bytes < 0) return "-" + formatSize(-bytes);
  if (bytes < 1024) return `${Math.trunc(bytes)} B`;
  let value = bytes;
  for (let i = 1; i < UNITS.length; i++) {
    value /= 1024;
    // Move up a unit when rounding would print "1024.0 KiB".
    if (Math.round(value * 10) / 10 < 1024 || i === UNITS.length - 1) {
      return `${value.toFixed(1)} ${UNITS[i]}`;
    }
  }
  return "–";
}

export function formatRate(bytesPerSecond) {
  return bytesPerSecond > 0 ? formatSize(bytesPerSecond) + "/s" : "–";
}

// Transmission's eta: seconds, or -1 "not available" (stopped, seeding), -2 "unknown" (no rate).
export function formatEta(seconds) {
  if (seconds === -2) return "∞";
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "–";
  return formatDuration(seconds);
}

export function formatDuration(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const secs = total % 60;
  const two = (n) => String(n).padStart(2, "0");
  if (days) return `${days}d${two(hours)}h`;
  if (hours) return `${hours}h${two(minutes)}m`;
  if (minutes) return `${minutes}m${two(secs)}s`;
  return `${secs}s`;
}

// Transmission's uploadRatio: a number, or -1 "not available", -2 "infinite".
export function formatRatio(ratio) {
  if (ratio === -2) return "∞";
  if (typeof ratio !== "number" || !Number.isFinite(ratio) || ratio < 0) return "–";
  return ratio.toFixed(2);
}

export function formatPercent(fraction) {
  if (typeof fraction !== "number" || !Number.isFinite(fraction)) return "–";
  const clamped = Math.min(1, Math.max(0, fraction));
  // Never show 100% before it is: 99.97% reads "99.9%".
  return (Math.floor(clamped * 1000) / 10).toFixed(1) + "%";
}

// Epoch seconds as a local date and time; 0 means "never" in Transmission's fields.
export function formatDate(epochSeconds) {
  if (typeof epochSeconds !== "number" || epochSeconds <= 0) return "–";
  return new Date(epochSeconds * 1000).toLocaleString();
}

// Torrent status numbers (rpc-spec: 0..6) as a short word and a CSS class for its colour.
const STATUS = [
  ["Stopped", "stopped"],
  ["Queued to verify", "checking"],
  ["Verifying", "checking"],
  ["Queued", "queued"],
  ["Downloading", "downloading"],
  ["Queued to seed", "queued"],
  ["Seeding", "seeding"],
];

// What a torrent is doing, in words, and the class its row gets. Local errors (error 3) win;
// tracker warnings and errors (1, 2) are shown but the torrent keeps going.
export function describeState(t) {
  let [text, kind] = STATUS[t.status] ?? ["Unknown", "stopped"];
  if (t.status === 0 && t.isFinished) text = "Finished";
  if (t.status === 2 && typeof t.recheckProgress === "number") {
    text = `Verifying ${formatPercent(t.recheckProgress)}`;
  }
  if (t.status === 4 && typeof t.metadataPercentComplete === "number" && t.metadataPercentComplete < 1) {
    text = "Fetching metadata";
  }
  if (t.error === 3) return { text: `Error: ${t.errorString || "local error"}`, kind: "error" };
  if (t.error === 1 || t.error === 2) {
    return { text: `${text} (tracker: ${t.errorString || "error"})`, kind };
  }
  return { text, kind };
}

// The progress bar's fraction: verification progress while checking, else percentDone.
export function progressOf(t) {
  if (t.status === 2 && typeof t.recheckProgress === "number") return t.recheckProgress;
  if (t.status === 4 && t.metadataPercentComplete < 1) return 0;
  return typeof t.percentDone === "number" ? t.percentDone : 0;
}

// "42.0 MiB of 100.0 MiB (42.0%)" or, when done, the size alone.
export function formatHave(t) {
  const total = t.sizeWhenDone;
  if (typeof total !== "number" || total <= 0) return "";
  if (t.leftUntilDone === 0) return formatSize(total);
  return `${formatSize(total - t.leftUntilDone)} of ${formatSize(total)} (${formatPercent(t.percentDone)})`;
}

// Peer counts as Transmission words them: who we download from and who we upload to.
export function formatPeers(t) {
  const connected = t.peersConnected ?? 0;
  if (!connected) return "no peers";
  const parts = [`${connected} peer${connected === 1 ? "" : "s"}`];
  if (t.peersSendingToUs) parts.push(`↓ ${t.peersSendingToUs}`);
  if (t.peersGettingFromUs) parts.push(`↑ ${t.peersGettingFromUs}`);
  return parts.join(" · ");
}

export const PRIORITY_NAMES = { "-1": "Low", "0": "Normal", "1": "High" };
