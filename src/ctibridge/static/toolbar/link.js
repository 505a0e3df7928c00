// The page's WebSocket to the hub: one app connection for one agent (docs/protocol.md §1), reopened
// after any loss with `resumeFrom=<last seq seen>` so no event is missed (§6).

// the hub refused this page for good (no retry): unknown agent, no/invalid token, forbidden
const FINAL_CLOSE = {
  4404: "unknown agent",
  4401: "not authorised (no or invalid token)",
  4403: "forbidden for this agent",
};
// waits between attempts (ms); the last one repeats
const RETRY_DELAYS = [200, 400, 800, 1600, 3200, 5000];

export class Link {
  /**
   * @param {object} options
   * @param {string} options.login       the agent this page acts for
   * @param {() => number|null} options.resumeFrom  the last seq seen, or null for a fresh sync
   * @param {(message: object) => void} options.onMessage
   * @param {(state: string, detail: string) => void} options.onState
   *   state: "connecting" | "connected" | "reconnecting" | "disconnected"
   */
  constructor({ login, resumeFrom, onMessage, onState }) {
    this.login = login;
    this.resumeFrom = resumeFrom;
    this.onMessage = onMessage;
    this.onState = onState;
    this.socket = null;
    this.failures = 0;
    this.state = "connecting";
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ agent: this.login });
    const seq = this.resumeFrom();
    if (seq !== null) query.set("resumeFrom", String(seq));
    return `${scheme}//${location.host}/ws?${query}`;
  }

  open() {
    // the token (from the URL fragment or the paste form: auth.js) rides in a subprotocol,
    // never in the URL
    const socket = new WebSocket(this.url(), window.ctibridgeAuth?.protocols() ?? []);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.failures = 0;
      this.setState("connected", "");
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        message = { topic: "System", subtopic: "Error", message: {
          type: "INVALID_JSON", code: String(event.data).slice(0, 200),
          text: "The hub sent a frame that is not JSON.", request: null } };
      }
      this.onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      const final = FINAL_CLOSE[event.code];
      if (final) {
        this.setState("disconnected", `${final} (close ${event.code})`);
        if (event.code === 4401 && window.ctibridgeAuth) {
          // no token, or it expired: ask for one, then connect again (and resume)
          window.ctibridgeAuth.ask(`The hub refused the token: ${event.reason || final}.`, () => {
            this.failures = 0;
            this.open();
          });
        }
        return;
      }
      const delay = RETRY_DELAYS[Math.min(this.failures, RETRY_DELAYS.length - 1)];
      this.failures += 1;
      const why = event.code === 1006 ? "connection lost" : `closed ${event.code}`;
      this.setState("reconnecting", `${why}; attempt ${this.failures}`);
      setTimeout(() => this.open(), delay);
    });
  }

  setState(state, detail) {
    this.state = state;
    this.onState(state, detail);
  }

  /** Close for good (no reconnect). */
  close() {
    const socket = this.socket;
    this.socket = null;
    socket?.close();
  }

  /** Send one request; false (nothing sent) while not connected. */
  send(message) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }
}
