// The switchboard protocol's subscribe / publish / message subset on Node's `ws`,
// written the way a careful Node developer would: each publish is serialized once
// and the same buffer is handed to every subscriber.
//
// Usage: node node_ws_server.js [--bind 127.0.0.1] [--port 9004] [--path /ws]   (port 0: any free port)
'use strict';

const { WebSocketServer } = require('ws');

const options = { bind: '127.0.0.1', port: 9004, path: '/ws' };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 2) {
  const name = args[i].replace(/^--/, '');
  if (!(name in options) || i + 1 >= args.length) {
    console.error('usage: node node_ws_server.js [--bind ADDR] [--port N] [--path P]');
    process.exit(2);
  }
  options[name] = name === 'port' ? Number(args[i + 1]) : args[i + 1];
}

const subscribers = new Map(); // topic -> Set of sockets
const seqs = new Map(); // topic -> last seq

function reply(ws, object) {
  ws.send(JSON.stringify(object));
}

function handle(ws, text) {
  let request;
  try {
    request = JSON.parse(text);
  } catch (e) {
    reply(ws, { type: 'error', id: null, code: 'bad_json', message: 'not JSON' });
    return;
  }
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    reply(ws, { type: 'error', id: null, code: 'bad_json', message: 'not an object' });
    return;
  }
  const id = request.id === undefined ? null : request.id;
  switch (request.type) {
    case 'subscribe':
    case 'unsubscribe': {
      const topics = Array.isArray(request.topics) ? request.topics : [];
      const acked = {};
      for (const topic of topics) {
        if (typeof topic !== 'string') continue;
        if (request.type === 'subscribe') {
          let set = subscribers.get(topic);
          if (!set) subscribers.set(topic, (set = new Set()));
          set.add(ws);
          ws.topics.add(topic);
        } else {
          const set = subscribers.get(topic);
          if (set) set.delete(ws);
          ws.topics.delete(topic);
        }
        acked[topic] = { seq: seqs.get(topic) || 0, epoch: 'node' };
      }
      if (id !== null) {
        reply(ws, request.type === 'subscribe' ? { type: 'ack', id, data: { topics: acked } } : { type: 'ack', id });
      }
      return;
    }
    case 'publish': {
      if (typeof request.topic !== 'string' || request.data === undefined) {
        reply(ws, { type: 'error', id, code: 'bad_request', message: 'topic and data required' });
        return;
      }
      const seq = (seqs.get(request.topic) || 0) + 1;
      seqs.set(request.topic, seq);
      const set = subscribers.get(request.topic);
      let recipients = 0;
      if (set && set.size > 0) {
        // Serialized once; every subscriber gets the same buffer.
        const frame = Buffer.from(
          JSON.stringify({ type: 'message', topic: request.topic, seq, from: null, data: request.data }));
        for (const subscriber of set) {
          if (subscriber === ws || subscriber.readyState !== subscriber.OPEN) continue;
          subscriber.send(frame, { binary: false });
          ++recipients;
        }
      }
      if (id !== null) reply(ws, { type: 'ack', id, data: { seq, recipients } });
      return;
    }
    case 'ping':
      reply(ws, id === null ? { type: 'pong' } : { type: 'pong', id });
      return;
    default:
      reply(ws, { type: 'error', id, code: 'unknown_type', message: 'unknown type' });
  }
}

const server = new WebSocketServer({
  host: options.bind,
  port: options.port,
  path: options.path,
  perMessageDeflate: false,
  backlog: 4096,
  clientTracking: false,
});

server.on('connection', (ws) => {
  ws.topics = new Set();
  ws.on('message', (data, isBinary) => {
    if (!isBinary) handle(ws, data.toString());
  });
  ws.on('close', () => {
    for (const topic of ws.topics) {
      const set = subscribers.get(topic);
      if (!set) continue;
      set.delete(ws);
      if (set.size === 0) subscribers.delete(topic);
    }
  });
  ws.on('error', () => {});
});

server.on('listening', () => {
  const address = server.address();
  console.log(`node_ws_server listening on ws://${options.bind}:${address.port}${options.path}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
