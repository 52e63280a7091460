"""An independent reader of shmconf segments, written from docs/FORMAT.md alone.

It shares no code with the C++ reader: every constant, offset and rule below
is taken from FORMAT.md (section numbers in the comments), so a test that
compares what it decodes with what the C++ tools print checks the document
as much as the code. It needs only the standard library and python3-xxhash
(XXH3-64, FORMAT.md §5.2).

    seg = open_live("shmconf", "app")      # control block -> live segment
    seg.lookup("database.port")             # node index, by the hash index
    seg.to_python()                          # the whole tree

Cost: validation is O(segment); a lookup is O(probes + key length). It is a
test reader, not a fast one.
"""

import mmap
import os
import stat
import struct

import xxhash

# §4.1, §6.1, §10
SEG_MAGIC = 0x01474553434D4853
SEG_VERSION = 3
SEG_SIGNATURE = 0x3B55BA98
CTL_MAGIC = 0x014C5443434D4853
CTL_VERSION = 1
CTL_SIGNATURE = 0x1EF127A2
HEADER_SIZE = 128
MAX_SEGMENT = 0xFFFFFFFF
MAX_NODES = 1 << 25
SEQLOCK_ATTEMPTS = 10000

# §4.2
T_NULL, T_BOOL, T_INT, T_DOUBLE, T_STRING, T_ARRAY, T_OBJECT = range(7)
TYPE_NAMES = ["null", "bool", "int", "double", "string", "array", "object"]

HEADER = struct.Struct("<QIIIIQQQQQIIIIIIIIQQIIQ")
HEADER_FIELDS = (
    "magic format_version layout_signature header_size flags segment_size checksum "
    "version publish_time_ns content_hash node_count index_capacity nodes_off index_off "
    "strings_off strings_size meta_off meta_size hash_seed prev_version origins_off "
    "reserved1 reserved2"
).split()
NODE = struct.Struct("<QII")  # payload, name, bits (§4.2)
ORIGIN = struct.Struct("<IHH")  # line, column, source (§4.3)
SLOT = struct.Struct("<I")  # word: node | tag << 25 (§4.4)
META = struct.Struct("<IIIIIIQ")  # §4.5
STRREF = struct.Struct("<II")
CHANGED = struct.Struct("<IIII")  # §4.6
# §6.1: the record is 7 u64 at offset 40
CTL_HEAD = struct.Struct("<QIIII")
assert HEADER.size == 128 and NODE.size == 16 and SLOT.size == 4 and META.size == 32


