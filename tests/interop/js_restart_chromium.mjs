// switchboard.js in a real browser across a server restart. Headless Chromium (driven
// by playwright-core) loads clients/js/switchboard.js from a local HTTP server; the
// page's client subscribes to a topic of pubsub_server while a Node `ws` publisher
// publishes numbered messages and waits for their acks. Mid-stream the server stops,
// and starts again on the same port and database; more messages are published while
// the page's client is still away, then more once it is back. Two cases:
//
//   SIGTERM  a clean stop: the SQLite store keeps the stream's epoch, so the client's
//            reconnect with `since` (seq and epoch) must recover what it missed: every
//            acknowledged message exactly once, in seq order, no gap; also on a second
//            topic whose first message was published while it was away (`since` 0).
//   SIGKILL  a crash: the stream comes back under a new epoch, so the client must emit
//            recoveryFailed (before any message of the new stream), deliver no
//            duplicate and nothing the server did not replay, and go on with the new
//            stream; history holds what it missed (acknowledged means committed).
//
// With --store memory every restart loses the stream (a new epoch), so both cases
// expect recoveryFailed and only the new stream in history.
//
// Usage: node js_restart_chromium.mjs [--chromium PATH] [--store sqlite|memory] PATH/TO/pubsub_server
//
// Every wait is for an event, with a generous deadline: nothing depends on how fast
// the machine is. Once the page's client has failed to reach the stopped server, its
// next attempt is held (its getToken waits) while the server starts again and the
// missed messages are published, so what it must recover does not depend on timing
// either.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { Connection, Failure, Results, SUBPROTOCOL, expectWelcome, packageVersion, withDeadline }
  from './interop_lib.mjs';

const usage = 'usage: node js_restart_chromium.mjs [--chromium PATH] [--store sqlite|memory] PATH/TO/pubsub_server';
const { values, positionals } = parseArgs({
  options: {
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    store: { type: 'string', default: 'sqlite' },
  },
  allowPositionals: true,
});
if (positionals.length !== 1 || !['sqlite', 'memory'].includes(values.store)) {
  console.error(usage);
  process.exit(2);
}
const serverPath = positionals[0];
const storeKind = values.store;

const LAUNCH_MS = 60_000;        // a cold browser start on a busy machine can be slow
const WAIT_MS = 30_000;          // for anything the page must see
const SERVER_START_MS = 15_000;  // for pubsub_server to announce its address
const PORT_RETRY_MS = 30_000;    // for the old port to be free again after a stop
const EXIT_MS = 20_000;          // for pubsub_server to exit after a signal

// The numbered messages: before the stop (the page has the first batch for sure, the
// second perhaps not), while the page is away, and after it is back.
const BEFORE_STOP_CONFIRMED = [1, 20];
const BEFORE_STOP_IN_FLIGHT = [21, 40];
const WHILE_AWAY = [41, 60];
const AFTER_RETURN = [61, 80];

const CLIENT_SCRIPT = new URL('../../clients/js/switchboard.js', import.meta.url);
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>switchboard.js across a server restart</title>
<script type="module">
  import { SwitchboardClient } from './switchboard.js';
  window.SwitchboardClient = SwitchboardClient;
  window.clientLoaded = true;
