// Transmission's RPC from the browser: POST JSON to the daemon's /transmission/rpc.
//
// The daemon answers a request without the right X-Transmission-Session-Id with 409 and the id
// to use (its CSRF guard); we remember it and send the request again. HTTP Basic auth, when the
// daemon wants it, is the browser's business: it asks once and resends the credentials itself.
// Method and argument names are the old kebab/camel ones (rpc-version 16, Transmission 3.00),
// which newer Transmission and the torrentish daemon also accept.

const TIMEOUT_MS = 30000;

export class RpcError extends Error {
  constructor(message, { offline = false } = {}) {
    super(message);
    this.name = "RpcError";
    this.offline = offline; // the daemon did not answer at all (down, restarting, network)
  }
}

// Where the RPC is, seen from this page: next to the page's directory when Transmission serves
// us as its web client (/transmission/web/ -> /transmission/rpc), else below the page's
// directory (the torrentish daemon serves us at /, possibly behind a proxy's path prefix).
export function rpcUrl(location) {
  const relative = /\/transmission\/web\/?$/.test(location.pathname.replace(/[^/]*$/, ""))
    ? "../rpc"
    : "transmission/rpc";
  return new URL(relative, location.href).href;
}

// torrent-get's `table` format (rpc-version >= 16): the first row names the fields, each other
// row is one torrent. Objects are what the page works with.
export function tableToObjects(torrents) {
  if (!Array.isArray(torrents) || torrents.length === 0 || !Array.isArray(torrents[0])) {
    return Array.isArray(torrents) ? torrents : [];
  }
  const [keys, ...rows] = torrents;
  return rows.map((row) => Object.fromEntries(keys.map((key, i) => [key, row[i]])));
}

export class Rpc {
  constructor(url) {
    this.url = url;
    this.sessionId = null;
    this.rpcVersion = 0; // learned from session-get; 16 and up has the table format
  }

  async call(method, args = {}) {
    const body = JSON.stringify({ method, arguments: args });
    for (let attempt = 0; attempt < 3; attempt++) {
      const headers = { "Content-Type": "application/json" };
      if (this.sessionId) headers["X-Transmission-Session-Id"] = this.sessionId;
      let response;
      try {
        response = await fetch(this.url, {
          method: "POST",
          headers,
          body,
          cache: "no-store",
          credentials: "same-origin",
          signal: AbortSignal.timeout ? AbortSignal.timeout(TIMEOUT_MS) : undefined,
        });
      } catch (error) {
        throw new RpcError("cannot reach the daemon", { offline: true });
      }
      if (response.status === 409) {
        const id = response.headers.get("X-Transmission-Session-Id");
        if (!id) break;
        this.sessionId = id;
        continue;
      }
      if (response.status === 401) throw new RpcError("the daemon wants a user name and password");
      if (response.status === 403) throw new RpcError("the daemon refuses this address (its RPC whitelist)");
      if (!response.ok) throw new RpcError(`the daemon answered HTTP ${response.status}`);
      let reply;
      try {
        reply = await response.json();
      } catch (error) {
        throw new RpcError("the daemon's reply is not JSON");
      }
      if (reply === null || typeof reply !== "object" || typeof reply.result !== "string") {
        throw new RpcError("the daemon's reply has no result");
      }
      if (reply.result !== "success") throw new RpcError(reply.result);
      return reply.arguments && typeof reply.arguments === "object" ? reply.arguments : {};
    }
    throw new RpcError("the daemon keeps refusing our session id");
  }

  async session() {
    const session = await this.call("session-get");
    this.rpcVersion = Number(session["rpc-version"]) || 0;
    return session;
  }

  // Torrents with only the fields asked for; `ids` omitted means all of them.
  async torrents(fields, ids) {
    const args = { fields };
    if (ids !== undefined) args.ids = ids;
    if (this.rpcVersion >= 16) args.format = "table";
    const result = await this.call("torrent-get", args);
    return tableToObjects(result.torrents);
  }
}
