// Interoperability check: a switchboard server driven by Node's `ws` package.
//
// Usage: node node_ws_client.mjs [--ca FILE] ws://HOST:PORT|wss://HOST:PORT [PATH]
//
// With a wss:// URL, --ca names the certificate (PEM) that this client trusts, in
// place of Node's CA list; host name checking stays on. Runs against a server started
// with default options (no authentication required, `echo_to_publisher` off). Prints
// one line per check and "N passed, M failed"; exits 0 only when nothing failed.
import {
  Connection, Failure, Results, SUBPROTOCOL,
  binaryDelivery, binaryPublish, expectWelcome, jsonEqual, packageVersion, parseCommandLine,
  withDeadline,
} from './interop_lib.mjs';

const TOPIC = 'room.node';
// Sent as this exact text so that the subscriber can check that `data` arrives byte
// for byte (spacing, key order and the 1.50 literal included).
const PUBLISH_TEXT = `{"type":"publish","id":"p1","topic":"${TOPIC}","data":{"b":1, "a":[1.50,2],"s":"h\\u00e9"}}`;
const RAW_DATA = '"data":{"b":1, "a":[1.50,2],"s":"h\\u00e9"}';
const DATA = { b: 1, a: [1.5, 2], s: 'hé' };
const BINARY_PAYLOAD = Buffer.from([0x00, 0xff, 0x62, 0x69, 0x6e, 0x01, 0x02, 0x7b]);

const { base, ca } = parseCommandLine(
  'usage: node node_ws_client.mjs [--ca FILE] ws://HOST:PORT|wss://HOST:PORT [PATH]');

