#!/usr/bin/env python3
"""Independent implementation of the paycode protocol (versions 1 and 2),
written from docs/PROTOCOL.md alone -- without reading the project's code --
that recomputes every derivable value of docs/test-vectors.json and
docs/test-vectors-v2.json from the inputs of each vector and compares.

Usage:
    python3 scripts/spec-check/vectors_from_spec.py docs/test-vectors.json docs/test-vectors-v2.json

Exit status: 0 if every value matched and every field was understood;
1 on any mismatch or on any vector field this script cannot derive;
2 on usage / environment errors.

Only primitives come from the `cryptography` package (AES-256 block
encryption, HMAC-SHA1, HKDF-SHA256). FF1 (NIST SP 800-38G) is implemented
here. If `cryptography` is missing, a venv is created under the repository's
git-ignored .cache/ and the script re-executes itself with it.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(REPO, ".cache", "spec-check-venv")


def _ensure_cryptography():
    lib = VENV + "-lib"
    if os.path.isdir(lib):
        sys.path.insert(0, lib)
    try:
        import cryptography  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("PAYCODE_SPEC_CHECK_REEXEC"):
        sys.stderr.write("error: `cryptography` still not importable inside %s\n" % VENV)
        sys.exit(2)
    py = os.path.join(VENV, "bin", "python3")
    if not os.path.exists(os.path.join(VENV, "bin", "pip")):
        sys.stderr.write("spec-check: installing `cryptography` into %s\n" % VENV)
        try:
            subprocess.check_call([sys.executable, "-m", "venv", "--clear", VENV])
        except (subprocess.CalledProcessError, OSError):
            # No ensurepip (e.g. Debian without python3-venv): fall back to a
            # plain `pip install --target` next to the venv path.
            lib = VENV + "-lib"
            subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet",
                                   "--disable-pip-version-check", "--target", lib, "cryptography"])
            sys.path.insert(0, lib)
            return
    try:
        subprocess.check_call([py, "-c", "import cryptography"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except subprocess.CalledProcessError:
        subprocess.check_call([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               "cryptography"])
    env = dict(os.environ, PAYCODE_SPEC_CHECK_REEXEC="1")
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], env)


_ensure_cryptography()

import hmac as _hmac  # noqa: E402  (constant-time compare only)
from cryptography.hazmat.primitives import hashes, hmac  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: E402


# --------------------------------------------------------------------------
# §2 primitives
# --------------------------------------------------------------------------

def be64(x):
    return x.to_bytes(8, "big")


def be32(x):
    return x.to_bytes(4, "big")


def hmac_sha1(key, msg):
    h = hmac.HMAC(key, hashes.SHA1())
    h.update(msg)
    return h.finalize()


def dt(h, n):
    """RFC 4226 §5.3 dynamic truncation, result mod 10^n."""
    o = h[19] & 0x0F
    v = ((h[o] & 0x7F) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3]
    return v % (10 ** n)


def hotp(key, counter, digits):
    return dt(hmac_sha1(key, be64(counter)), digits)


def hkdf_sha256(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


class _AES:
    def __init__(self, key):
        if len(key) != 32:
            raise ValueError("AES-256 key must be 32 bytes")
        self._enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()

    def block(self, b):
        assert len(b) == 16
        return self._enc.update(b)


# --------------------------------------------------------------------------
# NIST SP 800-38G FF1 (Algorithms 7, 8, 9), general radix; used with radix 10.
# --------------------------------------------------------------------------

def _num(digits, radix):
    x = 0
    for d in digits:
        x = x * radix + d
    return x


def _str(x, radix, m):
    out = [0] * m
    for i in range(m - 1, -1, -1):
        out[i] = x % radix
        x //= radix
    if x:
        raise ValueError("value does not fit")
    return out


class FF1:
    def __init__(self, key, radix=10):
        self.aes = _AES(key)
        self.radix = radix

    def _prf(self, data):
        assert len(data) % 16 == 0
        y = bytes(16)
        for i in range(0, len(data), 16):
            y = self.aes.block(bytes(a ^ b for a, b in zip(y, data[i:i + 16])))
        return y

    def _params(self, n, t):
        radix = self.radix
        u = n // 2
        v = n - u
        # b = ceil(ceil(v * log2(radix)) / 8), computed exactly:
        # ceil(log2(N)) == (N - 1).bit_length() for N >= 1.
        bits = (radix ** v - 1).bit_length()
        b = (bits + 7) // 8
        d = 4 * ((b + 3) // 4) + 4
        p = (bytes([1, 2, 1]) + radix.to_bytes(3, "big") + bytes([10, u % 256])
             + n.to_bytes(4, "big") + t.to_bytes(4, "big"))
        return u, v, b, d, p

    def _round_y(self, p, tweak, i, numeral, b, d):
        t = len(tweak)
        q = tweak + bytes((-t - b - 1) % 16) + bytes([i]) + numeral.to_bytes(b, "big")
        r = self._prf(p + q)
        s = bytearray(r)
        j = 1
        while len(s) < d:
            s += self.aes.block(bytes(a ^ c for a, c in zip(r, j.to_bytes(16, "big"))))
            j += 1
        return int.from_bytes(bytes(s[:d]), "big")

    def encrypt(self, tweak, x):
        radix = self.radix
        n = len(x)
        u, v, b, d, p = self._params(n, len(tweak))
        a, bb = list(x[:u]), list(x[u:])
        for i in range(10):
            y = self._round_y(p, tweak, i, _num(bb, radix), b, d)
            m = u if i % 2 == 0 else v
            c = (_num(a, radix) + y) % (radix ** m)
            a, bb = bb, _str(c, radix, m)
        return a + bb

    def decrypt(self, tweak, x):
        radix = self.radix
        n = len(x)
        u, v, b, d, p = self._params(n, len(tweak))
        a, bb = list(x[:u]), list(x[u:])
        for i in range(9, -1, -1):
            y = self._round_y(p, tweak, i, _num(a, radix), b, d)
            m = u if i % 2 == 0 else v
            c = (_num(bb, radix) - y) % (radix ** m)
            a, bb = _str(c, radix, m), a
        return a + bb


def ff1_aes256_dec_string(key, tweak, s):
    """FF1-AES256(K, T, X) on a decimal string (radix 10)."""
    out = FF1(key, 10).encrypt(tweak, [int(ch) for ch in s])
    return "".join(str(d) for d in out)


def ff1_aes256_dec_string_inverse(key, tweak, s):
    out = FF1(key, 10).decrypt(tweak, [int(ch) for ch in s])
    return "".join(str(d) for d in out)


# --------------------------------------------------------------------------
# §3 code layout, parsing, display
# --------------------------------------------------------------------------

class ParseError(Exception):
    pass


def parse_code(text):
    """§3 Parsing: returns (prefix, identity field, otp) as strings."""
    kept = []
    for pos, ch in enumerate(text, start=1):
        if ch in (" ", "-"):
            continue
        if not ("0" <= ch <= "9"):
            raise ParseError("invalid character %r at position %d" % (ch, pos))
        kept.append(ch)
    if len(kept) != 18:
        raise ParseError("expected 18 digits, got %d" % len(kept))
    s = "".join(kept)
    if s[0] == "0":
        raise ParseError("prefix has a leading 0")
    return s[0:2], s[2:12], s[12:18]


def display(code):
    return "%s %s %s %s" % (code[0:4], code[4:8], code[8:12], code[12:18])


# --------------------------------------------------------------------------
# §4 / §5 protocol 1, §12 protocol 2
# --------------------------------------------------------------------------

SALT_V1 = b"paycode/v1"
SALT_V2 = b"paycode/v2"
HPKE_INFO = b"paycode/v2/bundle"


def hkdf_info(prefix, epoch, day):
    return b"identity" + bytes([prefix]) + be32(epoch) + be32(day)


def day_key(salt, secret, prefix, epoch, day):
    return hkdf_sha256(salt, secret, hkdf_info(prefix, epoch, day), 32)


def step_of(t, s):
    return t // s


def day_of_step(step, s):
    return (step * s) // 86400


def identity_plaintext(slot, counter):
    return "%010d" % (slot * 10 + counter)


def otp_message(prefix, ident, step, counter):
    return ("%02d" % prefix).encode("ascii") + ident.encode("ascii") + be64(step) + bytes([counter])


def otp_of(seed, msg):
    return "%06d" % dt(hmac_sha1(seed, msg), 6)


def v2_table(secret, prefix, epoch, step_secs, slot, refreshes, valid_from, valid_until):
    """§12.3: returns (first_step, step_count, [I(step, c)] in table order)."""
    first_step = valid_from // step_secs
    last_step = (valid_until - 1) // step_secs
    step_count = last_step - first_step + 1
    fields = []
    keys = {}
    for step in range(first_step, last_step + 1):
        d = day_of_step(step, step_secs)
        if d not in keys:
            keys[d] = day_key(SALT_V2, secret, prefix, epoch, d)
        for c in range(refreshes):
            fields.append(ff1_aes256_dec_string(keys[d], be64(step),
                                                identity_plaintext(slot, c)))
    return first_step, step_count, fields


def table_bytes(fields):
    return b"".join(int(f).to_bytes(5, "big") for f in fields)


def v2_header(device_id, sequence, prefix, step_secs, valid_from, valid_until,
              issuer_time_ms, first_step, step_count, refreshes):
    """§12.4: the public header = every field before `enc`."""
    did = device_id.encode("ascii")
    return (b"PCB" + bytes([0x02]) + bytes([len(did)]) + did
            + sequence.to_bytes(8, "big") + bytes([prefix]) + step_secs.to_bytes(4, "big")
            + valid_from.to_bytes(8, "big", signed=True)
            + valid_until.to_bytes(8, "big", signed=True)
            + issuer_time_ms.to_bytes(8, "big", signed=True)
            + first_step.to_bytes(8, "big") + step_count.to_bytes(4, "big")
            + bytes([refreshes]))


# --------------------------------------------------------------------------
# checking machinery
# --------------------------------------------------------------------------

class Checker:
    def __init__(self, label):
        self.label = label
        self.checked = 0
        self.matched = 0
        self.extra_checked = 0
        self.extra_matched = 0
        self.mismatches = []
        self.underivable = []

    def cmp(self, where, field, expected, got):
        """Compare a value that is in the vector file."""
        self.checked += 1
        if expected == got:
            self.matched += 1
        else:
            self.mismatches.append("%s: %s: file has %r, spec gives %r" % (where, field, expected, got))

    def extra(self, where, what, ok, detail=""):
        """A consistency check not stored in the file (round trips, ranges)."""
        self.extra_checked += 1
        if ok:
            self.extra_matched += 1
        else:
            self.mismatches.append("%s: [consistency] %s %s" % (where, what, detail))


def hexs(b):
    return b.hex()


V1_INPUTS = {"name", "prefix", "step_secs", "unix_time", "issuer_secret", "epoch", "seed",
             "slot", "counter"}
V1_DERIVED = {"step", "day", "hkdf_info", "identity_key", "ff1_tweak", "identity_plaintext",
              "identity_field", "otp_message", "otp", "code", "display"}
V2_VEC_DERIVED = V1_DERIVED | {"hkdf_salt", "table_entry"}
CRED_INPUTS = {"name", "prefix", "step_secs", "issuer_secret", "epoch", "seed", "slot",
               "refreshes", "valid_from", "valid_until", "device_id", "sequence",
               "issuer_time_ms"}
CRED_DERIVED = {"first_step", "step_count", "identity_fields", "header", "plaintext", "hpke_info"}


def check_code_vector(ck, where, v, version, known_fields):
    for k in v:
        if k not in V1_INPUTS and k not in known_fields:
            ck.underivable.append("%s: unknown field %r (cannot derive)" % (where, k))
    missing = [k for k in V1_INPUTS if k not in v]
    if missing:
        ck.underivable.append("%s: missing input fields %s" % (where, sorted(missing)))
        return

    P, S, t = v["prefix"], v["step_secs"], v["unix_time"]
    secret, seed = bytes.fromhex(v["issuer_secret"]), bytes.fromhex(v["seed"])
    e, s, c = v["epoch"], v["slot"], v["counter"]
    salt = SALT_V1 if version == 1 else SALT_V2

    step = step_of(t, S)
    d = day_of_step(step, S)
    info = hkdf_info(P, e, d)
    key = hkdf_sha256(salt, secret, info, 32)
    tweak = be64(step)
    x = identity_plaintext(s, c)
    ident = ff1_aes256_dec_string(key, tweak, x)
    msg = otp_message(P, ident, step, c)
    otp = otp_of(seed, msg)
    code = ("%02d" % P) + ident + otp
    disp = display(code)

    derived = {
        "step": step, "day": d, "hkdf_info": hexs(info), "identity_key": hexs(key),
        "ff1_tweak": hexs(tweak), "identity_plaintext": x, "identity_field": ident,
        "otp_message": hexs(msg), "otp": otp, "code": code, "display": disp,
    }
    if version == 2:
        derived["hkdf_salt"] = hexs(salt)
        derived["table_entry"] = hexs(int(ident).to_bytes(5, "big"))
    for k in sorted(known_fields):
        if k in v:
            ck.cmp(where, k, v[k], derived[k])

    # Consistency (not stored values): ranges, message length, parse of the
    # file's code and display, verifier-side inverse recovering (slot, counter).
    ck.extra(where, "prefix in 10..99", 10 <= P <= 99)
    ck.extra(where, "slot in 0..10^9-1", 0 <= s < 10 ** 9)
    # v1: 0..9 (§4). v2 code vectors carry no `refreshes`; R <= 10 (§12.3).
    ck.extra(where, "counter in 0..9", 0 <= c <= 9)
    ck.extra(where, "otp_message is 21 bytes", len(msg) == 21)
    for fld in ("code", "display"):
        if fld in v:
            try:
                pp, ii, oo = parse_code(v[fld])
                ck.extra(where, "parse(%s)" % fld, (pp, ii, oo) == ("%02d" % P, ident, otp),
                         "-> %r" % ((pp, ii, oo),))
            except ParseError as err:
                ck.extra(where, "parse(%s)" % fld, False, str(err))
    if "code" in v:
        hy = v["code"][:4] + "-" + v["code"][4:8] + "-" + v["code"][8:12] + "-" + v["code"][12:]
        try:
            ck.extra(where, "parse(hyphenated code)", parse_code(hy)[1] == ident)
        except ParseError as err:
            ck.extra(where, "parse(hyphenated code)", False, str(err))
        # verifier: decrypt the file's identity field with the derived key
        fid = v.get("identity_field", ident)
        back = int(ff1_aes256_dec_string_inverse(key, tweak, fid))
        ck.extra(where, "FF1^-1 recovers (slot, counter)", (back // 10, back % 10) == (s, c),
                 "-> %r" % ((back // 10, back % 10),))
        # verifier's OTP comparison (constant time) on the file's code
        ck.extra(where, "verifier OTP matches (constant-time compare)",
                 _hmac.compare_digest(otp_of(seed, otp_message(P, fid, step, c)).encode(),
                                      v["code"][12:].encode()))
    return derived


def check_credential(ck, where, cr, v2_fields_by_step):
    for k in cr:
        if k not in CRED_INPUTS and k not in CRED_DERIVED:
            ck.underivable.append("%s: unknown field %r (cannot derive)" % (where, k))
    missing = [k for k in CRED_INPUTS if k not in cr]
    if missing:
        ck.underivable.append("%s: missing input fields %s" % (where, sorted(missing)))
        return
    P, S, R = cr["prefix"], cr["step_secs"], cr["refreshes"]
    secret, seed = bytes.fromhex(cr["issuer_secret"]), bytes.fromhex(cr["seed"])
    vf, vu = cr["valid_from"], cr["valid_until"]
    first_step, step_count, fields = v2_table(secret, P, cr["epoch"], S, cr["slot"], R, vf, vu)
    table = table_bytes(fields)
    header = v2_header(cr["device_id"], cr["sequence"], P, S, vf, vu, cr["issuer_time_ms"],
                       first_step, step_count, R)
    derived = {
        "first_step": first_step, "step_count": step_count, "identity_fields": fields,
        "header": hexs(header), "plaintext": hexs(seed + table), "hpke_info": hexs(HPKE_INFO),
    }
    for k in sorted(CRED_DERIVED):
        if k not in cr:
            continue
        if k == "identity_fields" and isinstance(cr[k], list):
            exp = cr[k]
            if len(exp) != len(fields):
                ck.cmp(where, "identity_fields (count)", len(exp), len(fields))
            for i, (a, b) in enumerate(zip(exp, fields)):
                ck.cmp(where, "identity_fields[%d]" % i, a, b)
        else:
            ck.cmp(where, k, cr[k], derived[k])

    # Consistency with §12.3 / §12.4 constraints and with the code vectors.
    did = cr["device_id"]
    ck.extra(where, "device_id 1..64 chars of [A-Za-z0-9_-]",
             1 <= len(did) <= 64 and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in did))
    ck.extra(where, "step_secs in 10..600", 10 <= S <= 600)
    ck.extra(where, "refreshes in 1..10", 1 <= R <= 10)
    ck.extra(where, "validity non-empty and <= 31 days", 0 < vu - vf <= 31 * 86400)
    ck.extra(where, "step_count*R <= 40324", step_count * R <= 40324)
    ck.extra(where, "issuer_time_ms > 0", cr["issuer_time_ms"] > 0)
    ck.extra(where, "table length = step_count*R*5", len(table) == step_count * R * 5)
    ck.extra(where, "every table value < 10^10", all(int(f) < 10 ** 10 for f in fields))
    # The header must parse back (device side) to what it was built from.
    try:
        hb = bytes.fromhex(cr.get("header", ""))
        idl = hb[4]
        off = 5 + idl
        parsed = {
            "magic": hb[0:3], "version": hb[3], "device_id": hb[5:off].decode("ascii"),
            "sequence": int.from_bytes(hb[off:off + 8], "big"), "prefix": hb[off + 8],
            "step_secs": int.from_bytes(hb[off + 9:off + 13], "big"),
            "valid_from": int.from_bytes(hb[off + 13:off + 21], "big", signed=True),
            "valid_until": int.from_bytes(hb[off + 21:off + 29], "big", signed=True),
            "issuer_time_ms": int.from_bytes(hb[off + 29:off + 37], "big", signed=True),
            "first_step": int.from_bytes(hb[off + 37:off + 45], "big"),
            "step_count": int.from_bytes(hb[off + 45:off + 49], "big"),
            "refreshes": hb[off + 49], "len": len(hb) - (off + 50),
        }
        ok = (parsed["magic"] == b"PCB" and parsed["version"] == 2 and parsed["device_id"] == did
              and parsed["sequence"] == cr["sequence"] and parsed["prefix"] == P
              and parsed["step_secs"] == S and parsed["valid_from"] == vf
              and parsed["valid_until"] == vu and parsed["issuer_time_ms"] == cr["issuer_time_ms"]
              and parsed["first_step"] == first_step and parsed["step_count"] == step_count
              and parsed["refreshes"] == R and parsed["len"] == 0)
        ck.extra(where, "file header parses field by field (§12.4 order, ends after refreshes)",
                 ok, repr(parsed))
    except Exception as err:  # noqa: BLE001
        ck.extra(where, "file header parses", False, repr(err))
    # Device side §12.5: the code of (step, c) made from the file's plaintext
    # table equals the one made by the issuer-side FF1 (and any code vector for
    # the same slot/seed/step/counter agrees).
    try:
        pt = bytes.fromhex(cr["plaintext"])
        ck.extra(where, "plaintext starts with seed", pt[:32] == seed)
        tab = pt[32:]
        for idx in range(step_count * R):
            step, c = first_step + idx // R, idx % R
            entry = "%010d" % int.from_bytes(tab[idx * 5:idx * 5 + 5], "big")
            key = (P, cr["epoch"], secret, S, cr["slot"], step, c)
            if key in v2_fields_by_step:
                ck.extra(where, "table entry (step %d, c %d) equals code vector's field" % (step, c),
                         entry == v2_fields_by_step[key])
    except Exception as err:  # noqa: BLE001
        ck.extra(where, "plaintext table readable", False, repr(err))


def self_tests(ck):
    """Primitive self-tests against published samples (not vector values)."""
    # NIST SP 800-38G FF1 samples 7 and 8 (AES-256, radix 10).
    k = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94")
    for name, tw, exp in (("7", b"", "6657667009"),
                          ("8", bytes.fromhex("39383736353433323130"), "1001623463")):
        got = ff1_aes256_dec_string(k, tw, "0123456789")
        ck.extra("self-test", "NIST FF1 sample %s" % name, got == exp, "got %s" % got)
        ck.extra("self-test", "NIST FF1 sample %s inverse" % name,
                 ff1_aes256_dec_string_inverse(k, tw, exp) == "0123456789")
    # RFC 4226 Appendix D.
    secret = b"12345678901234567890"
    rfc4226 = ["755224", "287082", "359152", "969429", "338314",
               "254676", "287922", "162583", "399871", "520489"]
    for i, exp in enumerate(rfc4226):
        ck.extra("self-test", "RFC 4226 HOTP count %d" % i, "%06d" % hotp(secret, i, 6) == exp)
    # RFC 6238 Appendix B, SHA-1 rows (T0 = 0, X = 30, 8 digits).
    for t, exp in ((59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
                   (1234567890, "89005924"), (2000000000, "69279037"),
                   (20000000000, "65353130")):
        ck.extra("self-test", "RFC 6238 TOTP T=%d" % t, "%08d" % hotp(secret, t // 30, 8) == exp)


def check_file(path):
    with open(path) as f:
        doc = json.load(f)
    ck = Checker(path)
    pv = doc.get("protocol_version")
    if pv not in (1, 2):
        ck.underivable.append("%s: protocol_version %r not 1 or 2" % (path, pv))
        return ck
    expected_top = {"protocol_version", "description", "vectors"} | ({"credentials"} if pv == 2 else set())
    for k in doc:
        if k not in expected_top:
            ck.underivable.append("%s: unknown top-level key %r" % (path, k))
    known = V1_DERIVED if pv == 1 else V2_VEC_DERIVED
    v2_fields = {}
    for i, v in enumerate(doc.get("vectors", [])):
        where = "vectors[%d] %r" % (i, v.get("name"))
        derived = check_code_vector(ck, where, v, pv, known)
        if pv == 2 and derived:
            v2_fields[(v["prefix"], v["epoch"], bytes.fromhex(v["issuer_secret"]), v["step_secs"],
                       v["slot"], derived["step"], v["counter"])] = derived["identity_field"]
    if pv == 2:
        for i, cr in enumerate(doc.get("credentials", [])):
            check_credential(ck, "credentials[%d] %r" % (i, cr.get("name")), cr, v2_fields)
    return ck


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    st = Checker("self-tests")
    self_tests(st)
    results = [st] + [check_file(p) for p in argv[1:]]
    bad = False
    for ck in results:
        print("%s: %d/%d vector values matched; %d/%d consistency checks passed"
              % (ck.label, ck.matched, ck.checked, ck.extra_matched, ck.extra_checked))
        for m in ck.mismatches:
            print("  MISMATCH " + m)
        for u in ck.underivable:
            print("  NOT DERIVED " + u)
        if ck.mismatches or ck.underivable:
            bad = True
    print("RESULT: %s" % ("FAIL" if bad else "OK"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
