// Connection loss: recovery of missed messages with `since`, the event when the
// server cannot recover, backoff giving up, and what happens to requests meanwhile.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import {
  closeClients, connectClient, gate, makeClient, nextEvent, record, startServer, trackedWebSocket, until,
  withDeadline,
} from './harness.mjs';

const servers = [];
async function server(args, options) {
  const started = await startServer(args, options);
  servers.push(started);
  return started;
}
afterEach(async () => {
  await closeClients();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

// Reconnects quickly; the real defaults start at half a second.
const fastBackoff = { backoffBaseMs: 20, backoffCapMs: 200 };

test('after its socket drops, the client gets what it missed, in order, once', async () => {
  const { url } = await server();
  const publisher = await connectClient(url, { token: 'pub' });
  // The subscriber's reconnect waits for this gate, so the test publishes while it is
  // surely away.
  let away = null;
  const { WebSocket, sockets } = trackedWebSocket();
  const subscriber = await connectClient(url, {
    token: 'sub', WebSocket, ...fastBackoff,
    getToken: async () => { await away?.opened; return 'sub'; },
  });
  const received = [];
  await subscriber.subscribe('feed.a', (m) => received.push(m));
  const patterned = [];
  await subscriber.subscribe('other.*', (m) => patterned.push(m.data));
  const recoveryFailures = record(subscriber, 'recoveryFailed');

  for (let n = 1; n <= 3; n += 1) await publisher.publish('feed.a', { n });
  await until(() => received.length === 3, 'the first three messages');

  away = gate();
  const closed = nextEvent(subscriber, 'close');
  sockets.at(-1).terminate();
  assert.equal((await closed).willReconnect, true);
  const queuedPing = subscriber.ping();

  await publisher.publish('feed.a', { n: 4 });
  await publisher.publish('feed.a', { n: 5 });
  await publisher.publish('feed.a', new Uint8Array([6, 6]));
  await publisher.publish('feed.a', { n: 7 });
  await publisher.publish('feed.a', { n: 8 });

  const reopened = nextEvent(subscriber, 'open');
  away.open();
  await reopened;
  await until(() => received.length >= 8, 'the missed messages');
  await withDeadline(queuedPing, 'the ping made while away');

  await publisher.publish('feed.a', { n: 9 });
  await publisher.publish('other.x', 'pattern still there');
  await until(() => patterned.length === 1, 'the pattern subscription after the reconnect');
  await until(() => received.length >= 9, 'the live message after the reconnect');

  assert.deepEqual(received.map((m) => m.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(received.filter((m) => !m.binary).map((m) => m.data.n), [1, 2, 3, 4, 5, 7, 8, 9]);
  assert.deepEqual([...received[5].data], [6, 6]);
  assert.deepEqual(patterned, ['pattern still there']);
  assert.deepEqual(recoveryFailures, []);
  assert.equal(sockets.length, 2);
});

test('more subscriptions than one request may carry are all restored and recovered', async () => {
  const { url } = await server();
  const publisher = await connectClient(url, { token: 'pub' });
  let away = null;
  const { WebSocket, sockets } = trackedWebSocket();
  const subscriber = await connectClient(url, {
    token: 'sub', WebSocket, ...fastBackoff,
    getToken: async () => { await away?.opened; return 'sub'; },
  });
  // The server takes at most 100 topics per subscribe (max_topics_per_request).
  const topics = Array.from({ length: 250 }, (_, i) => `many.${i}`);
  const received = [];
  const onMessage = (m) => received.push(m.topic);
  for (let first = 0; first < topics.length; first += 100) {
    await subscriber.subscribe(topics.slice(first, first + 100), onMessage);
  }
  await subscriber.subscribe('many.*.x', (m) => received.push(m.topic));
  const errors = record(subscriber, 'error');

  away = gate();
  const closed = nextEvent(subscriber, 'close');
  sockets.at(-1).terminate();
  await closed;
  await publisher.publish('many.0', 'first');
  await publisher.publish('many.249', 'last');
  const reopened = nextEvent(subscriber, 'open');
  away.open();
  await reopened;
  await until(() => received.length === 2, 'the messages published while away');
  await publisher.publish('many.7.x', 'through the pattern');
  await until(() => received.length === 3, 'the pattern');
  assert.deepEqual(received, ['many.0', 'many.249', 'many.7.x']);
  assert.deepEqual(errors, []);
});

test('a subscribe with a position saved earlier replays what came after it', async () => {
  const { url } = await server();
  const publisher = await connectClient(url, { token: 'pub' });
  for (let n = 1; n <= 4; n += 1) await publisher.publish('saved.1', { n });
  const { epoch } = await publisher.history('saved.1', { limit: 1 });

  const reader = await connectClient(url, { token: 'reader' });
  const received = [];
  const subscription = await reader.subscribe('saved.1', (m) => received.push(m.data.n),
    { since: { 'saved.1': { seq: 2, epoch } } });
  assert.equal(subscription.topics['saved.1'].recovered, true);
  assert.deepEqual(received, [3, 4]);
});

test('when the server lost the stream, recoveryFailed names the topic and new messages flow', async () => {
  const first = await server(['--history', '50']);
  const { WebSocket, sockets } = trackedWebSocket();
  const subscriber = await connectClient(first.url, { token: 'sub', WebSocket, ...fastBackoff });
  const received = [];
  const subscription = await subscriber.subscribe('feed.b', (m) => received.push(m));
  const oldEpoch = subscription.topics['feed.b'].epoch;

  let publisher = await connectClient(first.url, { token: 'pub', reconnect: false });
  await publisher.publish('feed.b', { n: 1 });
  await publisher.publish('feed.b', { n: 2 });
  await until(() => received.length === 2, 'the first two messages');

  // A restarted in-memory store starts every stream again under a new epoch.
  const failed = nextEvent(subscriber, 'recoveryFailed');
  await first.stop('SIGKILL');
  const second = await server(['--history', '50'], { port: first.port });
  const failure = await failed;
  assert.equal(failure.topic, 'feed.b');
  assert.deepEqual(failure.since, { seq: 2, epoch: oldEpoch });
  assert.equal(failure.seq, 0);
  assert.notEqual(failure.epoch, oldEpoch);
  assert.ok(sockets.length >= 2);

  // The new stream's seq starts at 1 again; it must not be taken for a duplicate.
  publisher = await connectClient(second.url, { token: 'pub' });
  await publisher.publish('feed.b', { n: 'new 1' });
  await until(() => received.length === 3, 'the first message of the new stream');
  assert.equal(received[2].seq, 1);
  assert.deepEqual(received[2].data, { n: 'new 1' });
});

test('backoff gives up after maxReconnectAttempts, with growing jittered delays', async () => {
  const running = await server();
  const client = await connectClient(running.url, {
    token: 'alice', backoffBaseMs: 10, backoffCapMs: 40, maxReconnectAttempts: 4,
  });
  const attempts = record(client, 'reconnecting');
  const closes = record(client, 'close');
  const gaveUp = nextEvent(client, 'reconnectFailed');
  await running.stop('SIGKILL');
  assert.deepEqual(await gaveUp, { attempts: 4 });

  assert.deepEqual(attempts.map((a) => a.attempt), [1, 2, 3, 4]);
  const ceilings = [10, 20, 40, 40];
  attempts.forEach(({ delayMs }, i) => assert.ok(delayMs >= 0 && delayMs < ceilings[i], `delay ${delayMs}`));
  assert.deepEqual(closes.map((c) => c.willReconnect), [true, true, true, true, false]);
  assert.equal(client.state, 'closed');
  await assert.rejects(client.ping(), { code: 'closed' });
  await assert.rejects(client.connect(), { code: 'closed' });
});

test('connect rejects when the server cannot be reached within the attempts', async () => {
  const gone = await server();
  await gone.stop('SIGKILL');
  const client = makeClient(gone.url, { token: 'alice', backoffBaseMs: 10, backoffCapMs: 20, maxReconnectAttempts: 2 });
  const pending = client.publish('x.1', {});
  await assert.rejects(withDeadline(client.connect(), 'connect to give up'), { code: 'closed' });
  await assert.rejects(pending, { code: 'closed' });
});

test('a request with no reply in time rejects with timeout; later ones still work', async () => {
  const running = await server();
  const client = await connectClient(running.url, { token: 'alice', requestTimeoutMs: 300 });
  running.pause();
  try {
    await assert.rejects(withDeadline(client.ping(), 'the timeout'), { code: 'timeout' });
    await assert.rejects(withDeadline(client.publish('t.1', {}, { timeoutMs: 100 }), 'the timeout'),
      { code: 'timeout' });
  } finally {
    running.resume();
  }
  // The late replies to the timed-out requests are ignored; a new request gets its own.
  assert.deepEqual(await client.command('echo', { n: 1 }), { n: 1 });
});

test('requests in flight when the connection drops reject with disconnected', async () => {
  const { url } = await server();
  const { WebSocket, sockets } = trackedWebSocket();
  const client = await connectClient(url, { token: 'alice', WebSocket, ...fastBackoff });
  const inFlight = client.command('echo', {});
  sockets.at(-1).terminate();
  await assert.rejects(withDeadline(inFlight, 'the rejection'), { code: 'disconnected' });
  await nextEvent(client, 'open');
  assert.deepEqual(await client.command('echo', { back: true }), { back: true });
});

test('close() stops the client: no reconnect, pending requests rejected', async () => {
  const { url } = await server();
  const client = await connectClient(url, { token: 'alice', ...fastBackoff });
  const reconnects = record(client, 'reconnecting');
  const closes = record(client, 'close');
  await client.close();
  assert.equal(client.state, 'closed');
  assert.deepEqual(closes.map((c) => [c.code, c.willReconnect]), [[1000, false]]);
  await assert.rejects(client.ping(), { code: 'closed' });
  assert.deepEqual(reconnects, []);
});
