// Code a TypeScript user writes against switchboard.d.ts; the types test compiles it
// (it is never run). The @ts-expect-error lines must stay errors.
import {
  SwitchboardClient, SwitchboardError, decodeBinaryDelivery, encodeBinaryPublish, tokenExpiresAt, topicMatches,
  type Message, type PublishAck, type Subscription, type Welcome,
} from 'switchboard-client';

interface Chat { text: string }

export async function example(): Promise<void> {
  const client = new SwitchboardClient('ws://127.0.0.1:9002/ws', {
    WebSocket: globalThis.WebSocket,
    getToken: async () => 'alice',
    backoffBaseMs: 250,
    maxReconnectAttempts: 10,
  });
  const welcome: Welcome = await client.connect();
  const user: string | null = welcome.user;

  const subscription: Subscription = await client.subscribe<Chat>('room.1', (message: Message<Chat>) => {
    const text: string = message.data.text;
    void text;
  }, { since: { 'room.1': { seq: 41, epoch: 'k3x9' } } });
  const recovered: boolean | undefined = subscription.topics['room.1']?.recovered;
  await subscription.unsubscribe();

  const ack: PublishAck = await client.publish('room.1', { text: 'hi' });
  const binary: void = await client.publish('ticks.1', new Uint8Array([1, 2]));
  const { delivered } = await client.direct('bob', { text: 'psst' });
  const info = await client.command<{ connections: number }>('server_info');
  const { messages, more } = await client.history('room.1', { since: 40, limit: 10 });
  const { users } = await client.presence('room.1');
  const roundTrip: number = await client.ping({ timeoutMs: 1000 });
  await client.request({ type: 'move', x: 3 });
  await client.refreshToken();

  const off = client.on('recoveryFailed', ({ topic, since, seq, epoch }) => {
    void [topic, since.seq, seq, epoch];
  });
  off();
  client.on('close', ({ code, reason, willReconnect }) => void [code, reason, willReconnect]);
  client.on('error', (error) => {
    if (error instanceof SwitchboardError) void error.code;
  });
  // @ts-expect-error: no such event
  client.on('opened', () => {});
  // @ts-expect-error: topics are strings
  await client.subscribe(7, () => {});

  const frame: Uint8Array = encodeBinaryPublish('ticks.1', new Uint8Array([1]));
  const delivery = decodeBinaryDelivery(frame);
  const matches: boolean = topicMatches('room.*', delivery.topic);
  const expiresAt: number | undefined = tokenExpiresAt('a.b.c');
  void [user, recovered, ack, binary, delivered, info.connections, messages, more, users, roundTrip, matches, expiresAt];
  await client.close();
}
