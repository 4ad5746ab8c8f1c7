// Shared by the Node interoperability clients: command line, check reporting, and a
// `ws` connection whose incoming frames are read one at a time with a deadline.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

// Every wait is bounded by this; generous, since the machine may be busy.
export const STEP_MS = 10_000;
export const SUBPROTOCOL = 'switchboard.v1';

/**
 * Parses `[--ca FILE] [extra options] SCHEME://HOST:PORT [PATH]`.
 * Returns { base, ca, values }: base is the WebSocket URL with the path (default
 * /ws), ca the PEM text to trust as the only CA (required for wss://, refused for
 * ws://), values the parsed options.
 */
export function parseCommandLine(usage, extraOptions = {}) {
  const fail = (message) => {
    console.error(`${message}\n${usage}`);
    process.exit(2);
  };
  let parsed;
  try {
    parsed = parseArgs({
      options: { ca: { type: 'string' }, ...extraOptions },
      allowPositionals: true,
    });
  } catch (e) {
    fail(e.message);
  }
  const { values, positionals } = parsed;
  if (positionals.length < 1 || positionals.length > 2) fail('expected a URL and an optional path');
  const url = positionals[0];
  const path = positionals[1] ?? '/ws';
  if (url.startsWith('wss://')) {
    if (!values.ca) fail('a wss:// URL needs --ca FILE');
  } else if (url.startsWith('ws://')) {
    if (values.ca) fail('--ca only applies to wss:// URLs');
  } else {
    fail('the URL must start with ws:// or wss://');
  }
  return {
    base: url.replace(/\/+$/, '') + path,
    ca: values.ca ? readFileSync(values.ca, 'utf8') : undefined,
    values,
  };
}

/** The installed version of npm package `name` (for the log). */
export function packageVersion(name) {
  return createRequire(import.meta.url)(`${name}/package.json`).version;
}

/** A step could not complete; the message says what was seen instead. */
export class Failure extends Error {}

/** Counts checks and prints one line each, then "N passed, M failed". */
export class Results {
  passed = 0;
  failed = 0;

  check(name, ok, detail = '') {
    if (ok) {
      this.passed += 1;
      console.log(`ok    ${name}`);
    } else {
      this.failed += 1;
      console.log(`FAIL  ${name}${detail ? `: ${detail}` : ''}`);
    }
    return Boolean(ok);
  }

  /** Runs `fn` (returning [ok, detail]); a throw counts as a failed check. */
  async step(name, fn) {
    let ok;
    let detail;
    try {
      [ok, detail] = await fn();
    } catch (e) {
      ok = false;
      detail = e instanceof Failure ? e.message : (e?.stack ?? String(e));
    }
    return this.check(name, ok, detail);
  }

  summary() {
    console.log(`${this.passed} passed, ${this.failed} failed`);
    return this.failed === 0 ? 0 : 1;
  }
}

