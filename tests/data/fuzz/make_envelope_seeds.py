#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_envelope: valid frames and the hostile shapes the unit
tests name. Re-run after a wire change: python3 make_envelope_seeds.py"""
import os
import struct

def head(major, n):
    if n < 24: return bytes([major << 5 | n])
    if n < 256: return bytes([major << 5 | 24, n])
    if n < 65536: return bytes([major << 5 | 25]) + struct.pack('>H', n)
    if n < 2**32: return bytes([major << 5 | 26]) + struct.pack('>I', n)
    return bytes([major << 5 | 27]) + struct.pack('>Q', n)

def enc(v):
    if isinstance(v, bool): return b'\xf5' if v else b'\xf4'
    if isinstance(v, int): return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, float): return b'\xfb' + struct.pack('>d', v)
    if isinstance(v, bytes): return head(2, len(v)) + v
    if isinstance(v, str): return head(3, len(v.encode())) + v.encode()
    if isinstance(v, list): return head(4, len(v)) + b''.join(enc(x) for x in v)
    if isinstance(v, dict): return head(5, len(v)) + b''.join(enc(k) + enc(x) for k, x in v.items())
    raise TypeError(v)

def envelope(body, type_='hello', v=1, session=bytes(range(16)), round_=1, seq=0):
    return enc({'v': v, 'type': type_, 'session': session, 'round': round_, 'seq': seq, 'body': body})

tensor = {'name': 'fc.bias', 'shape': [2], 'data': struct.pack('<2f', 0.5, -1.0)}
seeds = {
    'valid_hello': envelope({'sdk': '0.1'}),
    'valid_tensors': envelope({'tensors': [tensor], 'weight': 600}, 'masked_input'),
    'version_2': envelope({}, v=2),
    'short_session': envelope({}, session=b'\x00' * 8),
    'body_array': envelope([]),
    'truncated': envelope({'tensors': [tensor]})[:-5],
    'huge_array': bytes([0x9b, 0, 0, 1, 0, 0, 0, 0, 0, 1]),
    'huge_bytes': head(5, 3) + enc('v') + enc(1) + enc('type') + enc('hello') + enc('session')
                  + bytes([0x5a, 0xff, 0xff, 0xff, 0xff]),
    'deep': b'\x81' * 4096 + b'\x00',
    'tensor_bad_len': envelope({'tensors': [dict(tensor, data=b'\x00' * 7)]}),
    'tensor_huge_shape': envelope({'tensors': [dict(tensor, shape=[2**31, 2**31])]}),
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fuzz_envelope')
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
print(f'wrote {len(seeds)} seeds to {out}')