</script>
`;

const range = ([first, last]) => Array.from({ length: last - first + 1 }, (_, i) => first + i);

/**
 * Serves the page and the tree's switchboard.js (read afresh) on a free loopback port:
 * the file itself, not the copy built into pubsub_server for its dashboard, so that an
 * edit is tested without rebuilding the server.
 */
function servePage() {
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://127.0.0.1');
    if (pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(PAGE);
    } else if (pathname === '/switchboard.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(readFileSync(CLIENT_SCRIPT));
    } else {
      res.writeHead(pathname === '/favicon.ico' ? 204 : 404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// Servers still running when this process exits (a deadline cut a case short) go with it.
const runningServers = new Set();
process.on('exit', () => {
  for (const child of runningServers) child.kill('SIGKILL');
});

/**
 * Starts pubsub_server once on `port` (0: a free one); resolves with
 * {child, port, url, exited, output} once it announced its address, rejects with a
 * Failure (its stderr attached) when it exits first.
 */
function startServerOnce(storeArgs, port) {
  const child = spawn(serverPath,
    ['--bind', '127.0.0.1', '--port', String(port), '--rate-limit', '0', '--history', '1000', ...storeArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stderr.setEncoding('utf8').on('data', (d) => { output.stderr += d; });
  runningServers.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    runningServers.delete(child);
    resolve({ code, signal });
  }));
  const announced = new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d) => {
      output.stdout += d;
      const found = /ws:\/\/127\.0\.0\.1:(\d+)(\/\S*)/.exec(output.stdout);
      if (found) resolve({ child, output, exited, port: Number(found[1]), url: `ws://127.0.0.1:${found[1]}${found[2]}` });
    });
    exited.then(({ code, signal }) => {
      const error = new Failure(`pubsub_server exited (${code ?? signal}) before announcing its address: ${output.stderr}`);
      error.exitedEarly = true;
      reject(error);
    });
  });
  return withDeadline(announced, SERVER_START_MS, 'pubsub_server announcing its address').catch((e) => {
    child.kill('SIGKILL');
    throw e;
  });
}

/**
 * Starts pubsub_server on `port`. A stopped server's port may stay taken for a
 * moment: an early exit is retried until PORT_RETRY_MS have passed.
 */
async function startServer(storeArgs, port = 0) {
  const giveUpAt = Date.now() + PORT_RETRY_MS;
  for (;;) {
    try {
      return await startServerOnce(storeArgs, port);
    } catch (e) {
      if (!e.exitedEarly || port === 0 || Date.now() > giveUpAt) throw e;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Stops `server` with `signal`; resolves with {code, signal} once it is gone. */
async function stopServer(server, signal) {
  server.child.kill(signal);
  try {
    return await withDeadline(server.exited, EXIT_MS, `pubsub_server exiting after ${signal}`);
  } catch (e) {
    server.child.kill('SIGKILL');
    throw e;
  }
}

/** A Node `ws` connection as user `writer`, welcomed. */
async function openPublisher(url) {
  const conn = await Connection.open(`${url}?token=writer`, { protocols: [SUBPROTOCOL] });
  const [welcomed, raw] = await expectWelcome(conn, 'writer');
  if (!welcomed) throw new Failure(`the publisher got no welcome: ${raw}`);
  return conn;
}

/**
 * Publishes {n} on `topic` for every n in `span`, all at once, then waits for every
 * ack; resolves with a Map n -> seq.
 */
async function publishNumbered(conn, topic, span) {
  const numbers = range(span);
  for (const n of numbers) await conn.send(JSON.stringify({ type: 'publish', id: `p${n}`, topic, data: { n } }));
  const seqs = new Map();
  while (seqs.size < numbers.length) {
    const { raw, obj } = await conn.nextText();
    if (obj.type === 'error') throw new Failure(`a publish was refused: ${raw}`);
    if (obj.type === 'ack' && typeof obj.id === 'string' && obj.id.startsWith('p')) seqs.set(Number(obj.id.slice(1)), obj.data.seq);
  }
  return seqs;
}

/** Waits until `fn(arg)` is truthy in the page; returns its value. */
async function pageWait(page, what, fn, arg) {
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 50 });
    return await handle.jsonValue();
  } catch (e) {
    throw new Failure(`${what}: not within ${WAIT_MS / 1000} s (${e.message.split('\n')[0]})`);
  }
}

/**
 * The page's client: connects as `reader`, subscribes to `topic` and `quietTopic`,
 * records everything; resolves with both topics' {seq, epoch} from the acks.
 */
