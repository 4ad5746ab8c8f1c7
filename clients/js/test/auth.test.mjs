// Credentials: short-lived JWTs refreshed in-band before they expire, what happens
// without refresh, and in-band auth for handshakes that carry no token.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, test } from 'node:test';

import {
  closeClients, connectClient, makeClient, nextEvent, record, signJwt, startServer, trackedWebSocket, withDeadline,
} from './harness.mjs';

const secret = randomBytes(32).toString('hex');

const servers = [];
async function server(args) {
  const started = await startServer(args);
  servers.push(started);
  return started;
}
afterEach(async () => {
  await closeClients();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

function tokenFor(user, lifetimeSeconds) {
  return signJwt(secret, { sub: user, exp: Math.floor(Date.now() / 1000) + lifetimeSeconds });
}

function expiryOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).exp * 1000;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('a short-lived token is refreshed in-band and the connection outlives it', async () => {
  const { url } = await server(['--jwt-hs256-secret', secret]);
  const issued = [];
  const client = await connectClient(url, {
    getToken: async () => {
      const token = tokenFor('alice', 6);
      issued.push(token);
      return token;
    },
  });
  const closes = record(client, 'close');
  const connection = client.welcome.connection;
  assert.equal(client.welcome.user, 'alice');
  const firstExpiry = expiryOf(issued[0]);

  const refreshed = await nextEvent(client, 'tokenRefreshed');
  assert.equal(issued.length, 2);
  assert.equal(refreshed.expiresAt, expiryOf(issued[1]));
  assert.ok(refreshed.expiresAt > firstExpiry);

  // Past the first token's expiry the server would have closed with 1008; the pong
  // comes after anything the server sent before it.
  await sleep(firstExpiry - Date.now() + 500);
  await withDeadline(client.ping(), 'a pong after the first expiry');
  assert.deepEqual(closes, []);
  assert.equal(client.welcome.connection, connection);
});

test('without a token source, the server closes at expiry (1008) and the client stays closed', async () => {
  const { url } = await server(['--jwt-hs256-secret', secret]);
  const client = await connectClient(url, { token: tokenFor('bob', 3), backoffBaseMs: 10 });
  const reconnects = record(client, 'reconnecting');
  const closed = await nextEvent(client, 'close');
  assert.equal(closed.code, 1008);
  assert.equal(closed.willReconnect, false);
  assert.equal(client.state, 'closed');
  assert.deepEqual(reconnects, []);
});

test('refreshToken() refuses another user\'s or an invalid token and keeps the connection', async () => {
  const { url } = await server(['--jwt-hs256-secret', secret]);
  let user = 'carol';
  const client = await connectClient(url, { getToken: () => tokenFor(user, 60) });
  user = 'mallory';
  await assert.rejects(client.refreshToken(), { code: 'forbidden' });
  await assert.rejects(client.refreshToken('not a jwt'), { code: 'unauthorized' });
  assert.equal(client.welcome.user, 'carol');
  assert.deepEqual(await client.command('echo', 'still here'), 'still here');
  // A token handed over explicitly is accepted like one from getToken.
  const refreshed = nextEvent(client, 'tokenRefreshed');
  await client.refreshToken(tokenFor('carol', 120));
  assert.ok((await refreshed).expiresAt > Date.now() + 60_000);
});

test('in-band auth sends the token in an auth request, not in the URL', async () => {
  const { url } = await server(['--in-band-auth']);
  const { WebSocket, sockets } = trackedWebSocket();
  const client = await connectClient(url, { token: 'dora', inBandAuth: true, WebSocket });
  assert.equal(client.welcome.user, 'dora');
  assert.doesNotMatch(sockets[0].url, /token=/);
  assert.deepEqual(await client.command('echo', 1), 1);
});

test('a refused in-band auth is an error event and, without a token source, the end', async () => {
  const { url } = await server(['--jwt-hs256-secret', secret, '--in-band-auth']);
  const client = makeClient(url, { token: 'not a jwt', inBandAuth: true, backoffBaseMs: 10 });
  const errors = record(client, 'error');
  await assert.rejects(withDeadline(client.connect(), 'connect to fail'), { code: 'closed' });
  assert.ok(errors.some((e) => e.code === 'unauthorized'), JSON.stringify(errors.map((e) => e.code)));
  assert.equal(client.state, 'closed');
});

test('in-band auth with a token source also refreshes', async () => {
  const { url } = await server(['--jwt-hs256-secret', secret, '--in-band-auth']);
  const { WebSocket, sockets } = trackedWebSocket();
  const client = await connectClient(url, { inBandAuth: true, getToken: () => tokenFor('erin', 4), WebSocket });
  assert.equal(client.welcome.user, 'erin');
  const closes = record(client, 'close');
  const refreshed = await nextEvent(client, 'tokenRefreshed');
  assert.equal(typeof refreshed.expiresAt, 'number');
  assert.deepEqual(await client.command('echo', 'refreshed'), 'refreshed');
  assert.deepEqual(closes, []);
  assert.equal(sockets.length, 1);
});
