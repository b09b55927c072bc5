# Independent reference for the Shamir known answer in tests/unit/secagg/shamir_test.cpp
# ("shamir known answer: fixed seed, counting secret, t = 3 of 5"). Run: python3 shamir_kat.py
# Big-integer limbs (secagg/shamir.hpp layout), the SplitMixCsprng stream
# (tests/unit/secagg/splitmix_csprng.hpp), coefficients in degree-major order, Horner mod p.
M64 = (1 << 64) - 1
P = (1 << 61) - 1
def splitmix(state):
    while True:
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        yield z ^ (z >> 31)
seed = 0x5ec2a66
purpose = 3  # RngPurpose::shamir_coefficients
words = splitmix(seed ^ ((purpose * 0xD1B54A32D192ED03) & M64))
secret = bytes(range(32))
S = int.from_bytes(secret, "little")
limbs = [(S >> (60 * k)) & ((1 << 60) - 1) for k in range(4)] + [S >> 240]
t = 3
coef = [[limbs[k]] for k in range(5)]
for j in range(1, t):
    for k in range(5):
        w = next(words) & P
        assert w != P
        coef[k].append(w)
for x in range(1, 6):
    out = x.to_bytes(4, "little")
    for k in range(5):
        acc = 0
        for c in reversed(coef[k]):
            acc = (acc * x + c) % P
        out += acc.to_bytes(8, "little")
    print(out.hex())
