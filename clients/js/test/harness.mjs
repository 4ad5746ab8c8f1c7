// Shared by the client's tests: a real pubsub_server process on a free loopback port,
// clients that are closed after each test, HS256 tokens, and waits with deadlines.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import WebSocket from 'ws';

import { SwitchboardClient } from '../switchboard.js';

// Every wait is bounded by this; generous, since the machine may be busy.
export const STEP_MS = 10_000;

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function serverPath() {
  const path = process.env.SWITCHBOARD_PUBSUB_SERVER_PATH;
  if (!path) {
    throw new Error('set SWITCHBOARD_PUBSUB_SERVER_PATH to the pubsub_server binary ' +
      '(CTest does; by hand: cmake --build BUILD --target pubsub_server)');
  }
  return path;
}

/**
 * Starts pubsub_server with `args` on `port` (0: a free one) and resolves once it
 * listens, with { url (ws://.../ws), port, pid, stop(signal), pause(), resume() }.
 */
export function startServer(args = [], { port = 0 } = {}) {
  const child = spawn(serverPath(), ['--bind', '127.0.0.1', '--port', String(port), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    running.delete(child);
    resolve({ code, signal });
  }));
  const server = {
    pid: child.pid,
    exited,
    /** Sends `signal` (default SIGKILL) and resolves when the process is gone. */
    async stop(signal = 'SIGKILL') {
      if (running.has(child)) child.kill(signal);
      return exited;
    },
    /** Freezes the process: its sockets stay open but nothing is answered. */
    pause() { child.kill('SIGSTOP'); },
    resume() { child.kill('SIGCONT'); },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pubsub_server printed no address within ${STEP_MS} ms\n${stderr}`));
    }, STEP_MS);
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      stdout += chunk;
      const found = /ws:\/\/127\.0\.0\.1:(\d+)(\/\S*)/.exec(stdout);
      if (!found || server.url) return;
      clearTimeout(timer);
      server.port = Number(found[1]);
      server.url = `ws://127.0.0.1:${found[1]}${found[2]}`;
      resolve(server);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      if (!server.url) reject(new Error(`pubsub_server exited (${code ?? signal}) before listening\n${stderr}`));
    });
  });
}

/**
 * The `ws` WebSocket, recording each socket it makes in `sockets`, so that a test can
 * cut a client's connection from underneath it (`sockets.at(-1).terminate()`).
 */
export function trackedWebSocket() {
  const sockets = [];
  class TrackedWebSocket extends WebSocket {
    constructor(...args) {
      super(...args);
      sockets.push(this);
    }
  }
  return { WebSocket: TrackedWebSocket, sockets };
}

const clients = new Set();

/** A client with the `ws` WebSocket, closed by closeClients(). */
export function makeClient(url, options = {}) {
  const client = new SwitchboardClient(url, { WebSocket, ...options });
  clients.add(client);
  return client;
}

/** makeClient, then connect(); resolves with the client once welcomed. */
export async function connectClient(url, options = {}) {
  const client = makeClient(url, options);
  await withDeadline(client.connect(), `${options.token ?? 'client'} to connect`);
  return client;
}

/** Closes every client made since the last call (for afterEach). */
export async function closeClients() {
  const all = [...clients];
  clients.clear();
  await Promise.all(all.map((client) => client.close()));
}

/** Resolves as `promise` does, or rejects when it takes longer than `ms`. */
export function withDeadline(promise, what, ms = STEP_MS) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Resolves with the next `name` event of `client` that satisfies `accept`. */
export function nextEvent(client, name, accept = () => true, ms = STEP_MS) {
  let off;
  const seen = new Promise((resolve) => {
    off = client.on(name, (value) => {
      if (!accept(value)) return;
      off();
      resolve(value);
    });
  });
  return withDeadline(seen, `event '${name}'`, ms).finally(() => off());
}

/** Polls `condition` until it holds; rejects after `ms`. */
export async function until(condition, what, ms = STEP_MS) {
  const giveUpAt = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > giveUpAt) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Records every value of event `name` in the returned array. */
export function record(client, name) {
  const values = [];
  client.on(name, (value) => values.push(value));
  return values;
}

/** A promise with its resolve function, to hold a step until the test releases it. */
export function gate() {
  let open;
  const opened = new Promise((resolve) => { open = resolve; });
  return { opened, open };
}

function base64url(data) {
  return Buffer.from(data).toString('base64url');
}

/** An HS256 JWT for `claims`, keyed with `secret`'s UTF-8 bytes. */
export function signJwt(secret, claims) {
  const signed = `${base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}
