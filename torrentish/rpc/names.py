"""The two spellings of every Transmission RPC name: the old one and the new snake_case one.

Transmission up to 4.0 (rpc-version 17; Debian's 3.00 speaks 16) names methods in kebab-case
(`torrent-get`), torrent fields in camelCase (`hashString`) and session keys in kebab-case
(`download-dir`), with exceptions on both sides. 4.1 (rpc-version 18) renamed all of them to
snake_case and moved to JSON-RPC 2.0. We work in snake_case inside and translate at the edge:
a request in the old envelope gets its answer in the old names, a JSON-RPC request in the new.

The legacy names below are the old spec's (transmission docs/rpc-spec.md as of 4.0.6), so the
translation table is data, not a rule that guesses: `legacy_name` knows every one by name.
Pure: no I/O.
"""

from __future__ import annotations

import re

# Old names whose snake_case form is not what the spelling rule gives.
_IRREGULAR = {
    "isUTP": "is_utp",
    "cache-size-mb": "cache_size_mib",
    "peersKnown": "peers_known",
}

METHODS_LEGACY = (
    "torrent-start", "torrent-start-now", "torrent-stop", "torrent-verify", "torrent-reannounce",
    "torrent-set", "torrent-get", "torrent-add", "torrent-remove", "torrent-set-location",
    "torrent-rename-path", "session-get", "session-set", "session-stats", "session-close",
    "blocklist-update", "port-test", "queue-move-top", "queue-move-up", "queue-move-down",
    "queue-move-bottom", "free-space", "group-get", "group-set",
)

# torrent-get fields (and the objects nested in them), in the old spelling.
TORRENT_FIELDS_LEGACY = (
    "activityDate", "addedDate", "availability", "bandwidthPriority", "comment", "corruptEver",
    "creator", "dateCreated", "desiredAvailable", "doneDate", "downloadDir", "downloadedEver",
    "downloadLimit", "downloadLimited", "editDate", "error", "errorString", "eta", "etaIdle",
    "file-count", "files", "fileStats", "group", "hashString", "haveUnchecked", "haveValid",
    "honorsSessionLimits", "id", "isFinished", "isPrivate", "isStalled", "labels", "leftUntilDone",
    "magnetLink", "manualAnnounceTime", "maxConnectedPeers", "metadataPercentComplete", "name",
    "peer-limit", "peers", "peersConnected", "peersFrom", "peersGettingFromUs", "peersSendingToUs",
    "percentComplete", "percentDone", "pieces", "pieceCount", "pieceSize", "priorities",
    "primary-mime-type", "queuePosition", "rateDownload", "rateUpload", "recheckProgress",
    "secondsDownloading", "secondsSeeding", "seedIdleLimit", "seedIdleMode", "seedRatioLimit",
    "seedRatioMode", "sequentialDownload", "sizeWhenDone", "startDate", "status", "trackers",
    "trackerList", "trackerStats", "totalSize", "torrentFile", "uploadedEver", "uploadLimit",
    "uploadLimited", "uploadRatio", "wanted", "webseeds", "webseedsSendingToUs",
)

_NESTED_LEGACY = (
    # files, fileStats
    "bytesCompleted", "length", "priority", "beginPiece", "endPiece",
    # peers
    "address", "clientName", "clientIsChoked", "clientIsInterested", "flagStr", "isDownloadingFrom",
    "isEncrypted", "isIncoming", "isUploadingTo", "isUTP", "peerIsChoked", "peerIsInterested", "port",
    "progress", "rateToClient", "rateToPeer", "bytesToClient", "bytesToPeer", "peerId",
    # peersFrom
    "fromCache", "fromDht", "fromIncoming", "fromLpd", "fromLtep", "fromPex", "fromTracker",
    # trackers, trackerStats
    "announce", "scrape", "sitename", "tier", "announceState", "downloadCount", "downloaderCount",
    "hasAnnounced", "hasScraped", "host", "isBackup", "lastAnnouncePeerCount", "lastAnnounceResult",
    "lastAnnounceStartTime", "lastAnnounceSucceeded", "lastAnnounceTime", "lastAnnounceTimedOut",
    "lastScrapeResult", "lastScrapeStartTime", "lastScrapeSucceeded", "lastScrapeTime",
    "lastScrapeTimedOut", "leecherCount", "nextAnnounceTime", "nextScrapeTime", "scrapeState",
    "seederCount",
)

