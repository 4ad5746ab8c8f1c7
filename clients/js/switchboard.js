// switchboard.js: a client for the switchboard pub/sub protocol, version 1
// (docs/protocol.md), for browsers and Node. It has no dependencies: it needs a
// WebSocket constructor (the global one, or one passed in options) and nothing else.

/** The subprotocol this client offers; the server selects it. */
export const SUBPROTOCOL = 'switchboard.v1';

const BINARY_PUBLISH = 0x01;
const BINARY_DELIVERY = 0x02;
const MAX_TOPIC_BYTES = 255;
// Topics per subscribe when restoring: the server's default max_topics_per_request.
const RESTORE_BATCH_TOPICS = 100;
// setTimeout fires at once for delays past a signed 32-bit millisecond count.
const MAX_TIMER_MS = 2 ** 31 - 1;

const DEFAULTS = Object.freeze({
  inBandAuth: false,
  requestTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  reconnect: true,
  backoffBaseMs: 500,
  backoffCapMs: 30_000,
  maxReconnectAttempts: Infinity,
  refreshBeforeExpiryMs: 30_000,
});

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/**
 * A failed request or connection. `code` is the protocol's error code (`forbidden`,
 * `bad_request`, `unauthorized`, ...) when the server answered `error`, or one of the
 * client's own: `timeout` (no reply in time), `disconnected` (the connection dropped
 * while the request was in flight), `closed` (the client was closed or gave up).
 */