function startPageClient({ url, topic, quietTopic }) {
  const test = {
    received: [],          // {seq, n} per message delivered on `topic`
    quietReceived: [],     // {seq, data} per message delivered on `quietTopic`
    recoveryFailures: [],
    deliveredAtFailure: [], // messages delivered on `topic` when each recoveryFailed came
    errors: [],
    closes: 0,
    tokensGiven: 0,        // connection attempts that got past getToken
    opens: 0,
    held: null,            // while set, getToken waits: the client stays away
    hold() {
      let release;
      const promise = new Promise((resolve) => { release = resolve; });
      test.held = { promise, release };
    },
    release() {
      const { held } = test;
      test.held = null;
      held?.release();
    },
  };
  window.restartTest = test;
  const client = new window.SwitchboardClient(url, {
    // Quick retries while the server is down; the test never depends on their timing.
    backoffBaseMs: 100,
    backoffCapMs: 1000,
    getToken: async () => {
      while (test.held) await test.held.promise;
      test.tokensGiven += 1;
      return 'reader';
    },
  });
  test.client = client;
  client.on('open', () => { test.opens += 1; });
  client.on('close', () => { test.closes += 1; });
  client.on('recoveryFailed', (failure) => {
    test.recoveryFailures.push(failure);
    test.deliveredAtFailure.push(test.received.length);
  });
  client.on('error', (e) => test.errors.push(`${e.code ?? e.name}: ${e.message}`));
  return client.connect()
    .then(() => Promise.all([
      client.subscribe(topic, (m) => test.received.push({ seq: m.seq, n: m.data?.n })),
      client.subscribe(quietTopic, (m) => test.quietReceived.push({ seq: m.seq, data: m.data })),
    ]))
    .then(([main, quiet]) => ({ main: main.topics[topic], quiet: quiet.topics[quietTopic] }));
}

/** True when `list` is exactly `expected` (element by element). */
const sameList = (list, expected) => list.length === expected.length && list.every((v, i) => v === expected[i]);

/** Consecutive seqs from the first: "no gap". */
const consecutive = (seqs) => seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1);

