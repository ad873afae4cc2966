#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the hand-made seeds of tests/fuzz/corpus/{capi,uri}/seed-*.

The capi seeds are programs in the encoding of capi_fuzz.cpp / capi_ops.hpp /
capi_limiter_ops.hpp (change both together); the uri seeds are plain URIs. Files found
by fuzzing and kept after `-merge=1` sit next to them under their SHA-1 names.
Usage: make_seeds.py [TESTS_FUZZ_DIR]
"""
import os
import struct
import sys

# ---- capi encoding ----------------------------------------------------------------------
LOCAL, SHM, RELEASE_ALL, DEFAULT = 0, 1, 2, 4  # DEFAULT: the process default registry (NULL)
(REGISTER, GET, GET_OR_CREATE, EXISTS, REMOVE, REG_STATS, LIST, RESET, ACQUIRE, TRY_ACQUIRE,
 ACQUIRE_COST, RELEASE, RELEASE2, ASYNC, CANCEL, CREATE, RECONFIGURE, PENALIZE, LIM_STATS,
  DROP, DUP, LOG) = range(22)

# names (draw_name)
A, B, UTF8 = 0, 1, 2
EMPTY, OVERLONG, SURROGATE, BEYOND, TRUNCATED, FF = 3, 11, 19, 27, 35, 43
X254, X255, X256, X257 = 4, 12, 20, 28
MB255, MB256 = 5, 13
NULL_NAME = 7
# counts (draw_count) and windows (draw_window): indexes into the harness's tables
COUNTS = {0: 0, 1: 1, 2: 2, 3: 3, 5: 4, 1000: 5, 'u32max': 6, 'u64half': 7, 'u64max': 8}
WINDOWS = {0.0: 0, -1.0: 1, 'nan': 2, 'inf': 3, '-inf': 4, 'denorm': 5, 1e-10: 6, 4e-10: 7,
           6e-10: 8, 1e-9: 9, 1e-6: 10, 5e-5: 11, 0.001: 12, 1.0: 13, 60.0: 14, 1e9: 15,
           1e9 + 1: 16, 9.3e9: 17, 1e300: 18}
# timeouts (draw_timeout): 0, 1 us, 5 us, 20 us; -1 (forever) for async only
T0, T1US, T5US, T20US, FOREVER = 0, 2, 3, 4, 5
# operand bytes that pick slot 0 (or 1) and a variant: the slot is the byte % 6
TRY0_RETRY = 66          # with a retry_after_ns pointer
ASYNC0_NO_TICKET = 66    # ticket pointer NULL
ASYNC0_COST = 36         # a cost operand follows
CANCEL0_RECORD, CANCEL1_RECORD = 24, 25  # a record index follows: its ticket
CANCEL0_TICKET = 48      # a forged 8-byte ticket follows
# costs (draw_cost)
COST0, COST_MAX, COST_OVER, COST_U64MAX = 0, 1, 2, 3


def cost(n):  # 1..4
    return bytes([5, n - 1])


def cfg(max_concurrent=None, per_window=None, window=None, cost_max=None, shape=0):
    which = 0
    body = b''
    for bit, value, table in ((1, max_concurrent, COUNTS), (2, per_window, COUNTS),
                              (4, window, WINDOWS), (8, cost_max, COUNTS)):
        if value is None:
            continue
        which |= bit
        body += bytes([table[value]])
    return bytes([shape, which]) + body


SIZE0, SIZE_SHORT, SIZE_LONG = 1, 2, 3  # config shapes: struct_size 0, v1 - 1, v1 + 8


def op(code, *parts):
    return bytes([code]) + b''.join(p if isinstance(p, bytes) else bytes([p]) for p in parts)


def release_held(index, with_cost=False):
    return op(RELEASE, 1 if with_cost else 0, *([COST_MAX] if with_cost else []), index)


def release_forged(slot, value):
    return op(RELEASE, 6, slot, 0, struct.pack('<Q', value))


def release_foreign(slot, held_index):
    return op(RELEASE, 6, slot, 1, held_index)


def capi_seeds():
    s = {}
    s['local-register-get-acquire-release'] = bytes([LOCAL]) + b''.join([
        op(REGISTER, A, cfg(2), 0), op(GET, A, 0), op(ACQUIRE, 0, T0), op(ACQUIRE, 0, T0),
        op(ACQUIRE, 0, T5US), release_held(0), release_held(0), op(LIM_STATS, 0, 0),
        op(EXISTS, A), op(LIST, 0), op(REMOVE, A), op(EXISTS, A), op(REMOVE, A)])
    s['private-concurrency-try-forged-foreign'] = bytes([LOCAL]) + b''.join([
        op(CREATE, 0, cfg(2)), op(CREATE, 1, cfg(1)), op(ACQUIRE, 0, T0),
        op(TRY_ACQUIRE, TRY0_RETRY), op(TRY_ACQUIRE, TRY0_RETRY), op(ACQUIRE, 1, T1US),
        release_forged(0, 12345), release_forged(0, 0), release_foreign(0, 2),
        release_held(1), op(LIM_STATS, 0, 0), op(DROP, 1)])
    s['private-window-short'] = bytes([RELEASE_ALL]) + b''.join([
        op(CREATE, 0, cfg(5, 2, 1e-6)), op(ACQUIRE, 0, T0), op(ACQUIRE, 0, T0),
        op(ACQUIRE, 0, T20US), op(TRY_ACQUIRE, TRY0_RETRY), release_held(0), op(ACQUIRE, 0, T20US),
        op(LIM_STATS, 0, 0)])
    s['private-weighted-cost'] = bytes([LOCAL]) + b''.join([
        op(CREATE, 0, cfg(3, 0, 60.0, 1000)), op(ACQUIRE_COST, 0, COST_MAX, T0),
        op(ACQUIRE_COST, 0, COST_OVER, T0), op(ACQUIRE_COST, 0, COST_U64MAX, T0),
        op(ACQUIRE_COST, 0, COST0, T0), op(ACQUIRE_COST, 0, *cost(2), T5US),
        release_held(0, with_cost=True), release_held(1), op(LIM_STATS, 0, 0)])
    s['private-async-cancel-grant'] = bytes([LOCAL]) + b''.join([
        op(CREATE, 0, cfg(1)), op(ACQUIRE, 0, T0), op(ASYNC, 0, FOREVER), op(ASYNC, 0, FOREVER),
        op(ASYNC, 0, T1US), op(CANCEL, CANCEL0_RECORD, 0), op(CANCEL, CANCEL0_RECORD, 0), op(CANCEL, CANCEL0_TICKET, struct.pack('<Q', 7)),
        release_held(0), op(LIM_STATS, 0, 0), op(ASYNC, ASYNC0_NO_TICKET, FOREVER), op(ASYNC, 31, T0)])
    s['private-async-closed-by-unref'] = bytes([LOCAL]) + b''.join([
        op(CREATE, 0, cfg(1, 1, 1e9)), op(DUP, 0, 1), op(ACQUIRE, 0, T0), op(ASYNC, 0, FOREVER),
        op(ASYNC, ASYNC0_COST, COST_OVER, FOREVER), op(DROP, 0), op(DROP, 1)])
    s['private-penalize'] = bytes([LOCAL]) + b''.join([
        op(CREATE, 0, cfg(2, 3, 0.001)), op(PENALIZE, 0, 3), op(ACQUIRE, 0, T5US),
        op(ASYNC, 0, T20US), op(PENALIZE, 0, 5), op(PENALIZE, 0, 7), op(TRY_ACQUIRE, TRY0_RETRY),
        op(PENALIZE, 0, 6), op(ASYNC, 0, FOREVER), op(LIM_STATS, 0, 0)])
    s['private-reconfigure-live'] = bytes([RELEASE_ALL]) + b''.join([
        op(CREATE, 0, cfg(3)), op(ACQUIRE, 0, T0), op(ACQUIRE, 0, T0),
        op(RECONFIGURE, 0, cfg(1, 2, 1e-6, 5)), op(LIM_STATS, 0, 0), op(ASYNC, ASYNC0_COST, COST_MAX, FOREVER),
        op(RECONFIGURE, 0, cfg(1, None, None, 1)), op(RECONFIGURE, 0, cfg(None, None, 'nan')),
        op(RECONFIGURE, 0, cfg(0)), release_held(0), op(ACQUIRE, 0, T1US)])
    names = [EMPTY, OVERLONG, SURROGATE, BEYOND, TRUNCATED, FF, X254, X255, X256, X257, MB255,
             MB256, NULL_NAME, UTF8]
    s['names-edge-cases'] = bytes([LOCAL]) + b''.join(
        op(REGISTER, n, cfg(), 0) + op(EXISTS, n) + op(GET, n, 1) for n in names) + \
        op(REGISTER, 6, 5, b'a\xc3\xa9b\xff\x00', cfg(), 0) + op(LIST, 0)
    bad = [cfg(shape=SIZE0), cfg(shape=SIZE_SHORT), cfg(shape=SIZE_LONG), cfg(0),
           cfg(None, None, 'nan'), cfg(None, None, 'inf'), cfg(None, None, '-inf'),
           cfg(None, None, 0.0), cfg(None, None, -1.0), cfg(None, None, 'denorm'),
           cfg(None, None, 1e-10), cfg(None, None, 6e-10), cfg(None, None, 1e9 + 1),
           cfg('u32max', 'u64max', 1e9, 'u64max')]
    s['configs-edge-cases'] = bytes([LOCAL]) + b''.join(
        op(REGISTER, B, c, 0) + op(CREATE, 2, c) for c in bad) + \
        op(REGISTER, A, cfg(), 6) + op(REGISTER, A, cfg(), 3, struct.pack('<I', 6)) + \
        op(REGISTER, A, cfg(), 1)
    s['registry-stats-list-reset'] = bytes([LOCAL]) + b''.join([
        op(REGISTER, A, cfg(), 0), op(REGISTER, B, cfg(5), 0), op(REGISTER, UTF8, cfg(1), 0),
        op(REGISTER, A, cfg(3), 1), op(REGISTER, B, cfg(), 0),
        op(REG_STATS, A, 0, 0), op(REG_STATS, A, 0, 1), op(REG_STATS, A, 0, 3),
        op(REG_STATS, A, 0, 4), op(REG_STATS, A, 0, 5), op(REG_STATS, A, 15, 0),
        op(LIST, 2), op(LIST, 0), op(LIST, 31), op(LIST, 8), op(LIST, 0), op(RESET),
        op(GET_OR_CREATE, A, cfg(), 0), op(GET_OR_CREATE, A, cfg(2), 1),
        op(DUP, 0, 2), op(GET, A, 15), op(GET_OR_CREATE, B, cfg(0), 3), op(ACQUIRE, 1, T0),
        op(RESET), op(ACQUIRE, 0, T0), release_held(0)])
    # shm:// versions of the registry programs, and what only shm:// does.
    for name in ('local-register-get-acquire-release', 'registry-stats-list-reset',
                 'names-edge-cases', 'private-async-cancel-grant'):
        s['shm-' + name.removeprefix('local-')] = bytes([SHM]) + s[name][1:]
    s['default-registry-stats-list-reset'] = bytes([DEFAULT]) + s['registry-stats-list-reset'][1:]
    s['shm-removed-limiter-is-closed'] = bytes([SHM | RELEASE_ALL]) + b''.join([
        op(REGISTER, A, cfg(1, 5, 0.001), 0), op(GET, A, 0), op(GET, A, 1), op(ACQUIRE, 0, T0),
        op(ASYNC, 1, FOREVER), op(ASYNC, 1, T20US), op(REMOVE, A), op(ACQUIRE, 0, T0),
        release_held(0), op(CANCEL, CANCEL1_RECORD, 0), op(PENALIZE, 1, 3), op(RECONFIGURE, 1, cfg(2)),
        op(LIM_STATS, 1, 0), op(REGISTER, A, cfg(), 0), op(GET, A, 2), op(ACQUIRE, 2, T0)])
    s['log-levels-and-traced-calls'] = bytes([RELEASE_ALL]) + b''.join([
        op(LOG, 0), op(LOG, 1), op(LOG, 9), op(LOG, 2), op(REGISTER, A, cfg(1, 2, 1.0), 0),
        op(GET, A, 0), op(ACQUIRE, 0, T0), op(ACQUIRE, 0, T1US), release_held(0), release_held(0),
        op(PENALIZE, 0, 4), op(ASYNC, 0, T1US), op(REMOVE, A), op(LOG, 8)])
    s['shm-async-window-timer'] = bytes([SHM]) + b''.join([
        op(GET_OR_CREATE, B, cfg(2, 1, 5e-5), 0), op(ACQUIRE, 0, T0), op(ASYNC, 0, FOREVER),
        op(ASYNC, 0, T20US), op(ASYNC, 0, T1US), op(PENALIZE, 0, 4), op(ACQUIRE, 0, T20US),
        release_held(0), op(TRY_ACQUIRE, TRY0_RETRY), op(LIM_STATS, 0, 0), op(REG_STATS, B, 0, 0)])
    return s


# ---- uri ----------------------------------------------------------------------------------
def redis_host(valid, port=''):
    """A HOST[:PORT] that uri_fuzz.cpp maps to a loopback form (valid) or a malformed one."""
    for i in range(1000):
        hp = 'h%d%s' % (i, port)
        pick = len(hp)
        for c in hp.encode():
            pick = (pick * 31 + c) % (1 << 64)
        if (pick % 16 < 4) == valid:
            return hp
    raise RuntimeError('no host')


def uri_seeds():
    ok, bad = redis_host(True), redis_host(False)
    uris = {
        'local': 'local:', 'local-slashes': 'local://', 'local-path': 'local:x', 'empty': '',
        'unknown-scheme': 'http://x', 'upper-scheme': 'REDIS://x',
        'shm': 'shm://seg', 'shm-mode': 'shm://seg?mode=0640', 'shm-mode-0400': 'shm://seg?mode=0400',
        'shm-mode-big': 'shm://seg?mode=1777', 'shm-create-0': 'shm://seg?create=0',
        'shm-create-mode': 'shm://seg?create=1&mode=0600', 'shm-twice': 'shm://seg?mode=0600&mode=0600',
        'shm-unknown-param': 'shm://seg?x=1', 'shm-no-name': 'shm://', 'shm-slash': 'shm://a/b',
        'shm-long': 'shm://' + 'n' * 190, 'shm-bad-char': 'shm://se g',
        'redis-plain': 'redis://%s' % ok, 'redis-port': 'redis://%s' % redis_host(True, ':6379'),
        'redis-all-params': 'redis://%s/3?prefix=p.q-r&lease=0.5&timeout=0.05&on_error=fail' % ok,
        'redis-open': 'redis://%s?on_error=open&timeout=0.02' % ok,
        'redis-password': 'redis://:secret@%s/0' % ok,
        'redis-user-password': 'redis://user:p%%40ss@%s' % ok, 'redis-bad-escape': 'redis://:%%zz@%s' % ok,
        'redis-no-colon-cred': 'redis://user@%s' % ok, 'redis-db-nan': 'redis://%s/x' % ok,
        'redis-db-big': 'redis://%s/99999999999' % ok, 'redis-lease-small': 'redis://%s?lease=0.01' % ok,
        'redis-timeout-big': 'redis://%s?timeout=9999' % ok, 'redis-prefix-colon': 'redis://%s?prefix=a:b' % ok,
        'redis-param-no-value': 'redis://%s?x' % ok, 'redis-param-twice': 'redis://%s?prefix=a&prefix=b' % ok,
        'redis-on-error-bad': 'redis://%s?on_error=maybe' % ok, 'redis-malformed-host': 'redis://%s' % bad,
        'redis-ipv6': 'redis://[%s]:1' % bad, 'redis-empty': 'redis://',
    }
    return {k: v.encode() for k, v in uris.items()}


def main():
    here = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for kind, seeds in (('capi', capi_seeds()), ('uri', uri_seeds())):
        d = os.path.join(here, 'corpus', kind)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, 'seed-' + name), 'wb') as f:
                f.write(data)
        print('%s: %d seeds' % (d, len(seeds)))


if __name__ == '__main__':
    main()