export class SwitchboardError extends Error {
  constructor(code, message, options = {}) {
    super(message);
    this.name = 'SwitchboardError';
    this.code = code;
    if (options.id !== undefined) this.id = options.id;
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

/**
 * True when `topic` (an exact topic) matches subscription `pattern`, with NATS
 * wildcards: `*` is exactly one token, a final `>` one or more.
 */
export function topicMatches(pattern, topic) {
  const want = pattern.split('.');
  const got = topic.split('.');
  for (let i = 0; i < want.length; i += 1) {
    if (want[i] === '>') return got.length > i;
    if (i >= got.length) return false;
    if (want[i] !== '*' && want[i] !== got[i]) return false;
  }
  return want.length === got.length;
}

/**
 * The binary publish frame: `0x01 | u8 topic length | topic | payload`.
 * Throws a SwitchboardError `bad_request` when the topic is not 1 to 255 bytes.
 */
export function encodeBinaryPublish(topic, payload) {
  const topicBytes = textEncoder.encode(topic);
  if (topicBytes.length < 1 || topicBytes.length > MAX_TOPIC_BYTES)
    throw new SwitchboardError('bad_request', 'a topic is 1 to 255 bytes');
  const body = toBytes(payload);
  const frame = new Uint8Array(2 + topicBytes.length + body.length);
  frame[0] = BINARY_PUBLISH;
  frame[1] = topicBytes.length;
  frame.set(topicBytes, 2);
  frame.set(body, 2 + topicBytes.length);
  return frame;
}

/**
 * Parses a binary delivery `0x02 | u8 topic length | topic | u64 LE seq | payload`
 * into `{topic, seq, data}`, `data` a Uint8Array over the payload. Throws on anything
 * else.
 */
export function decodeBinaryDelivery(frame) {
  const bytes = toBytes(frame);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 2 || bytes[0] !== BINARY_DELIVERY) throw new Error('not a binary delivery');
  const topicLength = bytes[1];
  const seqOffset = 2 + topicLength;
  if (bytes.length < seqOffset + 8) throw new Error('truncated binary delivery');
  const topic = textDecoder.decode(bytes.subarray(2, seqOffset));
  // Two 32-bit halves keep seq a plain number; it is exact up to 2^53.
  const seq = view.getUint32(seqOffset, true) + view.getUint32(seqOffset + 4, true) * 2 ** 32;
  return { topic, seq, data: bytes.subarray(seqOffset + 8) };
}

/**
 * The `exp` claim of a JWT as milliseconds since the Unix epoch, read without any
 * verification (only to know when to refresh); undefined when `token` is not a JWT
 * or has no numeric `exp`.
 */
export function tokenExpiresAt(token) {
  if (typeof token !== 'string') return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(textDecoder.decode(base64ToBytes(parts[1], true)));
    return typeof claims?.exp === 'number' ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function isPattern(topic) {
  return topic.split('.').some((token) => token === '*' || token === '>');
}

function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('binary data must be an ArrayBuffer or an ArrayBufferView');
}

function isBinary(data) {
  return data instanceof ArrayBuffer || ArrayBuffer.isView(data);
}

function base64ToBytes(text, urlAlphabet = false) {
  let standard = urlAlphabet ? text.replace(/-/g, '+').replace(/_/g, '/') : text;
  while (standard.length % 4 !== 0) standard += '=';
  const binary = atob(standard);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

// History answers carry binary publishes as base64; give them back as bytes, like a
// live binary delivery.
function decodeStoredMessage(stored) {
  if (stored?.encoding !== 'base64' || typeof stored.data !== 'string') return stored;
  const { encoding, ...rest } = stored;
  return { ...rest, data: base64ToBytes(stored.data), binary: true };
}

function withTokenParameter(url, token) {
  const target = new URL(url);
  // encodeURIComponent, not URLSearchParams: the server reads `+` as a space.
  const parameter = `token=${encodeURIComponent(token)}`;
  target.search = target.search.length > 1 ? `${target.search}&${parameter}` : `?${parameter}`;
  return target.toString();
}

/**
 * A switchboard connection that reconnects by itself and keeps its subscriptions,
 * recovering on each reconnect the messages it missed while the store still holds
 * them. Create it, register listeners with `on`, then call `connect()`.
 *
 * Events (`on(name, listener)`):
 * - `open` (welcome): a connection is ready, `welcome` is `{connection, user, server,
 *   heartbeat_ms}`; after a reconnect, subscriptions are being restored.
 * - `close` ({code, reason, willReconnect}): the socket closed.
 * - `reconnecting` ({attempt, delayMs}): the next attempt starts after `delayMs`.
 * - `reconnectFailed` ({attempts}): `maxReconnectAttempts` attempts in a row failed;
 *   the client is closed.
 * - `recoveryFailed` ({topic, since, seq, epoch}): after a reconnect the server could
 *   not replay what was missed on `topic` since `since` ({seq, epoch}); the stream is
 *   now at `seq`/`epoch`. Reload that topic's state from its source.
 * - `message` (message): every delivered message, after the subscription callbacks.
 * - `direct` ({from, data, ts}): a direct message to this connection's user.
 * - `tokenRefreshed` ({expiresAt}): the server accepted a fresh token (in-band `auth`).
 * - `error` (Error): a socket error, an `error` frame that answers no pending request
 *   (a failed binary publish, say), a failed token refresh or subscription restore.
 */
export class SwitchboardClient {
  #url;
  #options;
  #WebSocket;
  #listeners = new Map();
  #state = 'idle';
  #socket = null;
  #welcome = null;
  #token = undefined;
  #nextId = 1;
  // Requests sent on the current socket, by id.
  #inFlight = new Map();
  // Requests waiting for a connection, in the order they were made.
  #waiting = [];
  // Subscription pattern (or exact topic) -> Set of handlers.
  #subscriptions = new Map();
  // Exact topic -> {seq, epoch} of the last message seen; survives reconnects.
  #positions = new Map();
  // Reconnect attempts since the last welcome.
  #retries = 0;
  #reconnectTimer = null;
  #connectTimer = null;
  #refreshTimer = null;
  #authRefused = false;
  #connectWaiters = [];

  /**
   * @param url WebSocket URL of the server, e.g. `wss://example.com/ws`.
   * @param options see switchboard.d.ts (`SwitchboardOptions`).
   */
  constructor(url, options = {}) {
    this.#url = String(url);
    this.#options = { ...DEFAULTS, ...options };
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WebSocket !== 'function')
      throw new TypeError('no WebSocket constructor: pass options.WebSocket (for example the ws package)');
    if (options.getToken !== undefined && typeof options.getToken !== 'function')
      throw new TypeError('options.getToken must be a function');
  }

  /** 'idle', 'connecting', 'open', 'reconnecting' or 'closed'. */
  get state() {
    return this.#state;
  }

  /** The current connection's welcome, or null while not connected. */
  get welcome() {
    return this.#welcome;
  }

  /**
   * Starts connecting; resolves with the first `welcome`. Failed attempts are retried
   * with backoff; rejects with a SwitchboardError `closed` when the client gives up
   * or is closed first.
   */
  connect() {
    if (this.#state === 'open') return Promise.resolve(this.#welcome);
    if (this.#state === 'closed') return Promise.reject(new SwitchboardError('closed', 'the client is closed'));
    const ready = new Promise((resolve, reject) => this.#connectWaiters.push({ resolve, reject }));
    if (this.#state === 'idle') {
      this.#state = 'connecting';
      this.#openSocket();
    }
    return ready;
  }

  /**
   * Closes the connection and stops reconnecting. Requests not yet answered are
   * rejected with `closed`. Resolves when the socket has closed.
   */
  close(code = 1000, reason = '') {
    if (this.#state === 'closed') return Promise.resolve();
    this.#state = 'closed';
    this.#clearTimers();
    const socket = this.#socket;
    const closed = new SwitchboardError('closed', 'the client was closed');
    this.#failEverything(closed);
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = socket.onclose;
      socket.onclose = (event) => {
        previous?.call(socket, event);
        resolve();
      };
      try {
        socket.close(code, reason);
      } catch {
        this.#socketClosed(socket, 1006, 'closed before it opened');
        resolve();
      }
    });
  }

  /** Registers `listener` for event `name`; returns a function that removes it. */
  on(name, listener) {
    if (!this.#listeners.has(name)) this.#listeners.set(name, new Set());
    this.#listeners.get(name).add(listener);
    return () => this.off(name, listener);
  }

  /** Removes a listener registered with `on`. */
  off(name, listener) {
    this.#listeners.get(name)?.delete(listener);
  }

  /**
   * Subscribes `callback` to one topic or pattern, or to several (an array). Every
   * message on a matching topic is passed to it, also after reconnects. Resolves with
   * a Subscription once the server acknowledged (its `topics` holds the ack's `seq`
   * and `epoch` per topic); rejects with the server's code, and then nothing was
   * subscribed. `options.since` ({topic: {seq, epoch}}) asks for the messages after
   * a position kept from earlier (for example across a page reload).
   */
  subscribe(topics, callback, options = {}) {
    const list = Array.isArray(topics) ? [...topics] : [topics];
    if (typeof callback !== 'function') return Promise.reject(new TypeError('subscribe needs a callback'));
    if (list.length === 0 || list.some((t) => typeof t !== 'string'))
      return Promise.reject(new TypeError('subscribe needs one or more topic strings'));
    const handler = { callback, confirmed: false };
    // Registered now, so that a replay (which precedes the ack) reaches the callback.
    for (const topic of list) {
      if (!this.#subscriptions.has(topic)) this.#subscriptions.set(topic, new Set());
      this.#subscriptions.get(topic).add(handler);
    }
    const frame = { type: 'subscribe', topics: list };
    if (options.since) frame.since = options.since;
    return this.#request(frame, options).then(
      (data) => {
        handler.confirmed = true;
        this.#applySubscribeAck(data, options.since ?? {});
        return {
          topics: data?.topics ?? {},
          unsubscribe: () => this.#removeHandler(list, handler),
        };
      },
      (error) => {
        this.#removeHandler(list, handler, { tellServer: false });
        throw error;
      },
    );
  }

  /**
   * Drops every callback of the given topics or patterns (the same strings they were
   * subscribed with) and unsubscribes on the server. Resolves when the server
   * acknowledged, or at once while disconnected.
   */
  unsubscribe(topics, options = {}) {
    const list = Array.isArray(topics) ? topics : [topics];
    for (const topic of list) this.#forgetTopic(topic);
    if (this.#state !== 'open') return Promise.resolve();
    return this.#request({ type: 'unsubscribe', topics: list }, options).then(() => undefined);
  }

  /**
   * Publishes `data` on exact `topic`. JSON-serializable data resolves with the ack
   * `{seq, recipients}`. An ArrayBuffer or typed array travels in the binary envelope,
   * which has no acknowledgement: the promise resolves once the frame is handed to
   * the socket, and a refusal arrives as an `error` event.
   */
  publish(topic, data, options = {}) {
    if (isBinary(data)) {
      let frame;
      try {
        frame = encodeBinaryPublish(topic, data);
      } catch (error) {
        return Promise.reject(error);
      }
      return this.#request(frame, options);
    }
    if (data === undefined) return Promise.reject(new TypeError('publish needs data'));
    return this.#request({ type: 'publish', topic, data }, options);
  }

  /** Sends `data` to every connection of user `to`; resolves with `{delivered, stored}`. */
  direct(to, data, options = {}) {
    if (data === undefined) return Promise.reject(new TypeError('direct needs data'));
    return this.#request({ type: 'direct', to, data }, options);
  }

  /** Runs server command `name`; resolves with its result data. */
  command(name, params = {}, options = {}) {
    return this.#request({ type: 'command', name, params }, options);
  }

  /**
   * Stored messages of exact `topic`: resolves with `{messages, seq, epoch, more?}`.
   * `options.since` gives the oldest messages after that seq, otherwise the latest;
   * `options.limit` bounds the count. Binary publishes come back with `data` as a
   * Uint8Array and `binary: true`.
   */
  history(topic, options = {}) {
    const frame = { type: 'history', topic };
    if (options.since !== undefined) frame.since = options.since;
    if (options.limit !== undefined) frame.limit = options.limit;
    return this.#request(frame, options).then((data) => ({
      ...data,
      messages: (data?.messages ?? []).map(decodeStoredMessage),
    }));
  }

  /** Who a publish on exact `topic` would reach now: resolves with `{users, connections}`. */
  presence(topic, options = {}) {
    return this.#request({ type: 'presence', topic }, options);
  }

  /** An application round trip (`ping` / `pong`); resolves with the time it took in ms. */
  ping(options = {}) {
    const started = Date.now();
    return this.#request({ type: 'ping' }, options).then(() => Date.now() - started);
  }

  /**
   * Sends any request frame (an application type, say) with a fresh `id`; resolves
   * with the `data` of its `ack` or `result`.
   */
  request(frame, options = {}) {
    if (frame === null || typeof frame !== 'object' || typeof frame.type !== 'string')
      return Promise.reject(new TypeError('a request is an object with a string type'));
    return this.#request({ ...frame }, options);
  }

  /**
   * Sends `token` (by default a fresh one from `getToken`) as in-band `auth` on the
   * current connection, which then expires with the new token; reconnects use it too
   * when there is no `getToken`. With `getToken`, the client does this by itself
   * before the current token's `exp`. Resolves when the server accepted; rejects with
   * `forbidden` (another user's token) or `unauthorized` (an invalid one), and then
   * the connection keeps its old token.
   */
  async refreshToken(token = undefined, options = {}) {
    if (token === undefined && !this.#options.getToken)
      throw new TypeError('refreshToken needs a token, or options.getToken');
    const socket = this.#socket;
    if (token === undefined) token = await this.#options.getToken();
    if (this.#state !== 'open' || socket !== this.#socket)
      throw new SwitchboardError('disconnected', 'the connection changed while fetching a token');
    await this.#send({ type: 'auth', token }, options);
    this.#token = token;
    this.#scheduleRefresh();
    this.#emit('tokenRefreshed', { expiresAt: tokenExpiresAt(token) });
  }

  // --- connection ---------------------------------------------------------------

  async #openSocket() {
    this.#reconnectTimer = null;
    let token;
    try {
      // Without a token source, the latest token (refreshed by hand, perhaps) is reused.
      token = this.#options.getToken ? await this.#options.getToken() : this.#token ?? this.#options.token;
    } catch (error) {
      if (this.#state === 'closed') return;
      this.#emit('error', new SwitchboardError('unauthorized', 'getToken failed', { cause: error }));
      if (this.#options.reconnect) this.#scheduleReconnect();
      else this.#giveUp(new SwitchboardError('closed', 'getToken failed', { cause: error }));
      return;
    }
    if (this.#state === 'closed') return;
    this.#token = token;
    this.#authRefused = false;
    const withToken = token !== undefined && token !== null && token !== '' && !this.#options.inBandAuth;
    let socket;
    try {
      socket = new this.#WebSocket(withToken ? withTokenParameter(this.#url, token) : this.#url, [SUBPROTOCOL]);
    } catch (error) {
      // A malformed URL will not fix itself.
      this.#emit('error', error);
      this.#giveUp(new SwitchboardError('closed', `cannot connect: ${error.message}`, { cause: error }));
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.#socket = socket;
    socket.onopen = () => this.#socketOpened(socket);
    socket.onmessage = (event) => this.#receive(socket, event.data);
    socket.onerror = (event) => {
      if (socket !== this.#socket || this.#state === 'closed') return;
      const detail = event?.message ?? event?.error?.message;
      this.#emit('error', new SwitchboardError('socket_error', detail ? `WebSocket error: ${detail}` : 'WebSocket error'));
    };
    socket.onclose = (event) => this.#socketClosed(socket, event.code, event.reason);
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null;
      if (socket !== this.#socket || this.#welcome) return;
      this.#emit('error', new SwitchboardError('timeout', 'no welcome within connectTimeoutMs'));
      this.#abandon(socket, 4000, 'no welcome in time');
    }, this.#options.connectTimeoutMs);
  }

  #socketOpened(socket) {
    if (socket !== this.#socket || !this.#options.inBandAuth) return;
    // The welcome follows the auth ack; until then every other request is refused.
    this.#send({ type: 'auth', token: this.#token }, {}).catch((error) => {
      if (socket !== this.#socket || error.code === 'disconnected' || error.code === 'closed') return;
      this.#authRefused = true;
      this.#emit('error', error);
      this.#abandon(socket, 1000, 'auth refused');
    });
  }

  // Closes a socket that is no longer wanted and handles it as closed now, without
  // waiting for its close handshake.
  #abandon(socket, code, reason) {
    const noop = () => {};
    // Handlers stay functions: the ws package throws an 'error' nobody listens to.
    socket.onopen = noop;
    socket.onmessage = noop;
    socket.onerror = noop;
    socket.onclose = noop;
    try {
      socket.close(code, reason);
    } catch {
      // Already closing.
    }
    this.#socketClosed(socket, 1006, reason);
  }

  #socketClosed(socket, code, reason) {
    if (socket !== this.#socket) return;
    this.#socket = null;
    this.#welcome = null;
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#refreshTimer);
    this.#connectTimer = null;
    this.#refreshTimer = null;
    const dropped = new SwitchboardError('disconnected', `the connection closed (${code})`);
    for (const request of [...this.#inFlight.values()]) this.#settle(request, dropped);

    if (this.#state === 'closed') {
      this.#emit('close', { code, reason: reason ?? '', willReconnect: false });
      return;
    }
    // 1008 (policy: token expired, too many connections) or a refused in-band auth
    // repeat with the same credential; only a token source can change the outcome.
    const hopeless = (code === 1008 || this.#authRefused) && !this.#options.getToken;
    const retry = this.#options.reconnect && !hopeless;
    const willReconnect = retry && this.#retries < this.#options.maxReconnectAttempts;
    // Listeners see the state the client is in from now on.
    this.#state = willReconnect ? 'reconnecting' : 'closed';
    this.#emit('close', { code, reason: reason ?? '', willReconnect });
    if (willReconnect) {
      if (this.#state === 'reconnecting') this.#scheduleReconnect();  // else a listener closed the client
    } else if (retry) {
      this.#emit('reconnectFailed', { attempts: this.#retries });
      this.#giveUp(new SwitchboardError('closed', `gave up after ${this.#retries} failed reconnect attempts`));
    } else {
      this.#giveUp(new SwitchboardError('closed', `the connection closed (${code}) and will not be retried`));
    }
  }

  #scheduleReconnect() {
    if (this.#retries >= this.#options.maxReconnectAttempts) {
      this.#emit('reconnectFailed', { attempts: this.#retries });
      this.#giveUp(new SwitchboardError('closed', `gave up after ${this.#retries} failed reconnect attempts`));
      return;
    }
    this.#retries += 1;
    const attempt = this.#retries;
    // Exponential backoff with full jitter: a uniform delay below the growing ceiling,
    // so that clients dropped together do not come back together.
    const ceiling = Math.min(this.#options.backoffCapMs, this.#options.backoffBaseMs * 2 ** (attempt - 1));
    const delayMs = Math.floor(Math.random() * ceiling);
    this.#state = 'reconnecting';
    this.#emit('reconnecting', { attempt, delayMs });
    if (this.#state !== 'reconnecting') return;  // a listener closed the client
    this.#reconnectTimer = setTimeout(() => this.#openSocket(), delayMs);
  }

  #giveUp(reason) {
    this.#state = 'closed';
    this.#clearTimers();
    this.#failEverything(reason);
  }

  #failEverything(reason) {
    for (const request of [...this.#inFlight.values(), ...this.#waiting]) this.#settle(request, reason);
    for (const waiter of this.#connectWaiters.splice(0)) waiter.reject(reason);
  }

  #clearTimers() {
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#refreshTimer);
    this.#reconnectTimer = null;
    this.#connectTimer = null;
    this.#refreshTimer = null;
  }

  #welcomed(socket, frame) {
    if (socket !== this.#socket) return;
    clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    this.#retries = 0;
    this.#welcome = {
      connection: frame.connection,
      user: frame.user ?? null,
      server: frame.server,
      heartbeat_ms: frame.heartbeat_ms,
    };
    this.#state = 'open';
    this.#restoreSubscriptions();
    for (const request of this.#waiting.splice(0)) this.#transmit(request);
    this.#scheduleRefresh();
    this.#emit('open', this.#welcome);
    for (const waiter of this.#connectWaiters.splice(0)) waiter.resolve(this.#welcome);
  }

  // --- subscriptions and recovery -------------------------------------------------

  // Re-subscribes what was confirmed before, asking for every exact topic's messages
  // after the last one seen. Subscriptions still awaiting their first ack are sent by
  // their own request, so that a refused one cannot take the others down with it.
  #restoreSubscriptions() {
    const exact = [];
    const patterns = [];
    for (const [topic, handlers] of this.#subscriptions) {
      if (![...handlers].some((h) => h.confirmed)) continue;
      (isPattern(topic) ? patterns : exact).push(topic);
    }
    // Exact topics first: the server handles requests in order, so no pattern brings
    // a live message of a topic before that topic's replay and ack are in.
    const topics = [...exact, ...patterns];
    for (let first = 0; first < topics.length; first += RESTORE_BATCH_TOPICS) {
      const batch = topics.slice(first, first + RESTORE_BATCH_TOPICS);
      const since = {};
      for (const topic of batch) {
        const position = this.#positions.get(topic);
        if (position) since[topic] = { seq: position.seq, epoch: position.epoch };
      }
      const frame = { type: 'subscribe', topics: batch };
      if (Object.keys(since).length > 0) frame.since = since;
      this.#send(frame, {}).then(
        (data) => this.#applySubscribeAck(data, since),
        (error) => {
          if (error.code === 'disconnected' || error.code === 'closed') return;
          this.#emit('error', new SwitchboardError(error.code, `restoring subscriptions failed: ${error.message}`,
            { cause: error }));
        },
      );
    }
  }

  #applySubscribeAck(data, since) {
    const topics = data?.topics ?? {};
    for (const [topic, position] of Object.entries(topics)) {
      // Patterns have the empty epoch: seq belongs to published topics only.
      if (!position || position.epoch === '' || !this.#subscriptions.has(topic)) continue;
      const asked = since[topic];
      if (asked !== undefined && position.recovered === false) {
        const from = typeof asked === 'number' ? { seq: asked } : asked;
        this.#emit('recoveryFailed', { topic, since: from, seq: position.seq, epoch: position.epoch });
      }
      // Messages up to the ack's seq have arrived on this connection (replayed ones
      // precede the ack), or are lost; either way new ones start after it.
      this.#positions.set(topic, { seq: position.seq, epoch: position.epoch });
    }
  }

  #removeHandler(topics, handler, { tellServer = true } = {}) {
    const emptied = [];
    for (const topic of topics) {
      const handlers = this.#subscriptions.get(topic);
      if (!handlers?.delete(handler) || handlers.size > 0) continue;
      this.#forgetTopic(topic);
      emptied.push(topic);
    }
    if (!tellServer || emptied.length === 0 || this.#state !== 'open') return Promise.resolve();
    return this.#request({ type: 'unsubscribe', topics: emptied }, {}).then(() => undefined);
  }

  #forgetTopic(topic) {
    this.#subscriptions.delete(topic);
    this.#positions.delete(topic);
  }

  #deliver(message) {
    const position = this.#positions.get(message.topic);
    if (position) {
      if (message.seq <= position.seq) return;  // seen before this reconnect
      position.seq = message.seq;
    }
    for (const [pattern, handlers] of this.#subscriptions) {
      if (pattern !== message.topic && !topicMatches(pattern, message.topic)) continue;
      for (const handler of [...handlers]) this.#call(handler.callback, message);
    }
    this.#emit('message', message);
  }

  // --- token refresh ------------------------------------------------------------

  #scheduleRefresh() {
    clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
    if (!this.#options.getToken || this.#state !== 'open') return;
    const expiresAt = tokenExpiresAt(this.#token);
    if (expiresAt === undefined) return;
    const remaining = expiresAt - Date.now();
    if (remaining <= 0) return;  // the server closes with 1008; the reconnect fetches a token
    const margin = this.#options.refreshBeforeExpiryMs;
    // A token that lives less than twice the margin is refreshed halfway, so that a
    // short-lived token source never makes the client refresh in a tight loop.
    const due = remaining > 2 * margin ? remaining - margin : remaining / 2;
    const delay = Math.min(due, MAX_TIMER_MS);
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = null;
      if (delay < due) {
        this.#scheduleRefresh();
        return;
      }
      this.refreshToken().catch((error) => {
        if (error?.code === 'disconnected' || error?.code === 'closed') return;
        this.#emit('error', new SwitchboardError(error?.code ?? 'unauthorized',
          `token refresh failed: ${error?.message ?? error}`, { cause: error }));
        this.#scheduleRefresh();  // again halfway to the expiry, while there is time
      });
    }, delay);
  }

  // --- requests -----------------------------------------------------------------

  // A request that waits for a connection if there is none yet.
  #request(frame, options) {
    return this.#enqueue(frame, options, false);
  }

  // A request for the current connection only (auth, restoring subscriptions).
  #send(frame, options) {
    return this.#enqueue(frame, options, true);
  }

  #enqueue(frame, options, currentConnectionOnly) {
    if (this.#state === 'closed') return Promise.reject(new SwitchboardError('closed', 'the client is closed'));
    return new Promise((resolve, reject) => {
      const request = { frame, resolve, reject, id: undefined, timer: null };
      const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs;
      request.timer = setTimeout(() => {
        this.#settle(request, new SwitchboardError('timeout', `no reply within ${timeoutMs} ms`, { id: request.id }));
      }, timeoutMs);
      if (currentConnectionOnly || this.#state === 'open') this.#transmit(request);
      else this.#waiting.push(request);
    });
  }

  #transmit(request) {
    const socket = this.#socket;
    if (!socket) {
      this.#settle(request, new SwitchboardError('disconnected', 'not connected'));
      return;
    }
    let payload;
    if (request.frame instanceof Uint8Array) {
      payload = request.frame;  // binary publish: no id, so no reply to wait for
    } else {
      request.id = this.#nextId;
      this.#nextId += 1;
      this.#inFlight.set(request.id, request);
      payload = JSON.stringify({ ...request.frame, id: request.id });
    }
    try {
      socket.send(payload);
    } catch (error) {
      this.#settle(request, new SwitchboardError('disconnected', `send failed: ${error.message}`, { cause: error }));
      return;
    }
    if (request.id === undefined) this.#settle(request, null, undefined);
  }

  // Resolves (error null) or rejects a request once, and forgets it.
  #settle(request, error, value) {
    if (request.settled) return;
    request.settled = true;
    clearTimeout(request.timer);
    if (request.id !== undefined) this.#inFlight.delete(request.id);
    const waitingAt = this.#waiting.indexOf(request);
    if (waitingAt >= 0) this.#waiting.splice(waitingAt, 1);
    if (error) request.reject(error);
    else request.resolve(value);
  }