/** Rejects with a Failure after `ms` unless `promise` settles first. */
export function withDeadline(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failure(`${what}: nothing within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** A `ws` connection whose frames are queued and read in order with `next()`. */
export class Connection {
  #ws;
  #frames = [];
  #waiters = [];
  #closed = null; // { code, reason } once the close event fired

  constructor(ws) {
    this.#ws = ws;
    ws.on('message', (data, isBinary) => {
      this.#frames.push({ data: Buffer.from(data), isBinary });
      this.#wake();
    });
    ws.on('close', (code, reason) => {
      this.#closed = { code, reason: reason.toString('utf8') };
      this.#wake();
    });
    // Errors also end in 'close'; without a listener `ws` would throw.
    ws.on('error', () => {});
  }

  /**
   * Opens `url`; resolves once open, rejects with a Failure naming the HTTP status
   * when the upgrade is refused. `options`: protocols, headers, ca.
   */
  static open(url, { protocols = [], headers = {}, ca } = {}) {
    const ws = new WebSocket(url, protocols, { headers, ca, handshakeTimeout: STEP_MS });
    const conn = new Connection(ws);
    const opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve(conn));
      ws.once('unexpected-response', (req, res) => {
        const error = new Failure(`upgrade refused with HTTP ${res.statusCode}`);
        error.status = res.statusCode;
        req.destroy();
        reject(error);
      });
      ws.once('error', (e) => reject(new Failure(`connection failed: ${e.message}`)));
    });
    return withDeadline(opened, STEP_MS + 1000, `opening ${url}`);
  }

  /** The subprotocol the server selected ('' when none). */
  get protocol() {
    return this.#ws.protocol;
  }

  #wake() {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** The next frame: { data: Buffer, isBinary }. */
  async next() {
    const deadline = Date.now() + STEP_MS;
    while (this.#frames.length === 0) {
      if (this.#closed) {
        throw new Failure(`connection closed: code=${this.#closed.code} reason=${JSON.stringify(this.#closed.reason)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Failure(`no frame within ${STEP_MS / 1000} s`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#frames.shift();
  }

  /** The next frame, which must be a text frame holding a JSON object: { raw, obj }. */
  async nextText() {
    const { data, isBinary } = await this.next();
    if (isBinary) throw new Failure(`expected a text frame, got binary ${data.toString('hex')}`);
    const raw = data.toString('utf8');
    let obj;
    try {
      obj = JSON.parse(raw);
    } catch {
      throw new Failure(`not JSON: ${raw}`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      throw new Failure(`not a JSON object: ${raw}`);
    }
    return { raw, obj };
  }

  /** The next frame, which must be a binary frame: its bytes. */
  async nextBinary() {
    const { data, isBinary } = await this.next();
    if (!isBinary) throw new Failure(`expected a binary frame, got text ${data.toString('utf8')}`);
    return data;
  }

  /** Sends a string as a text frame, a Buffer as a binary frame. */
  send(frame) {
    const sent = new Promise((resolve, reject) => {
      this.#ws.send(frame, { binary: Buffer.isBuffer(frame) }, (e) =>
        e ? reject(new Failure(`send failed: ${e.message}`)) : resolve());
    });
    return withDeadline(sent, STEP_MS, 'sending a frame');
  }

  /**
   * Starts the closing handshake with `code` and resolves with the { code, reason }
   * of the close frame the server answered with (1005 when it had no code).
   */
  async close(code, reason) {
    if (!this.#closed) {
      const closed = new Promise((resolve) => this.#ws.once('close', resolve));
      this.#ws.close(code, reason);
      await withDeadline(closed, STEP_MS, 'the closing handshake');
    }
    return this.#closed;
  }

  /** Drops the connection without a closing handshake (cleanup after a failure). */
  terminate() {
    this.#ws.terminate();
  }
}

/** Checks the protocol's `welcome` frame for `user`: [ok, raw]. */
export async function expectWelcome(conn, user) {
  const { raw, obj: w } = await conn.nextText();
  const ok = w.type === 'welcome'
    && typeof w.connection === 'string' && w.connection !== ''
    && w.user === user
    && typeof w.server === 'string' && w.server.startsWith('switchboard/')
    && Number.isInteger(w.heartbeat_ms);
  return [ok, raw];
}

/** Structural equality of JSON values (key order ignored). */
export function jsonEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

/** Client publish envelope: u8 0x01 | u8 topic_len | topic | payload. */
export function binaryPublish(topic, payload) {
  const t = Buffer.from(topic, 'utf8');
  return Buffer.concat([Buffer.from([0x01, t.length]), t, payload]);
}

/** Server delivery envelope: u8 0x02 | u8 topic_len | topic | u64 LE seq | payload. */
export function binaryDelivery(topic, seq, payload) {
  const t = Buffer.from(topic, 'utf8');
  const s = Buffer.alloc(8);
  s.writeBigUInt64LE(BigInt(seq));
  return Buffer.concat([Buffer.from([0x02, t.length]), t, s, payload]);
}
