/*
 * detector._fastpath — the compiled fast path of `minesweep scan`.
 *
 * One Kernel object lives for one scan (several files). It walks the records of a pcap or pcapng
 * buffer, decodes link / IP / TCP / UDP exactly like detector/capture (link.py, ip.py, pcap.py,
 * pcapng.py), and keeps the per-flow bookkeeping that detector/flows.py's FlowTable.add/_tcp do
 * for flows nobody inspects yet ("new") or any more ("ignored"). Python only receives the packets
 * it would actually look at, as a list of events per call:
 *
 *   (EV_PRELUDE, fid, Prelude)       a flow is handed over: its state before the next packet
 *   (EV_PACKET, fid, Packet)         a packet for FlowTable.add
 *   (EV_SWEEP, ts)                   the idle sweep ran after this packet (FlowTable.sweep(ts))
 *   (EV_WARN, offset, message)       a capture warning, same wording and offset as the Python stage
 *   (EV_FRAGMENT, version, ip, ts)   an IP fragment (ip = bytes of the IP packet): Python
 *                                    reassembles it and feeds the result back with observe()
 *
 * Flow states: NEW (kernel-owned, tracked), IGNORED (nobody looks at its payload), PYTHON (every
 * packet goes to Python: an inspected TCP flow, a UDP flow on port 53, or a flow that replaced a
 * PYTHON flow). A PYTHON flow becomes IGNORED only when Python says so (Kernel.ignore).
 *
 * Python API (see detector/capture/fast.py, which drives it):
 *   Kernel(hints, unhinted_limit, idle_timeout, sweep_every, max_caplen, max_block, max_tags,
 *          max_ext_headers, addr_cache_size, packet_cls, prelude_cls, name6, seed)
 *   begin(kind)                       start a file: 0 = pcap, 1 = pcapng
 *   feed(buf, pos, base, final, budget) -> (pos, status, events, need)
 *   observe(packet) -> events         a reassembled Packet, through the same per-packet logic
 *   ignore(a, ap, b, bp, proto, fid) -> bool
 *   file_stats() -> (records, bytes, first_ts, last_ts, linktypes, unsupported, malformed,
 *                    truncated, decoded)
 *   counts() -> (flows_seen, distinct_ips, selected)
 *
 * No Python object is created for a packet that is not selected; memory grows with the number of
 * live flows (swept when idle) and distinct addresses only.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Protocol numbers (https://www.tcpdump.org/linktypes.html, IEEE 802 ethertypes, IANA).       */

#define TCP 6
#define UDP 17
#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_ACK 0x10

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86DD
#define ETH_VLAN 0x8100          /* 802.1Q */
#define ETH_QINQ 0x88A8          /* 802.1ad */
#define ETH_QINQ_OLD 0x9100      /* pre-standard QinQ */
#define ETH_PPPOE_SESSION 0x8864
#define ETH_MPLS_UC 0x8847
#define ETH_MPLS_MC 0x8848
#define PPP_IPV4 0x0021
#define PPP_IPV6 0x0057
#define AF_INET_BSD 2            /* loopback family values: AF_INET, and AF_INET6 of BSDs */

#define PCAPNG_SHB 0x0A0D0D0Au
#define PCAPNG_IDB 1u
#define PCAPNG_OPB 2u
#define PCAPNG_SPB 3u
#define PCAPNG_EPB 6u
#define PCAPNG_BOM 0x1A2B3C4Du

#define EXT_FRAGMENT 44
#define EXT_AH 51

enum { EV_PACKET = 0, EV_PRELUDE = 1, EV_SWEEP = 2, EV_WARN = 3, EV_FRAGMENT = 4 };
enum { ST_MORE = 0, ST_NEED = 1, ST_DONE = 2 };
enum { FLOW_EMPTY = 0, FLOW_NEW = 1, FLOW_PYTHON = 2, FLOW_IGNORED = 3 };
enum { KIND_PCAP = 0, KIND_PCAPNG = 1 };
enum { DEC_NONE = 0, DEC_PACKET = 1, DEC_FRAGMENT = 2 };

#define MAX_HINTS 32
#define MAX_EVENTS_PER_CALL 65536

/* ------------------------------------------------------------------------------------------ */
/* Byte readers. `be` selects big-endian for the container formats' own fields.               */

static inline uint16_t rd_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rd_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint32_t rd_le32(const uint8_t *p) {
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}
static inline uint16_t rd16(const uint8_t *p, int be) {
    return be ? rd_be16(p) : (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t rd32(const uint8_t *p, int be) { return be ? rd_be32(p) : rd_le32(p); }
static inline int64_t rd_i64(const uint8_t *p, int be) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[be ? i : 7 - i];
    return (int64_t)v;
}

/* ------------------------------------------------------------------------------------------ */
/* Records.                                                                                   */

/* One decoded TCP/UDP packet; field meanings as detector.capture.model.Packet. */
typedef struct {
    uint8_t v6;               /* address family: 0 IPv4 (4 address bytes used), 1 IPv6 */
    uint8_t proto;            /* TCP or UDP */
    uint8_t src[16], dst[16]; /* IPv4 in the first 4 bytes, the rest zero */
    uint16_t sport, dport;
    double ts;
    int64_t wirelen;
    uint8_t flags;
    uint32_t seq, ack;
    int snapped;
    const uint8_t *payload;
    Py_ssize_t plen;
    PyObject *obj;            /* the Packet object when Python built it (observe), else NULL */
} Pkt;

/* One flow: exactly the fields of detector.flows.Prelude, plus lifecycle and identity. */
typedef struct {
    uint8_t a[16], b[16];     /* a = sender of the flow's first packet */
    uint16_t ap, bp;
    uint8_t proto, v6;
    uint8_t state;            /* FLOW_* */
    uint8_t fin;              /* bit 0: FIN seen a->b, bit 1: FIN seen b->a */
    uint8_t rst;
    uint8_t client;           /* client_is_a: 0 False, 1 True, 2 None */
    uint8_t handshake;        /* role_source: 0 "guess", 1 "handshake" */
    uint8_t has_seq;          /* bit d: next_seq[d] is set */
    uint32_t next_seq[2];
    uint32_t unhinted;
    uint64_t hash;
    uint64_t fid;             /* serial number of this flow instance (1, 2, ...) */
    uint64_t packets[2], bytes[2], payload[2];
    double first_ts, last_ts;
} Flow;

/* One distinct address (the "IPs screened" set). */
typedef struct {
    uint8_t used, v6;
    uint8_t addr[16];
} IpSlot;

/* Address text cache entry (texts of selected packets' addresses). */
typedef struct {
    uint8_t used, v6;
    uint8_t addr[16];
    PyObject *text;
} NameSlot;

/* A pcapng interface (IDB): decoder known by link type; timestamp divisor 10^exp or 2^exp. */
typedef struct {
    uint16_t linktype;
    uint8_t base2;            /* 1: if_tsresol is 2^-exp, 0: 10^-exp */
    uint8_t exp;
    uint32_t snaplen;
    int64_t tsoffset;         /* if_tsoffset, seconds */
} Iface;

/* Tally of one unsupported link type (LinkTable.skipped / summary). */
typedef struct {
    uint32_t linktype;
    int64_t offset;           /* offset of its first record */
    uint64_t count;
} Unsupported;

/* Per-file state: container position and the CaptureInfo / IPDecoder counters. */
typedef struct {
    int kind;                 /* KIND_PCAP or KIND_PCAPNG */
    int started;              /* pcap: file header read */
    int done;
    /* classic pcap */
    int be;                   /* also pcapng: byte order of the current section */
    uint32_t rec_len;         /* 16, or 24 for the "modified" format */
    uint32_t div;             /* 10^6 or 10^9 */
    uint32_t maxcap;
    uint32_t linktype;
    /* pcapng */
    int skip_section;
    Iface *ifaces;
    size_t n_ifaces, cap_ifaces;
    double last_ts;           /* for SPBs */
    /* CaptureInfo */
    uint64_t records, bytes;
    double lo, hi;
    int have_ts;
    uint32_t *linktypes;
    size_t n_linktypes, cap_linktypes;
    Unsupported *unsup;
    size_t n_unsup, cap_unsup;
    int32_t *unsup_index;     /* 65536 entries (link type -> position + 1), lazily allocated */
    /* IPDecoder counters */
    uint64_t malformed, truncated;
    uint64_t decoded;         /* TCP/UDP packets given to the flow logic */
} FileState;

typedef struct {
    PyObject_HEAD
    /* configuration, from Python (detector.flows / detector.capture constants) */
    const uint8_t *hint[MAX_HINTS];
    Py_ssize_t hint_len[MAX_HINTS];
    int n_hints;
    PyObject *hints_obj;
    uint32_t unhinted_limit;
    double idle_timeout;
    uint64_t sweep_every;
    uint32_t max_caplen, max_block, max_tags, max_ext;
    size_t addr_cache_size;
    PyObject *packet_cls, *prelude_cls, *name6;
    PyObject *s_guess, *s_handshake;
    uint64_t seed;
    /* flows: open addressing, linear probing, backward-shift deletion */
    Flow *flows;
    size_t cap, count;
    uint64_t next_fid, flows_seen, since_sweep, selected;
    /* distinct addresses of created flows */
    IpSlot *ips;
    size_t ips_cap, ips_count;
    /* address texts */
    NameSlot *names;
    size_t names_cap, names_count;
    /* current file */
    FileState fs;
    /* current call */
    PyObject *events;
    int stop;                 /* end the batch after this record (a fragment was emitted) */
} Kernel;

/* ------------------------------------------------------------------------------------------ */
/* Hashing (seeded: crafted captures cannot aim at one bucket).                               */

static inline uint64_t fmix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static inline uint64_t addr_hash(uint64_t seed, const uint8_t *addr, uint8_t v6) {
    uint64_t x, y;
    memcpy(&x, addr, 8);
    memcpy(&y, addr + 8, 8);
    return fmix64(seed ^ fmix64(x ^ v6) ^ (fmix64(y + 0x9E3779B97F4A7C15ULL) * 3));
}

/* Symmetric in the two endpoints, so that one probe finds a flow in either direction. */
static inline uint64_t flow_hash(uint64_t seed, const Pkt *p) {
    uint64_t h1 = addr_hash(seed, p->src, p->v6) ^ ((uint64_t)p->sport * 0x9E3779B97F4A7C15ULL);
    uint64_t h2 = addr_hash(seed, p->dst, p->v6) ^ ((uint64_t)p->dport * 0x9E3779B97F4A7C15ULL);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    return fmix64((h1 + h2) ^ (h1 * h2) ^ ((uint64_t)p->proto << 8) ^ p->v6);
}

/* ------------------------------------------------------------------------------------------ */
/* Flow table.                                                                                */

static inline int same_dir(const Flow *f, const Pkt *p) {
    return f->ap == p->sport && f->bp == p->dport && memcmp(f->a, p->src, 16) == 0 &&
           memcmp(f->b, p->dst, 16) == 0;
}

static inline int flow_matches(const Flow *f, const Pkt *p, uint64_t h) {
    if (f->hash != h || f->proto != p->proto || f->v6 != p->v6) return 0;
    if (same_dir(f, p)) return 1;
    return f->ap == p->dport && f->bp == p->sport && memcmp(f->a, p->dst, 16) == 0 &&
           memcmp(f->b, p->src, 16) == 0;
}

static Flow *flow_find(Kernel *k, const Pkt *p, uint64_t h) {
    size_t mask = k->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        Flow *f = &k->flows[i];
        if (f->state == FLOW_EMPTY) return NULL;
        if (flow_matches(f, p, h)) return f;
    }
}