async function runCase(r, browser, signal, log) {
  const label = `[${signal}]`;
  const topic = `restart.${signal.toLowerCase()}`;
  // Subscribed from the start, published to only while the page is away.
  const quietTopic = `${topic}.quiet`;
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-js-restart-'));
  const storeArgs = storeKind === 'sqlite' ? ['--store', 'sqlite', '--db', join(dir, 'db')] : ['--store', 'memory'];
  // Only a cleanly closed SQLite store keeps the stream's past under the same epoch.
  const expectRecovery = storeKind === 'sqlite' && signal === 'SIGTERM';
  const pageServer = await servePage();
  let server = await startServer(storeArgs);
  let page;
  const publishers = [];
  const ackedSeq = new Map();  // n -> seq from the publish acks
  try {
    console.log(`${label} server at ${server.url}, store ${storeKind}`);
    page = await browser.newPage();
    page.on('console', (m) => log.push(`${label} console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log.push(`${label} page error: ${e.stack ?? e}`));
    // The frames the page's client sends and receives, per connection, in order.
    const sockets = [];
    page.on('websocket', (ws) => {
      const socket = { sent: [], received: [] };
      sockets.push(socket);
      ws.on('framesent', ({ payload }) => socket.sent.push(String(payload)));
      ws.on('framereceived', ({ payload }) => socket.received.push(String(payload)));
    });
    await page.goto(`http://127.0.0.1:${pageServer.address().port}/`, { timeout: WAIT_MS });
    await pageWait(page, 'switchboard.js loading', () => window.clientLoaded === true);

    let first;
    let firstQuiet;
    await r.step(`${label} the page's client connects and subscribes to ${topic} and ${quietTopic}`, async () => {
      const positions = await page.evaluate(startPageClient, { url: server.url, topic, quietTopic });
      ({ main: first, quiet: firstQuiet } = positions);
      const fresh = (p) => p?.seq === 0 && typeof p.epoch === 'string' && p.epoch !== '';
      return [fresh(first) && fresh(firstQuiet), JSON.stringify(positions)];
    });
    if (!first || !firstQuiet) return;

    let publisher = await openPublisher(server.url);
    publishers.push(publisher);
    await r.step(`${label} messages ${BEFORE_STOP_CONFIRMED.join('..')} are acknowledged and reach the page`, async () => {
      for (const [n, seq] of await publishNumbered(publisher, topic, BEFORE_STOP_CONFIRMED)) ackedSeq.set(n, seq);
      const last = BEFORE_STOP_CONFIRMED[1];
      await pageWait(page, `message ${last} in the page`, (n) => window.restartTest.received.some((m) => m.n === n), last);
      return [true, ''];
    });
    await r.step(`${label} messages ${BEFORE_STOP_IN_FLIGHT.join('..')} are acknowledged (the page may not have them yet)`,
      async () => {
        for (const [n, seq] of await publishNumbered(publisher, topic, BEFORE_STOP_IN_FLIGHT)) ackedSeq.set(n, seq);
        return [true, ''];
      });

    const stopped = await stopServer(server, signal);
    if (signal === 'SIGTERM') {
      r.check(`${label} pubsub_server exits 0 after SIGTERM`, stopped.code === 0, JSON.stringify(stopped));
    } else {
      r.check(`${label} pubsub_server is killed`, stopped.signal === 'SIGKILL', JSON.stringify(stopped));
    }
    publisher.terminate();

    await r.step(`${label} the page's client retries while the server is down`, async () => {
      // Its connection closed, and at least one attempt failed.
      const closes = await pageWait(page, 'a failed reconnect attempt', () => window.restartTest.closes >= 2 && window.restartTest.closes);
      return [closes >= 2, `${closes} closes`];
    });
    // A socket's messages are all dispatched before its close event: this is what the
    // page had when the server stopped.
    const heldBefore = await page.evaluate(() => window.restartTest.received.length);
    // Hold the client away, and wait until no attempt is under way: each attempt that
    // got a token ends in a close, since nothing listens on the port.
    await page.evaluate(() => window.restartTest.hold());
    await pageWait(page, 'the last attempt to end',
      () => window.restartTest.closes === window.restartTest.tokensGiven);

    const oldPort = server.port;
    server = await startServer(storeArgs, oldPort);
    r.check(`${label} pubsub_server starts again on port ${oldPort}, same database`, server.port === oldPort, server.url);
    publisher = await openPublisher(server.url);
    publishers.push(publisher);
    await r.step(`${label} messages ${WHILE_AWAY.join('..')} and ${quietTopic}'s first are acknowledged while ` +
      "the page's client is away", async () => {
      for (const [n, seq] of await publishNumbered(publisher, topic, WHILE_AWAY)) ackedSeq.set(n, seq);
      await publisher.send(JSON.stringify({ type: 'publish', id: 'quiet', topic: quietTopic, data: { quiet: true } }));
      const { raw, obj } = await publisher.nextText();
      if (obj.type !== 'ack' || obj.id !== 'quiet') throw new Failure(`the publish on ${quietTopic}: ${raw}`);
      const away = await page.evaluate(() => ({
        state: window.restartTest.client.state,
        received: window.restartTest.received.length + window.restartTest.quietReceived.length,
      }));
      return [away.state === 'reconnecting' && away.received === heldBefore,
        `state ${away.state}, the page received ${away.received - heldBefore} meanwhile`];
    });

    await page.evaluate(() => window.restartTest.release());
    if (expectRecovery) {
      await r.step(`${label} the page's client comes back and recovers ${WHILE_AWAY.join('..')} and ${quietTopic}'s first`,
        async () => {
          const last = WHILE_AWAY[1];
          await pageWait(page, `message ${last} in the page`, (n) => window.restartTest.received.some((m) => m.n === n), last);
          const quiet = await pageWait(page, `the message on ${quietTopic}`,
            () => window.restartTest.quietReceived.length > 0 && window.restartTest.quietReceived);
          return [quiet.length === 1 && quiet[0].seq === 1 && quiet[0].data?.quiet === true, JSON.stringify(quiet)];
        });
    } else {
      await r.step(`${label} the page's client comes back and emits recoveryFailed for both topics`, async () => {
        const failures = await pageWait(page, 'recoveryFailed for both topics',
          () => window.restartTest.recoveryFailures.length >= 2 && window.restartTest.recoveryFailures);
        return [failures.length === 2, JSON.stringify(failures)];
      });
    }
    await pageWait(page, 'the client open again', () => window.restartTest.client.state === 'open');

    await r.step(`${label} messages ${AFTER_RETURN.join('..')} are acknowledged and reach the page`, async () => {
      for (const [n, seq] of await publishNumbered(publisher, topic, AFTER_RETURN)) ackedSeq.set(n, seq);
      const last = AFTER_RETURN[1];
      await pageWait(page, `message ${last} in the page`, (n) => window.restartTest.received.some((m) => m.n === n), last);
      return [true, ''];
    });

    const seen = await page.evaluate(() => ({
      received: window.restartTest.received,
      quietReceived: window.restartTest.quietReceived,
      recoveryFailures: window.restartTest.recoveryFailures,
      deliveredAtFailure: window.restartTest.deliveredAtFailure,
      errors: window.restartTest.errors,
    }));
    const numbers = seen.received.map((m) => m.n);
    const seqs = seen.received.map((m) => m.seq);
    r.check(`${label} no message is delivered twice`, new Set(numbers).size === numbers.length, numbers.join(','));
    r.check(`${label} each message carries the seq its publish was acknowledged with`,
      seen.received.every((m) => ackedSeq.get(m.n) === m.seq),
      seen.received.filter((m) => ackedSeq.get(m.n) !== m.seq).map((m) => `${m.n}@${m.seq}`).join(','));

    // The subscribe that restored the subscription on the new connection.
    const restoring = sockets.slice(1).flatMap((s) => s.sent.map((text) => ({ s, frame: JSON.parse(text) })))
      .find(({ frame }) => frame.type === 'subscribe' && frame.topics?.includes(topic));
    const lastBeforeStop = seen.received[heldBefore - 1];
    const since = restoring?.frame.since ?? {};
    r.check(`${label} the client resubscribes with since {seq, epoch} of the last message it had (0 on ${quietTopic})`,
      since[topic]?.seq === lastBeforeStop?.seq && since[topic]?.epoch === first.epoch &&
      since[quietTopic]?.seq === 0 && since[quietTopic]?.epoch === firstQuiet.epoch,
      JSON.stringify(restoring?.frame ?? null));

    const history = await page.evaluate((t) => window.restartTest.client.history(t, { limit: 1000 }), topic);
    const historyNumbers = history.messages.map((m) => m.data?.n);
    if (expectRecovery) {
      const all = range([BEFORE_STOP_CONFIRMED[0], AFTER_RETURN[1]]);
      r.check(`${label} the page has every acknowledged message exactly once, in order`, sameList(numbers, all),
        numbers.join(','));
      r.check(`${label} in seq order with no gap`, consecutive(seqs) && seqs[0] === 1, seqs.join(','));
      r.check(`${label} no recoveryFailed`, seen.recoveryFailures.length === 0, JSON.stringify(seen.recoveryFailures));
      // What came after the stop arrived before the restored subscription's ack: a replay.
      const replayed = [];
      for (const text of restoring?.s.received ?? []) {
        const frame = JSON.parse(text);
        if (frame.type === 'ack' && frame.id === restoring.frame.id) {
          r.check(`${label} the ack says recovered, same epoch`,
            frame.data?.topics?.[topic]?.recovered === true && frame.data.topics[topic].epoch === first.epoch, text);
          break;
        }
        if (frame.type === 'message' && frame.topic === topic) replayed.push(frame.data.n);
      }
      r.check(`${label} the messages published while away were replayed before the ack`,
        range(WHILE_AWAY).every((n) => replayed.includes(n)), replayed.join(','));
      r.check(`${label} history keeps the epoch across the clean restart`, history.epoch === first.epoch,
        `${history.epoch} vs ${first.epoch}`);
    } else {
      const failure = seen.recoveryFailures.find((f) => f.topic === topic);
      const quietFailure = seen.recoveryFailures.find((f) => f.topic === quietTopic);
      const newEpoch = (f, old) => typeof f?.epoch === 'string' && f.epoch !== '' && f.epoch !== old;
      r.check(`${label} recoveryFailed names each topic, its old position and a new epoch`,
        failure?.since?.epoch === first.epoch && failure.since?.seq === lastBeforeStop?.seq && newEpoch(failure, first.epoch) &&
        quietFailure?.since?.epoch === firstQuiet.epoch && quietFailure.since?.seq === 0 && newEpoch(quietFailure, firstQuiet.epoch),
        JSON.stringify(seen.recoveryFailures));
      // The application must hear of the loss before the new stream's messages.
      r.check(`${label} recoveryFailed comes before any message of the new stream`,
        seen.deliveredAtFailure.every((count) => count === heldBefore), seen.deliveredAtFailure.join(','));
      r.check(`${label} nothing published on ${quietTopic} while away is delivered (it was not replayed)`,
        seen.quietReceived.length === 0, JSON.stringify(seen.quietReceived));
      const before = numbers.slice(0, heldBefore);
      const after = numbers.slice(heldBefore);
      r.check(`${label} before the stop: messages 1..${before.length} in order (at least ${BEFORE_STOP_CONFIRMED[1]})`,
        before.length >= BEFORE_STOP_CONFIRMED[1] && sameList(before, range([1, before.length])) && consecutive(seqs.slice(0, heldBefore)),
        before.join(','));
      r.check(`${label} after the restart: only the new messages, in seq order with no gap`,
        sameList(after, range(AFTER_RETURN)) && consecutive(seqs.slice(heldBefore)), after.join(','));
      // What the client missed is for the application to reload, from history.
      const expectedHistory = storeKind === 'sqlite'
        ? range([BEFORE_STOP_CONFIRMED[0], AFTER_RETURN[1]])  // acknowledged means committed: a crash keeps it
        : range([WHILE_AWAY[0], AFTER_RETURN[1]]);            // a restarted memory store starts empty
      r.check(`${label} history, under the new epoch, holds ${expectedHistory[0]}..${expectedHistory.at(-1)}`,
        history.epoch === failure?.epoch && sameList(historyNumbers, expectedHistory),
        `epoch ${history.epoch}: ${historyNumbers.join(',')}`);
    }
    if (seen.errors.length > 0) log.push(`${label} client error events: ${seen.errors.join(' | ')}`);
  } finally {
    for (const p of publishers) p.terminate();
    await page?.evaluate(() => window.restartTest?.client.close()).catch(() => {});
    await page?.close().catch(() => {});
    pageServer.close();
    await stopServer(server, 'SIGTERM').catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

async function run(r, log) {
  const browser = await chromium.launch({ executablePath: values.chromium, headless: true, timeout: LAUNCH_MS });
  console.log(`chromium ${browser.version()}, playwright-core ${packageVersion('playwright-core')}`);
  try {
    for (const signal of ['SIGTERM', 'SIGKILL']) {
      try {
        await runCase(r, browser, signal, log);
      } catch (e) {
        r.check(`[${signal}] the case finished`, false, e instanceof Failure ? e.message : e?.stack);
      }
    }
  } finally {
    await browser.close().catch(() => {});
  }
}

const r = new Results();
const log = [];
console.log(`node ${process.version}, ws ${packageVersion('ws')}`);
try {
  await withDeadline(run(r, log), 200_000, 'the whole run');
} catch (e) {
  r.check('the run finished', false, e instanceof Failure ? e.message : e?.stack);
}
if (r.failed > 0 && log.length > 0) {
  console.log('--- browser log ---');
  for (const line of log) console.log(line);
}
process.exit(r.summary());