async function run(r) {
  let alice;
  let bob;
  try {
    // --- handshakes: a token in the query and one in the Authorization header -------
    const aliceOpens = await r.step('alice connects with ?token=alice offering switchboard.v1; server selects it',
      async () => {
        alice = await Connection.open(`${base}?token=alice`, { protocols: [SUBPROTOCOL], ca });
        return [alice.protocol === SUBPROTOCOL, `selected subprotocol ${JSON.stringify(alice.protocol)}`];
      });
    if (!aliceOpens) return;
    await r.step("alice's first frame is welcome (connection, user alice, server, heartbeat_ms)",
      () => expectWelcome(alice, 'alice'));

    const bobOpens = await r.step('bob connects with Authorization: Bearer bob and gets welcome for bob',
      async () => {
        bob = await Connection.open(base, {
          protocols: [SUBPROTOCOL], headers: { Authorization: 'Bearer bob' }, ca,
        });
        const [ok, raw] = await expectWelcome(bob, 'bob');
        return [ok && bob.protocol === SUBPROTOCOL, `subprotocol ${JSON.stringify(bob.protocol)}, ${raw}`];
      });
    if (!bobOpens) return;

    await r.step('offering only nope.v9 is refused with HTTP 400', async () => {
      try {
        const c = await Connection.open(`${base}?token=carol`, { protocols: ['nope.v9'], ca });
        c.terminate();
        return [false, `accepted (subprotocol ${JSON.stringify(c.protocol)})`];
      } catch (e) {
        if (e.status === undefined) throw e;
        return [e.status === 400, `HTTP ${e.status}`];
      }
    });

    // --- subscribe -----------------------------------------------------------------
    await r.step(`bob subscribes to ${TOPIC} and system.presence -> ack with seq and epoch per topic`,
      async () => {
        await bob.send(JSON.stringify({ type: 'subscribe', id: 1, topics: [TOPIC, 'system.presence'] }));
        const { raw, obj: a } = await bob.nextText();
        const topics = a.data?.topics ?? {};
        const room = topics[TOPIC];
        const presence = topics['system.presence'];
        const ok = a.type === 'ack' && a.id === 1
          && Object.keys(topics).length === 2
          && room?.seq === 0 && typeof room.epoch === 'string'
          && room.epoch.length > 0 && Buffer.byteLength(room.epoch) <= 32
          && Number.isInteger(presence?.seq) && typeof presence.epoch === 'string';
        return [ok, raw];
      });

    // --- JSON publish ----------------------------------------------------------------
    await r.step(`alice publishes JSON on ${TOPIC} -> ack {seq:1, recipients:1}`, async () => {
      await alice.send(PUBLISH_TEXT);
      const { raw, obj } = await alice.nextText();
      return [jsonEqual(obj, { type: 'ack', id: 'p1', data: { seq: 1, recipients: 1 } }), raw];
    });

    await r.step(`bob receives message ${TOPIC} seq 1 from alice, data spliced byte for byte`, async () => {
      const { raw, obj: m } = await bob.nextText();
      const ok = m.type === 'message' && m.topic === TOPIC && m.seq === 1 && m.from === 'alice'
        && jsonEqual(m.data, DATA)
        && (m.ts === undefined || Number.isInteger(m.ts))
        && raw.includes(RAW_DATA);
      return [ok, `${raw} (expected it to contain ${RAW_DATA})`];
    });

    // --- binary envelope -------------------------------------------------------------
    await r.step('alice publishes a binary envelope -> bob gets 0x02|len|topic|u64 LE seq 2|payload',
      async () => {
        await alice.send(binaryPublish(TOPIC, BINARY_PAYLOAD));
        const got = await bob.nextBinary();
        const expected = binaryDelivery(TOPIC, 2, BINARY_PAYLOAD);
        return [got.equals(expected), `got ${got.toString('hex')}, expected ${expected.toString('hex')}`];
      });

    // --- ping --------------------------------------------------------------------------
    // A binary publish has no id and alice is not echoed her publishes, so the next
    // frame she sees must be this pong.
    await r.step('alice pings with id 7 -> pong {id:7} (no reply or echo before it)', async () => {
      await alice.send('{"type":"ping","id":7}');
      const { raw, obj } = await alice.nextText();
      return [jsonEqual(obj, { type: 'pong', id: 7 }), raw];
    });

    await r.step('alice pings without id -> pong with no id member', async () => {
      await alice.send('{"type":"ping"}');
      const { raw, obj } = await alice.nextText();
      return [jsonEqual(obj, { type: 'pong' }), raw];
    });

    // --- clean close -------------------------------------------------------------------
    await r.step('alice closes with 1000 -> the server answers with close code 1000', async () => {
      const closed = await alice.close(1000, 'done');
      return [closed.code === 1000, `close code ${closed.code} reason ${JSON.stringify(closed.reason)}`];
    });
    alice = undefined;

    // The server saw alice's last connection go: bob, subscribed to system.presence,
    // is told she is offline.
    await r.step('bob gets system.presence {user:alice, status:offline}', async () => {
      const { raw, obj: m } = await bob.nextText();
      const ok = m.type === 'message' && m.topic === 'system.presence' && Number.isInteger(m.seq)
        && jsonEqual(m.data, { user: 'alice', status: 'offline' });
      return [ok, raw];
    });

    await r.step('bob pings with a string id -> pong, then closes with 1000 and gets 1000', async () => {
      await bob.send('{"type":"ping","id":"bob-1"}');
      const { raw, obj } = await bob.nextText();
      if (!jsonEqual(obj, { type: 'pong', id: 'bob-1' })) return [false, raw];
      const closed = await bob.close(1000, 'done');
      return [closed.code === 1000, `close code ${closed.code}`];
    });
    bob = undefined;
  } finally {
    for (const c of [alice, bob]) c?.terminate();
  }
}

const r = new Results();
console.log(`node ${process.version}, ws ${packageVersion('ws')}, server ${base}`);
try {
  await withDeadline(run(r), 90_000, 'the whole run');
} catch (e) {
  r.check('the run finished', false, e instanceof Failure ? e.message : e?.stack);
}
process.exit(r.summary());