static int flow_grow(Kernel *k) {
    size_t ncap = k->cap * 2;
    Flow *nf = PyMem_Calloc(ncap, sizeof(Flow));
    if (nf == NULL) return -1;
    for (size_t i = 0; i < k->cap; i++) {
        Flow *f = &k->flows[i];
        if (f->state == FLOW_EMPTY) continue;
        size_t j = f->hash & (ncap - 1);
        while (nf[j].state != FLOW_EMPTY) j = (j + 1) & (ncap - 1);
        nf[j] = *f;
    }
    PyMem_Free(k->flows);
    k->flows = nf;
    k->cap = ncap;
    return 0;
}

/* Remove the flow at slot i; later entries of its probe run shift back (no tombstones). */
static void flow_remove_at(Kernel *k, size_t i) {
    size_t mask = k->cap - 1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (k->flows[j].state == FLOW_EMPTY) break;
        size_t home = k->flows[j].hash & mask;
        /* move j into the hole at i unless its home lies cyclically in (i, j] */
        int stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            k->flows[i] = k->flows[j];
            i = j;
        }
    }
    memset(&k->flows[i], 0, sizeof(Flow));
    k->count--;
}

/* A new flow instance from its first packet (Flow.__init__). */
static void flow_init(Kernel *k, Flow *f, const Pkt *p, uint64_t h) {
    memset(f, 0, sizeof(Flow));
    memcpy(f->a, p->src, 16);
    memcpy(f->b, p->dst, 16);
    f->ap = p->sport;
    f->bp = p->dport;
    f->proto = p->proto;
    f->v6 = p->v6;
    f->state = FLOW_NEW;
    f->client = 2;
    f->hash = h;
    f->fid = ++k->next_fid;
    f->first_ts = f->last_ts = p->ts;
}

static Flow *flow_insert(Kernel *k, const Pkt *p, uint64_t h) {
    if ((k->count + 1) * 2 > k->cap && flow_grow(k) < 0) return NULL;
    size_t mask = k->cap - 1;
    size_t i = h & mask;
    while (k->flows[i].state != FLOW_EMPTY) i = (i + 1) & mask;
    k->count++;
    flow_init(k, &k->flows[i], p, h);
    return &k->flows[i];
}

/* ------------------------------------------------------------------------------------------ */
/* Distinct addresses of created flows (FlowTable._new_ips, counted instead of kept as text).  */

static int ips_add(Kernel *k, const uint8_t *addr, uint8_t v6) {
    if ((k->ips_count + 1) * 2 > k->ips_cap) {
        size_t ncap = k->ips_cap * 2;
        IpSlot *n = PyMem_Calloc(ncap, sizeof(IpSlot));
        if (n == NULL) return -1;
        for (size_t i = 0; i < k->ips_cap; i++) {
            if (!k->ips[i].used) continue;
            size_t j = addr_hash(k->seed, k->ips[i].addr, k->ips[i].v6) & (ncap - 1);
            while (n[j].used) j = (j + 1) & (ncap - 1);
            n[j] = k->ips[i];
        }
        PyMem_Free(k->ips);
        k->ips = n;
        k->ips_cap = ncap;
    }
    size_t mask = k->ips_cap - 1;
    for (size_t i = addr_hash(k->seed, addr, v6) & mask;; i = (i + 1) & mask) {
        IpSlot *s = &k->ips[i];
        if (!s->used) {
            s->used = 1;
            s->v6 = v6;
            memcpy(s->addr, addr, 16);
            k->ips_count++;
            return 0;
        }
        if (s->v6 == v6 && memcmp(s->addr, addr, 16) == 0) return 0;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Address text, as ipaddress prints it (IPv4 dotted quad; IPv6 RFC 5952 compressed form).     */

static PyObject *format_v6(Kernel *k, const uint8_t *a) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, 12) == 0) {
        /* IPv4-mapped: the printed form depends on the Python version; ask ipaddress */
        PyObject *raw = PyBytes_FromStringAndSize((const char *)a, 16);
        if (raw == NULL) return NULL;
        PyObject *text = PyObject_CallOneArg(k->name6, raw);
        Py_DECREF(raw);
        return text;
    }
    unsigned h[8];
    for (int i = 0; i < 8; i++) h[i] = rd_be16(a + 2 * i);
    /* the first longest run of zero groups, compressed when at least two long */
    int best = -1, best_len = 0, run = -1, run_len = 0;
    for (int i = 0; i < 8; i++) {
        if (h[i] == 0) {
            if (run < 0) run = i;
            run_len++;
            if (run_len > best_len) {
                best_len = run_len;
                best = run;
            }
        } else {
            run = -1;
            run_len = 0;
        }
    }
    if (best_len < 2) best = -1;
    char out[48];
    int n = 0;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            out[n++] = ':';
            if (i == 0) out[n++] = ':';
            i += best_len - 1;
            continue;
        }
        n += snprintf(out + n, sizeof(out) - n, "%x", h[i]);
        if (i < 7) out[n++] = ':';
    }
    out[n] = 0;
    return PyUnicode_FromStringAndSize(out, n);
}