class FormatError(Exception):
    """A refused object. `code` is "corrupt", "version", "permission" or "busy"."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


def _corrupt(msg):
    raise FormatError("corrupt", msg)


def _within(off, length, lo, hi):
    # §7: lo <= off and off + len <= hi (Python integers do not overflow).
    return lo <= off and off + length <= hi


def xxh3(data):
    return xxhash.xxh3_64_intdigest(bytes(data))


def key_hash(path, seed=0):
    # §5.2
    h = xxhash.xxh3_64_intdigest(path, seed=seed)
    return 1 if h == 0 else h


def slot_tag(h):
    return h & 0x7F


def home_slot(h, capacity):
    # §5.3: Lemire's fastrange, the full 128-bit product.
    return (h * capacity) >> 64


class Segment:
    """One validated segment (§7, rules 1-23). `buf` is any buffer (bytes,
    mmap); `rec_checksum`/`rec_version` are the control block's record, or
    None to skip rules 8 and 23 (a segment read from a file)."""

    def __init__(self, buf, rec_checksum=None, rec_version=None):
        self.buf = memoryview(buf)
        self._check_header(rec_checksum)
        self._check_sections()
        self._read_nodes()
        self._check_nodes()
        self._check_index()
        self._check_meta()
        if rec_version is not None and self.h["version"] != rec_version:
            _corrupt(f"version {self.h['version']} != record {rec_version}")  # rule 23

    # ---- validation ---------------------------------------------------------
    def _check_header(self, rec_checksum):
        b = self.buf
        if len(b) < HEADER_SIZE:
            _corrupt("shorter than the header")  # rule 1
        h = dict(zip(HEADER_FIELDS, HEADER.unpack_from(b, 0)))
        self.h = h
        if h["magic"] != SEG_MAGIC:
            _corrupt(f"bad magic {h['magic']:#x}")  # rule 3
        if h["format_version"] != SEG_VERSION:
            raise FormatError("version", f"segment format version {h['format_version']}")
        if h["layout_signature"] != SEG_SIGNATURE:
            raise FormatError("version", f"layout signature {h['layout_signature']:#x}")
        if h["header_size"] != HEADER_SIZE or h["flags"] != 0:
            _corrupt("header_size or flags")  # rule 6
        size = h["segment_size"]
        if not (HEADER_SIZE <= size <= len(b) and size <= MAX_SEGMENT):
            _corrupt(f"segment_size {size}, mapped {len(b)}")  # rule 7
        if rec_checksum is not None and h["checksum"] != rec_checksum:
            _corrupt("checksum differs from the record")  # rule 8
        if xxh3(b[40:size]) != h["checksum"]:
            _corrupt("checksum mismatch")  # rule 9
        self.size = size

    def _check_sections(self):
        h, size = self.h, self.size
        for f in ("nodes_off", "origins_off", "index_off", "meta_off"):
            if h[f] % 8:
                _corrupt(f"{f} not 8-aligned")  # rule 10
        n, cap = h["node_count"], h["index_capacity"]
        ranges = [
            ("nodes", h["nodes_off"], n * 16),
            ("origins", h["origins_off"], n * 8),
            ("index", h["index_off"], cap * 4),
            ("strings", h["strings_off"], h["strings_size"]),
            ("meta", h["meta_off"], h["meta_size"]),
        ]
        for name, off, length in ranges:
            if not _within(off, length, HEADER_SIZE, size):
                _corrupt(f"{name} section out of bounds")  # rule 11
        if h["meta_size"] < 32:
            _corrupt("meta_size < 32")
        if not (1 <= n <= MAX_NODES and cap >= n):
            _corrupt("node_count or index_capacity")  # rule 12
        self.pool = (h["strings_off"], h["strings_off"] + h["strings_size"])

    def _read_nodes(self):
        off = self.h["nodes_off"]
        self.nodes = [NODE.unpack_from(self.buf, off + 16 * i) for i in range(self.h["node_count"])]

    def _in_pool(self, off, length):
        return _within(off, length, *self.pool)

    def _name_bytes(self, name_off):
        length = struct.unpack_from("<H", self.buf, name_off - 2)[0]
        return bytes(self.buf[name_off : name_off + length])

    def _check_nodes(self):
        nodes, count, b = self.nodes, len(self.nodes), self.buf
        payload, name, bits = nodes[0]
        if bits & 7 != T_OBJECT or name != 0 or bits >> 4 != 0:
            _corrupt("node 0 is not a root object")  # rule 13
        children = 0
        for i, (payload, name, bits) in enumerate(nodes):
            t = bits & 7
            lo, hi = payload & 0xFFFFFFFF, payload >> 32
            if t == 7:
                _corrupt(f"node {i}: type 7")  # rule 14
            if t == T_STRING and not (self._in_pool(lo, hi + 1) and b[lo + hi] == 0):
                _corrupt(f"node {i}: string out of the pool")
            if t == T_BOOL and payload > 1:
                _corrupt(f"node {i}: bool payload {payload}")
            if t in (T_ARRAY, T_OBJECT):
                if not ((hi == 0 or lo > i) and lo + hi <= count):
                    _corrupt(f"node {i}: child range")
                children += hi
            if i == 0:
                continue
            p = bits >> 4
            if p >= i or nodes[p][2] & 7 not in (T_ARRAY, T_OBJECT):
                _corrupt(f"node {i}: parent {p}")  # rule 15
            plo, phi = nodes[p][0] & 0xFFFFFFFF, nodes[p][0] >> 32
            if not plo <= i < plo + phi:
                _corrupt(f"node {i}: outside its parent's children")
            if nodes[p][2] & 7 == T_ARRAY:
                if name != 0:
                    _corrupt(f"node {i}: array element with a name")  # rule 16
            else:
                s0, s1 = self.pool
                if not s0 + 2 <= name < s1:
                    _corrupt(f"node {i}: name offset")
                length = struct.unpack_from("<H", b, name - 2)[0]
                if length < 1 or not self._in_pool(name, length + 1) or b[name + length] != 0:
                    _corrupt(f"node {i}: name")
        if children != count - 1:
            _corrupt("child counts do not add up to node_count - 1")  # rule 17

    def _check_index(self):
        off, cap, count = self.h["index_off"], self.h["index_capacity"], len(self.nodes)
        words = [SLOT.unpack_from(self.buf, off + 4 * i)[0] for i in range(cap)]
        self.slots = [(w, w >> 25, w & 0x1FFFFFF) for w in words]  # word, tag, node
        used = 0
        for word, _, node in self.slots:
            if word != 0:
                used += 1
                if not 1 <= node < count:
                    _corrupt("slot names no node")  # rule 18
        if used != count - 1:
            _corrupt(f"{used} used slots for {count - 1} keys")  # rule 19

    def _check_meta(self):
        h, b = self.h, self.buf
        m0, m1 = h["meta_off"], h["meta_off"] + h["meta_size"]
        src_n, src_off, ch_n, ch_off, trig_off, trig_len, _ = META.unpack_from(b, m0)
        if src_off % 4 or ch_off % 4:
            _corrupt("metadata tables not 4-aligned")  # rule 20
        if not _within(src_off, src_n * 8, m0, m1) or not _within(ch_off, ch_n * 16, m0, m1):
            _corrupt("metadata tables out of bounds")
        if not self._in_pool(trig_off, trig_len):
            _corrupt("trigger out of the pool")
        self.trigger = bytes(b[trig_off : trig_off + trig_len]).decode()
        self.sources = []
        for i in range(src_n):
            off, length = STRREF.unpack_from(b, src_off + 8 * i)
            if not self._in_pool(off, length):
                _corrupt(f"source {i} out of the pool")  # rule 21
            self.sources.append(bytes(b[off : off + length]).decode())
        self.changed = []
        for i in range(ch_n):
            off, length, kind, _ = CHANGED.unpack_from(b, ch_off + 16 * i)
            if not self._in_pool(off, length + 1) or b[off + length] != 0 or kind not in (1, 2, 3):
                _corrupt(f"changed key {i}")  # rule 22
            self.changed.append((bytes(b[off : off + length]).decode(), kind))

    # ---- reading ------------------------------------------------------------
    @property
    def version(self):
        return self.h["version"]

    def node_type(self, i):
        return self.nodes[i][2] & 7

    def sensitive(self, i):
        return bool(self.nodes[i][2] & 8)

    def parent(self, i):
        return self.nodes[i][2] >> 4

    def children(self, i):
        payload = self.nodes[i][0]
        first, count = payload & 0xFFFFFFFF, payload >> 32
        return range(first, first + count)

    def name(self, i):
        return self._name_bytes(self.nodes[i][1]) if self.nodes[i][1] else None

    def origin(self, i):
        line, column, source = ORIGIN.unpack_from(self.buf, self.h["origins_off"] + 8 * i)
        src = self.sources[source] if source < len(self.sources) else None  # §4.3
        return src, line, column

    def scalar(self, i):
        payload, _, bits = self.nodes[i]
        t = bits & 7
        if t == T_NULL:
            return None
        if t == T_BOOL:
            return payload == 1
        if t == T_INT:
            return struct.unpack("<q", struct.pack("<Q", payload))[0]
        if t == T_DOUBLE:
            return struct.unpack("<d", struct.pack("<Q", payload))[0]
        if t == T_STRING:
            off, length = payload & 0xFFFFFFFF, payload >> 32
            return bytes(self.buf[off : off + length]).decode()
        raise ValueError(f"node {i} is a container")

    def path(self, i):
        """The full key path of node i (§5.1), as bytes."""
        steps = []
        depth = 0
        while i != 0:
            depth += 1
            if depth > 4096:
                _corrupt("path too deep")
            p = self.parent(i)
            if self.nodes[i][1] == 0:
                steps.append(b"[%d]" % (i - self.children(p).start))
            else:
                steps.append(self.name(i) if p == 0 else b"." + self.name(i))
            i = p
        return b"".join(reversed(steps))

    def to_python(self, i=0, depth=0):
        if depth > 256:
            _corrupt("tree too deep")
        t = self.node_type(i)
        if t == T_OBJECT:
            return {self.name(c).decode(): self.to_python(c, depth + 1) for c in self.children(i)}
        if t == T_ARRAY:
            return [self.to_python(c, depth + 1) for c in self.children(i)]
        return self.scalar(i)

    def _matches(self, key, n):
        # §5.3 matches(key, n)
        pos = len(key)
        while n != 0:
            p = self.parent(n)
            if self.nodes[n][1] == 0:
                step = b"[%d]" % (n - self.children(p).start)
                if not key[:pos].endswith(step):
                    return False
                pos -= len(step)
            else:
                m = self.name(n)
                if not key[:pos].endswith(m):
                    return False
                pos -= len(m)
                if p != 0:
                    if pos <= 0 or key[pos - 1 : pos] != b".":
                        return False
                    pos -= 1
            n = p
        return pos == 0

    def lookup(self, key):
        """Node index of `key` (str or bytes), or None. "" is the root."""
        if isinstance(key, str):
            key = key.encode()
        if key == b"":
            return 0
        h = key_hash(key, self.h["hash_seed"])
        tag, cap = slot_tag(h), self.h["index_capacity"]
        i = home_slot(h, cap)
        for _ in range(cap):
            s_word, s_tag, s_node = self.slots[i]
            if s_word == 0:
                return None
            if s_tag == tag and self._matches(key, s_node):
                return s_node
            i = 0 if i + 1 == cap else i + 1
        return None


def _check_object(fd, expected_uid=None):
    # §7 A-B and the control block checks: regular file, owner, not writable
    # by group or others.
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise FormatError("permission", "not a regular file")
    if st.st_mode & 0o022:
        raise FormatError("permission", f"writable by group or others ({st.st_mode & 0o777:o})")
    if expected_uid is not None and st.st_uid != expected_uid:
        raise FormatError("permission", f"owned by uid {st.st_uid}")
    return st


def _map_readonly(path, length=None, expected_uid=None):
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = _check_object(fd, expected_uid)
        length = st.st_size if length is None else length
        if st.st_size < length:
            raise FormatError("corrupt", f"{path}: {st.st_size} bytes, need {length}")
        return mmap.mmap(fd, length, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ), st
    finally:
        os.close(fd)


def read_record(ctl):
    """The control block's record under the seqlock (§9.3 step 4)."""
    for _ in range(SEQLOCK_ATTEMPTS):
        (s1,) = struct.unpack_from("<Q", ctl, 32)
        if s1 & 1:
            os.sched_yield()
            continue
        rec = struct.unpack_from("<7Q", ctl, 40)
        (s2,) = struct.unpack_from("<Q", ctl, 32)
        if s1 == s2:
            keys = "generation version segment_id segment_size checksum content_hash publish_time_ns"
            return dict(zip(keys.split(), rec))
    raise FormatError("busy", "the control block stayed mid-update")