  // --- incoming frames ------------------------------------------------------------

  #receive(socket, data) {
    if (socket !== this.#socket) return;
    if (typeof data !== 'string') {
      let delivery;
      try {
        delivery = decodeBinaryDelivery(data);
      } catch (error) {
        this.#emit('error', new SwitchboardError('bad_frame', `unreadable binary frame: ${error.message}`));
        return;
      }
      this.#deliver({ type: 'message', topic: delivery.topic, seq: delivery.seq, data: delivery.data, binary: true });
      return;
    }
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      this.#emit('error', new SwitchboardError('bad_frame', 'a server frame is not JSON'));
      return;
    }
    switch (frame?.type) {
      case 'welcome':
        this.#welcomed(socket, frame);
        break;
      case 'message':
        this.#deliver({
          type: 'message', topic: frame.topic, seq: frame.seq, from: frame.from ?? null, data: frame.data,
          ...(frame.ts !== undefined ? { ts: frame.ts } : {}),
        });
        break;
      case 'direct':
        this.#emit('direct', { from: frame.from ?? null, data: frame.data, ...(frame.ts !== undefined ? { ts: frame.ts } : {}) });
        break;
      case 'ack':
      case 'result':
      case 'pong': {
        const request = frame.id === undefined || frame.id === null ? undefined : this.#inFlight.get(frame.id);
        if (request) this.#settle(request, null, frame.data);
        break;
      }
      case 'error': {
        const request = frame.id === undefined || frame.id === null ? undefined : this.#inFlight.get(frame.id);
        const error = new SwitchboardError(frame.code, frame.message ?? frame.code, { id: frame.id ?? null });
        if (request) this.#settle(request, error);
        else this.#emit('error', error);
        break;
      }
      default:
        break;  // a newer server's frame type this client does not know
    }
  }

  // --- events -------------------------------------------------------------------

  #emit(name, value) {
    for (const listener of [...(this.#listeners.get(name) ?? [])]) this.#call(listener, value, name === 'error');
  }

  // A throwing callback must not break the client: its error becomes an `error`
  // event, or, when nobody listens for those (or an error listener threw), an
  // uncaught exception of its own task, as a throwing DOM event listener would.
  #call(callback, value, isErrorListener = false) {
    try {
      callback(value);
    } catch (error) {
      if (!isErrorListener && (this.#listeners.get('error')?.size ?? 0) > 0) this.#emit('error', error);
      else setTimeout(() => { throw error; }, 0);
    }
  }
}