static PyObject *format_addr(Kernel *k, const uint8_t *a, uint8_t v6) {
    if (v6) return format_v6(k, a);
    char out[16];
    int n = snprintf(out, sizeof(out), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
    return PyUnicode_FromStringAndSize(out, n);
}

static void names_clear(Kernel *k) {
    for (size_t i = 0; i < k->names_cap; i++) {
        if (k->names[i].used) Py_CLEAR(k->names[i].text);
        k->names[i].used = 0;
    }
    k->names_count = 0;
}

/* Double the text cache (at most to twice ADDR_CACHE_SIZE slots, so it stays half empty). */
static int names_grow(Kernel *k) {
    size_t ncap = k->names_cap * 2;
    NameSlot *n = PyMem_Calloc(ncap, sizeof(NameSlot));
    if (n == NULL) return -1;
    for (size_t i = 0; i < k->names_cap; i++) {
        if (!k->names[i].used) continue;
        size_t j = addr_hash(k->seed, k->names[i].addr, k->names[i].v6) & (ncap - 1);
        while (n[j].used) j = (j + 1) & (ncap - 1);
        n[j] = k->names[i];
    }
    PyMem_Free(k->names);
    k->names = n;
    k->names_cap = ncap;
    return 0;
}

/* New reference to the text of an address (cached; the cache is emptied when it holds
 * ADDR_CACHE_SIZE texts, as detector.capture.ip does). */
static PyObject *addr_text(Kernel *k, const uint8_t *a, uint8_t v6) {
    if (k->names_count >= k->addr_cache_size) names_clear(k);
    if ((k->names_count + 1) * 2 > k->names_cap && names_grow(k) < 0) return PyErr_NoMemory();
    size_t mask = k->names_cap - 1;
    size_t i = addr_hash(k->seed, a, v6) & mask;
    for (;; i = (i + 1) & mask) {
        NameSlot *s = &k->names[i];
        if (!s->used) break;
        if (s->v6 == v6 && memcmp(s->addr, a, 16) == 0) {
            Py_INCREF(s->text);
            return s->text;
        }
    }
    PyObject *text = format_addr(k, a, v6);
    if (text == NULL) return NULL;
    NameSlot *s = &k->names[i];
    s->used = 1;
    s->v6 = v6;
    memcpy(s->addr, a, 16);
    s->text = text;
    Py_INCREF(text);
    k->names_count++;
    return text;
}

/* ------------------------------------------------------------------------------------------ */
/* Events.                                                                                    */

static int emit(Kernel *k, PyObject *tuple) {
    if (tuple == NULL) return -1;
    int r = PyList_Append(k->events, tuple);
    Py_DECREF(tuple);
    return r;
}

static int emit_warning(Kernel *k, int64_t offset, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return emit(k, Py_BuildValue("(iLs)", EV_WARN, (long long)offset, msg));
}

static PyObject *py_bool(int v) { return Py_NewRef(v ? Py_True : Py_False); }

/* The Packet object of a selected packet (Packet(ts, src, dst, proto, sport, dport, payload,
 * wirelen, flags, seq, ack, snapped)). */
static PyObject *make_packet(Kernel *k, const Pkt *p) {
    if (p->obj != NULL) return Py_NewRef(p->obj);
    PyObject *args[12] = {0};
    PyObject *res = NULL;
    args[0] = PyFloat_FromDouble(p->ts);
    args[1] = addr_text(k, p->src, p->v6);
    args[2] = addr_text(k, p->dst, p->v6);
    args[3] = PyLong_FromLong(p->proto);
    args[4] = PyLong_FromLong(p->sport);
    args[5] = PyLong_FromLong(p->dport);
    args[6] = PyBytes_FromStringAndSize((const char *)p->payload, p->plen);
    args[7] = PyLong_FromLongLong(p->wirelen);
    args[8] = PyLong_FromLong(p->flags);
    args[9] = PyLong_FromUnsignedLong(p->seq);
    args[10] = PyLong_FromUnsignedLong(p->ack);
    args[11] = py_bool(p->snapped);
    for (int i = 0; i < 12; i++)
        if (args[i] == NULL) goto done;
    res = PyObject_Vectorcall(k->packet_cls, args, 12, NULL);
done:
    for (int i = 0; i < 12; i++) Py_XDECREF(args[i]);
    return res;
}

/* The Prelude of a flow: its state as FlowTable would hold it before the next packet. */
static PyObject *make_prelude(Kernel *k, const Flow *f) {
    PyObject *args[16] = {0};
    PyObject *res = NULL;
    PyObject *seq[2];
    for (int d = 0; d < 2; d++)
        seq[d] = (f->has_seq >> d) & 1 ? PyLong_FromUnsignedLong(f->next_seq[d]) : Py_NewRef(Py_None);
    args[0] = addr_text(k, f->a, f->v6);
    args[1] = PyLong_FromLong(f->ap);
    args[2] = addr_text(k, f->b, f->v6);
    args[3] = PyLong_FromLong(f->bp);
    args[4] = PyLong_FromLong(f->proto);
    args[5] = PyFloat_FromDouble(f->first_ts);
    args[6] = PyFloat_FromDouble(f->last_ts);
    args[7] = Py_BuildValue("(KK)", (unsigned long long)f->packets[0], (unsigned long long)f->packets[1]);
    args[8] = Py_BuildValue("(KK)", (unsigned long long)f->bytes[0], (unsigned long long)f->bytes[1]);
    args[9] = Py_BuildValue("(KK)", (unsigned long long)f->payload[0], (unsigned long long)f->payload[1]);
    args[10] = (seq[0] && seq[1]) ? PyTuple_Pack(2, seq[0], seq[1]) : NULL;
    args[11] = f->client == 2 ? Py_NewRef(Py_None) : py_bool(f->client);
    args[12] = Py_NewRef(f->handshake ? k->s_handshake : k->s_guess);
    args[13] = PyTuple_Pack(2, f->fin & 1 ? Py_True : Py_False, f->fin & 2 ? Py_True : Py_False);
    args[14] = py_bool(f->rst);
    args[15] = PyLong_FromUnsignedLong(f->unhinted);
    Py_XDECREF(seq[0]);
    Py_XDECREF(seq[1]);
    for (int i = 0; i < 16; i++)
        if (args[i] == NULL) goto done;
    res = PyObject_Vectorcall(k->prelude_cls, args, 16, NULL);
done:
    for (int i = 0; i < 16; i++) Py_XDECREF(args[i]);
    return res;
}

static int emit_prelude(Kernel *k, const Flow *f) {
    PyObject *pre = make_prelude(k, f);
    if (pre == NULL) return -1;
    return emit(k, Py_BuildValue("(iKN)", EV_PRELUDE, (unsigned long long)f->fid, pre));
}

static int emit_packet(Kernel *k, const Flow *f, const Pkt *p) {
    PyObject *obj = make_packet(k, p);
    if (obj == NULL) return -1;
    k->selected++;
    return emit(k, Py_BuildValue("(iKN)", EV_PACKET, (unsigned long long)f->fid, obj));
}

/* ------------------------------------------------------------------------------------------ */
/* Per-packet flow logic (FlowTable.add and _tcp for flows in state "new" and "ignored").       */

/* could_be_mining(): '{' first, or any of HINTS inside. */
static int hinted(const Kernel *k, const uint8_t *data, Py_ssize_t len) {
    if (len > 0 && data[0] == '{') return 1;
    for (int i = 0; i < k->n_hints; i++)
        if (memmem(data, (size_t)len, k->hint[i], (size_t)k->hint_len[i]) != NULL) return 1;
    return 0;
}

/* seq_after(a, b): a comes after b modulo 2^32. */
static inline int seq_after(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

/* The idle sweep: end every flow silent for more than IDLE_TIMEOUT at time `now`. */
static int sweep(Kernel *k, double now) {
    k->since_sweep = 0;
    size_t i = 0;
    while (i < k->cap) {
        Flow *f = &k->flows[i];
        if (f->state != FLOW_EMPTY && now - f->last_ts > k->idle_timeout)
            flow_remove_at(k, i); /* an entry may shift into slot i: look at it again */
        else
            i++;
    }
    return emit(k, Py_BuildValue("(id)", EV_SWEEP, now));
}

static int on_packet(Kernel *k, Pkt *p) {
    k->fs.decoded++;
    uint64_t h = flow_hash(k->seed, p);
    Flow *f = flow_find(k, p, h);
    int replaced_python = 0, created = 0;
    /* a SYN reusing the 4-tuple of a finished connection starts a new flow */
    if (f != NULL && p->proto == TCP && (p->flags & (F_SYN | F_ACK)) == F_SYN && (f->rst || f->fin == 3)) {
        replaced_python = f->state == FLOW_PYTHON;
        flow_remove_at(k, (size_t)(f - k->flows));
        f = NULL;
    }
    if (f == NULL) {
        f = flow_insert(k, p, h);
        if (f == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        k->flows_seen++;
        if (ips_add(k, p->src, p->v6) < 0 || ips_add(k, p->dst, p->v6) < 0) {
            PyErr_NoMemory();
            return -1;
        }
        created = 1;
    } else if (p->ts - f->last_ts > k->idle_timeout) {
        replaced_python = f->state == FLOW_PYTHON;
        flow_init(k, f, p, h); /* same slot: the hash is symmetric */
        k->flows_seen++;
        created = 1;
    }
    if (created && ((p->proto == UDP && (p->sport == 53 || p->dport == 53)) || replaced_python)) {
        /* Python holds every DNS flow, and takes over a flow replacing one it held, so that it
         * ends the old one at this very packet, as the pure path does */
        f->state = FLOW_PYTHON;
        if (emit_prelude(k, f) < 0) return -1;
    }
    int fwd = f->ap == p->sport && memcmp(f->a, p->src, 16) == 0; /* p.src == flow.a and p.sport == flow.ap */
    int d = fwd ? 0 : 1;
    if (f->state == FLOW_NEW && p->proto == TCP && p->plen > 0 && hinted(k, p->payload, p->plen)) {
        /* first segment that may carry a mining protocol: hand the flow over as it stands */
        f->state = FLOW_PYTHON;
        if (emit_prelude(k, f) < 0) return -1;
    }
    f->last_ts = p->ts;
    f->packets[d]++;
    f->bytes[d] += (uint64_t)p->wirelen;
    f->payload[d] += (uint64_t)p->plen;
    if (p->proto == TCP) {
        uint8_t flags = p->flags;
        if ((flags & F_SYN) && !f->handshake) {
            f->client = (flags & F_ACK) ? !fwd : fwd;
            f->handshake = 1;
        }
        if (flags & F_FIN) f->fin |= (uint8_t)(1 << d);
        if (flags & F_RST) f->rst = 1;
        if (f->state == FLOW_NEW) {
            if ((flags & F_SYN) && !((f->has_seq >> d) & 1)) {
                f->next_seq[d] = p->seq + 1;
                f->has_seq |= (uint8_t)(1 << d);
            }
            if (p->plen > 0) { /* not hinted, or the flow would be PYTHON by now */
                uint32_t end = p->seq + (uint32_t)p->plen;
                if (!((f->has_seq >> d) & 1) || seq_after(end, f->next_seq[d])) {
                    f->next_seq[d] = end;
                    f->has_seq |= (uint8_t)(1 << d);
                }
                f->unhinted++;
                if (f->unhinted >= k->unhinted_limit) f->state = FLOW_IGNORED;
            }
        }
    }
    if (f->state == FLOW_PYTHON && emit_packet(k, f, p) < 0) return -1;
    k->since_sweep++;
    if (k->since_sweep >= k->sweep_every && sweep(k, p->ts) < 0) return -1;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Transport, IPv4, IPv6 (detector/capture/ip.py: same checks in the same order).              */

typedef struct {
    const uint8_t *buf;
    double ts;
    Pkt pkt;
    int frag_v6;
    Py_ssize_t frag_off, frag_end;
} Dec;

/* A skipped packet: counted as cut by the capture when snapped, else as malformed. */
static int bad(Kernel *k, int snapped) {
    if (snapped)
        k->fs.truncated++;
    else
        k->fs.malformed++;
    return DEC_NONE;
}

/* TCP header: ports 0-3, seq 4-7, ack 8-11, data offset 12 (high nibble), flags 13.
 * UDP header: ports 0-3, length 4-5. `end` is already trimmed to the IP length. */
static int transport(Kernel *k, Dec *x, Py_ssize_t off, Py_ssize_t end, uint8_t proto, int64_t wirelen,
                     int snapped) {
    const uint8_t *b = x->buf;
    Pkt *p = &x->pkt;
    Py_ssize_t avail = end - off;
    p->proto = proto;
    p->ts = x->ts;
    p->wirelen = wirelen;
    p->obj = NULL;
    if (proto == TCP) {
        if (avail < 20) return bad(k, snapped);
        p->sport = rd_be16(b + off);
        p->dport = rd_be16(b + off + 2);
        p->seq = rd_be32(b + off + 4);
        p->ack = rd_be32(b + off + 8);
        Py_ssize_t hlen = (b[off + 12] >> 2) & 0x3C;
        p->flags = b[off + 13];
        if (hlen < 20) return bad(k, 0);
        if (hlen > avail) {
            if (!snapped) return bad(k, 0);
            p->payload = b + end;
            p->plen = 0;
        } else {
            p->payload = b + off + hlen;
            p->plen = end - off - hlen;
        }
        p->snapped = snapped;
        return DEC_PACKET;
    }
    if (avail < 8) return bad(k, snapped);
    p->sport = rd_be16(b + off);
    p->dport = rd_be16(b + off + 2);
    Py_ssize_t ulen = rd_be16(b + off + 4);
    if (8 <= ulen && ulen <= avail) { /* UDP length inside what we have: trust it */
        end = off + ulen;
        snapped = 0;
    }
    p->flags = 0;
    p->seq = p->ack = 0;
    p->payload = b + off + 8;
    p->plen = end - off - 8;
    p->snapped = snapped;
    return DEC_PACKET;
}

/* IPv4 header: version/IHL 0, total length 2-3, id 4-5, flags/fragment offset 6-7,
 * protocol 9, source 12-15, destination 16-19. */
static int ipv4(Kernel *k, Dec *x, Py_ssize_t off, Py_ssize_t end) {
    const uint8_t *b = x->buf;
    Py_ssize_t end0 = end;
    if (end - off < 20) return bad(k, 1);
    uint8_t vihl = b[off];
    Py_ssize_t tlen = rd_be16(b + off + 2);
    uint16_t frag = rd_be16(b + off + 6);
    uint8_t proto = b[off + 9];
    Py_ssize_t ihl = (vihl & 15) << 2;
    if (vihl >> 4 != 4 || ihl < 20) return bad(k, 0);
    if (tlen == 0) /* TSO / large-receive capture: length left to the capture */
        tlen = end - off;
    else if (tlen < ihl)
        return bad(k, 0);
    int snapped;
    if (off + tlen <= end) {
        end = off + tlen;
        snapped = 0;
    } else {
        snapped = 1;
    }
    if (proto != TCP && proto != UDP) return DEC_NONE;
    if (off + ihl > end) return bad(k, 1);
    Pkt *p = &x->pkt;
    p->v6 = 0;
    memset(p->src, 0, 16);
    memset(p->dst, 0, 16);
    memcpy(p->src, b + off + 12, 4);
    memcpy(p->dst, b + off + 16, 4);
    if (frag & 0x3FFF) { /* MF set or offset non-zero */
        if (snapped) return bad(k, 1); /* a cut fragment can never be reassembled */
        x->frag_v6 = 0;
        x->frag_off = off;
        x->frag_end = end0;
        return DEC_FRAGMENT;
    }
    return transport(k, x, off + ihl, end, proto, (int64_t)tlen, snapped);
}

static inline int ext_8octet(uint8_t nh) {
    /* hop-by-hop 0, routing 43, destination options 60, mobility 135, HIP 139, shim6 140 */
    return nh == 0 || nh == 43 || nh == 60 || nh == 135 || nh == 139 || nh == 140;
}

/* IPv6 header: version 0 (high nibble), payload length 4-5, next header 6, source 8-23,
 * destination 24-39; then extension headers (next header 0, length 1; fragment: offset/M 2-3). */
static int ipv6(Kernel *k, Dec *x, Py_ssize_t off, Py_ssize_t end) {
    const uint8_t *b = x->buf;
    Py_ssize_t end0 = end;
    if (end - off < 40) return bad(k, 1);
    if (b[off] >> 4 != 6) return bad(k, 0);
    Py_ssize_t plen = rd_be16(b + off + 4);
    uint8_t nh = b[off + 6];
    int64_t wirelen;
    int snapped;
    if (plen) {
        wirelen = 40 + plen;
        if (off + wirelen <= end) {
            end = off + wirelen;
            snapped = 0;
        } else {
            snapped = 1;
        }
    } else { /* jumbogram or TSO capture: length left to the capture */
        wirelen = end - off;
        snapped = 0;
    }
    Pkt *p = &x->pkt;
    p->v6 = 1;
    memcpy(p->src, b + off + 8, 16);
    memcpy(p->dst, b + off + 24, 16);
    if (nh == TCP || nh == UDP) return transport(k, x, off + 40, end, nh, wirelen, snapped);
    Py_ssize_t q = off + 40;
    for (uint32_t i = 0; i < k->max_ext; i++) {
        if (nh == TCP || nh == UDP) return transport(k, x, q, end, nh, wirelen, snapped);
        if (ext_8octet(nh) || nh == EXT_AH) {
            if (q + 2 > end) return bad(k, snapped);
            Py_ssize_t step = nh != EXT_AH ? ((Py_ssize_t)b[q + 1] + 1) << 3 : ((Py_ssize_t)b[q + 1] + 2) << 2;
            nh = b[q];
            q += step;
        } else if (nh == EXT_FRAGMENT) {
            if (q + 8 > end) return bad(k, snapped);
            uint8_t nxt = b[q];
            uint16_t offm = rd_be16(b + q + 2);
            if ((offm & 0xFFF8) == 0 && !(offm & 1)) { /* atomic fragment (RFC 6946) */
                nh = nxt;
                q += 8;
                continue;
            }
            if (snapped) return bad(k, 1);
            x->frag_v6 = 1;
            x->frag_off = off;
            x->frag_end = end0;
            return DEC_FRAGMENT;
        } else { /* ESP, no next header, ICMPv6, anything else */
            return DEC_NONE;
        }
        if (q > end) return bad(k, snapped);
    }
    return bad(k, 0);
}

static int ip_by_version(Kernel *k, Dec *x, Py_ssize_t off, Py_ssize_t end) {
    if (off >= end) return bad(k, 1);
    uint8_t version = x->buf[off] >> 4;
    if (version == 4) return ipv4(k, x, off, end);
    if (version == 6) return ipv6(k, x, off, end);
    return DEC_NONE;
}

/* ------------------------------------------------------------------------------------------ */
/* Link layers (detector/capture/link.py).                                                    */

/* Follow VLAN tags (tag: TCI 0-1, inner ethertype 2-3), PPPoE session (header 0-5, PPP protocol
 * 6-7) and MPLS labels (bottom-of-stack bit: low bit of byte 2) from `etype`. */
static int ethertype(Kernel *k, Dec *x, Py_ssize_t off, Py_ssize_t end, uint16_t etype) {
    const uint8_t *b = x->buf;
    for (uint32_t i = 0; i < k->max_tags; i++) {
        if (etype == ETH_IPV4) return ipv4(k, x, off, end);
        if (etype == ETH_IPV6) return ipv6(k, x, off, end);
        if (etype == ETH_VLAN || etype == ETH_QINQ || etype == ETH_QINQ_OLD) {
            if (off + 4 > end) return bad(k, 1);
            etype = rd_be16(b + off + 2);
            off += 4;
        } else if (etype == ETH_PPPOE_SESSION) {
            if (off + 8 > end) return bad(k, 1);
            uint16_t proto = rd_be16(b + off + 6);
            off += 8;
            if (proto == PPP_IPV4) return ipv4(k, x, off, end);
            if (proto == PPP_IPV6) return ipv6(k, x, off, end);
            return DEC_NONE;
        } else if (etype == ETH_MPLS_UC || etype == ETH_MPLS_MC) {
            for (uint32_t j = 0; j < k->max_tags; j++) {
                if (off + 4 > end) return bad(k, 1);
                int bottom = b[off + 2] & 1;
                off += 4;
                if (bottom) return ip_by_version(k, x, off, end);
            }
            return DEC_NONE;
        } else {
            return DEC_NONE;
        }
    }
    return DEC_NONE;
}

/* Ethernet II: destination 0-5, source 6-11, ethertype 12-13. */
static int link_ethernet(Kernel *k, Dec *x, Py_ssize_t off, Py_ssize_t end) {
    if (off + 14 > end) return bad(k, 1);
    uint16_t etype = rd_be16(x->buf + off + 12);
    if (etype == ETH_IPV4) return ipv4(k, x, off + 14, end);
    if (etype == ETH_IPV6) return ipv6(k, x, off + 14, end);
    return ethertype(k, x, off + 14, end, etype);
}

/* Linux cooked SLL: 16 bytes, protocol at 14-15. */
static int link_sll(Kernel *k, Dec *x, Py_ssize_t off, Py_ssize_t end) {
    if (off + 16 > end) return bad(k, 1);
    return ethertype(k, x, off + 16, end, rd_be16(x->buf + off + 14));
}

/* Linux cooked SLL2: 20 bytes, protocol at 0-1. */
static int link_sll2(Kernel *k, Dec *x, Py_ssize_t off, Py_ssize_t end) {
    if (off + 20 > end) return bad(k, 1);
    return ethertype(k, x, off + 20, end, rd_be16(x->buf + off));
}

/* BSD NULL / OpenBSD LOOP: 4-byte address family, in either byte order. */
static int link_loopback(Kernel *k, Dec *x, Py_ssize_t off, Py_ssize_t end) {
    if (off + 4 > end) return bad(k, 1);
    uint32_t family = rd_le32(x->buf + off);
    if (family > 0xFFFF) family = rd_be32(x->buf + off);
    if (family == AF_INET_BSD) return ipv4(k, x, off + 4, end);
    if (family == 24 || family == 28 || family == 30) return ipv6(k, x, off + 4, end);
    return DEC_NONE;
}

static inline int link_supported(uint32_t lt) {
    switch (lt) {
    case 0: case 1: case 12: case 14: case 101: case 108: case 113: case 228: case 229: case 276:
        return 1;
    default:
        return 0;
    }
}

static int decode_link(Kernel *k, Dec *x, uint32_t lt, Py_ssize_t off, Py_ssize_t end) {
    switch (lt) {
    case 1: return link_ethernet(k, x, off, end);
    case 113: return link_sll(k, x, off, end);
    case 276: return link_sll2(k, x, off, end);
    case 0: case 108: return link_loopback(k, x, off, end);
    case 12: case 14: case 101: return ip_by_version(k, x, off, end);
    case 228: return ipv4(k, x, off, end);
    case 229: return ipv6(k, x, off, end);
    default: return DEC_NONE;
    }
}

static int tally_unsupported(Kernel *k, uint32_t lt, int64_t offset) {
    FileState *fs = &k->fs;
    if (fs->unsup_index == NULL) {
        fs->unsup_index = PyMem_Calloc(65536, sizeof(int32_t));
        if (fs->unsup_index == NULL) return -1;
    }
    int32_t at = fs->unsup_index[lt & 0xFFFF];
    if (at) {
        fs->unsup[at - 1].count++;
        return 0;
    }
    if (fs->n_unsup == fs->cap_unsup) {
        size_t ncap = fs->cap_unsup ? fs->cap_unsup * 2 : 8;
        Unsupported *n = PyMem_Realloc(fs->unsup, ncap * sizeof(Unsupported));
        if (n == NULL) return -1;
        fs->unsup = n;
        fs->cap_unsup = ncap;
    }
    fs->unsup[fs->n_unsup] = (Unsupported){lt, offset, 1};
    fs->unsup_index[lt & 0xFFFF] = (int32_t)++fs->n_unsup;
    return 0;
}

/* One captured frame buf[start:end] of link type `lt`; record_offset for the warnings. */
static int frame(Kernel *k, const uint8_t *buf, uint32_t lt, Py_ssize_t start, Py_ssize_t end, double ts,
                 int64_t record_offset) {
    if (!link_supported(lt)) {
        if (tally_unsupported(k, lt, record_offset) < 0) {
            PyErr_NoMemory();
            return -1;
        }
        return 0;
    }
    Dec x;
    x.buf = buf;
    x.ts = ts;
    int r = decode_link(k, &x, lt, start, end);
    if (r == DEC_PACKET) return on_packet(k, &x.pkt);
    if (r == DEC_FRAGMENT) {
        k->stop = 1;
        return emit(k, Py_BuildValue("(iiy#d)", EV_FRAGMENT, x.frag_v6 ? 6 : 4, buf + x.frag_off,
                                     (Py_ssize_t)(x.frag_end - x.frag_off), ts));
    }
    return 0;
}

static void note_ts(FileState *fs, double ts) {
    if (!fs->have_ts) {
        fs->lo = fs->hi = ts;
        fs->have_ts = 1;
        return;
    }
    if (ts < fs->lo) fs->lo = ts;
    if (ts > fs->hi) fs->hi = ts;
}

static int add_linktype(FileState *fs, uint32_t lt, int dedupe) {
    if (dedupe)
        for (size_t i = 0; i < fs->n_linktypes; i++)
            if (fs->linktypes[i] == lt) return 0;
    if (fs->n_linktypes == fs->cap_linktypes) {
        size_t ncap = fs->cap_linktypes ? fs->cap_linktypes * 2 : 4;
        uint32_t *n = PyMem_Realloc(fs->linktypes, ncap * sizeof(uint32_t));
        if (n == NULL) return -1;
        fs->linktypes = n;
        fs->cap_linktypes = ncap;
    }
    fs->linktypes[fs->n_linktypes++] = lt;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Classic pcap (detector/capture/pcap.py read_pcap).                                         */
/* File header: magic 0-3, version 4-7, zone 8-11, sigfigs 12-15, snaplen 16-19, network 20-23.
 * Record header: seconds 0-3, fraction 4-7, captured length 8-11, original length 12-15
 * (the "modified" format adds 8 bytes). */

typedef struct {
    const uint8_t *buf;
    Py_ssize_t size;    /* bytes available in buf */
    Py_ssize_t pos;     /* current record */
    int64_t base;       /* stream offset of buf[0] */
    int final;          /* no more bytes will follow buf */
    Py_ssize_t need;    /* ST_NEED: bytes wanted from pos */
} Cursor;

static int pcap_header(Kernel *k, Cursor *c) {
    FileState *fs = &k->fs;
    if (c->size - c->pos < 24) {
        if (!c->final) {
            c->need = 24;
            return ST_NEED;
        }
        if (emit_warning(k, c->base + c->pos, "truncated pcap file header") < 0) return -1;
        return ST_DONE;
    }
    const uint8_t *h = c->buf + c->pos;
    uint32_t magic = rd_le32(h);
    switch (magic) {
    case 0xA1B2C3D4u: fs->be = 0; fs->div = 1000000; fs->rec_len = 16; break;
    case 0xD4C3B2A1u: fs->be = 1; fs->div = 1000000; fs->rec_len = 16; break;
    case 0xA1B23C4Du: fs->be = 0; fs->div = 1000000000; fs->rec_len = 16; break;
    case 0x4D3CB2A1u: fs->be = 1; fs->div = 1000000000; fs->rec_len = 16; break;
    case 0xA1B2CD34u: fs->be = 0; fs->div = 1000000; fs->rec_len = 24; break;
    case 0x34CDB2A1u: fs->be = 1; fs->div = 1000000; fs->rec_len = 24; break;
    default:
        PyErr_Format(PyExc_ValueError, "not a pcap file header (magic %08x)", magic);
        return -1;
    }
    uint32_t snaplen = rd32(h + 16, fs->be);
    fs->linktype = rd32(h + 20, fs->be) & 0xFFFF; /* upper bits carry the FCS length flags */
    fs->maxcap = (snaplen > 0 && snaplen <= k->max_caplen) ? snaplen : k->max_caplen;
    if (add_linktype(fs, fs->linktype, 0) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    fs->started = 1;
    c->pos += 24;
    return ST_MORE;
}

/* One pcap record at c->pos: ST_MORE after it, ST_NEED / ST_DONE, or -1. */
static int pcap_record(Kernel *k, Cursor *c) {
    FileState *fs = &k->fs;
    Py_ssize_t rl = fs->rec_len;
    Py_ssize_t avail = c->size - c->pos;
    if (avail < rl) {
        if (!c->final) {
            c->need = rl;
            return ST_NEED;
        }
        if (avail && emit_warning(k, c->base + c->pos, "truncated record header") < 0) return -1;
        return ST_DONE;
    }
    const uint8_t *h = c->buf + c->pos;
    uint32_t sec = rd32(h, fs->be), frac = rd32(h + 4, fs->be);
    uint32_t caplen = rd32(h + 8, fs->be), origlen = rd32(h + 12, fs->be);
    if (caplen > fs->maxcap) {
        if (emit_warning(k, c->base + c->pos, "corrupt record header (captured length %u > %u)", caplen,
                         fs->maxcap) < 0)
            return -1;
        return ST_DONE;
    }
    if (avail < rl + (Py_ssize_t)caplen) {
        if (!c->final) {
            c->need = rl + caplen;
            return ST_NEED;
        }
        if (emit_warning(k, c->base + c->pos, "truncated record (%lld of %u bytes)", (long long)(avail - rl),
                         caplen) < 0)
            return -1;
        return ST_DONE;
    }
    Py_ssize_t start = c->pos + rl, end = start + caplen;
    int64_t record_offset = c->base + c->pos;
    c->pos = end;
    double ts = (double)sec + (double)frac / (double)fs->div;
    fs->records++;
    fs->bytes += origlen;
    note_ts(fs, ts);
    if (frame(k, c->buf, fs->linktype, start, end, ts, record_offset) < 0) return -1;
    return ST_MORE;
}

/* ------------------------------------------------------------------------------------------ */
/* pcapng (detector/capture/pcapng.py read_pcapng).                                           */
/* Block: type 0-3, total length 4-7, body, total length again in the last 4 bytes.
 * SHB body: byte-order magic 8-11, major 12-13, minor 14-15, section length 16-23.
 * IDB body: link type 8-9, reserved 10-11, snap length 12-15, options from 16.
 * EPB body: interface 8-11, timestamp high 12-15, low 16-19, captured 20-23, original 24-27,
 *           data from 28. OPB: interface 8-9, drops 10-11, then as EPB. SPB: original 8-11,
 *           data from 12. */

/* x / d correctly rounded to a double, for 0 <= x < d (what Python's int / int returns). */
static double div_round(uint64_t x, uint64_t d) {
    if (x == 0) return 0.0;
    if (x <= (1ULL << 53) && d <= (1ULL << 53)) return (double)x / (double)d;
    /* scale x by 2^shift so that the quotient has 54 significant bits, then round half to even */
    int shift = (64 - __builtin_clzll(d)) - (64 - __builtin_clzll(x)) + 53; /* quotient in [2^52, 2^54) */
    unsigned __int128 n = (unsigned __int128)x << shift;
    if (n / d < ((unsigned __int128)1 << 53)) {
        n <<= 1;
        shift++;
    }
    unsigned __int128 q = n / d, r = n % d;
    /* q has 54 bits: keep 53, round on the last one and the remainder */
    uint64_t keep = (uint64_t)(q >> 1);
    int half = (int)(q & 1);
    if (half && (r != 0 || (keep & 1))) keep++;
    return ldexp((double)keep, -(shift - 1));
}

static double pcapng_ts(const Iface *f, uint64_t t) {
    uint64_t q, r;
    double frac;
    if (f->base2) {
        if (f->exp >= 64) {
            q = 0;
            r = t;
        } else {
            q = t >> f->exp;
            r = t & ((1ULL << f->exp) - 1);
        }
        frac = ldexp((double)r, -(int)f->exp);
    } else {
        uint64_t div = 1;
        for (int i = 0; i < f->exp; i++) div *= 10;
        q = t / div;
        r = t % div;
        frac = div_round(r, div);
    }
    double ts = (double)q + frac;
    return ts + (double)f->tsoffset;
}

/* Parse one IDB's link type, snap length and options (if_tsresol 9, if_tsoffset 14). */
static int pcapng_idb(Kernel *k, const uint8_t *blk, Py_ssize_t blen, int64_t offset, Iface *out) {
    int be = k->fs.be;
    out->linktype = rd16(blk + 8, be);
    out->snaplen = rd32(blk + 12, be);
    out->base2 = 0;
    out->exp = 6;
    out->tsoffset = 0;
    Py_ssize_t p = 16, stop = blen - 4;
    while (p + 4 <= stop) {
        uint16_t code = rd16(blk + p, be), length = rd16(blk + p + 2, be);
        if (code == 0) break;
        Py_ssize_t value = p + 4;
        if (value + length > stop) {
            if (emit_warning(k, offset, "interface description block: option runs past the block; ignored") < 0)
                return -1;
            break;
        }
        if (code == 9 && length >= 1) {
            uint8_t res = blk[value], exp = res & 0x7F;
            if (((res & 0x80) && exp > 64) || (!(res & 0x80) && exp > 19)) {
                if (emit_warning(k, offset, "interface description block: unusable if_tsresol 0x%x", res) < 0)
                    return -1;
            } else {
                out->base2 = (res & 0x80) ? 1 : 0;
                out->exp = exp;
            }
        } else if (code == 14 && length >= 8) {
            out->tsoffset = rd_i64(blk + value, be);
        }
        p = value + ((length + 3) & ~3);
    }
    return 0;
}

static int pcapng_block(Kernel *k, Cursor *c) {
    FileState *fs = &k->fs;
    Py_ssize_t avail = c->size - c->pos;
    if (avail < 12) {
        if (!c->final) {
            c->need = 12;
            return ST_NEED;
        }
        if (avail && emit_warning(k, c->base + c->pos, "truncated block header") < 0) return -1;
        return ST_DONE;
    }
    const uint8_t *blk = c->buf + c->pos;
    int64_t here_off = c->base + c->pos;
    uint32_t btype = rd32(blk, fs->be);
    if (btype == PCAPNG_SHB) { /* the byte order may change here, before the length is read */
        if (rd_le32(blk + 8) == PCAPNG_BOM)
            fs->be = 0;
        else if (rd_be32(blk + 8) == PCAPNG_BOM)
            fs->be = 1;
        else {
            if (emit_warning(k, here_off, "section header block with a bad byte-order magic") < 0) return -1;
            return ST_DONE;
        }
    }
    uint32_t blen = rd32(blk + 4, fs->be);
    if (blen < 12 || (blen & 3) || blen > k->max_block) {
        if (emit_warning(k, here_off, "corrupt block (type 0x%x, length %u)", btype, blen) < 0) return -1;
        return ST_DONE;
    }
    if (avail < (Py_ssize_t)blen) {
        if (!c->final) {
            c->need = blen;
            return ST_NEED;
        }
        if (emit_warning(k, here_off, "truncated block (type 0x%x: %lld of %u bytes)", btype, (long long)avail,
                         blen) < 0)
            return -1;
        return ST_DONE;
    }
    if (rd32(blk + blen - 4, fs->be) != blen) {
        if (emit_warning(k, here_off, "corrupt block (type 0x%x): trailing length differs", btype) < 0) return -1;
        return ST_DONE;
    }
    Py_ssize_t here = c->pos;
    c->pos += blen;
    uint32_t caplen, origlen, lt;
    Py_ssize_t start;
    double ts;
    if (btype == PCAPNG_EPB || btype == PCAPNG_OPB) {
        if (fs->skip_section) return ST_MORE;
        if (blen < 32) {
            if (emit_warning(k, here_off, btype == PCAPNG_EPB ? "corrupt enhanced packet block (length %u)"
                                                              : "corrupt packet block (length %u)", blen) < 0)
                return -1;
            return ST_DONE;
        }
        uint32_t ifid = btype == PCAPNG_EPB ? rd32(blk + 8, fs->be) : rd16(blk + 8, fs->be);
        uint32_t tsh = rd32(blk + 12, fs->be), tsl = rd32(blk + 16, fs->be);
        caplen = rd32(blk + 20, fs->be);
        origlen = rd32(blk + 24, fs->be);
        start = here + 28;
        if (ifid >= fs->n_ifaces) {
            if (emit_warning(k, here_off, "packet for undeclared interface %u skipped", ifid) < 0) return -1;
            return ST_MORE;
        }
        const Iface *f = &fs->ifaces[ifid];
        uint32_t limit = (f->snaplen > 0 && f->snaplen <= k->max_caplen) ? f->snaplen : k->max_caplen;
        if (caplen > limit || start + (Py_ssize_t)caplen > c->pos - 4) {
            if (emit_warning(k, here_off, "corrupt packet block (captured length %u, block length %u)", caplen,
                             blen) < 0)
                return -1;
            return ST_DONE;
        }
        ts = pcapng_ts(f, ((uint64_t)tsh << 32) | tsl);
        fs->last_ts = ts;
        note_ts(fs, ts);
        lt = f->linktype;
    } else if (btype == PCAPNG_SPB) {
        if (fs->skip_section) return ST_MORE;
        if (blen < 16) {
            if (emit_warning(k, here_off, "corrupt simple packet block (length %u)", blen) < 0) return -1;
            return ST_DONE;
        }
        if (fs->n_ifaces == 0) {
            if (emit_warning(k, here_off, "simple packet block before any interface skipped") < 0) return -1;
            return ST_MORE;
        }
        origlen = rd32(blk + 8, fs->be);
        const Iface *f = &fs->ifaces[0];
        caplen = origlen < blen - 16 ? origlen : blen - 16;
        if (f->snaplen && f->snaplen < caplen) caplen = f->snaplen;
        start = here + 12;
        ts = fs->last_ts; /* no timestamp of its own; first/last_ts do not move */
        lt = f->linktype;
    } else if (btype == PCAPNG_SHB) {
        if (blen < 28) {
            if (emit_warning(k, here_off, "corrupt section header block (length %u)", blen) < 0) return -1;
            return ST_DONE;
        }
        uint16_t major = rd16(blk + 12, fs->be), minor = rd16(blk + 14, fs->be);
        fs->n_ifaces = 0;
        fs->skip_section = major != 1;
        if (fs->skip_section &&
            emit_warning(k, here_off, "pcapng version %u.%u section skipped", major, minor) < 0)
            return -1;
        return ST_MORE;
    } else if (btype == PCAPNG_IDB) {
        if (fs->skip_section) return ST_MORE;
        if (blen < 20) {
            if (emit_warning(k, here_off, "corrupt interface description block (length %u)", blen) < 0) return -1;
            return ST_DONE;
        }
        if (fs->n_ifaces == fs->cap_ifaces) {
            size_t ncap = fs->cap_ifaces ? fs->cap_ifaces * 2 : 4;
            Iface *n = PyMem_Realloc(fs->ifaces, ncap * sizeof(Iface));
            if (n == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            fs->ifaces = n;
            fs->cap_ifaces = ncap;
        }
        Iface *f = &fs->ifaces[fs->n_ifaces];
        if (pcapng_idb(k, blk, blen, here_off, f) < 0) return -1;
        fs->n_ifaces++;
        if (add_linktype(fs, f->linktype, 1) < 0) {
            PyErr_NoMemory();
            return -1;
        }
        return ST_MORE;
    } else { /* NRB, ISB, DSB, custom, unknown: skipped by length */
        return ST_MORE;
    }
    fs->records++;
    fs->bytes += origlen;
    if (frame(k, c->buf, lt, start, start + caplen, ts, here_off) < 0) return -1;
    return ST_MORE;
}

/* ------------------------------------------------------------------------------------------ */
/* The Python type.                                                                           */

static void file_reset(FileState *fs, int kind) {
    PyMem_Free(fs->ifaces);
    PyMem_Free(fs->linktypes);
    PyMem_Free(fs->unsup);
    PyMem_Free(fs->unsup_index);
    memset(fs, 0, sizeof(FileState));
    fs->kind = kind;
}

static void Kernel_dealloc(Kernel *k) {
    if (k->names != NULL) {
        names_clear(k);
        PyMem_Free(k->names);
    }
    PyMem_Free(k->flows);
    PyMem_Free(k->ips);
    file_reset(&k->fs, 0);
    Py_XDECREF(k->hints_obj);
    Py_XDECREF(k->packet_cls);
    Py_XDECREF(k->prelude_cls);
    Py_XDECREF(k->name6);
    Py_XDECREF(k->s_guess);
    Py_XDECREF(k->s_handshake);
    Py_XDECREF(k->events);
    Py_TYPE(k)->tp_free((PyObject *)k);
}

static int Kernel_init(Kernel *k, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"hints", "unhinted_limit", "idle_timeout", "sweep_every", "max_caplen",
                             "max_block", "max_tags", "max_ext_headers", "addr_cache_size", "packet_cls",
                             "prelude_cls", "name6", "seed", NULL};
    PyObject *hints, *packet_cls, *prelude_cls, *name6;
    unsigned int unhinted_limit, max_caplen, max_block, max_tags, max_ext;
    double idle_timeout;
    unsigned long long sweep_every, seed;
    Py_ssize_t addr_cache_size;
    if (k->flows != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Kernel already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!IdKIIIInOOOK", kwlist, &PyTuple_Type, &hints,
                                     &unhinted_limit, &idle_timeout, &sweep_every, &max_caplen, &max_block,
                                     &max_tags, &max_ext, &addr_cache_size, &packet_cls, &prelude_cls, &name6,
                                     &seed))
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(hints);
    if (n > MAX_HINTS) {
        PyErr_SetString(PyExc_ValueError, "too many hints");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *h = PyTuple_GET_ITEM(hints, i);
        if (!PyBytes_Check(h) || PyBytes_GET_SIZE(h) == 0) {
            PyErr_SetString(PyExc_TypeError, "hints must be non-empty bytes");
            return -1;
        }
        k->hint[i] = (const uint8_t *)PyBytes_AS_STRING(h);
        k->hint_len[i] = PyBytes_GET_SIZE(h);
    }
    if (sweep_every == 0 || unhinted_limit == 0 || addr_cache_size < 1) {
        PyErr_SetString(PyExc_ValueError, "sweep_every, unhinted_limit and addr_cache_size must be positive");
        return -1;
    }
    k->n_hints = (int)n;
    k->hints_obj = Py_NewRef(hints);
    k->unhinted_limit = unhinted_limit;
    k->idle_timeout = idle_timeout;
    k->sweep_every = sweep_every;
    k->max_caplen = max_caplen;
    k->max_block = max_block;
    k->max_tags = max_tags;
    k->max_ext = max_ext;
    k->addr_cache_size = (size_t)addr_cache_size;
    k->packet_cls = Py_NewRef(packet_cls);
    k->prelude_cls = Py_NewRef(prelude_cls);
    k->name6 = Py_NewRef(name6);
    k->seed = seed;
    k->s_guess = PyUnicode_InternFromString("guess");
    k->s_handshake = PyUnicode_InternFromString("handshake");
    k->cap = 1024;
    k->flows = PyMem_Calloc(k->cap, sizeof(Flow));
    k->ips_cap = 1024;
    k->ips = PyMem_Calloc(k->ips_cap, sizeof(IpSlot));
    k->names_cap = 256;
    k->names = PyMem_Calloc(k->names_cap, sizeof(NameSlot));
    if (k->s_guess == NULL || k->s_handshake == NULL) return -1;
    if (k->flows == NULL || k->ips == NULL || k->names == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    file_reset(&k->fs, KIND_PCAP);
    k->fs.done = 1;
    return 0;
}

static int ready(Kernel *k) {
    if (k->flows == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Kernel not initialised");
        return 0;
    }
    return 1;
}

static PyObject *Kernel_begin(Kernel *k, PyObject *arg) {
    if (!ready(k)) return NULL;
    long kind = PyLong_AsLong(arg);
    if (kind == -1 && PyErr_Occurred()) return NULL;
    if (kind != KIND_PCAP && kind != KIND_PCAPNG) {
        PyErr_SetString(PyExc_ValueError, "kind must be 0 (pcap) or 1 (pcapng)");
        return NULL;
    }
    file_reset(&k->fs, (int)kind);
    Py_RETURN_NONE;
}

/* feed(buf, pos, base, final, budget) -> (pos, status, events, need) */
static PyObject *Kernel_feed(Kernel *k, PyObject *args) {
    PyObject *bufobj;
    Py_ssize_t pos, budget;
    long long base;
    int final;
    if (!ready(k)) return NULL;
    if (!PyArg_ParseTuple(args, "OnLpn", &bufobj, &pos, &base, &final, &budget)) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(bufobj, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (pos < 0 || pos > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "pos outside the buffer");
        return NULL;
    }
    k->events = PyList_New(0);
    if (k->events == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Cursor c = {(const uint8_t *)view.buf, view.len, pos, base, final, 0};
    int status = ST_MORE;
    Py_ssize_t start = pos;
    k->stop = 0;
    if (k->fs.done) {
        status = ST_DONE;
    } else {
        for (;;) {
            if (k->fs.kind == KIND_PCAP)
                status = k->fs.started ? pcap_record(k, &c) : pcap_header(k, &c);
            else
                status = pcapng_block(k, &c);
            if (status != ST_MORE) break;
            if (k->stop || c.pos - start >= budget || PyList_GET_SIZE(k->events) >= MAX_EVENTS_PER_CALL) break;
        }
        if (status == ST_DONE) k->fs.done = 1;
    }
    PyBuffer_Release(&view);
    PyObject *events = k->events;
    k->events = NULL;
    if (status < 0) {
        Py_DECREF(events);
        return NULL;
    }
    return Py_BuildValue("(niNn)", c.pos, status, events, c.need);
}

/* Address text -> 16 bytes and family. */
static int parse_addr(PyObject *text, uint8_t *out, uint8_t *v6) {
    const char *s = PyUnicode_AsUTF8(text);
    if (s == NULL) return -1;
    memset(out, 0, 16);
    if (inet_pton(AF_INET, s, out) == 1) {
        *v6 = 0;
        return 0;
    }
    if (inet_pton(AF_INET6, s, out) == 1) {
        *v6 = 1;
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "not an IP address: %R", text);
    return -1;
}

static int get_long_attr(PyObject *obj, const char *name, long long *out) {
    PyObject *v = PyObject_GetAttrString(obj, name);
    if (v == NULL) return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* observe(packet) -> events: a Packet built in Python (a reassembled fragment). */
static PyObject *Kernel_observe(Kernel *k, PyObject *pkt) {
    if (!ready(k)) return NULL;
    Pkt p;
    memset(&p, 0, sizeof(p));
    long long proto, sport, dport, wirelen, flags, seq, ack;
    PyObject *src = NULL, *dst = NULL, *payload = NULL, *ts = NULL, *snapped = NULL;
    PyObject *result = NULL;
    uint8_t v6a, v6b;
    src = PyObject_GetAttrString(pkt, "src");
    dst = PyObject_GetAttrString(pkt, "dst");
    payload = PyObject_GetAttrString(pkt, "payload");
    ts = PyObject_GetAttrString(pkt, "ts");
    snapped = PyObject_GetAttrString(pkt, "snapped");
    if (!src || !dst || !payload || !ts || !snapped) goto done;
    if (get_long_attr(pkt, "proto", &proto) < 0 || get_long_attr(pkt, "sport", &sport) < 0 ||
        get_long_attr(pkt, "dport", &dport) < 0 || get_long_attr(pkt, "wirelen", &wirelen) < 0 ||
        get_long_attr(pkt, "flags", &flags) < 0 || get_long_attr(pkt, "seq", &seq) < 0 ||
        get_long_attr(pkt, "ack", &ack) < 0)
        goto done;
    if (parse_addr(src, p.src, &v6a) < 0 || parse_addr(dst, p.dst, &v6b) < 0) goto done;
    if (v6a != v6b || (proto != TCP && proto != UDP) || !PyBytes_Check(payload)) {
        PyErr_SetString(PyExc_ValueError, "observe: not a TCP/UDP Packet");
        goto done;
    }
    p.v6 = v6a;
    p.proto = (uint8_t)proto;
    p.sport = (uint16_t)sport;
    p.dport = (uint16_t)dport;
    p.ts = PyFloat_AsDouble(ts);
    if (p.ts == -1.0 && PyErr_Occurred()) goto done;
    p.wirelen = wirelen;
    p.flags = (uint8_t)flags;
    p.seq = (uint32_t)seq;
    p.ack = (uint32_t)ack;
    p.snapped = PyObject_IsTrue(snapped);
    p.payload = (const uint8_t *)PyBytes_AS_STRING(payload);
    p.plen = PyBytes_GET_SIZE(payload);
    p.obj = pkt;
    k->events = PyList_New(0);
    if (k->events == NULL) goto done;
    if (on_packet(k, &p) < 0) {
        Py_CLEAR(k->events);
        goto done;
    }
    result = k->events;
    k->events = NULL;
done:
    Py_XDECREF(src);
    Py_XDECREF(dst);
    Py_XDECREF(payload);
    Py_XDECREF(ts);
    Py_XDECREF(snapped);
    return result;
}

/* ignore(a, ap, b, bp, proto, fid) -> bool: Python stopped inspecting flow instance `fid`. */
static PyObject *Kernel_ignore(Kernel *k, PyObject *args) {
    PyObject *a, *b;
    int ap, bp, proto;
    unsigned long long fid;
    if (!ready(k)) return NULL;
    if (!PyArg_ParseTuple(args, "UiUiiK", &a, &ap, &b, &bp, &proto, &fid)) return NULL;
    Pkt p;
    memset(&p, 0, sizeof(p));
    uint8_t v6a, v6b;
    if (parse_addr(a, p.src, &v6a) < 0 || parse_addr(b, p.dst, &v6b) < 0) return NULL;
    if (v6a != v6b) Py_RETURN_FALSE;
    p.v6 = v6a;
    p.sport = (uint16_t)ap;
    p.dport = (uint16_t)bp;
    p.proto = (uint8_t)proto;
    Flow *f = flow_find(k, &p, flow_hash(k->seed, &p));
    if (f == NULL || f->fid != fid || f->state != FLOW_PYTHON) Py_RETURN_FALSE;
    f->state = FLOW_IGNORED;
    Py_RETURN_TRUE;
}

static PyObject *Kernel_file_stats(Kernel *k, PyObject *Py_UNUSED(ignored)) {
    if (!ready(k)) return NULL;
    FileState *fs = &k->fs;
    PyObject *lts = PyList_New((Py_ssize_t)fs->n_linktypes);
    if (lts == NULL) return NULL;
    for (size_t i = 0; i < fs->n_linktypes; i++) PyList_SET_ITEM(lts, i, PyLong_FromUnsignedLong(fs->linktypes[i]));
    PyObject *uns = PyList_New((Py_ssize_t)fs->n_unsup);
    if (uns == NULL) {
        Py_DECREF(lts);
        return NULL;
    }
    for (size_t i = 0; i < fs->n_unsup; i++)
        PyList_SET_ITEM(uns, i, Py_BuildValue("(ILK)", fs->unsup[i].linktype, (long long)fs->unsup[i].offset,
                                              (unsigned long long)fs->unsup[i].count));
    PyObject *lo = fs->have_ts ? PyFloat_FromDouble(fs->lo) : Py_NewRef(Py_None);
    PyObject *hi = fs->have_ts ? PyFloat_FromDouble(fs->hi) : Py_NewRef(Py_None);
    return Py_BuildValue("(KKNNNNKKK)", (unsigned long long)fs->records, (unsigned long long)fs->bytes, lo, hi,
                         lts, uns, (unsigned long long)fs->malformed, (unsigned long long)fs->truncated,
                         (unsigned long long)fs->decoded);
}

static PyObject *Kernel_counts(Kernel *k, PyObject *Py_UNUSED(ignored)) {
    if (!ready(k)) return NULL;
    return Py_BuildValue("(KKK)", (unsigned long long)k->flows_seen, (unsigned long long)k->ips_count,
                         (unsigned long long)k->selected);
}

static PyMethodDef Kernel_methods[] = {
    {"begin", (PyCFunction)Kernel_begin, METH_O, "begin(kind): start a file (0 pcap, 1 pcapng)"},
    {"feed", (PyCFunction)Kernel_feed, METH_VARARGS,
     "feed(buf, pos, base, final, budget) -> (pos, status, events, need)"},
    {"observe", (PyCFunction)Kernel_observe, METH_O, "observe(packet) -> events"},
    {"ignore", (PyCFunction)Kernel_ignore, METH_VARARGS, "ignore(a, ap, b, bp, proto, fid) -> bool"},
    {"file_stats", (PyCFunction)Kernel_file_stats, METH_NOARGS,
     "file_stats() -> (records, bytes, first_ts, last_ts, linktypes, unsupported, malformed, truncated, decoded)"},
    {"counts", (PyCFunction)Kernel_counts, METH_NOARGS, "counts() -> (flows_seen, distinct_ips, selected)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "detector._fastpath.Kernel",
    .tp_basicsize = sizeof(Kernel),
    .tp_dealloc = (destructor)Kernel_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Record walker, decoder and pre-inspection flow table of one scan.",
    .tp_methods = Kernel_methods,
    .tp_init = (initproc)Kernel_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef fastpath_module = {
    PyModuleDef_HEAD_INIT, .m_name = "detector._fastpath",
    .m_doc = "Compiled fast path of minesweep scan (see detector/capture/fast.py).", .m_size = -1,
};

PyMODINIT_FUNC PyInit__fastpath(void) {
    if (PyType_Ready(&KernelType) < 0) return NULL;
    PyObject *m = PyModule_Create(&fastpath_module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Kernel", (PyObject *)&KernelType) < 0 ||
        PyModule_AddIntConstant(m, "EV_PACKET", EV_PACKET) < 0 ||
        PyModule_AddIntConstant(m, "EV_PRELUDE", EV_PRELUDE) < 0 ||
        PyModule_AddIntConstant(m, "EV_SWEEP", EV_SWEEP) < 0 ||
        PyModule_AddIntConstant(m, "EV_WARN", EV_WARN) < 0 ||
        PyModule_AddIntConstant(m, "EV_FRAGMENT", EV_FRAGMENT) < 0 ||
        PyModule_AddIntConstant(m, "ST_MORE", ST_MORE) < 0 ||
        PyModule_AddIntConstant(m, "ST_NEED", ST_NEED) < 0 ||
        PyModule_AddIntConstant(m, "ST_DONE", ST_DONE) < 0 ||
        PyModule_AddIntConstant(m, "KIND_PCAP", KIND_PCAP) < 0 ||
        PyModule_AddIntConstant(m, "KIND_PCAPNG", KIND_PCAPNG) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