def shm_path(name):
    # §3: a POSIX shm name "/x" is the file /dev/shm/x on Linux.
    return "/dev/shm/" + name


def open_control(prefix, namespace):
    ctl, st = _map_readonly(shm_path(f"{prefix}.{namespace}.ctl"))
    if st.st_size < 128:
        raise FormatError("corrupt", "control block shorter than 128 bytes")
    magic, version, signature, size, _ = CTL_HEAD.unpack_from(ctl, 0)
    if magic != CTL_MAGIC:
        raise FormatError("corrupt", f"control block magic {magic:#x}")
    if version != CTL_VERSION or signature != CTL_SIGNATURE:
        raise FormatError("version", f"control block version {version}, signature {signature:#x}")
    if size != 128:
        raise FormatError("corrupt", f"control block size {size}")
    return ctl, st.st_uid


def open_live(prefix, namespace):
    """The live segment of `namespace`, validated against the record."""
    ctl, uid = open_control(prefix, namespace)
    rec = read_record(ctl)
    if rec["version"] == 0:
        raise FormatError("no-snapshot", "nothing published")
    size = rec["segment_size"]
    if not HEADER_SIZE <= size <= MAX_SEGMENT:
        raise FormatError("corrupt", f"record segment_size {size}")  # §7 C
    seg_map, _ = _map_readonly(
        shm_path(f"{prefix}.{namespace}.seg.{rec['segment_id']}"), size, expected_uid=uid
    )
    seg = Segment(seg_map, rec_checksum=rec["checksum"], rec_version=rec["version"])
    seg.record = rec
    return seg
