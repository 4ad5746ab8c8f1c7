#!/usr/bin/python3
"""Interoperability check: a switchboard server driven by Python's `websockets` library.

Usage: python_client.py [--ca FILE] ws://HOST:PORT|wss://HOST:PORT [PATH]

With a wss:// URL, --ca names the certificate (PEM) to trust as the only CA; the
system's CAs are not used, and host name checking stays on.

Runs against a server started with default options (no authentication required,
`echo_to_publisher` off, in-memory history). Prints one line per check and
"N passed, M failed" at the end; the exit status is 0 only when nothing failed.
Every network wait is bounded, and the whole run is bounded by TOTAL_TIMEOUT.
"""

import argparse
import asyncio
import base64
import json
import ssl
import struct
import sys

import websockets
from websockets.exceptions import InvalidStatusCode

STEP_TIMEOUT = 10.0   # one connect, send or receive: generous, the machine may be busy
TOTAL_TIMEOUT = 90.0  # the whole run
SUBPROTOCOL = "switchboard.v1"

# The publish frame is sent as this exact text so that the subscriber can check
# that `data` arrives byte for byte (spacing and the 1.50 literal included).
PUBLISH_TEXT = '{"type":"publish","id":"p1","topic":"room.1","data":{"b":1, "a":[1.50,2]}}'
RAW_DATA = '"data":{"b":1, "a":[1.50,2]}'
BINARY_TOPIC = b"room.1"
BINARY_PAYLOAD = b"\x00\xffbin\x01\x02"


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok    {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL  {name}" + (f": {detail}" if detail else ""), flush=True)
        return ok


class Failure(Exception):
    """A step could not complete; the message says what was seen instead."""


# The TLS context for wss:// URLs (set in main); None for ws://.
TLS_CONTEXT = None


async def connect(uri, subprotocols):
    extra = {"ssl": TLS_CONTEXT} if TLS_CONTEXT is not None else {}
    return await asyncio.wait_for(
        websockets.connect(uri, subprotocols=subprotocols, open_timeout=STEP_TIMEOUT, **extra),
        STEP_TIMEOUT + 1)


async def recv_raw(ws):
    try:
        return await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
    except asyncio.TimeoutError:
        raise Failure(f"no frame within {STEP_TIMEOUT} s") from None
    except websockets.ConnectionClosed as e:
        raise Failure(f"connection closed: code={e.code} reason={e.reason!r}") from None


async def recv_text(ws):
    """The next frame, which must be a text frame holding a JSON object: (raw, parsed)."""
    raw = await recv_raw(ws)
    if not isinstance(raw, str):
        raise Failure(f"expected a text frame, got binary {raw!r}")
    try:
        obj = json.loads(raw)
    except ValueError:
        raise Failure(f"not JSON: {raw!r}") from None
    if not isinstance(obj, dict):
        raise Failure(f"not a JSON object: {raw!r}")
    return raw, obj


async def send(ws, frame):
    await asyncio.wait_for(ws.send(frame), STEP_TIMEOUT)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_ts(obj):
    """`ts` is optional; when present it is an integer."""
    return "ts" not in obj or is_int(obj["ts"])


async def step(results, name, coro):
    """Runs one check; a Failure or unexpected exception counts as a failed check."""
    try:
        ok, detail = await coro
    except Failure as e:
        ok, detail = False, str(e)
    except Exception as e:  # noqa: BLE001 - report anything, keep going
        ok, detail = False, f"{type(e).__name__}: {e}"
    return results.check(name, ok, detail)


async def run(base):
    r = Results()
    alice = bob = None
    epoch = None
    try:
        # --- handshake and welcome ----------------------------------------------------
        async def alice_connects():
            nonlocal alice
            alice = await connect(f"{base}?token=alice", [SUBPROTOCOL])
            return alice.subprotocol == SUBPROTOCOL, f"selected subprotocol {alice.subprotocol!r}"

        if not await step(r, "alice connects offering switchboard.v1; server selects it", alice_connects()):
            if alice is None:
                return r

        async def welcome(ws, user):
            raw, w = await recv_text(ws)
            ok = (w.get("type") == "welcome"
                  and isinstance(w.get("connection"), str) and w["connection"] != ""
                  and w.get("user") == user
                  and isinstance(w.get("server"), str) and w["server"].startswith("switchboard/")
                  and is_int(w.get("heartbeat_ms")))
            return ok, raw

        await step(r, "alice's first frame is welcome (connection, user, server, heartbeat_ms)",
                   welcome(alice, "alice"))

        async def bob_connects():
            nonlocal bob
            bob = await connect(f"{base}?token=bob", [SUBPROTOCOL])
            ok, raw = await welcome(bob, "bob")
            return ok and bob.subprotocol == SUBPROTOCOL, f"subprotocol {bob.subprotocol!r}, {raw}"

        if not await step(r, "bob connects and gets welcome", bob_connects()):
            if bob is None:
                return r

        # --- subscribe ------------------------------------------------------------------
        async def bob_subscribes():
            nonlocal epoch
            await send(bob, json.dumps({"type": "subscribe", "id": 1, "topics": ["room.1", "feed.*"]}))
            raw, a = await recv_text(bob)
            topics = a.get("data", {}).get("topics", {}) if isinstance(a.get("data"), dict) else {}
            room = topics.get("room.1") if isinstance(topics, dict) else None
            if isinstance(room, dict):
                epoch = room.get("epoch")
            ok = (set(a) == {"type", "id", "data"} and a["type"] == "ack" and a["id"] == 1
                  and is_int(a["id"])
                  and isinstance(epoch, str) and 0 < len(epoch.encode()) <= 32
                  and a["data"] == {"topics": {"room.1": {"seq": 0, "epoch": epoch},
                                                "feed.*": {"seq": 0, "epoch": ""}}})
            return ok, raw

        await step(r, "bob subscribes to room.1 and feed.* -> ack with seq 0 and epochs", bob_subscribes())

        # --- publish, raw data splicing -------------------------------------------------
        async def alice_publishes():
            await send(alice, PUBLISH_TEXT)
            raw, a = await recv_text(alice)
            return a == {"type": "ack", "id": "p1", "data": {"seq": 1, "recipients": 1}}, raw

        await step(r, "alice publishes on room.1 -> ack {seq:1, recipients:1}", alice_publishes())

        last_message_raw = {}

        async def bob_gets_message():
            raw, m = await recv_text(bob)
            last_message_raw["room.1"] = raw
            ok = (m.get("type") == "message" and m.get("topic") == "room.1"
                  and is_int(m.get("seq")) and m["seq"] == 1 and m.get("from") == "alice"
                  and m.get("data") == {"b": 1, "a": [1.5, 2]} and is_ts(m)
                  and set(m) <= {"type", "topic", "seq", "from", "data", "ts"})
            return ok, raw

        await step(r, "bob receives message room.1 seq 1 from alice", bob_gets_message())

        async def data_byte_for_byte():
            raw = last_message_raw.get("room.1")
            if raw is None:
                raise Failure("no message was received")
            return RAW_DATA in raw, f"raw frame {raw!r} lacks {RAW_DATA!r}"

        await step(r, "message data is spliced byte for byte", data_byte_for_byte())

        # --- pattern delivery -----------------------------------------------------------
        async def pattern_delivery():
            await send(alice, '{"type":"publish","id":"p2","topic":"feed.x","data":"tick"}')
            raw_ack, a = await recv_text(alice)
            if a != {"type": "ack", "id": "p2", "data": {"seq": 1, "recipients": 1}}:
                return False, f"alice got {raw_ack}"
            raw, m = await recv_text(bob)
            ok = (m.get("type") == "message" and m.get("topic") == "feed.x" and m.get("seq") == 1
                  and m.get("from") == "alice" and m.get("data") == "tick" and is_ts(m))
            return ok, raw

        await step(r, "publish on feed.x reaches bob through feed.*", pattern_delivery())

        # --- ping -----------------------------------------------------------------------
        async def ping_with_id():
            await send(alice, '{"type":"ping","id":7}')
            raw, p = await recv_text(alice)
            return p == {"type": "pong", "id": 7} and is_int(p["id"]), raw

        await step(r, "ping with id -> pong with that id", ping_with_id())

        async def ping_without_id():
            await send(alice, '{"type":"ping"}')
            raw, p = await recv_text(alice)
            return p == {"type": "pong"}, raw

        await step(r, "ping without id -> pong with no id member", ping_without_id())

        # --- bad JSON -------------------------------------------------------------------
        async def bad_json():
            await send(alice, "{nope")
            raw, e = await recv_text(alice)
            ok = (e.get("type") == "error" and "id" in e and e["id"] is None
                  and e.get("code") == "bad_json" and isinstance(e.get("message"), str)
                  and set(e) == {"type", "id", "code", "message"})
            return ok, raw

        await step(r, "bad JSON '{nope' -> error bad_json with id null", bad_json())

        async def still_works():
            await send(alice, '{"type":"ping","id":"after-bad-json"}')
            raw, p = await recv_text(alice)
            return p == {"type": "pong", "id": "after-bad-json"}, raw

        await step(r, "connection still works after bad JSON", still_works())

        # --- binary envelope ------------------------------------------------------------
        async def binary_roundtrip():
            frame = bytes([0x01, len(BINARY_TOPIC)]) + BINARY_TOPIC + BINARY_PAYLOAD
            await send(alice, frame)
            raw = await recv_raw(bob)
            if not isinstance(raw, bytes):
                return False, f"expected a binary frame, got text {raw!r}"
            expected = (bytes([0x02, len(BINARY_TOPIC)]) + BINARY_TOPIC
                        + struct.pack("<Q", 2) + BINARY_PAYLOAD)
            return raw == expected, f"got {raw.hex()} expected {expected.hex()}"

        await step(r, "binary publish -> bob gets 0x02|len|topic|u64 LE seq 2|payload", binary_roundtrip())

        async def no_reply_to_binary():
            # A binary publish has no id, so alice gets nothing for it: the next frame
            # she sees must be the pong for this ping.
            await send(alice, '{"type":"ping","id":"after-binary"}')
            raw, p = await recv_text(alice)
            return p == {"type": "pong", "id": "after-binary"}, raw

        await step(r, "alice gets no reply and no echo for her publishes", no_reply_to_binary())

        # --- subprotocol refusal --------------------------------------------------------
        async def unknown_subprotocol():
            try:
                ws = await connect(f"{base}?token=carol", ["nope.v9"])
            except InvalidStatusCode as e:
                return e.status_code == 400, f"HTTP {e.status_code}"
            await asyncio.wait_for(ws.close(), STEP_TIMEOUT)
            return False, f"connection was accepted (subprotocol {ws.subprotocol!r})"

        await step(r, "offering only nope.v9 is refused with HTTP 400", unknown_subprotocol())

        # --- history --------------------------------------------------------------------
        history = {}

        async def history_request():
            await send(alice, '{"type":"history","id":"h1","topic":"room.1"}')
            raw, h = await recv_text(alice)
            history["raw"], history["frame"] = raw, h
            data = h.get("data")
            msgs = data.get("messages") if isinstance(data, dict) else None
            ok = (h.get("type") == "result" and h.get("id") == "h1" and isinstance(msgs, list)
                  and any(isinstance(m, dict) and m.get("topic") == "room.1" and m.get("seq") == 1
                          and m.get("from") == "alice" and m.get("data") == {"b": 1, "a": [1.5, 2]}
                          for m in msgs))
            return ok, raw

        await step(r, "history on room.1 -> result whose messages contain the publish", history_request())

        async def history_details():
            h = history.get("frame")
            if h is None:
                raise Failure("no history result")
            data = h.get("data", {})
            msgs = data.get("messages", [])
            seqs = [m.get("seq") for m in msgs if isinstance(m, dict)]
            binary = [m for m in msgs if isinstance(m, dict) and m.get("seq") == 2]
            ok = (seqs == [1, 2] and data.get("seq") == 2 and data.get("epoch") == epoch
                  and RAW_DATA in history["raw"]
                  and len(binary) == 1 and binary[0].get("encoding") == "base64"
                  and binary[0].get("data") == base64.b64encode(BINARY_PAYLOAD).decode())
            return ok, history["raw"]

        await step(r, "history: seqs [1,2], latest seq and epoch, raw data, binary as base64",
                   history_details())
    finally:
        for ws in (alice, bob):
            if ws is not None:
                try:
                    await asyncio.wait_for(ws.close(), STEP_TIMEOUT)
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
    return r


def main():
    global TLS_CONTEXT
    parser = argparse.ArgumentParser(description="switchboard interop check with Python websockets")
    parser.add_argument("--ca", help="PEM certificate to trust as the only CA (wss:// only)")
    parser.add_argument("url", help="ws://HOST:PORT or wss://HOST:PORT")
    parser.add_argument("path", nargs="?", default="/ws", help="WebSocket path (default /ws)")
    args = parser.parse_args()
    if args.url.startswith("wss://"):
        if not args.ca:
            parser.error("a wss:// URL needs --ca FILE")
        TLS_CONTEXT = ssl.create_default_context(cafile=args.ca)
    elif not args.url.startswith("ws://"):
        parser.error("the URL must start with ws:// or wss://")
    elif args.ca:
        parser.error("--ca only applies to wss:// URLs")
    base = args.url.rstrip("/") + args.path
    print(f"websockets {websockets.__version__}, server {base}", flush=True)
    try:
        results = asyncio.run(asyncio.wait_for(run(base), TOTAL_TIMEOUT))
    except asyncio.TimeoutError:
        print(f"FAIL  the run did not finish within {TOTAL_TIMEOUT} s", flush=True)
        return 1
    print(f"{results.passed} passed, {results.failed} failed", flush=True)
    return 0 if results.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
