// Type declarations for switchboard.js, the client for the switchboard pub/sub
// protocol, version 1 (docs/protocol.md).

/** The subprotocol the client offers: `switchboard.v1`. */
export declare const SUBPROTOCOL: 'switchboard.v1';

/** Error codes the server sends in `error` frames (protocol section 9). */
export type ProtocolErrorCode =
  | 'bad_json' | 'bad_request' | 'unauthorized' | 'forbidden' | 'unknown_type' | 'unknown_command'
  | 'not_found' | 'rate_limited' | 'too_large' | 'overloaded' | 'internal';

/**
 * Codes of the client's own errors: `timeout` (no reply in time), `disconnected` (the
 * connection dropped with the request in flight), `closed` (the client was closed or
 * gave up), `socket_error` (the WebSocket reported an error), `bad_frame` (a server
 * frame the client could not read).
 */
export type ClientErrorCode = 'timeout' | 'disconnected' | 'closed' | 'socket_error' | 'bad_frame';

/** A failed request or connection; `code` says why. */
export declare class SwitchboardError extends Error {
  readonly name: 'SwitchboardError';
  readonly code: ProtocolErrorCode | ClientErrorCode | string;
  /** The `id` of the `error` frame: the request's, or null for one without an id. */
  readonly id?: number | string | null;
  constructor(code: string, message: string, options?: { id?: number | string | null; cause?: unknown });
}

/**
 * The constructor the client opens sockets with: the browser's `WebSocket`, or the
 * `ws` package's in Node. The client sets `binaryType` and the `on*` handlers itself.
 */
export interface WebSocketConstructor {
  new (url: string, protocols?: string | string[]): WebSocketLike;
}

/** The part of a WebSocket's interface a caller's constructor must provide. */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
}

export interface SwitchboardOptions {
  /** The WebSocket constructor; default `globalThis.WebSocket` (browsers, Node 22+). */
  WebSocket?: WebSocketConstructor;
  /** A fixed token (a JWT, or whatever the server's auth policy takes). */
  token?: string;
  /**
   * Called for every connection attempt, and for refreshes: the token to use. With it,
   * a JWT is refreshed in-band before its `exp`, and a close with 1008 (token
   * expired) is retried.
   */
  getToken?: () => string | Promise<string>;
  /**
   * Send the token in an in-band `auth` request after the socket opens, instead of in
   * the `token` query parameter (the server must run with in-band auth). Default false.
   */
  inBandAuth?: boolean;
  /** Default deadline of every request, in ms. Default 10,000. */
  requestTimeoutMs?: number;
  /** Deadline from opening a socket to its `welcome`, in ms. Default 10,000. */
  connectTimeoutMs?: number;
  /** Reconnect after an unexpected close. Default true. */
  reconnect?: boolean;
  /** Ceiling of the first reconnect delay, in ms; doubles per failed attempt. Default 500. */
  backoffBaseMs?: number;
  /** Largest reconnect delay ceiling, in ms. Default 30,000. */
  backoffCapMs?: number;
  /** Failed reconnect attempts in a row before giving up. Default Infinity. */
  maxReconnectAttempts?: number;
  /**
   * Refresh the token this long before its `exp`, in ms; a token that lives less than
   * twice this is refreshed halfway through its remaining life. Default 30,000.
   */
  refreshBeforeExpiryMs?: number;
}

/** Per-request options. */
export interface RequestOptions {
  /** Deadline of this request, in ms; default the client's `requestTimeoutMs`. */
  timeoutMs?: number;
}

/** A stream position: the `seq` of the last message seen and the stream's `epoch`. */
export interface StreamPosition {
  seq: number;
  epoch?: string;
}

/** The server's first frame on a connection. */
export interface Welcome {
  /** This connection's id. */
  connection: string;
  /** The authenticated user, or null for an anonymous connection. */
  user: string | null;
  /** `switchboard/<version>`. */
  server: string;
  /** Interval of the server's WebSocket pings, in ms. */
  heartbeat_ms: number;
}

/** A published message, as delivered to subscription callbacks. */
export interface Message<Data = unknown> {
  type: 'message';
  /** The exact topic it was published on (also when it matched a pattern). */
  topic: string;
  /** Its position in the topic's stream: 1, 2, 3, ... */
  seq: number;
  /**
   * The publisher's user id; null for anonymous publishers and the HTTP API. Absent
   * for live binary deliveries, whose envelope does not carry it.
   */
  from?: string | null;
  /** The published JSON value, or the payload bytes when `binary` is true. */
  data: Data;
  /** When the server received it, in ms since the Unix epoch, if it says. */
  ts?: number;
  /** True for a binary publish; `data` is then a Uint8Array. */
  binary?: boolean;
}

/** A message sent to this connection's user with `direct`. */
export interface DirectMessage<Data = unknown> {
  from: string | null;
  data: Data;
  ts?: number;
}

/** Where a subscribed topic's stream stands, per the subscribe ack. */
export interface TopicPosition {
  /** The latest seq (0 if none; always 0 for patterns). */
  seq: number;
  /** The stream's epoch ('' for patterns). */
  epoch: string;
  /** Present when the subscribe asked `since` for this topic: whether all was replayed. */
  recovered?: boolean;
}

