#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/ (corpus/websocket_reader, corpus/http_parser,
corpus/access_rules, corpus/jwt).

The seeds are small, valid or nearly valid inputs that reach each part of the parsers
quickly; the fuzzer mutates from there. Run it again after changing an input layout:
    python3 tests/fuzz/make_seed_corpus.py
"""
import base64
import hashlib
import hmac
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MASK = bytes([0x37, 0xFA, 0x21, 0x3D])

FIN = 0x80
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def frame(first_byte, payload, masked=True):
    """A client frame with the shortest length encoding."""
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        header = bytes([first_byte, mask_bit | n])
    elif n <= 0xFFFF:
        header = bytes([first_byte, mask_bit | 126]) + struct.pack(">H", n)
    else:
        header = bytes([first_byte, mask_bit | 127]) + struct.pack(">Q", n)
    if not masked:
        return header + payload
    return header + MASK + bytes(b ^ MASK[i & 3] for i, b in enumerate(payload))


def close(code, reason=b""):
    return frame(FIN | CLOSE, struct.pack(">H", code) + reason)


def websocket_seed(config, split_seed, stream):
    # Byte 0: limit (bits 0-2), stop after each message (bit 3), largest piece (bits 4-6).
    return bytes([config, split_seed]) + stream


WEBSOCKET = {
    "text": websocket_seed(0x07, 1, frame(FIN | TEXT, b"Hello")),
    "binary_16bit_length": websocket_seed(0x57, 2, frame(FIN | BINARY, bytes(range(256)) * 2)),
    "fragmented_text": websocket_seed(0x27, 3, frame(TEXT, b"frag") + frame(CONTINUATION, b"men")
                                      + frame(FIN | CONTINUATION, b"ted")),
    "fragmented_with_ping": websocket_seed(0x1F, 4, frame(TEXT, b"Hel") + frame(FIN | PING, b"p")
                                           + frame(FIN | CONTINUATION, b"lo")),
    "ping_pong": websocket_seed(0x07, 5, frame(FIN | PING, b"are you there") + frame(FIN | PONG, b"")),
    "close": websocket_seed(0x07, 6, close(1000, b"bye")),
    "close_empty": websocket_seed(0x07, 7, frame(FIN | CLOSE, b"")),
    "utf8_across_fragments": websocket_seed(0x37, 8, frame(TEXT, "€".encode()[:2])
                                            + frame(FIN | CONTINUATION, "€".encode()[2:] + "😀".encode())),
    "invalid_utf8": websocket_seed(0x07, 9, frame(FIN | TEXT, b"\xed\xa0\x80")),
    "over_limit": websocket_seed(0x02, 10, frame(FIN | BINARY, b"123456")),
    "stop_and_resume": websocket_seed(0x4F, 11, frame(FIN | TEXT, b"one") + frame(FIN | BINARY, b"two")
                                      + frame(FIN | TEXT, b"") + close(1001)),
    "unmasked": websocket_seed(0x07, 12, frame(FIN | TEXT, b"x", masked=False)),
    "empty_fragments": websocket_seed(0x17, 13, frame(BINARY, b"") + frame(CONTINUATION, b"")
                                      + frame(FIN | CONTINUATION, b"")),
}


def http_seed(limits, request):
    # Byte 0: which limits (0: the defaults, 1-3: small ones).
    return bytes([limits]) + request


UPGRADE = (b"GET /ws?token=abc%20d HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
POST = b"POST /api/publish HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"

HTTP = {
    "get_upgrade": http_seed(0, UPGRADE),
    "get_simple": http_seed(0, b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n"),
    "post_with_body": http_seed(0, POST),
    "pipelined": http_seed(0, POST + b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"),
    "http10_keep_alive": http_seed(0, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
    "ows_and_case": http_seed(0, b"get /x HTTP/1.1\r\nhOsT:\t h \t\r\nX-Empty:\r\n\r\n"),
    "incomplete": http_seed(0, b"GET / HTTP/1.1\r\nHost: h\r\n"),
    "small_limits": http_seed(1, b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n"),
    "long_line": http_seed(1, b"GET /" + b"a" * 80),
    "transfer_encoding": http_seed(0, b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"),
    "conflicting_lengths": http_seed(0, b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
    "obs_fold": http_seed(0, b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"),
    "http2": http_seed(0, b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
    "two_hosts": http_seed(0, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
}


def rules_seed(small_limits, rules, *checks):
    # Byte 0: small limits (bit 0). The JSON, then NUL-separated checks: a flags byte
    # (bits 0-2 action, bit 3 anonymous, bit 4 role admin, bit 5 role member), the user
    # id, 0x01, the target.
    return bytes([small_limits]) + rules + b"".join(b"\0" + c for c in checks)


SUBSCRIBE, PUBLISH, PRESENCE, HISTORY, DIRECT, COMMAND = range(6)
ANONYMOUS, ADMIN, MEMBER = 8, 16, 32


def check(flags, user, target):
    return bytes([flags]) + user + b"\x01" + target


EXAMPLE_RULES = (b'{"subscribe": [{"pattern": "user.{user}.>"}, {"pattern": "public.>"}, '
                 b'{"pattern": "admin.>", "role": "admin"}, {"pattern": "public.secret", "allow": false}], '
                 b'"publish": [{"pattern": "public.*"}], "history": [{"pattern": ">"}], '
                 b'"direct": [{"pattern": "*"}, {"pattern": "ceo", "allow": false}], '
                 b'"command": [{"pattern": "ping"}, {"pattern": "{user}", "role": "member"}]}')

ACCESS_RULES = {
    "example": rules_seed(0, EXAMPLE_RULES,
                          check(SUBSCRIBE, b"alice", b"user.alice.inbox"),
                          check(SUBSCRIBE, b"alice", b"public.*"),
                          check(SUBSCRIBE | ADMIN, b"root", b"admin.>"),
                          check(PUBLISH, b"alice", b"public.chat"),
                          check(HISTORY, b"alice", b"public.secret"),
                          check(PRESENCE, b"bob", b"user.bob.x"),
                          check(DIRECT, b"alice", b"ceo"),
                          check(COMMAND | MEMBER, b"alice", b"alice")),
    "hostile_user": rules_seed(0, b'{"subscribe": [{"pattern": "user.{user}.>"}], "direct": [{"pattern": "{user}"}]}',
                               check(SUBSCRIBE, b"a.b", b"user.a.b.x"),
                               check(SUBSCRIBE, b"*", b"user.*.x"),
                               check(SUBSCRIBE, b">", b"user.>"),
                               check(SUBSCRIBE | ANONYMOUS, b"", b"user.x.y"),
                               check(DIRECT, b"a.b", b"a.b")),
    "deny_overlap": rules_seed(0, b'{"subscribe": [{"pattern": ">"}, {"pattern": "*.secret.>", "allow": false}, '
                                  b'{"pattern": "a.*", "allow": false, "role": "admin"}]}',
                               check(SUBSCRIBE, b"u", b"x.*.y"),
                               check(SUBSCRIBE | ADMIN, b"u", b"a.>"),
                               check(SUBSCRIBE, b"u", b"*.*")),
    "small_limits": rules_seed(1, b'{"publish": [{"pattern": "a"}, {"pattern": "b"}, {"pattern": "c"}, '
                                  b'{"pattern": "d"}, {"pattern": "e"}]}'),
    "bad_pattern": rules_seed(0, b'{"subscribe": [{"pattern": "a..b"}]}'),
    "bad_shape": rules_seed(0, b'{"subscribe": [{"pattern": "a", "allow": 1, "role": ""}], "x": []}'),
    "escapes": rules_seed(0, b'{"subscribe": [{"pattern": "\\u0061.\\u003e", "role": "\\udc00"}]}'),
}


# fuzz_jwt: byte 0 is settings (bit 0 EdDSA, bit 1 the target signs, bit 2 issuer and
# audience required, bit 3 exp optional, bits 4-5 the leeway). The target's clock reads
# 1700000000 and its HS256 secret is below; its Ed25519 key exists only inside it, so
# EdDSA seeds let the target sign (bit 1).
EDDSA, TARGET_SIGNS, ISSUER_AND_AUDIENCE, EXP_OPTIONAL, LEEWAY_30S = 1, 2, 4, 8, 16
JWT_SECRET = b"fuzz_jwt secret, thirty-two bytes long"
CLAIMS = b'{"sub":"alice","roles":["admin","member"],"exp":1800000000,"iat":1700000000}'


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def hs256_token(header, claims):
    signing_input = b64url(header) + b"." + b64url(claims)
    return signing_input + b"." + b64url(hmac.new(JWT_SECRET, signing_input, hashlib.sha256).digest())


def jwt_seed(settings, header, claims=None):
    """A token as sent (claims None), or header and claims for the target to sign."""
    return bytes([settings]) + (header if claims is None else header + b"\0" + claims)


HS256 = b'{"alg":"HS256","typ":"JWT"}'
JWT = {
    "hs256_valid": jwt_seed(0, hs256_token(HS256, CLAIMS)),
    "hs256_tampered": jwt_seed(0, hs256_token(HS256, CLAIMS)[:-2] + b"AA"),
    "alg_none": jwt_seed(0, b64url(b'{"alg":"none"}') + b"." + b64url(CLAIMS) + b"."),
    "alg_hs256_for_eddsa_key": jwt_seed(EDDSA, hs256_token(HS256, CLAIMS)),
    "padded_parts": jwt_seed(0, base64.urlsafe_b64encode(HS256) + b"." + base64.urlsafe_b64encode(CLAIMS) + b".AA=="),
    "eddsa_signed": jwt_seed(EDDSA | TARGET_SIGNS, b'{"alg":"EdDSA"}', CLAIMS),
    "hs256_signed": jwt_seed(TARGET_SIGNS, HS256, CLAIMS),
    "issuer_audience": jwt_seed(TARGET_SIGNS | ISSUER_AND_AUDIENCE, HS256,
                                b'{"sub":"bob","exp":1700000100.5,"nbf":1699999999,"iss":"fuzz-issuer",'
                                b'"aud":["other","fuzz-audience"]}'),
    "no_exp": jwt_seed(TARGET_SIGNS | EXP_OPTIONAL, HS256, b'{"sub":"carol"}'),
    "expired_within_leeway": jwt_seed(TARGET_SIGNS | LEEWAY_30S, HS256, b'{"sub":"dave","exp":1699999990}'),
    "crit_header": jwt_seed(TARGET_SIGNS, b'{"alg":"HS256","crit":["exp"]}', CLAIMS),
    "duplicate_sub": jwt_seed(TARGET_SIGNS, HS256, b'{"sub":"alice","sub":"root","exp":1800000000}'),
    "escaped_claims": jwt_seed(TARGET_SIGNS, b'{"\\u0061lg":"HS256"}',
                               b'{"sub":"\\u00e9\\ud83d\\ude00","roles":["\\u0000"],"exp":18e8}'),
    "nested": jwt_seed(TARGET_SIGNS, HS256, b'{"sub":"x","exp":1800000000,"x":' + b"[" * 20 + b"]" * 20 + b"}"),
    "wrong_shapes": jwt_seed(TARGET_SIGNS, HS256, b'{"sub":7,"roles":"admin","exp":"tomorrow"}'),
}


def write(directory, seeds):
    path = os.path.join(HERE, "corpus", directory)
    os.makedirs(path, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("websocket_reader", WEBSOCKET)
    write("http_parser", HTTP)
    write("access_rules", ACCESS_RULES)
    write("jwt", JWT)
