// Connecting, publishing and subscribing (JSON, binary, patterns), and the other
// requests, against one pubsub_server with the demo auth (the token is the user id).
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';

import {
  closeClients, connectClient, makeClient, nextEvent, record, startServer, trackedWebSocket, until, withDeadline,
} from './harness.mjs';

let server;
before(async () => { server = await startServer(); });
after(() => server.stop());
afterEach(closeClients);

test('connect resolves with the welcome: user, connection id, subprotocol', async () => {
  const { WebSocket, sockets } = trackedWebSocket();
  const client = makeClient(server.url, { token: 'alice', WebSocket });
  const opened = nextEvent(client, 'open');
  const welcome = await withDeadline(client.connect(), 'welcome');
  assert.equal(welcome.user, 'alice');
  assert.equal(typeof welcome.connection, 'string');
  assert.match(welcome.server, /^switchboard\//);
  assert.equal(typeof welcome.heartbeat_ms, 'number');
  assert.deepEqual(client.welcome, welcome);
  assert.deepEqual(await opened, welcome);
  assert.equal(client.state, 'open');
  assert.equal(sockets[0].protocol, 'switchboard.v1');
});

test('the token travels URL-encoded in the query', async () => {
  const user = 'ana maría+1&x=2%';
  const client = await connectClient(server.url, { token: user });
  assert.equal(client.welcome.user, user);
});

test('a JSON publish reaches the subscriber with its seq, sender and data', async () => {
  const alice = await connectClient(server.url, { token: 'alice' });
  const bob = await connectClient(server.url, { token: 'bob' });
  const received = [];
  const subscription = await bob.subscribe('json.1', (message) => received.push(message));
  assert.equal(subscription.topics['json.1'].seq, 0);
  assert.equal(typeof subscription.topics['json.1'].epoch, 'string');

  const ack = await alice.publish('json.1', { b: 1, a: [1.5, 2], s: 'héllo' });
  assert.deepEqual(ack, { seq: 1, recipients: 1 });
  await until(() => received.length === 1, 'the message');
  const [message] = received;
  assert.equal(message.topic, 'json.1');
  assert.equal(message.seq, 1);
  assert.equal(message.from, 'alice');
  assert.deepEqual(message.data, { b: 1, a: [1.5, 2], s: 'héllo' });
  assert.equal(typeof message.ts, 'number');
  assert.ok(!message.binary);
});

test('binary publishes travel in the envelope, from a Uint8Array or an ArrayBuffer', async () => {
  const alice = await connectClient(server.url, { token: 'alice' });
  const bob = await connectClient(server.url, { token: 'bob' });
  const received = [];
  await bob.subscribe('bin.1', (message) => received.push(message));

  assert.equal(await alice.publish('bin.1', new Uint8Array([0, 1, 2, 255])), undefined);
  assert.equal(await alice.publish('bin.1', new Uint16Array([0x0201, 0x0403]).buffer), undefined);
  // A JSON publish after them: its ack means the binary ones were handled.
  await alice.publish('bin.1', 'after');
  await until(() => received.length === 3, 'three messages');
  assert.deepEqual(received.map((m) => m.seq), [1, 2, 3]);
  assert.ok(received[0].binary);
  assert.ok(received[0].data instanceof Uint8Array);
  assert.deepEqual([...received[0].data], [0, 1, 2, 255]);
  assert.deepEqual([...received[1].data], [1, 2, 3, 4]);
  assert.equal(received[2].data, 'after');
});

test('a message goes to every matching subscription callback, and once to the message event', async () => {
  const alice = await connectClient(server.url, { token: 'alice' });
  const bob = await connectClient(server.url, { token: 'bob' });
  const exact = [];
  const oneToken = [];
  const anyTail = [];
  await bob.subscribe('room.1', (m) => exact.push(m.data.n));
  await bob.subscribe('room.*', (m) => oneToken.push(m.data.n));
  const tail = await bob.subscribe(['room.>'], (m) => anyTail.push(m.data.n));
  const all = record(bob, 'message');

  await alice.publish('room.1', { n: 1 });
  await alice.publish('room.1.x', { n: 2 });
  await alice.publish('other.1', { n: 3 });
  await alice.publish('room.2', { n: 4 });
  // Deliveries keep their order: once 4 is in, 1 to 3 have been decided.
  await until(() => oneToken.includes(4), 'room.2');
  assert.deepEqual(exact, [1]);
  assert.deepEqual(oneToken, [1, 4]);
  assert.deepEqual(anyTail, [1, 2, 4]);
  assert.deepEqual(all.map((m) => m.data.n), [1, 2, 4]);

  await tail.unsubscribe();
  await alice.publish('room.1.x', { n: 5 });
  await alice.publish('room.2', { n: 6 });
  await until(() => oneToken.includes(6), 'room.2 again');
  assert.deepEqual(anyTail, [1, 2, 4]);

  await bob.unsubscribe(['room.1', 'room.*']);
  await alice.publish('room.1', { n: 7 });
  const sentinel = [];
  await bob.subscribe('sentinel', (m) => sentinel.push(m));
  await alice.publish('sentinel', {});
  await until(() => sentinel.length === 1, 'the sentinel');
  assert.deepEqual(exact, [1]);
  assert.deepEqual(oneToken, [1, 4, 6]);
});

test('refusals reject with the protocol code', async () => {
  const alice = await connectClient(server.url, { token: 'alice' });
  await assert.rejects(alice.publish('system.x', {}), { name: 'SwitchboardError', code: 'forbidden' });
  await assert.rejects(alice.publish('room.*', {}), { code: 'bad_request' });
  await assert.rejects(alice.subscribe(['fine.1', 'room..1'], () => {}), { code: 'bad_request' });
  await assert.rejects(alice.command('launch_rockets'), { code: 'unknown_command' });
  await assert.rejects(alice.request({ type: 'move', x: 3 }), { code: 'unknown_type' });
  await assert.rejects(alice.presence('room.*'), { code: 'bad_request' });
  // The connection is still good.
  assert.equal(typeof (await alice.ping()), 'number');
});

test('a refused binary publish, which has no id, arrives as an error event', async () => {
  const alice = await connectClient(server.url, { token: 'alice' });
  const refused = nextEvent(alice, 'error');
  await alice.publish('system.x', new Uint8Array([1]));
  const error = await refused;
  assert.equal(error.code, 'forbidden');
  assert.equal(error.id, null);
});

test('direct reaches every connection of the user', async () => {
  const alice = await connectClient(server.url, { token: 'alice' });
  const bob = await connectClient(server.url, { token: 'bob' });
  const arrived = nextEvent(bob, 'direct');
  assert.deepEqual(await alice.direct('bob', { text: 'psst' }), { delivered: 1, stored: false });
  const direct = await arrived;
  assert.equal(direct.from, 'alice');
  assert.deepEqual(direct.data, { text: 'psst' });
});

test('history returns stored messages, binary ones as bytes', async () => {
  const alice = await connectClient(server.url, { token: 'alice' });
  await alice.publish('hist.1', { n: 1 });
  await alice.publish('hist.1', { n: 2 });
  await alice.publish('hist.1', new Uint8Array([7, 8, 9]));
  await alice.publish('hist.1', { n: 4 });

  const latest = await alice.history('hist.1', { limit: 2 });
  assert.equal(latest.seq, 4);
  assert.equal(typeof latest.epoch, 'string');
  assert.deepEqual(latest.messages.map((m) => m.seq), [3, 4]);
  assert.ok(latest.messages[0].binary);
  assert.deepEqual([...latest.messages[0].data], [7, 8, 9]);
  assert.equal(latest.messages[0].from, 'alice');

  const after1 = await alice.history('hist.1', { since: 1 });
  assert.deepEqual(after1.messages.map((m) => m.seq), [2, 3, 4]);
  assert.deepEqual(after1.messages[0].data, { n: 2 });
});

test('presence counts the subscribed connections and their users', async () => {
  const alice = await connectClient(server.url, { token: 'alice' });
  const bob = await connectClient(server.url, { token: 'bob' });
  await alice.subscribe('pres.1', () => {});
  await bob.subscribe('pres.*', () => {});
  const present = await alice.presence('pres.1');
  assert.deepEqual([...present.users].sort(), ['alice', 'bob']);
  assert.equal(present.connections, 2);
});

test('commands resolve with their result', async () => {
  const alice = await connectClient(server.url, { token: 'alice' });
  assert.deepEqual(await alice.command('echo', { x: [1, 2] }), { x: [1, 2] });
  assert.deepEqual(await alice.command('ping'), { pong: true });
  const info = await alice.command('server_info');
  assert.equal(typeof info.connections, 'number');
});

test('requests made before connecting are sent once the connection is ready', async () => {
  const alice = await connectClient(server.url, { token: 'alice' });
  const bob = makeClient(server.url, { token: 'bob' });
  const received = [];
  const subscribed = bob.subscribe('early.1', (m) => received.push(m.data));
  const pinged = bob.ping();
  await withDeadline(bob.connect(), 'bob to connect');
  await withDeadline(subscribed, 'the subscribe ack');
  await withDeadline(pinged, 'the pong');
  await alice.publish('early.1', 'hello');
  await until(() => received.length === 1, 'the message');
  assert.deepEqual(received, ['hello']);
});

test('a throwing callback becomes an error event and the others still run', async () => {
  const alice = await connectClient(server.url, { token: 'alice' });
  const bob = await connectClient(server.url, { token: 'bob' });
  const received = [];
  await bob.subscribe('throw.1', () => { throw new Error('application bug'); });
  await bob.subscribe('throw.*', (m) => received.push(m.seq));
  const reported = nextEvent(bob, 'error');
  await alice.publish('throw.1', {});
  assert.equal((await reported).message, 'application bug');
  await until(() => received.length === 1, 'the second callback');
});