/** The result of a successful subscribe. */
export interface Subscription {
  /** The ack's position of every subscribed topic and pattern. */
  topics: Record<string, TopicPosition>;
  /**
   * Removes this callback; topics left without callbacks are unsubscribed on the
   * server.
   */
  unsubscribe(): Promise<void>;
}

export interface SubscribeOptions extends RequestOptions {
  /**
   * Positions kept from earlier (a page reload, say): the server first replays the
   * messages after them. A bare number skips the epoch check.
   */
  since?: Record<string, StreamPosition | number>;
}

export interface PublishAck {
  /** The seq the publish got. */
  seq: number;
  /** Connections it was queued to. */
  recipients: number;
}

export interface DirectAck {
  /** Connections of the user it was sent to. */
  delivered: number;
  /** True when it was stored for the user's next connection. */
  stored: boolean;
}

export interface HistoryOptions extends RequestOptions {
  /** Give the oldest messages after this seq; without it, the latest. */
  since?: number;
  /** At most this many (the server's default is 100). */
  limit?: number;
}

export interface HistoryResult {
  /** Ascending by seq; binary publishes have `binary: true` and Uint8Array data. */
  messages: Message[];
  /** The topic's latest seq. */
  seq: number;
  /** The topic's epoch. */
  epoch: string;
  /** True when the answer was cut at the server's size bound: ask again from the last seq. */
  more?: boolean;
}

export interface Presence {
  /** Distinct users a publish on the topic would reach. */
  users: string[];
  /** Connections it would reach, anonymous ones included. */
  connections: number;
}

export interface CloseEvent {
  code: number;
  reason: string;
  /** True when the client will try to reconnect. */
  willReconnect: boolean;
}

export interface ReconnectingEvent {
  /** 1 for the first attempt after a drop, 2 for the next, ... */
  attempt: number;
  /** The attempt starts after this many ms. */
  delayMs: number;
}

export interface RecoveryFailedEvent {
  topic: string;
  /** The position the client asked to resume after. */
  since: StreamPosition;
  /** The stream's current seq and epoch: the client resumes from there. */
  seq: number;
  epoch: string;
}

export interface SwitchboardEvents {
  open: Welcome;
  close: CloseEvent;
  reconnecting: ReconnectingEvent;
  reconnectFailed: { attempts: number };
  recoveryFailed: RecoveryFailedEvent;
  message: Message;
  direct: DirectMessage;
  tokenRefreshed: { expiresAt: number | undefined };
  error: Error;
}

export type ClientState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/**
 * A switchboard connection that reconnects by itself and keeps its subscriptions,
 * recovering the messages it missed while the server's store still holds them.
 */
export declare class SwitchboardClient {
  constructor(url: string | URL, options?: SwitchboardOptions);

  readonly state: ClientState;
  /** The current connection's welcome, or null while not connected. */
  readonly welcome: Welcome | null;

  /** Starts connecting; resolves with the first welcome. */
  connect(): Promise<Welcome>;
  /** Closes for good: no more reconnects; unanswered requests reject with `closed`. */
  close(code?: number, reason?: string): Promise<void>;

  /** Adds a listener; returns a function that removes it. */
  on<E extends keyof SwitchboardEvents>(name: E, listener: (value: SwitchboardEvents[E]) => void): () => void;
  off<E extends keyof SwitchboardEvents>(name: E, listener: (value: SwitchboardEvents[E]) => void): void;

  subscribe<Data = unknown>(
    topics: string | string[],
    callback: (message: Message<Data>) => void,
    options?: SubscribeOptions,
  ): Promise<Subscription>;
  /** Drops every callback of these topics or patterns and unsubscribes. */
  unsubscribe(topics: string | string[], options?: RequestOptions): Promise<void>;

  /** Binary data travels in the binary envelope, which has no ack. */
  publish(topic: string, data: ArrayBuffer | ArrayBufferView, options?: RequestOptions): Promise<void>;
  publish(topic: string, data: unknown, options?: RequestOptions): Promise<PublishAck>;
  direct(to: string, data: unknown, options?: RequestOptions): Promise<DirectAck>;
  command<Result = unknown>(name: string, params?: unknown, options?: RequestOptions): Promise<Result>;
  history(topic: string, options?: HistoryOptions): Promise<HistoryResult>;
  presence(topic: string, options?: RequestOptions): Promise<Presence>;
  /** Resolves with the round-trip time in ms. */
  ping(options?: RequestOptions): Promise<number>;
  /** Any request (an application type); resolves with its ack's or result's data. */
  request<Result = unknown>(frame: { type: string; [member: string]: unknown }, options?: RequestOptions): Promise<Result>;
  /** Sends in-band `auth` with `token`, or with a fresh one from `getToken`. */
  refreshToken(token?: string, options?: RequestOptions): Promise<void>;
}

/** True when exact `topic` matches `pattern` (`*` one token, a final `>` one or more). */
export declare function topicMatches(pattern: string, topic: string): boolean;
/** The binary publish frame for `topic` and `payload`. */
export declare function encodeBinaryPublish(topic: string, payload: ArrayBuffer | ArrayBufferView): Uint8Array;
/** Reads a binary delivery frame. */
export declare function decodeBinaryDelivery(frame: ArrayBuffer | ArrayBufferView): {
  topic: string;
  seq: number;
  data: Uint8Array;
};
/** A JWT's `exp` in ms since the Unix epoch, read without verification. */
export declare function tokenExpiresAt(token: string): number | undefined;