# torrent-set / torrent-add / torrent-remove / torrent-set-location arguments.
TORRENT_ARGS_LEGACY = (
    "ids", "fields", "format", "files-wanted", "files-unwanted", "priority-high", "priority-low",
    "priority-normal", "location", "move", "paused", "filename", "metainfo", "cookies", "download-dir",
    "delete-local-data", "path", "trackerAdd", "trackerRemove", "trackerReplace",
    "torrent-added", "torrent-duplicate", "torrents", "removed",
)

SESSION_KEYS_LEGACY = (
    "alt-speed-down", "alt-speed-enabled", "alt-speed-time-begin", "alt-speed-time-day",
    "alt-speed-time-enabled", "alt-speed-time-end", "alt-speed-up", "blocklist-enabled",
    "blocklist-size", "blocklist-url", "cache-size-mb", "config-dir", "default-trackers", "dht-enabled",
    "download-dir", "download-dir-free-space", "download-queue-enabled", "download-queue-size",
    "encryption", "idle-seeding-limit-enabled", "idle-seeding-limit", "incomplete-dir-enabled",
    "incomplete-dir", "lpd-enabled", "peer-limit-global", "peer-limit-per-torrent",
    "peer-port-random-on-start", "peer-port", "pex-enabled", "port-forwarding-enabled",
    "queue-stalled-enabled", "queue-stalled-minutes", "rename-partial-files", "rpc-version-minimum",
    "rpc-version-semver", "rpc-version", "script-torrent-added-enabled", "script-torrent-added-filename",
    "script-torrent-done-enabled", "script-torrent-done-filename", "script-torrent-done-seeding-enabled",
    "script-torrent-done-seeding-filename", "seed-queue-enabled", "seed-queue-size", "seedRatioLimit",
    "seedRatioLimited", "session-id", "speed-limit-down-enabled", "speed-limit-down",
    "speed-limit-up-enabled", "speed-limit-up", "start-added-torrents", "trash-original-torrent-files",
    "units", "utp-enabled", "tcp-enabled", "version",
    # units
    "speed-units", "speed-bytes", "size-units", "size-bytes", "memory-units", "memory-bytes",
    # session-stats
    "activeTorrentCount", "downloadSpeed", "pausedTorrentCount", "torrentCount", "uploadSpeed",
    "cumulative-stats", "current-stats", "uploadedBytes", "downloadedBytes", "filesAdded",
    "sessionCount", "secondsActive",
    # free-space, port-test, blocklist-update
    "size-bytes", "total_size", "port-is-open", "recently-active",
)


def snake(legacy: str) -> str:
    """The snake_case form of an old name: `hashString` -> `hash_string`, `peer-port` -> `peer_port`."""
    if legacy in _IRREGULAR:
        return _IRREGULAR[legacy]
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", legacy).replace("-", "_").lower()


def _build() -> tuple[dict[str, str], dict[str, str]]:
    legacy_of: dict[str, str] = {}
    canonical: dict[str, str] = {}
    for name in METHODS_LEGACY + TORRENT_FIELDS_LEGACY + _NESTED_LEGACY + TORRENT_ARGS_LEGACY + SESSION_KEYS_LEGACY:
        key = snake(name)
        legacy_of.setdefault(key, name)
        canonical[name] = canonical[key] = key
    return legacy_of, canonical


LEGACY_OF, CANONICAL = _build()
# The one name spelled two ways in the old API: camelCase inside torrent objects, kebab elsewhere.
LEGACY_OF["download_dir"] = "download-dir"
_LEGACY_IN_TORRENT = {"download_dir": "downloadDir"}


def canonical(name: str) -> str:
    """The snake_case name for a name in either spelling; unknown names pass through unchanged."""
    return CANONICAL.get(name, name)


def legacy_name(name: str, in_torrent: bool = False) -> str:
    """The old spelling of a snake_case name (`in_torrent`: inside a torrent object)."""
    if in_torrent and name in _LEGACY_IN_TORRENT:
        return _LEGACY_IN_TORRENT[name]
    return LEGACY_OF.get(name, name)


def to_legacy(value, in_torrent: bool = False):
    """A response value with every object key respelled the old way (recursively)."""
    if isinstance(value, dict):
        return {legacy_name(k, in_torrent): to_legacy(v, in_torrent) for k, v in value.items()}
    if isinstance(value, list):
        return [to_legacy(item, in_torrent) for item in value]
    return value
