/*
 * detector._fastpath — the compiled fast path of `minesweep scan`.
 *
 * One Kernel object lives for one scan (several files). It walks the records of a pcap or pcapng
 * buffer, decodes link / IP / TCP / UDP exactly like detector/capture (link.py, ip.py, pcap.py,
 * pcapng.py), and keeps the per-flow bookkeeping that detector/flows.py's FlowTable.add/_tcp do
 * for flows nobody inspects yet ("new") or any more ("ignored"). Python only receives the packets
 * it would actually look at, as batches of events, in capture order:
 *
 *   (EV_PRELUDE, fid, Prelude)       a flow is handed over: its state before the next packet
 *   (EV_PACKET, fid, Packet)         a packet for FlowTable.add
 *   (EV_ACKS, fid, key, packets, bytes, flags, pushes, last_ts)
 *                                    pure ACKs of a handed-over flow held back (FlowTable.credit);
 *                                    last_ts is None when a later packet was handed over
 *   (EV_SWEEP, ts)                   the idle sweep ran after this packet (FlowTable.sweep(ts))
 *   (EV_WARN, offset, message)       a capture warning, same wording and offset as the Python stage
 *   (EV_FRAGMENT, version, ip, ts)   an IP fragment (ip = bytes of the IP packet): Python
 *                                    reassembles it and feeds the result back with observe()
 *   (EV_SUMMARY, fid, FlowSummary)   a flow ended (replaced, idle, swept, or finish()): its summary
 *   (EV_DNS, ts, receiver, message)  a DNS response (UDP, port 53, QR set; dns_events=True) for
 *                                    FlowTable.dns_answer: the DNS flow itself stays with the kernel
 *   (EV_BEHAVIOUR, a, b, bp, flags_a, flags_b, client_is_a, silent)   at finish(), with
 *                                    summary_gate, a flow whose summary only Behaviour.tcp reads
 *   (EV_ANSWERS, ts, receiver, asked, ((address, asked), ...))   with dns_answers=True, instead of
 *                                    EV_DNS for the common response the kernel reads itself (see
 *                                    dns_answers): detector.dialects.dns.answered_addresses of it,
 *                                    for FlowTable.dns_answered
 *
 * Flow states: NEW (kernel-owned, tracked), IGNORED (nobody looks at its payload), PYTHON (every
 * packet goes to Python: an inspected TCP flow, a UDP flow on port 53 without dns_events, or a
 * flow that replaced a PYTHON flow). A PYTHON flow becomes IGNORED when Python says so
 * (Kernel.ignore) — or a NEW flow at once, when its first hinted segment is a ClientHello that
 * TlsWatch would settle as an ordinary server's (pool_domains given; see "Settling ordinary TLS").
 *
 * Two halves. The walk (records, link / IP / TCP decoding, the flow table, the selection) touches
 * no Python object: it runs with the GIL released and records its events as plain C structs in a
 * BatchData (decoded fields, payloads as pointers into the caller's buffer, prelude snapshots,
 * warning texts). Materialisation turns a batch into Python objects, one event per step of the
 * Batch iterator, holding the GIL. The walk runs either in the calling thread (walk(), feed()) or
 * in a walker thread of the kernel (start() / next() / stop()): a POSIX thread, not a Python
 * one, because a Python thread would need the GIL back after every walk and wait up to the
 * interpreter's switch interval (5 ms) for a main thread busy in FlowTable. The walker keeps at
 * most WALK_AHEAD finished batches queued ahead of the one Python is dispatching (so that neither
 * side waits for the other's uneven batches), and waits after a batch that ends at a fragment (the
 * barrier: observe() must run the reassembled packet through the flow table before the walk goes
 * on); the call of next() after the one that took that batch releases it.
 *
 * Ignores. Kernel.ignore() never touches the flow table (the walker may be using it): it queues
 * the flow (under a mutex) and puts its serial number in the skip set; the next walk (or observe)
 * applies the queued ignores first, to the flow of that serial number only (a newer flow on the
 * same tuple keeps its state), and lists them in its batch. The Batch iterator drops PACKET and
 * ACKS events of flows in the skip set, so packets walked before the kernel saw the ignore never
 * reach FlowTable (nor become Python objects); an entry leaves the set when the batch that
 * applied it is iterated (that batch and later ones hold no event of the flow).
 *
 * Summaries (summary_cls given). Every flow, whoever inspects it, keeps the flow-shape counters
 * of detector/flows.py's Direction / Flow (packets, bytes, payload packets and bytes, sum of
 * squared payload lengths, PSH count, OR of the flags, gaps between payload packets, the first
 * FIRST_PAYLOADS payload sizes, who sent the first SYN) over every packet the kernel sees: held
 * ACKs, packets of flows Python inspects or ignored, reassembled fragments (observe()). Where
 * FlowTable._end would end the flow — a SYN reusing a finished flow's tuple, a packet after
 * IDLE_TIMEOUT, the sweep, the end of the scan (finish()) — the kernel emits its FlowSummary,
 * equal to detector.flows.summarise(): the float sums add the same doubles in the same order
 * (built with -ffp-contract=off). Flows ending together (sweep, finish) come in creation order,
 * as FlowTable ends them, so the summaries arrive in the pure path's order. With
 * tcp_summaries_only, the summaries of other flows are not made (a table that neither keeps nor
 * reads them: detector.behaviour.SummaryStore).
 *
 * Behaviour only (summary_gate given). A store that reads few summaries beyond the behaviour of
 * their hosts (SummaryStore: detector/scan.py reads flows that flowshape.eligible passes, flows
 * whose first payloads may open a Stratum V2 handshake, and the flows of sessions, by 4-tuple) is
 * given, at finish(), every other live TCP flow as (EV_BEHAVIOUR, a, b, bp, flags_a, flags_b,
 * client_is_a, silent): what Behaviour.tcp reads of its FlowSummary. A flow's summary is read when
 * its 4-tuple (either orientation, any protocol) is in the set `kept`: the tuples finish(read=...)
 * is given (the table's sessions and live flows: every session comes from one of them, or from a
 * flow the gate passes), the tuples of the flows the gate passes — duration >= min_duration,
 * payload packets >= min_packets in all and >= min_each each way, or at least min_first first
 * payloads of which the first has one of first_sizes — at finish() or ended earlier: a session's
 * summary is looked up by its 4-tuple among every flow of it. (A flow still held at finish() is
 * not Python's and never was: the kernel held it because the table would record nothing of it.)
 * Summaries emitted during the walk stay whole (a later flow on the same tuple may be read).
 *
 * Held ACKs (hold_acks=True). A pure ACK of a PYTHON TCP flow (no payload, no SYN / FIN / RST)
 * only moves the flow's counters in FlowTable.add. The kernel keeps those counts and hands them
 * over (EV_ACKS) only where FlowTable reads them: before a packet of the flow that FlowTable
 * would otherwise find idle, before the flow is replaced (its end), before every idle sweep and
 * at the end of each file. Everything else FlowTable computes is unchanged.
 *
 * Python API (see detector/capture/fast.py, which drives it; detector/_fastpath.pyi):
 *   Kernel(hints, unhinted_limit, idle_timeout, sweep_every, max_caplen, max_block, max_tags,
 *          max_ext_headers, addr_cache_size, packet_cls, prelude_cls, name6, seed, hold_acks=False,
 *          summary_cls=None, first_payloads=8, dns_events=False, pool_domains=None,
 *          download_magic=None, script_types=None, peek_bytes=64, methods=None, message_limit=16,
 *          foreign_limit=4, tcp_summaries_only=False, dns_answers=False, summary_gate=None)
 *   begin(kind)                       start a file: 0 = pcap, 1 = pcapng
 *   walk(buf, pos, base, final, budget) -> Batch    one walk in this thread (GIL released)
 *   feed(buf, pos, base, final, budget) -> (pos, status, events, need)   walk + list(batch)
 *   start(buf, pos, base, budget, hasher=None)   walk the whole of buf (final) in the walker thread;
 *                                     a Hasher's gate is closed while the walker walks
 *   next() -> Batch | None            the next batch of the walker (None once it has ended)
 *   stop()                            end and join the walker, release buf (idempotent)
 *   observe(packet) -> Batch          a reassembled Packet, through the same per-packet logic
 *   ignore(a, ap, b, bp, proto, fid)  Python stopped inspecting flow instance `fid`
 *   finish(read=None) -> Batch        end of the scan: held counts, then every live flow's summary
 *                                     (or behaviour; read: see "Behaviour only"); the table is emptied
 *   file_stats() -> (records, bytes, first_ts, last_ts, linktypes, unsupported, malformed,
 *                    truncated, decoded)
 *   counts() -> (flows_seen, distinct_ips, selected, held, tls_settled, http_settled, rpc_settled)
 *   Batch: iterator of event tuples; pos, status, need, decoded, barrier; close()
 *   Hasher(fd, size, held=False): SHA-256 of a file's first size bytes in a thread (then owns fd); digest() -> str
 *                     | None, cancel(), hold(closed). Raises RuntimeError without hashlib's libcrypto
 *
 * No Python object is created for a packet that is not selected; memory grows with the number of
 * live flows (swept when idle) and distinct addresses only; a batch holds at most
 * MAX_EVENTS_PER_CALL events (plus the held-ACK counts and the summaries of the flows ended by
 * one sweep; finish() holds one summary per live flow).
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE /* SCHED_IDLE among others */
#include <Python.h>
#include <structmember.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* Protocol numbers (https://www.tcpdump.org/linktypes.html, IEEE 802 ethertypes, IANA).       */

#define TCP 6
#define UDP 17
#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_PSH 0x08
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

enum { EV_PACKET = 0, EV_PRELUDE = 1, EV_SWEEP = 2, EV_WARN = 3, EV_FRAGMENT = 4, EV_ACKS = 5, EV_SUMMARY = 6,
       EV_DNS = 7, EV_ANSWERS = 8, EV_BEHAVIOUR = 9 };
enum { ST_MORE = 0, ST_NEED = 1, ST_DONE = 2 };
enum { FLOW_EMPTY = 0, FLOW_NEW = 1, FLOW_PYTHON = 2, FLOW_IGNORED = 3, FLOW_HELD = 4 };
enum { HELD_GET = 0, HELD_LINES = 1, HELD_HTTP = 2 };
enum { V_HAND = 0, V_HOLD = 1, V_SETTLE = 2, V_PART = 3 }; /* what a held flow's next packet decides
                                                      * (V_PART: an HTTP message begun, not ended) */
enum { KIND_PCAP = 0, KIND_PCAPNG = 1 };
enum { DEC_NONE = 0, DEC_PACKET = 1, DEC_FRAGMENT = 2 };
enum { ERR_NONE = 0, ERR_NOMEM = 1, ERR_VALUE = 2 };

#define MAX_HINTS 32
#define MAX_EVENTS_PER_CALL 65536
#define WALK_AHEAD 16 /* finished batches the walker keeps ahead of the one Python dispatches: with 4, Python
                       * waited ~0.06 s for batches on the 1M-packet benchmark (runs of cheap batches), with
                       * 16 ~0.02 s; the cost is up to 16 x BUDGET of mapped pages resident (~+40 MB RSS) */
#define MAX_FIELDS 20
#define MAX_FIRST_PAYLOADS 16  /* the most (direction, length) pairs a summary can keep */
#define CLIENT_BYTES (16 << 10) /* detector/encrypted.py CLIENT_BYTES: ClientHello bytes TlsWatch keeps */
#define MAX_POOL_IPS (1 << 20)  /* addresses DNS answers gave pool names, remembered (then: unsure) */
#define DNS_MAX_RECORDS 1024    /* detector/dialects/dns.py MAX_RECORDS */
#define SMALL_PAIR 64            /* (x, y) pairs of counts below this are shared tuples */
#define FIRST_PAIR_SIZE 2048     /* (direction, size) pairs of first payloads below this are shared */
#define PAIR_SLOTS (SMALL_PAIR * SMALL_PAIR + 2 * FIRST_PAIR_SIZE)
#define MAX_NAME_TEXT 253       /* a comparable name (detector/sidecar/intel.py normalise_name) */
#define MAX_MAGIC 16            /* download magic numbers (detector/behaviour.py DOWNLOAD_MAGIC) */
#define MAX_SCRIPT_TYPES 32     /* script content types (detector/behaviour.py SCRIPT_TYPES) */
#define HTTP_REQUEST_MAX 2048   /* longest GET segment held while its response is awaited */
#define HELD_PACKETS 40         /* packets a held flow keeps (then it is handed over) */
#define HELD_BYTES (16 << 10)   /* payload bytes a held flow keeps */
#define MAX_HELD_FLOWS 8192     /* flows held at once (beyond, flows are handed over at once):
                                 * with the two limits above, at most ~160 MB */
#define JSON_DEPTH 32           /* nesting the kernel's JSON check follows (deeper: handed over) */
#define HTTP_HEADER_LINES 200   /* Framer._http_head reads lines[1:200] */
#define HTTP_VALUE_MAX 1024     /* ... and keeps value.strip()[:1024] */

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
    const uint8_t *payload;   /* into the walked buffer, or into obj's payload */
    Py_ssize_t plen;          /* < 2^32: a record's caplen is 32 bits; observe() refuses longer */
    PyObject *obj;            /* the Packet object when Python built it (observe), else NULL;
                               * borrowed: the observe batch holds a reference */
} Pkt;

/* One flow: exactly the fields of detector.flows.Prelude, plus lifecycle, identity, the
 * flow-shape accumulators of its summary and the counts of held-back pure ACKs. */
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
    double last_ts;           /* in the first cache line with the key, hash and state: what a
                               * lookup, the idle check and the sweep's pass over the table read */
    uint64_t hash;
    uint32_t next_seq[2];
    uint32_t unhinted;
    uint32_t slot;            /* its place in the kernel's store of flows, from 1 (see "The flow table") */
    uint64_t fid;             /* serial number of this flow instance (1, 2, ...) */
    uint64_t packets[2], bytes[2], payload[2];
    double first_ts;
    /* flow-shape accumulators of every packet, per direction (Direction in detector/flows.py;
     * emitted as a FlowSummary when the flow ends) */
    uint8_t flags_or[2];      /* OR of the TCP flags */
    uint8_t has_pts;          /* bit d: last_pts[d] is set (a payload packet was seen) */
    uint8_t n_first;          /* first payload packets noted (at most k->first_payloads) */
    uint16_t first_dir;       /* bit i: the i-th noted payload packet went b->a */
    uint64_t pushes[2], payload_packets[2];
    double last_pts[2];       /* time of the last payload packet */
    uint64_t gap_n[2];        /* gaps between consecutive payload packets: count, sum, sum of squares */
    double gap_sum[2], gap_sumsq[2];
    uint64_t sumsq_lo[2], sumsq_hi[2]; /* sum of payload length squared, 128 bits */
    /* PYTHON flows: pure ACKs not handed over yet (per direction) and what FlowTable knows */
    uint8_t held;             /* some counts are held */
    uint8_t held_last;        /* the flow's last packet is a held one, at held_ts */
    uint8_t held_flags[2];    /* OR of their TCP flags */
    uint32_t held_pushes[2];  /* those with PSH set */
    uint64_t held_packets[2], held_bytes[2];
    double held_ts;
    double py_ts;             /* the flow's last_ts as FlowTable holds it */
    struct Held *held_pkts;   /* HELD flows: their packets so far */
    uint32_t first_len[MAX_FIRST_PAYLOADS]; /* lengths of the first payload packets */
} Flow;

/* An entry of the flow table's index: the low 32 bits of a flow's hash and its slot (0: empty). */
typedef struct {
    uint32_t h32, slot;
} FlowRef;

/* The packets of a HELD flow (see "Holding flows" below): copies, with the flow's counts before
 * the first of them (the Prelude's, should the flow be handed over) and what they told so far. */
typedef struct Held {
    uint64_t packets[2], bytes[2], payload[2];
    double last_ts;
    uint8_t fin, rst;
    uint8_t mode;             /* HELD_GET, HELD_LINES, HELD_HTTP */
    uint8_t dir;              /* direction of the first held packet */
    uint8_t has_next;         /* bit d: next[d] is set */
    uint32_t next[2];         /* where each direction's stream stands (FlowTable's Reassembler) */
    uint32_t messages, foreign; /* FlowTable's flow.messages and flow.foreign */
    uint8_t pending;          /* HELD_HTTP: a message has begun and not ended (its bytes: data[pend_from:]) */
    uint8_t pend_dir;         /* its direction */
    uint32_t pend_from, pend_total; /* where it starts in data, and its length (head and body) */
    uint32_t n;               /* packets held */
    Pkt pkts[HELD_PACKETS];   /* payload: NULL until handed over; off[i] into data */
    uint32_t off[HELD_PACKETS];
    uint8_t *data;
    size_t used, cap;
} Held;

static void held_free(struct Held *h) {
    if (h == NULL) return;
    PyMem_RawFree(h->data);
    PyMem_RawFree(h);
}

/* One distinct address (the "IPs screened" set). */
typedef struct {
    uint8_t used, v6;
    uint8_t addr[16];
} IpSlot;

/* One 4-tuple (two endpoints, in a canonical order: either orientation is the same tuple) of the
 * set of tuples whose summaries are read (summary_gate). */
typedef struct {
    uint8_t used, v6;
    uint16_t lo_port, hi_port;
    uint8_t lo[16], hi[16];
} TupleSlot;

/* A set of strings (pool domains, JSON-RPC method names): open addressing over their hashes,
 * their bytes in one blob. */
typedef struct {
    uint64_t hash;            /* 0: empty slot */
    size_t off, len;
} StrSlot;

typedef struct {
    char *blob;
    StrSlot *slots;
    size_t cap;               /* 0: empty set */
} StrSet;

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


/* One event of a batch, as plain data (materialised by the Batch iterator). */
typedef struct {
    uint8_t kind;             /* EV_* */
    uint64_t fid;             /* PACKET, PRELUDE, ACKS: the flow's serial number */
    union {
        Pkt pkt;              /* PACKET */
        size_t flow;          /* PRELUDE, ACKS: index of the flow's snapshot in BatchData.flows */
        double ts;            /* SWEEP */
        struct {              /* BEHAVIOUR: the fields of the flow the event gives (emit_behaviour) */
            uint8_t a[16], b[16];
            uint16_t bp;
            uint8_t v6, flags_a, flags_b;
            uint8_t client;   /* client_is_a: 0 False, 1 True, 2 None (no handshake) */
            uint8_t silent;   /* no payload either way */
        } beh;
        struct {
            int64_t offset;
            size_t at, len;   /* the message in BatchData.text */
        } warn;
        struct {
            int version;
            const uint8_t *data; /* into the walked buffer */
            Py_ssize_t len;
            double ts;
        } frag;
    } u;
} Ev;

/* What one walk produced: its events and where it stopped. Allocated and filled without the GIL
 * (PyMem_Raw*), owned by the walker until handed over, then by a Batch object. */
typedef struct BatchData {
    struct BatchData *later;  /* the next finished batch in the walker's queue */
    Ev *ev;
    size_t n, cap;
    Flow *flows;              /* snapshots for PRELUDE and ACKS events */
    size_t n_flows, cap_flows;
    char *text;               /* warning messages */
    size_t n_text, cap_text;
    uint64_t *applied;        /* serial numbers whose ignore this walk applied before walking */
    size_t n_applied, cap_applied;
    struct Held **owned;      /* held packets handed over: their events point into them */
    size_t n_owned, cap_owned;
    Py_ssize_t pos, need;
    int status;               /* ST_*, or -1: err says why */
    int barrier;              /* the walk stopped after a fragment */
    uint64_t decoded;         /* the file's TCP/UDP packets decoded so far */
    int err;                  /* ERR_* */
    char errmsg[96];
} BatchData;

/* ------------------------------------------------------------------------------------------ */
/* Hashing a file beside the walk (Hasher).                                                   */
/* Every capture's SHA-256 goes into the findings. A Hasher computes it in a POSIX thread of its
 * own, reading the file through a descriptor it owns (pread, HASH_PIECE bytes at a time) and
 * hashing with the SHA-256 of the libcrypto that Python's hashlib has already loaded (looked up
 * with dlopen(RTLD_NOLOAD): nothing is linked or loaded that the interpreter did not load; where
 * it is not there, Hasher() raises and detector/prehash.py hashes in a Python thread).
 * No GIL is needed between pieces, so a piece can be small enough to stay in the core's cache.
 *
 * The gate. On a 2-core machine the walk should not wait for the hash: the table waits for the
 * walk, and the hash is needed only when the findings are written. A kernel given a Hasher
 * (start(..., hasher)) closes its gate while the walker walks a batch with fewer than GATE_AHEAD
 * batches queued ahead of Python, and opens it while the walker is that far ahead, waits
 * (WALK_AHEAD batches queued, a fragment) or has ended: the hash takes the walker's core only
 * when the walker has time to spare, and runs freely before and after the walk. Measured on the
 * 1M-packet benchmark: closing it whenever the walker walks left the hash ~0.12 s short when the
 * findings needed it; opening it also while Python waits for a batch was slower (0.92 vs 0.85 s),
 * as the scheduler put the hash on the walker's core as often as on the idle one.
 *
 * Idle time only. Where this process may give a thread the SCHED_IDLE policy and take it back
 * (CAP_SYS_NICE, or an RLIMIT_NICE that allows nice 0: tried once, in a thread of its own), the
 * Hasher's thread runs at SCHED_IDLE instead and the walker leaves the gate open: the scheduler
 * then gives the hash every moment a core would otherwise be idle — Python waiting for a batch,
 * the walker waiting for Python, the command's imports — and takes the core back the moment
 * anything else wants it. Whoever waits for the digest (digest()) gives the thread its normal
 * policy back first: from then on the hash is what the process waits for. Measured on the
 * 1M-packet benchmark, interleaved runs of the command: medians 0.648 -> 0.635 s (12 runs) and
 * 0.625 -> 0.622 s (14 runs), the slowest run 0.673 -> 0.632 s. */

#define GATE_AHEAD 12 /* batches queued ahead of Python from which the walker shares its core */
#define HASH_PIECE (256 << 10) /* bytes read and hashed per step (fits a core's L2 cache) */

typedef struct {
    void *(*ctx_new)(void);
    void (*ctx_free)(void *);
    const void *(*md)(void);
    int (*init)(void *, const void *, void *);
    int (*update)(void *, const void *, size_t);
    int (*final)(void *, unsigned char *, unsigned int *);
} Crypto;

static Crypto crypto;
static int crypto_state; /* 0 not looked for yet, 1 found, -1 not there (GIL held when set) */

static int crypto_find(void) {
    if (crypto_state == 0) {
        static const char *names[] = {"libcrypto.so.3", "libcrypto.so.1.1", NULL};
        crypto_state = -1;
        for (int i = 0; names[i] != NULL && crypto_state < 0; i++) {
            void *lib = dlopen(names[i], RTLD_NOW | RTLD_NOLOAD);
            if (lib == NULL) continue;
            crypto.ctx_new = (void *(*)(void))dlsym(lib, "EVP_MD_CTX_new");
            crypto.ctx_free = (void (*)(void *))dlsym(lib, "EVP_MD_CTX_free");
            crypto.md = (const void *(*)(void))dlsym(lib, "EVP_sha256");
            crypto.init = (int (*)(void *, const void *, void *))dlsym(lib, "EVP_DigestInit_ex");
            crypto.update = (int (*)(void *, const void *, size_t))dlsym(lib, "EVP_DigestUpdate");
            crypto.final = (int (*)(void *, unsigned char *, unsigned int *))dlsym(lib, "EVP_DigestFinal_ex");
            if (crypto.ctx_new && crypto.ctx_free && crypto.md && crypto.init && crypto.update && crypto.final)
                crypto_state = 1; /* the handle is kept: the library stays loaded */
            else
                dlclose(lib);
        }
    }
    return crypto_state > 0;
}

typedef struct {
    PyObject_HEAD
    pthread_t thread;
    int started;
    int fd;                   /* owned: closed by the thread when it ends */
    int64_t size;             /* bytes to hash from offset 0 */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int closed;               /* the gate: the thread waits while it is closed */
    int idle;                 /* the thread runs at SCHED_IDLE (the walker leaves the gate open) */
    int cancelled, done, ok;
    unsigned char md[32];
} Hasher;

/* Close or open the gate. `paced`: the walker asks, and a thread at SCHED_IDLE is never held. */
static void hasher_gate(Hasher *h, int closed, int paced) {
    pthread_mutex_lock(&h->mu);
    if (paced && h->idle) closed = 0;
    if (h->closed != closed) {
        h->closed = closed;
        if (!closed) pthread_cond_broadcast(&h->cv); /* the thread and digest() callers wait on it */
    }
    pthread_mutex_unlock(&h->mu);
}

/* SCHED_IDLE, then the normal policy back, in a thread of its own: 1 where both are allowed. */
static void *idle_probe_main(void *arg) {
    struct sched_param sp = {0};
    *(int *)arg = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0 &&
                  pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp) == 0;
    return NULL;
}

static int idle_state; /* 0 not tried yet, 1 allowed, -1 not (GIL held when set) */

static int idle_allowed(void) {
    if (idle_state == 0) {
        pthread_t t;
        int ok = 0;
        idle_state = -1;
        if (pthread_create(&t, NULL, idle_probe_main, &ok) == 0 && pthread_join(t, NULL) == 0 && ok) idle_state = 1;
    }
    return idle_state > 0;
}

/* The thread's normal policy back (the digest is waited for); h->mu held. */
static void hasher_wake(Hasher *h) {
    if (h->idle && !h->done) {
        struct sched_param sp = {0};
        pthread_setschedparam(h->thread, SCHED_OTHER, &sp);
    }
    h->idle = 0;
}

static void *hasher_main(void *arg) {
    Hasher *h = arg;
    int ok = 0;
    pthread_mutex_lock(&h->mu);
    if (h->idle) {
        struct sched_param sp = {0};
        if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0) h->idle = 0;
    }
    pthread_mutex_unlock(&h->mu);
    uint8_t *buf = malloc(HASH_PIECE);
    void *ctx = buf == NULL ? NULL : crypto.ctx_new();
    if (ctx != NULL && crypto.init(ctx, crypto.md(), NULL) == 1) {
        int64_t off = 0;
        ok = 1;
        while (off < h->size) {
            pthread_mutex_lock(&h->mu);
            while (h->closed && !h->cancelled) pthread_cond_wait(&h->cv, &h->mu);
            int cancelled = h->cancelled;
            pthread_mutex_unlock(&h->mu);
            if (cancelled) {
                ok = 0;
                break;
            }
            size_t want = h->size - off < HASH_PIECE ? (size_t)(h->size - off) : HASH_PIECE;
            ssize_t n = pread(h->fd, buf, want, (off_t)off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0 || crypto.update(ctx, buf, (size_t)n) != 1) { /* shorter than its size said */
                ok = 0;
                break;
            }
            off += n;
        }
        unsigned int len = 0;
        if (ok && (crypto.final(ctx, h->md, &len) != 1 || len != 32)) ok = 0;
    }
    if (ctx != NULL) crypto.ctx_free(ctx);
    free(buf);
    close(h->fd);
    pthread_mutex_lock(&h->mu);
    h->ok = ok;
    h->done = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* Hasher(fd, size, held=False): hash the first `size` bytes of the file open as `fd` (the Hasher
 * owns it once made: its thread closes it; if this raises, the caller still owns it); `held`:
 * the gate starts closed. */
static int Hasher_init(Hasher *h, PyObject *args, PyObject *kwds) {
    int fd, held = 0;
    long long size;
    static char *kwlist[] = {"fd", "size", "held", NULL};
    if (h->started) {
        PyErr_SetString(PyExc_RuntimeError, "Hasher already started");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iL|p", kwlist, &fd, &size, &held)) return -1;
    if (fd < 0 || size < 0) {
        PyErr_SetString(PyExc_ValueError, "fd and size must not be negative");
        return -1;
    }
    if (!crypto_find()) {
        PyErr_SetString(PyExc_RuntimeError, "no libcrypto loaded by hashlib to hash with");
        return -1;
    }
    h->fd = fd;
    h->size = size;
    h->closed = held;
    h->cancelled = h->done = h->ok = 0;
    h->idle = idle_allowed();
    if (pthread_mutex_init(&h->mu, NULL) != 0 || pthread_cond_init(&h->cv, NULL) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot make the Hasher's lock");
        return -1;
    }
    if (pthread_create(&h->thread, NULL, hasher_main, h) != 0) {
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        PyErr_SetString(PyExc_RuntimeError, "cannot start the Hasher's thread");
        return -1;
    }
    h->started = 1;
    return 0;
}

/* Wait up to ~0.1 s for the hash to end; whether it has. */
static int hasher_wait(Hasher *h) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->mu);
    hasher_wake(h);
    while (!h->done && pthread_cond_timedwait(&h->cv, &h->mu, &until) != ETIMEDOUT) {}
    int done = h->done;
    pthread_mutex_unlock(&h->mu);
    return done;
}

/* digest() -> str | None: the hex digest (waiting for it), None if the file could not be read
 * to its size or the hash was cancelled. */
static PyObject *Hasher_digest(Hasher *h, PyObject *Py_UNUSED(ignored)) {
    if (!h->started) {
        PyErr_SetString(PyExc_RuntimeError, "Hasher not started");
        return NULL;
    }
    for (;;) { /* in slices, so that Ctrl-C is not held up until a large file is hashed */
        int done;
        Py_BEGIN_ALLOW_THREADS
        done = hasher_wait(h);
        Py_END_ALLOW_THREADS
        if (done) break;
        if (PyErr_CheckSignals() < 0) return NULL;
    }
    if (!h->ok) Py_RETURN_NONE;
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", h->md[i]);
    return PyUnicode_FromStringAndSize(hex, 64);
}

/* Ask the thread to stop after the piece in hand (h started). */
static void hasher_cancel(Hasher *h) {
    pthread_mutex_lock(&h->mu);
    hasher_wake(h); /* to end soon, whatever else runs */
    h->cancelled = 1;
    pthread_cond_broadcast(&h->cv); /* the thread and digest() callers wait on it */
    pthread_mutex_unlock(&h->mu);
}

static PyObject *Hasher_cancel(Hasher *h, PyObject *Py_UNUSED(ignored)) {
    if (h->started) hasher_cancel(h);
    Py_RETURN_NONE;
}

/* hold(closed): close (True) or open the gate by hand (what a kernel's walker does). */
static PyObject *Hasher_hold(Hasher *h, PyObject *arg) {
    int closed = PyObject_IsTrue(arg);
    if (closed < 0) return NULL;
    if (h->started) hasher_gate(h, closed, 0);
    Py_RETURN_NONE;
}

static void Hasher_dealloc(Hasher *h) {
    if (h->started) {
        hasher_cancel(h);
        pthread_join(h->thread, NULL); /* at most one piece: the thread never needs the GIL */
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
    }
    Py_TYPE(h)->tp_free((PyObject *)h);
}

static PyMethodDef Hasher_methods[] = {
    {"digest", (PyCFunction)Hasher_digest, METH_NOARGS, "digest() -> str | None: wait for the hex SHA-256"},
    {"cancel", (PyCFunction)Hasher_cancel, METH_NOARGS, "cancel(): stop after the piece in hand (digest None)"},
    {"hold", (PyCFunction)Hasher_hold, METH_O, "hold(closed): close or open the gate"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject HasherType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "detector._fastpath.Hasher",
    .tp_basicsize = sizeof(Hasher),
    .tp_dealloc = (destructor)Hasher_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SHA-256 of an open file, in a thread of its own that a kernel's walk can hold back.",
    .tp_methods = Hasher_methods,
    .tp_init = (initproc)Hasher_init,
    .tp_new = PyType_GenericNew,
};

/* An ignore() not yet applied to the flow table. */
typedef struct {
    uint8_t a[16], b[16];
    uint16_t ap, bp;
    uint8_t proto, v6;
    uint64_t fid;
} PendingIgnore;

/* Builds instances of a record class (Packet, Prelude) from positional field values. */
typedef struct {
    PyObject *cls;
    PyTypeObject *type;       /* set: store the fields into the slots directly (see maker_init) */
    int n;
    Py_ssize_t off[MAX_FIELDS];
} Maker;

typedef struct {
    PyObject_HEAD
    /* configuration, from Python (detector.flows / detector.capture constants) */
    const uint8_t *hint[MAX_HINTS];
    Py_ssize_t hint_len[MAX_HINTS];
    int n_hints;
    uint8_t hint_first[MAX_HINTS]; /* the distinct first bytes of the hints */
    int n_hint_first;
    PyObject *hints_obj;
    uint32_t unhinted_limit;
    double idle_timeout;
    uint64_t sweep_every;
    uint32_t max_caplen, max_block, max_tags, max_ext;
    size_t addr_cache_size;
    int hold_acks;
    uint32_t first_payloads;  /* FIRST_PAYLOADS of detector/behaviour.py */
    Maker packet, prelude;
    Maker summary;            /* FlowSummary; cls NULL: no summary is emitted */
    /* Shared pair tuples of the summaries (see pair_k): the table allocated and each tuple made on
     * first use, freed with the kernel; small_pairs then first_pairs */
    PyObject **pairs;
    PyObject *zero_floats;
    int tcp_summaries_only;   /* summaries of TCP flows only (the other flows are not summarised) */
    /* behaviour-only summaries at finish() (summary_gate given; see "Behaviour only") */
    int gate;
    double gate_duration;
    unsigned long long gate_packets, gate_each;
    unsigned int gate_first;  /* first payloads at least, the first of one of gate_sizes */
    unsigned int gate_sizes[8];
    int n_gate_sizes;
    TupleSlot *kept;          /* 4-tuples whose summaries are read */
    size_t kept_cap, kept_count;
    PyObject *name6;
    PyObject *s_guess, *s_handshake;
    uint64_t seed;
    /* DNS answers as EV_DNS events (dns_events): DNS flows stay with the kernel */
    int dns_events;
    int dns_answers;          /* read the common DNS responses here (EV_ANSWERS) */
    /* ordinary TLS settled here (pool_domains given): the pool domains, a set of strings */
    int settle_tls;
    StrSet pools;
    /* --- walk state: used by one walk at a time (walker thread, or the caller's) --- */
    /* flows: a store of chunks that never move, found through an index (see "The flow table") */
    FlowRef *index;           /* open addressing, linear probing, backward-shift deletion */
    size_t cap, count;        /* index entries (a power of two), flows live */
    Flow **chunks;            /* FLOW_CHUNK flows each */
    size_t n_chunks;
    uint32_t n_slots;         /* slots taken so far: the store's high-water mark */
    uint32_t *free_slots;     /* slots let go of, taken again first (room for every slot) */
    size_t n_free;
    uint64_t next_fid, flows_seen, since_sweep;
    int any_held;             /* some flow may hold ACK counts */
    /* distinct addresses of created flows */
    IpSlot *ips;
    size_t ips_cap, ips_count;
    /* addresses a DNS answer may have given a pool name (walk side), and whether some answer
     * could not be read well enough to tell (then no TLS flow is settled any more) */
    IpSlot *pool_ips;
    size_t pool_ips_cap, pool_ips_count;
    int dns_unsure;
    uint64_t tls_settled;
    /* ordinary HTTP settled here (download_magic given): what classify_download looks for */
    int settle_http;
    PyObject *http_obj;       /* (magic, script types): keeps the bytes below alive */
    const uint8_t *magic[MAX_MAGIC];
    Py_ssize_t magic_len[MAX_MAGIC];
    int n_magic;
    const char *script[MAX_SCRIPT_TYPES];
    Py_ssize_t script_len[MAX_SCRIPT_TYPES];
    int n_script;
    Py_ssize_t peek_bytes;    /* detector/reassembly.py PEEK_BYTES */
    uint64_t http_settled;
    /* JSON-RPC without a mining method settled here (methods given) */
    int settle_rpc;
    StrSet methods;           /* every method some mining dialect claims */
    uint32_t message_limit, foreign_limit; /* detector/flows.py UNCONFIRMED_MESSAGE_LIMIT, FOREIGN_METHOD_LIMIT */
    uint64_t rpc_settled;
    size_t held_flows;        /* flows in state HELD */
    /* current file */
    FileState fs;
    /* current walk */
    BatchData *cur;
    int stop;                 /* end the batch after this record (a fragment was emitted) */
    /* --- materialisation state: the thread holding the GIL --- */
    NameSlot *names;
    size_t names_cap, names_count;
    uint64_t *skip;           /* serial numbers of ignored flows whose events are dropped */
    size_t skip_cap, skip_count;
    uint64_t selected, held;  /* packets handed to Python: as Packets, or held ACKs as counts */
    int busy;                 /* a walk() runs in some thread (GIL released) */
    /* --- the walker thread; fields below `mu` are shared under it --- */
    int running;              /* started and not yet stopped */
    pthread_t thread;
    Py_buffer run_view;       /* the buffer walked by the walker */
    Py_ssize_t run_pos, run_budget;
    Py_ssize_t release_to;    /* release(): the caller is done with run_view before this (k->mu) */
    Py_ssize_t released;      /* the walker has dropped the whole pages before this (walker only) */
    Py_ssize_t release_seen;  /* the last release_to applied (release_take) */
    int64_t run_base;
    pthread_mutex_t mu;
    pthread_cond_t wake_walker, wake_main;
    int stopping;             /* stop() asks the walker to end */
    int at_barrier;           /* the walker waits: its last batch ended at a fragment */
    int barrier_out;          /* next() handed out that batch: the next next() releases the walker */
    int walker_done;          /* the walker has made its last batch (or failed) */
    int walker_err;           /* ERR_NOMEM: the walker could not allocate a batch */
    BatchData *ready, *ready_last; /* finished batches not yet taken by next(), oldest first */
    int n_ready;
    Hasher *hasher;           /* start()'s: its gate is closed while walker_busy */
    int walker_busy;          /* the walker is walking a batch */
    PendingIgnore *pending;
    size_t n_pending, cap_pending;
} Kernel;

/* The Python face of one BatchData. */
typedef struct {
    PyObject_HEAD
    Kernel *kernel;
    BatchData *b;
    Py_buffer view;           /* keeps the walked buffer alive while its events are read */
    int has_view;
    PyObject *hold;           /* observe(): the packet object the event borrows */
    size_t next;              /* next event */
    int started;
    Py_ssize_t pos, need;     /* the walk's facts, copied: they outlive the events */
    int status;
    char barrier;
    unsigned long long decoded;
} Batch;

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

/* One endpoint of a packet (address, port), seeded: the address's two halves and the port are
 * spread by odd multipliers (each a bijection) and mixed once. */
static inline uint64_t endpoint_hash(uint64_t seed, const uint8_t *addr, uint8_t v6, uint16_t port) {
    uint64_t x, y;
    memcpy(&x, addr, 8);
    memcpy(&y, addr + 8, 8);
    return fmix64((x ^ seed) * 0x9E3779B97F4A7C15ULL + (y ^ ((seed >> 32) | (seed << 32))) * 0xC2B2AE3D27D4EB4FULL +
                  (((uint64_t)port << 8) | v6) * 0x165667B19E3779F9ULL);
}

/* Symmetric in the two endpoints, so that one probe finds a flow in either direction. Three
 * mixes per packet (nine before, two per address: ~5 % of the walker's time). */
static inline uint64_t flow_hash(uint64_t seed, const Pkt *p) {
    uint64_t h1 = endpoint_hash(seed, p->src, p->v6, p->sport);
    uint64_t h2 = endpoint_hash(seed, p->dst, p->v6, p->dport);
    return fmix64((h1 + h2) ^ (h1 * h2) ^ ((uint64_t)p->proto << 8));
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

/* The flow table. The flows live in a store of chunks that never move, FLOW_CHUNK flows each (one
 * 2 MiB page); a slot a flow lets go of is taken by the next new flow. A lookup probes an index of
 * FlowRefs (8 bytes: the low 32 bits of a flow's hash and its slot), kept at most half full, and
 * reads only the flows whose hash bits match. Until session 10 the table held the flows
 * themselves, kept half full: on the 1M-packet benchmark it doubled up to 65,536 slots of 416
 * bytes, writing 26 MB of fresh memory at its last doubling and 14 MB before. Fresh memory is dear
 * on a virtual machine whose balloon hands freed pages back to the host: in most benchmark runs
 * writing those two tables took the walker ~75 ms (~8 ms in the others). The store writes ~9 MB
 * for the same flows, and a doubling rewrites the index only (512 KB at 65,536 entries). */
#define HUGE_PAGE ((size_t)2 << 20)
#define FLOW_CHUNK (HUGE_PAGE / sizeof(Flow))

static inline Flow *flow_at(const Kernel *k, uint32_t slot) {
    return &k->chunks[(slot - 1) / FLOW_CHUNK][(slot - 1) % FLOW_CHUNK];
}

static Flow *flow_find(Kernel *k, const Pkt *p, uint64_t h) {
    size_t mask = k->cap - 1;
    uint32_t h32 = (uint32_t)h;
    for (size_t i = h32 & mask;; i = (i + 1) & mask) {
        FlowRef r = k->index[i];
        if (r.slot == 0) return NULL;
        if (r.h32 == h32) {
            Flow *f = flow_at(k, r.slot);
            if (flow_matches(f, p, h)) return f;
        }
    }
}

/* A zeroed table, its pages written now. Calloc'd memory is the kernel's shared zero page until
 * written: a slot read first (probing) and written later costs a copy-on-write fault, and in a
 * process with several threads each such fault interrupts the other cores to flush their TLBs
 * (~9% of a scan's CPU on the 1M-packet benchmark before this). */
static void *table_alloc(size_t n, size_t size) {
    void *t = PyMem_RawCalloc(n, size);
    if (t != NULL) memset(t, 0, n * size);
    return t;
}

static int index_grow(Kernel *k) {
    size_t ncap = k->cap * 2;
    FlowRef *n = table_alloc(ncap, sizeof(FlowRef));
    if (n == NULL) return -1;
    for (size_t i = 0; i < k->cap; i++) {
        FlowRef r = k->index[i];
        if (r.slot == 0) continue;
        size_t j = r.h32 & (ncap - 1);
        while (n[j].slot != 0) j = (j + 1) & (ncap - 1);
        n[j] = r;
    }
    PyMem_RawFree(k->index);
    k->index = n;
    k->cap = ncap;
    return 0;
}

/* A chunk of the store: one 2 MiB page, mapped on its own and aligned to it. From the second
 * chunk on it is advised (MADV_HUGEPAGE) for a transparent huge page where the system allows it,
 * so a large table's flows are written in a few faults and a lookup misses the TLB less; the
 * first is in 4 KiB pages, written only as far as a small capture's flows reach. Its flows are
 * written (flow_init) before anything reads them, so nothing needs zeroing here. */
static Flow *chunk_alloc(int huge) {
    uint8_t *m = mmap(NULL, 2 * HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    uint8_t *t = (uint8_t *)(((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (t > m) munmap(m, (size_t)(t - m));
    munmap(t + HUGE_PAGE, (size_t)(m + HUGE_PAGE - t)); /* what is left past the chunk (never 0) */
    if (huge) madvise(t, HUGE_PAGE, MADV_HUGEPAGE); /* a hint: refused, the chunk stays in 4 KiB pages */
    return (Flow *)t;
}

/* A free slot of the store (a new chunk when every slot is taken); 0 when out of memory. */
static uint32_t slot_take(Kernel *k) {
    if (k->n_free > 0) return k->free_slots[--k->n_free];
    if (k->n_slots == k->n_chunks * FLOW_CHUNK) {
        if (k->n_slots > UINT32_MAX - FLOW_CHUNK) return 0;
        Flow **chunks = PyMem_RawRealloc(k->chunks, (k->n_chunks + 1) * sizeof(Flow *));
        if (chunks == NULL) return 0;
        k->chunks = chunks;
        uint32_t *free_slots = PyMem_RawRealloc(k->free_slots, (k->n_chunks + 1) * FLOW_CHUNK * sizeof(uint32_t));
        if (free_slots == NULL) return 0;
        k->free_slots = free_slots;
        Flow *chunk = chunk_alloc(k->n_chunks > 0);
        if (chunk == NULL) return 0;
        k->chunks[k->n_chunks++] = chunk;
    }
    return ++k->n_slots;
}

/* Let go of a held flow's packets (the flow ends, starts over or is settled). */
static inline void flow_drop_held(Kernel *k, Flow *f) {
    if (f->held_pkts == NULL) return;
    held_free(f->held_pkts);
    f->held_pkts = NULL;
    k->held_flows--;
}

/* Remove a live flow; later entries of its probe run in the index shift back (no tombstones). */
static void flow_remove(Kernel *k, Flow *f) {
    size_t mask = k->cap - 1;
    uint32_t slot = f->slot;
    size_t i = (uint32_t)f->hash & mask;
    while (k->index[i].slot != slot) i = (i + 1) & mask;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        FlowRef r = k->index[j];
        if (r.slot == 0) break;
        size_t home = r.h32 & mask;
        /* move j into the hole at i unless its home lies cyclically in (i, j] */
        int stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            k->index[i] = r;
            i = j;
        }
    }
    k->index[i] = (FlowRef){0, 0};
    flow_drop_held(k, f);
    memset(f, 0, sizeof(Flow));
    k->free_slots[k->n_free++] = slot; /* room for every slot: made with its chunk */
    k->count--;
}

/* A new flow instance from its first packet (Flow.__init__), in f's slot. */
static void flow_init(Kernel *k, Flow *f, const Pkt *p, uint64_t h) {
    uint32_t slot = f->slot;
    flow_drop_held(k, f);
    memset(f, 0, sizeof(Flow));
    f->slot = slot;
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
    if ((k->count + 1) * 2 > k->cap && index_grow(k) < 0) return NULL;
    uint32_t slot = slot_take(k);
    if (slot == 0) return NULL;
    size_t mask = k->cap - 1;
    size_t i = (uint32_t)h & mask;
    while (k->index[i].slot != 0) i = (i + 1) & mask;
    k->index[i] = (FlowRef){(uint32_t)h, slot};
    k->count++;
    Flow *f = flow_at(k, slot);
    f->slot = slot;
    f->held_pkts = NULL; /* already NULL; written so that flow_init's read of it does not map a
                          * fresh chunk's page as the zero page, to fault again on the write */
    flow_init(k, f, p, h);
    return f;
}

/* Let go of the store and its index (the kernel is freed). */
static void flows_free(Kernel *k) {
    for (uint32_t s = 1; s <= k->n_slots; s++) flow_drop_held(k, flow_at(k, s));
    for (size_t c = 0; c < k->n_chunks; c++) munmap(k->chunks[c], HUGE_PAGE);
    PyMem_RawFree(k->chunks);
    PyMem_RawFree(k->free_slots);
    PyMem_RawFree(k->index);
    k->chunks = NULL;
    k->free_slots = NULL;
    k->index = NULL;
    k->n_chunks = k->n_slots = k->n_free = 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Distinct addresses of created flows (FlowTable._new_ips, counted instead of kept as text).  */

/* A set of addresses: open addressing, linear probing, kept at most half full. */
static int addrset_add(uint64_t seed, IpSlot **slots, size_t *cap, size_t *count, const uint8_t *addr, uint8_t v6) {
    if ((*count + 1) * 2 > *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        IpSlot *n = table_alloc(ncap, sizeof(IpSlot));
        if (n == NULL) return -1;
        for (size_t i = 0; i < *cap; i++) {
            if (!(*slots)[i].used) continue;
            size_t j = addr_hash(seed, (*slots)[i].addr, (*slots)[i].v6) & (ncap - 1);
            while (n[j].used) j = (j + 1) & (ncap - 1);
            n[j] = (*slots)[i];
        }
        PyMem_RawFree(*slots);
        *slots = n;
        *cap = ncap;
    }
    size_t mask = *cap - 1;
    for (size_t i = addr_hash(seed, addr, v6) & mask;; i = (i + 1) & mask) {
        IpSlot *s = &(*slots)[i];
        if (!s->used) {
            s->used = 1;
            s->v6 = v6;
            memcpy(s->addr, addr, 16);
            (*count)++;
            return 0;
        }
        if (s->v6 == v6 && memcmp(s->addr, addr, 16) == 0) return 0;
    }
}

static int addrset_has(uint64_t seed, const IpSlot *slots, size_t cap, const uint8_t *addr, uint8_t v6) {
    if (cap == 0) return 0;
    size_t mask = cap - 1;
    for (size_t i = addr_hash(seed, addr, v6) & mask;; i = (i + 1) & mask) {
        const IpSlot *s = &slots[i];
        if (!s->used) return 0;
        if (s->v6 == v6 && memcmp(s->addr, addr, 16) == 0) return 1;
    }
}

static int ips_add(Kernel *k, const uint8_t *addr, uint8_t v6) {
    return addrset_add(k->seed, &k->ips, &k->ips_cap, &k->ips_count, addr, v6);
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
    NameSlot *n = table_alloc(ncap, sizeof(NameSlot));
    if (n == NULL) return -1;
    for (size_t i = 0; i < k->names_cap; i++) {
        if (!k->names[i].used) continue;
        size_t j = addr_hash(k->seed, k->names[i].addr, k->names[i].v6) & (ncap - 1);
        while (n[j].used) j = (j + 1) & (ncap - 1);
        n[j] = k->names[i];
    }
    PyMem_RawFree(k->names);
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
/* Batches and events, walk side: no Python object, no GIL (PyMem_Raw* only).                  */

static BatchData *batch_alloc(void) { return PyMem_RawCalloc(1, sizeof(BatchData)); }

static void batch_free(BatchData *b) {
    if (b == NULL) return;
    for (size_t i = 0; i < b->n_owned; i++) held_free(b->owned[i]);
    PyMem_RawFree(b->owned);
    PyMem_RawFree(b->ev);
    PyMem_RawFree(b->flows);
    PyMem_RawFree(b->text);
    PyMem_RawFree(b->applied);
    PyMem_RawFree(b);
}

/* Make room for one more item of `size` bytes in a growing array; 0 or -1. */
static int reserve(void **items, size_t *cap, size_t n, size_t size, size_t first) {
    if (n < *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : first;
    void *p = PyMem_RawRealloc(*items, ncap * size);
    if (p == NULL) return -1;
    *items = p;
    *cap = ncap;
    return 0;
}

static int fail_nomem(Kernel *k) {
    if (k->cur->err == ERR_NONE) k->cur->err = ERR_NOMEM;
    return -1;
}

static int fail_value(Kernel *k, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->cur->errmsg, sizeof(k->cur->errmsg), fmt, ap);
    va_end(ap);
    k->cur->err = ERR_VALUE;
    return -1;
}

static Ev *ev_new(Kernel *k, uint8_t kind, uint64_t fid) {
    BatchData *b = k->cur;
    if (reserve((void **)&b->ev, &b->cap, b->n, sizeof(Ev), 256) < 0) {
        fail_nomem(k);
        return NULL;
    }
    Ev *e = &b->ev[b->n++];
    e->kind = kind;
    e->fid = fid;
    return e;
}

static int emit_warning(Kernel *k, int64_t offset, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (len < 0) len = 0;
    if ((size_t)len >= sizeof(msg)) len = sizeof(msg) - 1;
    BatchData *b = k->cur;
    while (b->n_text + (size_t)len > b->cap_text) {
        if (reserve((void **)&b->text, &b->cap_text, b->cap_text, 1, 1024) < 0) return fail_nomem(k);
    }
    Ev *e = ev_new(k, EV_WARN, 0);
    if (e == NULL) return -1;
    memcpy(b->text + b->n_text, msg, (size_t)len);
    e->u.warn.offset = offset;
    e->u.warn.at = b->n_text;
    e->u.warn.len = (size_t)len;
    b->n_text += (size_t)len;
    return 0;
}

static int by_fid(const void *x, const void *y) {
    uint64_t a = (*(Flow *const *)x)->fid, b = (*(Flow *const *)y)->fid;
    return (a > b) - (a < b);
}

typedef struct {
    uint64_t fid;
    Flow *f;
} FidRef;

static int by_ref_fid(const void *x, const void *y) {
    uint64_t a = ((const FidRef *)x)->fid, b = ((const FidRef *)y)->fid;
    return (a > b) - (a < b);
}

/* Put n flows in creation order (serial numbers). Many flows (finish(), a sweep) are sorted by
 * their serial numbers copied beside them: comparing through the pointers read a cache line of
 * each flow again and again (~3 ms for the 15,600 flows of the 1M-packet benchmark). */
static void sort_by_fid(Flow **list, size_t n) {
    FidRef *refs = n > 64 ? PyMem_RawMalloc(n * sizeof(FidRef)) : NULL;
    if (refs == NULL) { /* few flows, or no memory for the copy: sort in place */
        qsort(list, n, sizeof(Flow *), by_fid);
        return;
    }
    for (size_t i = 0; i < n; i++) refs[i] = (FidRef){list[i]->fid, list[i]};
    qsort(refs, n, sizeof(FidRef), by_ref_fid);
    for (size_t i = 0; i < n; i++) list[i] = refs[i].f;
    PyMem_RawFree(refs);
}

/* A PRELUDE, ACKS or SUMMARY event carrying a snapshot of the flow. */
static int emit_flow(Kernel *k, uint8_t kind, const Flow *f) {
    BatchData *b = k->cur;
    if (reserve((void **)&b->flows, &b->cap_flows, b->n_flows, sizeof(Flow), 16) < 0) return fail_nomem(k);
    Ev *e = ev_new(k, kind, f->fid);
    if (e == NULL) return -1;
    b->flows[b->n_flows] = *f;
    e->u.flow = b->n_flows++;
    return 0;
}

/* The flow is handed over: FlowTable holds it from now on, with the last_ts of the prelude. */
static int emit_prelude(Kernel *k, Flow *f) {
    f->py_ts = f->last_ts;
    return emit_flow(k, EV_PRELUDE, f);
}

static int emit_packet(Kernel *k, Flow *f, const Pkt *p) {
    Ev *e = ev_new(k, EV_PACKET, f->fid);
    if (e == NULL) return -1;
    e->u.pkt = *p;
    f->py_ts = p->ts;
    f->held_last = 0;
    return 0;
}

/* Hand the held ACK counts of a flow over, and forget them. */
static int emit_acks(Kernel *k, Flow *f) {
    if (emit_flow(k, EV_ACKS, f) < 0) return -1;
    if (f->held_last) f->py_ts = f->held_ts;
    f->held = f->held_last = 0;
    memset(f->held_flags, 0, sizeof(f->held_flags));
    memset(f->held_pushes, 0, sizeof(f->held_pushes));
    memset(f->held_packets, 0, sizeof(f->held_packets));
    memset(f->held_bytes, 0, sizeof(f->held_bytes));
    return 0;
}

/* A 4-tuple in its canonical order (the lesser endpoint first; the protocol aside). */
static void tuple_make(TupleSlot *t, const uint8_t *a, uint16_t ap, const uint8_t *b, uint16_t bp, uint8_t v6) {
    int c = memcmp(a, b, 16);
    int a_first = c < 0 || (c == 0 && ap <= bp);
    memcpy(t->lo, a_first ? a : b, 16);
    memcpy(t->hi, a_first ? b : a, 16);
    t->lo_port = a_first ? ap : bp;
    t->hi_port = a_first ? bp : ap;
    t->v6 = v6;
    t->used = 1;
}

static void tuple_of_flow(const Flow *f, TupleSlot *t) { tuple_make(t, f->a, f->ap, f->b, f->bp, f->v6); }

static uint64_t tuple_hash(uint64_t seed, const TupleSlot *t) {
    uint64_t h1 = endpoint_hash(seed, t->lo, t->v6, t->lo_port), h2 = endpoint_hash(seed, t->hi, t->v6, t->hi_port);
    return fmix64(h1 ^ (h2 * 0xC2B2AE3D27D4EB4FULL)); /* the endpoints are in order: need not be symmetric */
}

static int tuple_same(const TupleSlot *x, const TupleSlot *y) {
    return x->v6 == y->v6 && x->lo_port == y->lo_port && x->hi_port == y->hi_port &&
           memcmp(x->lo, y->lo, 16) == 0 && memcmp(x->hi, y->hi, 16) == 0;
}

/* A 4-tuple joins `kept` (open addressing, linear probing, at most half full). */
static int kept_put(Kernel *k, const TupleSlot *tp) {
    TupleSlot t = *tp;
    if ((k->kept_count + 1) * 2 > k->kept_cap) {
        size_t ncap = k->kept_cap ? k->kept_cap * 2 : 64;
        TupleSlot *n = table_alloc(ncap, sizeof(TupleSlot));
        if (n == NULL) return fail_nomem(k);
        for (size_t i = 0; i < k->kept_cap; i++) {
            if (!k->kept[i].used) continue;
            size_t j = tuple_hash(k->seed, &k->kept[i]) & (ncap - 1);
            while (n[j].used) j = (j + 1) & (ncap - 1);
            n[j] = k->kept[i];
        }
        PyMem_RawFree(k->kept);
        k->kept = n;
        k->kept_cap = ncap;
    }
    size_t mask = k->kept_cap - 1;
    for (size_t i = tuple_hash(k->seed, &t) & mask;; i = (i + 1) & mask) {
        if (!k->kept[i].used) {
            k->kept[i] = t;
            k->kept_count++;
            return 0;
        }
        if (tuple_same(&k->kept[i], &t)) return 0;
    }
}

static int kept_add(Kernel *k, const Flow *f) {
    TupleSlot t;
    tuple_of_flow(f, &t);
    return kept_put(k, &t);
}

static int kept_has(const Kernel *k, const Flow *f) {
    if (k->kept_cap == 0) return 0;
    TupleSlot t;
    tuple_of_flow(f, &t);
    size_t mask = k->kept_cap - 1;
    for (size_t i = tuple_hash(k->seed, &t) & mask;; i = (i + 1) & mask) {
        if (!k->kept[i].used) return 0;
        if (tuple_same(&k->kept[i], &t)) return 1;
    }
}

/* The gate of summary_gate passes the flow: a reader reads its summary (see "Behaviour only"). */
static int gate_passes(const Kernel *k, const Flow *f) {
    if (f->proto != TCP) return 0;
    uint64_t p0 = f->payload_packets[0], p1 = f->payload_packets[1];
    if (f->last_ts - f->first_ts >= k->gate_duration && p0 + p1 >= k->gate_packets && p0 >= k->gate_each &&
        p1 >= k->gate_each)
        return 1;
    if (f->n_first >= k->gate_first && f->n_first > 0)
        for (int i = 0; i < k->n_gate_sizes; i++)
            if (f->first_len[0] == k->gate_sizes[i]) return 1;
    return 0;
}

/* The flow ends (FlowTable._end): its FlowSummary, from the snapshot. */
static inline int emit_summary(Kernel *k, const Flow *f) {
    if (k->summary.cls == NULL || (k->tcp_summaries_only && f->proto != TCP)) return 0;
    if (k->gate && gate_passes(k, f) && kept_add(k, f) < 0) return -1;
    return emit_flow(k, EV_SUMMARY, f);
}

/* The flow ends, and only the behaviour of its hosts reads its summary (see "Behaviour only"). */
static int emit_behaviour(Kernel *k, const Flow *f) {
    Ev *e = ev_new(k, EV_BEHAVIOUR, f->fid);
    if (e == NULL) return -1;
    memcpy(e->u.beh.a, f->a, 16);
    memcpy(e->u.beh.b, f->b, 16);
    e->u.beh.bp = f->bp;
    e->u.beh.v6 = f->v6;
    e->u.beh.flags_a = f->flags_or[0];
    e->u.beh.flags_b = f->flags_or[1];
    e->u.beh.client = f->handshake ? f->client != 0 : 2; /* the summary's: the first SYN's verdict */
    e->u.beh.silent = f->payload_packets[0] == 0 && f->payload_packets[1] == 0;
    return 0;
}

/* Summaries of n ending flows, in creation order (FlowTable ends them in its dict's order,
 * which is the order they were created in). `last`: the end of the scan (finish()), where a
 * TCP flow whose summary nobody reads is given as its behaviour alone (summary_gate). */
static int emit_summaries(Kernel *k, Flow **list, size_t n, int last) {
    sort_by_fid(list, n);
    if (last && k->gate && k->summary.cls != NULL) {
        for (size_t i = 0; i < n; i++) {
            const Flow *f = list[i];
            if (gate_passes(k, f) && kept_add(k, f) < 0) return -1;
        }
        for (size_t i = 0; i < n; i++) { /* the TCP flows' gate was passed above: not again */
            const Flow *f = list[i];
            int r = f->proto != TCP ? emit_summary(k, f) : kept_has(k, f) ? emit_flow(k, EV_SUMMARY, f)
                                                                          : emit_behaviour(k, f);
            if (r < 0) return -1;
        }
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (emit_summary(k, list[i]) < 0) return -1;
    return 0;
}

static void drop_held(Flow *f) {
    f->held = f->held_last = 0;
    memset(f->held_flags, 0, sizeof(f->held_flags));
    memset(f->held_pushes, 0, sizeof(f->held_pushes));
    memset(f->held_packets, 0, sizeof(f->held_packets));
    memset(f->held_bytes, 0, sizeof(f->held_bytes));
}

/* Every held count, before FlowTable reads every flow (a sweep) or may end them (end of file);
 * in creation order, so that the events do not depend on the table's hash seed. */
static int flush_held(Kernel *k) {
    if (!k->any_held) return 0;
    size_t n = 0, cap = 0;
    Flow **list = NULL;
    for (uint32_t s = 1; s <= k->n_slots; s++) {
        Flow *f = flow_at(k, s);
        if (f->state != FLOW_PYTHON || !f->held) continue;
        if (reserve((void **)&list, &cap, n, sizeof(Flow *), 64) < 0) {
            PyMem_RawFree(list);
            return fail_nomem(k);
        }
        list[n++] = f;
    }
    sort_by_fid(list, n);
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) r = emit_acks(k, list[i]);
    PyMem_RawFree(list);
    if (r == 0) k->any_held = 0;
    return r;
}

static int emit_fragment(Kernel *k, int version, const uint8_t *data, Py_ssize_t len, double ts) {
    Ev *e = ev_new(k, EV_FRAGMENT, 0);
    if (e == NULL) return -1;
    e->u.frag.version = version;
    e->u.frag.data = data;
    e->u.frag.len = len;
    e->u.frag.ts = ts;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Ignores: queued by Kernel.ignore (any time), applied by the next walk before it starts.     */

static void apply_pending(Kernel *k) {
    pthread_mutex_lock(&k->mu);
    PendingIgnore *list = k->pending;
    size_t n = k->n_pending;
    k->pending = NULL;
    k->n_pending = k->cap_pending = 0;
    pthread_mutex_unlock(&k->mu);
    BatchData *b = k->cur;
    for (size_t i = 0; i < n; i++) {
        PendingIgnore *q = &list[i];
        Pkt p;
        memset(&p, 0, sizeof(p));
        memcpy(p.src, q->a, 16);
        memcpy(p.dst, q->b, 16);
        p.v6 = q->v6;
        p.sport = q->ap;
        p.dport = q->bp;
        p.proto = q->proto;
        Flow *f = flow_find(k, &p, flow_hash(k->seed, &p));
        if (f != NULL && f->fid == q->fid && f->state == FLOW_PYTHON) {
            f->state = FLOW_IGNORED;
            drop_held(f); /* counts of a flow FlowTable no longer inspects: it reports nothing of it */
        }
        /* listed even when memory runs short: then the entry just stays in the skip set */
        if (reserve((void **)&b->applied, &b->cap_applied, b->n_applied, sizeof(uint64_t), 16) == 0)
            b->applied[b->n_applied++] = q->fid;
    }
    PyMem_RawFree(list);
}

/* ------------------------------------------------------------------------------------------ */
/* Per-packet flow logic (FlowTable.add and _tcp for flows in state "new" and "ignored").       */

/* could_be_mining(): data begins with '{', or some hint occurs in it. One memchr pass per
 * distinct first byte of the hints (5 for detector/flows.py's 9), each hit compared with the
 * hints beginning with it: a memmem per hint read the payload 9 times (~5 % of the walker's time
 * on the benchmark). */
static int hinted(const Kernel *k, const uint8_t *data, Py_ssize_t len) {
    if (len > 0 && data[0] == '{') return 1;
    const uint8_t *end = data + len;
    for (int f = 0; f < k->n_hint_first; f++) {
        uint8_t first = k->hint_first[f];
        for (const uint8_t *p = data; p < end && (p = memchr(p, first, (size_t)(end - p))) != NULL; p++)
            for (int i = 0; i < k->n_hints; i++)
                if (k->hint[i][0] == first && end - p >= k->hint_len[i] &&
                    memcmp(p, k->hint[i], (size_t)k->hint_len[i]) == 0)
                    return 1;
    }
    return 0;
}

/* seq_after(a, b): a comes after b modulo 2^32. */
static inline int seq_after(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

/* ------------------------------------------------------------------------------------------ */
/* Settling ordinary TLS in the kernel (pool_domains given).                                   */
/*                                                                                            */
/* FlowTable hands a flow whose first hinted segment starts a TLS record to TlsWatch, which    */
/* settles it at once ("none", then FlowTable._ignore) when the ClientHello's SNI, read by     */
/* peek_server_name, is a name that is not an IP literal, not a pool, and the server's address */
/* has no DNS name that is a pool. The kernel takes that decision itself, without handing the  */
/* flow over, only where it is certain to be the same: the segment is the direction's next     */
/* byte (so the reassembled chunk is the segment), the SNI is a plain name (letters, digits,   */
/* '-', '_', dots between non-empty labels) none of whose suffixes is a pool domain — the      */
/* allow-list only removes pools, so it is not needed — and no DNS answer seen so far may have */
/* given the server's address a pool name. Any doubt hands the flow over, as before.           */

static uint64_t name_hash(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
    h = fmix64(h);
    return h ? h : 1;
}

static int strset_has(const StrSet *set, const char *s, size_t n) {
    if (set->cap == 0) return 0;
    uint64_t h = name_hash(s, n);
    size_t mask = set->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const StrSlot *e = &set->slots[i];
        if (e->hash == 0) return 0;
        if (e->hash == h && e->len == n && memcmp(set->blob + e->off, s, n) == 0) return 1;
    }
}

static inline int pool_has(const Kernel *k, const char *s, size_t n) { return strset_has(&k->pools, s, n); }

static void strset_free(StrSet *set) {
    PyMem_RawFree(set->slots);
    PyMem_RawFree(set->blob);
    memset(set, 0, sizeof(*set));
}

/* A lower-cased name that compares plainly: 1..253 characters of [a-z0-9_-] labels joined by
 * single dots, with at least one letter (so never an IP literal). */
static int plain_name(const char *s, size_t n) {
    if (n == 0 || n > MAX_NAME_TEXT || s[0] == '.' || s[n - 1] == '.') return 0;
    int letter = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z') letter = 1;
        else if (c == '.') { if (s[i + 1] == '.') return 0; }
        else if (!((c >= '0' && c <= '9') || c == '-' || c == '_')) return 0;
    }
    return letter;
}

/* Some suffix of a plain name (the whole name, or after any dot) is a pool domain. */
static int pool_suffix(const Kernel *k, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || s[i - 1] == '.') {
            if (pool_has(k, s + i, n - i)) return 1;
        }
    }
    return 0;
}

/* peek_server_name (detector/dialects/tls.py) of buf[:len]: 1 with the lower-cased host name in
 * out (at most 255 bytes) when the ClientHello sits whole in its first record and names a host;
 * 0 for every other outcome (no SNI, malformed, cannot tell). Every read is in bounds, so a name
 * found here is the one the Python reader finds. */
static int peek_sni(const uint8_t *buf, Py_ssize_t len, char *out, size_t *out_len) {
    if (len < 9 || buf[0] != 0x16 || buf[5] != 1) return 0;
    Py_ssize_t record_end = 5 + (Py_ssize_t)rd_be16(buf + 3);
    Py_ssize_t hello_end = 9 + ((Py_ssize_t)buf[6] << 16 | (Py_ssize_t)buf[7] << 8 | buf[8]);
    if (hello_end > record_end || record_end > len) return 0;
    Py_ssize_t pos = 9 + 2 + 32;
    if (pos >= len) return 0;
    pos += 1 + buf[pos];                                  /* session id */
    if (pos + 2 > len) return 0;
    pos += 2 + rd_be16(buf + pos);                        /* cipher suites */
    if (pos >= len) return 0;
    pos += 1 + buf[pos];                                  /* compression methods */
    if (pos == hello_end || pos + 2 > len) return 0;
    Py_ssize_t end = pos + 2 + rd_be16(buf + pos);
    pos += 2;
    if (end > hello_end) return 0;
    while (pos + 4 <= end) {
        uint16_t type = rd_be16(buf + pos), ext_len = rd_be16(buf + pos + 2);
        pos += 4;
        if (pos + ext_len > end) return 0;
        if (type == 0) {
            if (ext_len < 5 || buf[pos + 2] != 0) return 0;
            size_t size = rd_be16(buf + pos + 3);
            if (size == 0 || size > 255 || pos + 5 + (Py_ssize_t)size > len) return 0;
            for (size_t i = 0; i < size; i++) {
                uint8_t c = buf[pos + 5 + i];
                if (c <= 32 || c >= 127) return 0;
                out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            }
            *out_len = size;
            return 1;
        }
        pos += ext_len;
    }
    return 0;
}

/* The flow's first hinted segment p (direction d, flow still NEW) is a ClientHello TlsWatch
 * would settle as an ordinary server's at once. */
static int tls_settles(Kernel *k, const Flow *f, const Pkt *p, int d) {
    if (!k->settle_tls || k->dns_unsure || p->proto != TCP || (p->flags & F_SYN)) return 0;
    if (p->plen < 9 || p->payload[0] != 0x16 || p->payload[1] != 0x03) return 0;
    if (((f->has_seq >> d) & 1) && f->next_seq[d] != p->seq) return 0; /* not the next byte */
    char name[256];
    size_t n = 0;
    Py_ssize_t len = p->plen < CLIENT_BYTES ? p->plen : CLIENT_BYTES;
    if (!peek_sni(p->payload, len, name, &n) || !plain_name(name, n) || pool_suffix(k, name, n)) return 0;
    return !addrset_has(k->seed, k->pool_ips, k->pool_ips_cap, p->dst, p->v6);
}

/* ------------------------------------------------------------------------------------------ */
/* Holding flows: ordinary HTTP (download_magic given) and JSON-RPC without a mining method     */
/* (methods given), settled in the kernel.                                                    */
/*                                                                                            */
/* FlowTable inspects a flow from its first hinted segment. Many such flows are settled by     */
/* FlowTable without recording anything: a GET whose response is neither JSON nor a download   */
/* (FlowTable._http_head ignores the flow at the response head), and JSON-RPC whose first       */
/* messages are other protocols' methods (web3, wallets, Zabbix: ignored at FOREIGN_METHOD_LIMIT */
/* such requests or UNCONFIRMED_MESSAGE_LIMIT messages). The kernel takes those decisions      */
/* itself where it is certain to decide the same, at the same segment: instead of handing the  */
/* flow over it holds it (FLOW_HELD), keeping a copy of every packet from the first hinted one  */
/* and the flow's counts before it, and reads each new segment as FlowTable's Reassembler and  */
/* Framer would: the direction's next byte, whole lines or whole HTTP messages, heads of        */
/* printable ASCII with CRLF lines, JSON checked against RFC 8259 (printable ASCII, no NaN, no  */
/* deeper than JSON_DEPTH; what Python's json accepts beyond that only hands the flow over).   */
/* Each segment either keeps the flow held, settles it (FLOW_IGNORED, as FlowTable's ignore),   */
/* or — anything unusual, a method some mining dialect claims, a SYN, too many packets — hands  */
/* the flow over as it would have been at its first hinted segment: the Prelude, then every     */
/* held packet, then this one. FlowTable then sees exactly the packets of the pure path. A flow */
/* that ends held (FIN/RST, then replaced, idle, swept or at the end of the scan) is dropped:   */
/* FlowTable would end it with no session, whole lines and messages only, nothing to flush.    */

/* Case-insensitive substring tests (needles in lower case). */
static inline uint8_t lower_ascii(uint8_t c) { return (uint8_t)(c | (c >= 'A' && c <= 'Z' ? 0x20 : 0)); }

/* `needle` (lowercase) occurs at s, its n bytes long enough, ignoring ASCII case. */
static inline int at_icase(const uint8_t *s, Py_ssize_t n, const char *needle, size_t m) {
    if ((size_t)n < m) return 0;
    size_t j = 0;
    while (j < m && lower_ascii(s[j]) == (uint8_t)needle[j]) j++;
    return j == m;
}

/* One of two lowercase needles occurs in s[0:n], ignoring ASCII case: one pass for both (each
 * header scan looked for two names, once per name). `other` may be NULL. */
static int has_icase2(const uint8_t *s, Py_ssize_t n, const char *needle, const char *other) {
    size_t m = strlen(needle), m2 = other != NULL ? strlen(other) : 0;
    uint8_t c = (uint8_t)needle[0], c2 = other != NULL ? (uint8_t)other[0] : c;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint8_t x = lower_ascii(s[i]);
        if (x == c && at_icase(s + i, n - i, needle, m)) return 1;
        if (other != NULL && x == c2 && at_icase(s + i, n - i, other, m2)) return 1;
    }
    return 0;
}

/* `needle` (lowercase) occurs in s[0:n], ignoring ASCII case. */
static int has_icase(const uint8_t *s, Py_ssize_t n, const char *needle) { return has_icase2(s, n, needle, NULL); }

static inline int sp_tab(uint8_t c) { return c == ' ' || c == '\t'; }
static inline int json_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static inline int bytes_ws(uint8_t c) { return json_ws(c) || c == 0x0b || c == 0x0c; } /* bytes.strip() */

/* --- JSON (RFC 8259) over printable ASCII: 1 valid, 0 not (or not sure) ---------------------- */

typedef struct {
    const uint8_t *s;
    Py_ssize_t n, i;
} Js;

static void js_ws(Js *j) {
    while (j->i < j->n && json_ws(j->s[j->i])) j->i++;
}

/* A string at j->i (the opening quote); *escaped: it holds a backslash escape. */
static int js_string(Js *j, int *escaped) {
    *escaped = 0;
    j->i++;
    while (j->i < j->n) {
        uint8_t c = j->s[j->i++];
        if (c == '"') return 1;
        if (c < 0x20 || c > 0x7e) return 0;
        if (c == '\\') {
            *escaped = 1;
            if (j->i >= j->n) return 0;
            c = j->s[j->i++];
            if (c == 'u') {
                for (int x = 0; x < 4; x++, j->i++) {
                    if (j->i >= j->n) return 0;
                    uint8_t h = j->s[j->i];
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) return 0;
                }
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return 0;
            }
        }
    }
    return 0;
}

static int js_digits(Js *j) {
    Py_ssize_t start = j->i;
    while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9') j->i++;
    return j->i > start;
}

static int js_number(Js *j) {
    if (j->s[j->i] == '-') j->i++;
    if (j->i >= j->n) return 0;
    if (j->s[j->i] == '0') j->i++;
    else if (!js_digits(j)) return 0;
    if (j->i < j->n && j->s[j->i] == '.') {
        j->i++;
        if (!js_digits(j)) return 0;
    }
    if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
        j->i++;
        if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-')) j->i++;
        if (!js_digits(j)) return 0;
    }
    return 1;
}

static int js_word(Js *j, const char *w) {
    size_t m = strlen(w);
    if (j->n - j->i < (Py_ssize_t)m || memcmp(j->s + j->i, w, m) != 0) return 0;
    j->i += (Py_ssize_t)m;
    return 1;
}

static int js_value(Js *j, int depth);

/* An object's members after its '{' (at depth), up to its '}'. With top set, what
 * detector.jsonrpc.message_from_object reads: the last "method" member's value, and whether
 * "result" or "error" is a key. Keys with escapes there: not sure (0). */
typedef struct {
    int method;               /* 0 absent, 1 null, 2 string (method_at/len), 3 anything else */
    Py_ssize_t method_at, method_len;
    int answer;               /* a "result" or "error" key */
} Top;

static int js_members(Js *j, int depth, Top *top) {
    js_ws(j);
    if (j->i < j->n && j->s[j->i] == '}') {
        j->i++;
        return 1;
    }
    for (;;) {
        js_ws(j);
        if (j->i >= j->n || j->s[j->i] != '"') return 0;
        Py_ssize_t key = j->i + 1;
        int escaped;
        if (!js_string(j, &escaped)) return 0;
        Py_ssize_t key_len = j->i - 1 - key;
        js_ws(j);
        if (j->i >= j->n || j->s[j->i] != ':') return 0;
        j->i++;
        js_ws(j);
        Py_ssize_t value = j->i;
        if (j->i >= j->n) return 0;
        if (top != NULL) {
            if (escaped) return 0;
            if (key_len == 6 && memcmp(j->s + key, "method", 6) == 0) {
                uint8_t c = j->s[value];
                if (c == '"') {
                    if (!js_string(j, &escaped) || escaped) return 0;
                    top->method = 2;
                    top->method_at = value + 1;
                    top->method_len = j->i - 1 - top->method_at;
                } else {
                    if (!js_value(j, depth + 1)) return 0;
                    top->method = (j->i - value == 4 && memcmp(j->s + value, "null", 4) == 0) ? 1 : 3;
                }
                goto next;
            }
            if ((key_len == 6 && memcmp(j->s + key, "result", 6) == 0) ||
                (key_len == 5 && memcmp(j->s + key, "error", 5) == 0))
                top->answer = 1;
        }
        if (!js_value(j, depth + 1)) return 0;
    next:
        js_ws(j);
        if (j->i >= j->n) return 0;
        uint8_t c = j->s[j->i++];
        if (c == '}') return 1;
        if (c != ',') return 0;
    }
}

static int js_value(Js *j, int depth) {
    if (depth > JSON_DEPTH || j->i >= j->n) return 0;
    uint8_t c = j->s[j->i];
    int escaped;
    switch (c) {
    case '{':
        j->i++;
        return js_members(j, depth, NULL);
    case '[':
        j->i++;
        js_ws(j);
        if (j->i < j->n && j->s[j->i] == ']') {
            j->i++;
            return 1;
        }
        for (;;) {
            js_ws(j);
            if (!js_value(j, depth + 1)) return 0;
            js_ws(j);
            if (j->i >= j->n) return 0;
            c = j->s[j->i++];
            if (c == ']') return 1;
            if (c != ',') return 0;
        }
    case '"':
        return js_string(j, &escaped);
    case 't':
        return js_word(j, "true");
    case 'f':
        return js_word(j, "false");
    case 'n':
        return js_word(j, "null");
    default:
        return (c == '-' || (c >= '0' && c <= '9')) && js_number(j);
    }
}

/* s[:n] is one JSON object, then only JSON whitespace: what it tells FlowTable._message. */
static int rpc_object(const uint8_t *s, Py_ssize_t n, Top *top) {
    memset(top, 0, sizeof(*top));
    Js j = {s, n, 0};
    js_ws(&j);
    if (j.i >= n || s[j.i] != '{') return 0;
    j.i++;
    if (!js_members(&j, 1, top)) return 0;
    js_ws(&j);
    return j.i == n;
}

/* One message of a held JSON-RPC flow (FlowTable._message with no session yet). */
static int rpc_message(const Kernel *k, Held *h, const uint8_t *s, Py_ssize_t n) {
    Top top;
    if (!rpc_object(s, n, &top)) return V_HAND;
    if (top.method == 2) {
        if (strset_has(&k->methods, (const char *)s + top.method_at, (size_t)top.method_len)) return V_HAND;
        h->foreign++;
    } else if (top.method == 3 || !top.answer) {
        return V_HAND; /* no Message: FlowTable counts it without checking its limits */
    }
    h->messages++;
    return h->messages >= k->message_limit || h->foreign >= k->foreign_limit ? V_SETTLE : V_HOLD;
}

/* A segment of a held JSON-lines flow: whole lines, each an object (Framer._lines: split at
 * LF, blank lines skipped; parse_message: '{' first, then the object, then whitespace). */
static int rpc_lines(const Kernel *k, Held *h, const uint8_t *m, Py_ssize_t n) {
    if (n == 0 || m[n - 1] != '\n') return V_HAND;
    Py_ssize_t pos = 0;
    while (pos < n) {
        const uint8_t *nl = memchr(m + pos, '\n', (size_t)(n - pos));
        Py_ssize_t stop = nl - m, i = pos;
        while (i < stop && bytes_ws(m[i])) i++;
        if (i < stop) {
            if (m[pos] != '{') return V_HAND;
            int v = rpc_message(k, h, m + pos, stop - pos);
            if (v != V_HOLD) return v;
        }
        pos = stop + 1;
    }
    return V_HOLD;
}

/* The head of an HTTP message m[:n] as Framer._http_head reads it, where certain: 0 not sure;
 * else *body is where the body starts, and the last Content-Type and Content-Length values among
 * lines[1:200] (value.strip()[:1024]; NULL when absent) are given. A plain head: printable ASCII
 * and tabs with CRLF line ends (latin-1 text that splitlines() cuts at CRLF only and strip()
 * trims of spaces and tabs only), ended by CRLF CRLF, no Transfer- or Content-Encoding. */
typedef struct {
    Py_ssize_t body;
    const uint8_t *ctype, *length;
    Py_ssize_t ctype_len, length_len;
} Head;

static int http_head(const uint8_t *m, Py_ssize_t n, Head *out) {
    memset(out, 0, sizeof(*out));
    const uint8_t *e = memmem(m, (size_t)n, "\r\n\r\n", 4);
    if (e == NULL) return 0;
    Py_ssize_t head = e - m;
    for (Py_ssize_t i = 0; i < head; i++) {
        uint8_t c = m[i];
        if (c == '\r') {
            if (m[i + 1] != '\n') return 0;
            i++;
        } else if (c != '\t' && (c < 0x20 || c > 0x7e)) {
            return 0;
        }
    }
    if (has_icase2(m, head, "transfer-encoding", "content-encoding")) return 0;
    Py_ssize_t pos = 0;
    for (int line = 0; pos <= head && line < HTTP_HEADER_LINES; line++) {
        const uint8_t *nl = memmem(m + pos, (size_t)(head - pos), "\r\n", 2);
        Py_ssize_t stop = nl ? nl - m : head;
        const uint8_t *colon = line > 0 ? memchr(m + pos, ':', (size_t)(stop - pos)) : NULL;
        if (colon != NULL) {
            Py_ssize_t a = pos, z = colon - m;
            while (a < z && sp_tab(m[a])) a++;
            while (z > a && sp_tab(m[z - 1])) z--;
            int is_type = z - a == 12 && has_icase(m + a, 12, "content-type");
            int is_length = z - a == 14 && has_icase(m + a, 14, "content-length");
            if (is_type || is_length) {
                Py_ssize_t va = (colon - m) + 1, vz = stop;
                while (va < vz && sp_tab(m[va])) va++;
                while (vz > va && sp_tab(m[vz - 1])) vz--;
                Py_ssize_t len = vz - va < HTTP_VALUE_MAX ? vz - va : HTTP_VALUE_MAX;
                if (is_type) {
                    out->ctype = m + va;
                    out->ctype_len = len;
                } else {
                    out->length = m + va;
                    out->length_len = len;
                }
            }
        }
        pos = stop + 2;
    }
    out->body = head + 4;
    return 1;
}

/* A response head's verdict in FlowTable._http_head (no session): V_SETTLE — ignored, nothing
 * recorded; V_HOLD — JSON, followed; V_HAND — a download, or not sure. */
static int http_verdict(const Kernel *k, const Head *hd, const uint8_t *prefix, Py_ssize_t peek) {
    const uint8_t *ct = hd->ctype;
    Py_ssize_t ct_len = hd->ctype_len;
    if (has_icase(ct, ct_len, "json")) return V_HOLD;
    if (ct_len == 0) { /* JSON-looking without a type: prefix.lstrip()[:1] in (b"{", b"[") */
        Py_ssize_t i = 0;
        while (i < peek && bytes_ws(prefix[i])) i++;
        if (i < peek && (prefix[i] == '{' || prefix[i] == '[')) return V_HOLD;
    }
    /* classify_download: a magic number, or a script's content type */
    for (int i = 0; i < k->n_magic; i++)
        if (k->magic_len[i] <= peek && memcmp(prefix, k->magic[i], (size_t)k->magic_len[i]) == 0) return V_HAND;
    Py_ssize_t ma = 0, mz = ct_len;
    const uint8_t *semi = ct_len ? memchr(ct, ';', (size_t)ct_len) : NULL;
    if (semi != NULL) mz = semi - ct;
    while (ma < mz && sp_tab(ct[ma])) ma++;
    while (mz > ma && sp_tab(ct[mz - 1])) mz--;
    for (int i = 0; i < k->n_script; i++) {
        Py_ssize_t len = k->script_len[i], j = 0;
        if (len != mz - ma) continue;
        while (j < len && (uint8_t)(ct[ma + j] >= 'A' && ct[ma + j] <= 'Z' ? ct[ma + j] + 32 : ct[ma + j]) ==
                              (uint8_t)k->script[i][j])
            j++;
        if (j == len) return V_HAND;
    }
    return V_SETTLE;
}

/* A Content-Length value as Framer reads it (str.isdigit, then int): its value, or -1. */
static Py_ssize_t http_length(const Head *hd) {
    if (hd->length == NULL || hd->length_len == 0 || hd->length_len > 9) return -1;
    Py_ssize_t v = 0;
    for (Py_ssize_t i = 0; i < hd->length_len; i++) {
        if (hd->length[i] < '0' || hd->length[i] > '9') return -1;
        v = v * 10 + (hd->length[i] - '0');
    }
    return v;
}

/* A whole HTTP message in one segment of a held JSON-RPC-over-HTTP flow: a POST from the side
 * that spoke first, a response from the other; its body exactly Content-Length bytes, one JSON
 * object (parse_body). A response head FlowTable would ignore the flow at settles it. */
/* The verdict of a response segment m[:n] at its head (http_verdict), or V_HAND when the segment
 * does not hold the whole head and a first body byte. */
static int response_verdict(const Kernel *k, const uint8_t *m, Py_ssize_t n, Head *hd) {
    if (n < 7 || memcmp(m, "HTTP/1.", 7) != 0 || !http_head(m, n, hd)) return V_HAND;
    if (hd->body >= n) return V_HAND; /* no body byte yet: FlowTable's head frame waits for one */
    Py_ssize_t peek = n - hd->body < k->peek_bytes ? n - hd->body : k->peek_bytes;
    return http_verdict(k, hd, m + hd->body, peek);
}

static int rpc_http(const Kernel *k, Held *h, const uint8_t *m, Py_ssize_t n, int request, Py_ssize_t *total) {
    Head hd;
    if (request) {
        if (n < 5 || memcmp(m, "POST ", 5) != 0 || !http_head(m, n, &hd) || hd.body >= n) return V_HAND;
    } else {
        int v = response_verdict(k, m, n, &hd);
        if (v != V_HOLD) return v;
    }
    Py_ssize_t length = http_length(&hd);
    if (length < 0 || m[hd.body] != '{') return V_HAND;
    if (length > n - hd.body && total != NULL) { /* the body goes on in the direction's next segments */
        *total = hd.body + length;
        return V_PART;
    }
    if (length != n - hd.body) return V_HAND;
    return rpc_message(k, h, m + hd.body, n - hd.body);
}

/* A segment m[:n] (direction d) of a held JSON-RPC-over-HTTP flow. A message may span segments:
 * its first holds the whole head and a first body byte (what FlowTable's head frame needs, and
 * its verdict is taken there), the next ones follow in the same direction with nothing from the
 * other side between them, so that its bytes lie together in h->data; it is read when its last
 * byte arrives, as Framer hands the body over then. More bytes than the message (another one
 * after it) or the other side speaking first: V_HAND. A flow that ends mid-message is dropped
 * like any held flow (Framer.close() gives nothing for an unfinished Content-Length body). */
static int rpc_http_segment(Kernel *k, Held *h, const uint8_t *m, Py_ssize_t n, int d) {
    int request = d == h->dir;
    if (!h->pending) {
        Py_ssize_t total = 0;
        int v = rpc_http(k, h, m, n, request, &total);
        if (v != V_PART) return v;
        if (total > HELD_BYTES) return V_HAND; /* could not end within a hold */
        h->pending = 1;
        h->pend_dir = (uint8_t)d;
        h->pend_from = (uint32_t)h->used; /* this segment's bytes, once held */
        h->pend_total = (uint32_t)total;
        return V_HOLD;
    }
    if (d != h->pend_dir) return V_HAND;
    size_t have = h->used - h->pend_from + (size_t)n;
    if (have > h->pend_total) return V_HAND;
    if (have < h->pend_total) return V_HOLD;
    uint8_t *msg = PyMem_RawMalloc(have);
    if (msg == NULL) return fail_nomem(k);
    memcpy(msg, h->data + h->pend_from, h->used - h->pend_from);
    memcpy(msg + (h->used - h->pend_from), m, (size_t)n);
    int v = rpc_http(k, h, msg, (Py_ssize_t)have, request, NULL);
    PyMem_RawFree(msg);
    h->pending = 0;
    return v;
}

/* The flow's first hinted segment p (direction d, flow NEW) is a GET the kernel may hold: its
 * head fills the segment, with no Content-Length or Transfer-Encoding (no body to follow). */
static int http_get(const Kernel *k, const Pkt *p) {
    if (!k->settle_http || p->plen < 8 || p->plen > HTTP_REQUEST_MAX || memcmp(p->payload, "GET ", 4) != 0) return 0;
    const uint8_t *end = memmem(p->payload, (size_t)p->plen, "\r\n\r\n", 4);
    if (end == NULL || end + 4 != p->payload + p->plen) return 0;
    return !has_icase2(p->payload, p->plen, "content-length", "transfer-encoding");
}

/* The response segment p on which FlowTable would ignore a held GET's flow, recording nothing. */
static int http_settles(const Kernel *k, const Pkt *p) {
    Head hd;
    return response_verdict(k, p->payload, p->plen, &hd) == V_SETTLE;
}

/* Keep a copy of p in the held flow; 0, or -1 out of memory. */
static int held_add(Kernel *k, Held *h, const Pkt *p) {
    if (h->used + (size_t)p->plen > h->cap) {
        size_t cap = h->cap ? h->cap : 1024;
        while (cap < h->used + (size_t)p->plen) cap *= 2;
        uint8_t *data = PyMem_RawRealloc(h->data, cap);
        if (data == NULL) return fail_nomem(k);
        h->data = data;
        h->cap = cap;
    }
    memcpy(h->data + h->used, p->payload, (size_t)p->plen);
    h->off[h->n] = (uint32_t)h->used;
    h->pkts[h->n] = *p;
    h->pkts[h->n].payload = NULL;
    h->pkts[h->n].obj = NULL;
    h->used += (size_t)p->plen;
    h->n++;
    return 0;
}

/* The first hinted segment p (direction d) of NEW flow f: V_HOLD (f is now HELD), V_SETTLE (its
 * first segment settles it), or V_HAND; -1 out of memory. Before p is counted. */
static int held_start(Kernel *k, Flow *f, const Pkt *p, int d) {
    if (p->proto != TCP || (p->flags & F_SYN) || p->plen > HELD_BYTES) return V_HAND;
    if (k->held_flows >= MAX_HELD_FLOWS) return V_HAND;
    if (((f->has_seq >> d) & 1) && f->next_seq[d] != p->seq) return V_HAND; /* not the next byte */
    int mode;
    if (http_get(k, p)) mode = HELD_GET;
    else if (k->settle_rpc && (p->payload[0] == '{' || bytes_ws(p->payload[0]))) mode = HELD_LINES; /* not HTTP */
    else if (k->settle_rpc && k->settle_http && p->plen >= 5 && memcmp(p->payload, "POST ", 5) == 0) mode = HELD_HTTP;
    else return V_HAND;
    Held *h = PyMem_RawCalloc(1, sizeof(Held));
    if (h == NULL) return fail_nomem(k);
    h->mode = (uint8_t)mode;
    h->dir = (uint8_t)d;
    memcpy(h->packets, f->packets, sizeof(h->packets));
    memcpy(h->bytes, f->bytes, sizeof(h->bytes));
    memcpy(h->payload, f->payload, sizeof(h->payload));
    h->last_ts = f->last_ts;
    h->fin = f->fin;
    h->rst = f->rst;
    h->has_next = f->has_seq;
    memcpy(h->next, f->next_seq, sizeof(h->next));
    int v = mode == HELD_GET ? V_HOLD
            : mode == HELD_LINES ? rpc_lines(k, h, p->payload, p->plen)
                                 : rpc_http_segment(k, h, p->payload, p->plen, d);
    if (v != V_HOLD || held_add(k, h, p) < 0) {
        held_free(h);
        return v == V_HOLD ? -1 : v;
    }
    h->next[d] = p->seq + (uint32_t)p->plen;
    h->has_next |= (uint8_t)(1 << d);
    f->held_pkts = h;
    f->state = FLOW_HELD;
    k->held_flows++;
    return V_HOLD;
}

/* The next packet p (direction d) of HELD flow f, before it is counted: V_HOLD (kept),
 * V_SETTLE or V_HAND; -1 out of memory. */
static int held_next(Kernel *k, Flow *f, const Pkt *p, int d) {
    Held *h = f->held_pkts;
    if ((p->flags & F_SYN) || h->n >= HELD_PACKETS || h->used + (size_t)p->plen > HELD_BYTES) return V_HAND;
    int v = V_HOLD;
    if (p->plen > 0) {
        if (((h->has_next >> d) & 1) && h->next[d] != p->seq) return V_HAND; /* not the next byte */
        if (h->mode == HELD_GET) v = d != h->dir && http_settles(k, p) ? V_SETTLE : V_HAND;
        else if (h->mode == HELD_LINES) v = rpc_lines(k, h, p->payload, p->plen);
        else v = rpc_http_segment(k, h, p->payload, p->plen, d);
        if (v != V_HOLD) return v;
        h->next[d] = p->seq + (uint32_t)p->plen;
        h->has_next |= (uint8_t)(1 << d);
    }
    return held_add(k, h, p) < 0 ? -1 : V_HOLD;
}

/* Hand a held flow over as it stood before its first held packet: the Prelude, then every held
 * packet (the batch keeps their bytes until it is read). Python takes it from there. */
static int held_handover(Kernel *k, Flow *f) {
    Held *h = f->held_pkts;
    BatchData *b = k->cur;
    f->held_pkts = NULL;
    k->held_flows--;
    if (reserve((void **)&b->owned, &b->cap_owned, b->n_owned, sizeof(Held *), 16) < 0) {
        held_free(h);
        return fail_nomem(k);
    }
    b->owned[b->n_owned++] = h;
    f->state = FLOW_PYTHON;
    Flow pre = *f;
    memcpy(pre.packets, h->packets, sizeof(pre.packets));
    memcpy(pre.bytes, h->bytes, sizeof(pre.bytes));
    memcpy(pre.payload, h->payload, sizeof(pre.payload));
    pre.last_ts = h->last_ts;
    pre.fin = h->fin;
    pre.rst = h->rst;
    if (emit_flow(k, EV_PRELUDE, &pre) < 0) return -1;
    for (uint32_t i = 0; i < h->n; i++) {
        Ev *e = ev_new(k, EV_PACKET, f->fid);
        if (e == NULL) return -1;
        h->pkts[i].payload = h->data + h->off[i];
        e->u.pkt = h->pkts[i];
        f->py_ts = h->pkts[i].ts;
    }
    return 0;
}

/* A DNS name on the wire at pos: the position after it, or -1 (truncated, extended label type,
 * too many labels). */
static Py_ssize_t dns_skip_name(const uint8_t *m, Py_ssize_t n, Py_ssize_t pos) {
    for (int labels = 0; labels < 128; labels++) {
        if (pos >= n) return -1;
        uint8_t c = m[pos];
        if (c == 0) return pos + 1;
        if ((c & 0xC0) == 0xC0) return pos + 2 <= n ? pos + 2 : -1;
        if (c & 0xC0) return -1;
        pos += 1 + c;
    }
    return -1;
}

/* The name at pos, lower-cased and dot-joined into out: 1 when it is a plain name (see
 * plain_name), 0 when it is anything else or cannot be read here (pointers are followed only
 * backwards, at most 128 of them). */
static int dns_read_name(const uint8_t *m, Py_ssize_t n, Py_ssize_t pos, char *out, size_t *out_len) {
    size_t len = 0;
    Py_ssize_t start = pos;
    for (int hops = 0; hops < 256; hops++) {
        if (pos >= n) return 0;
        uint8_t c = m[pos];
        if (c == 0) {
            *out_len = len;
            return plain_name(out, len);
        }
        if ((c & 0xC0) == 0xC0) {
            if (pos + 1 >= n) return 0;
            Py_ssize_t target = ((Py_ssize_t)(c & 0x3F) << 8) | m[pos + 1];
            if (target >= start) return 0;
            start = pos = target;
            continue;
        }
        if (c & 0xC0 || pos + 1 + c > n || len + c + 1 > MAX_NAME_TEXT + 1) return 0;
        if (len) out[len++] = '.';
        for (int i = 0; i < c; i++) {
            uint8_t b = m[pos + 1 + i];
            out[len++] = (char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
        }
        pos += 1 + c;
    }
    return 0;
}

/* A DNS response (UDP, port 53): when its question may name a pool (FlowTable.dns_answer then
 * maps the answered addresses to that name), remember the A / AAAA addresses of its answer
 * section; where this reader cannot follow the message as far as detector.dialects.dns does,
 * stop settling TLS for the rest of the scan. */
static void dns_learn(Kernel *k, const uint8_t *m, Py_ssize_t n) {
    if (n < 12 || n > 65535 || k->dns_unsure) return;
    uint16_t qd = rd_be16(m + 4), an = rd_be16(m + 6);
    if (an == 0) return;
    if (qd == 0 || qd > DNS_MAX_RECORDS || an > DNS_MAX_RECORDS) { /* names from the answers */
        k->dns_unsure = 1;
        return;
    }
    char name[MAX_NAME_TEXT + 2];
    size_t len = 0;
    int plain = dns_read_name(m, n, 12, name, &len);
    Py_ssize_t pos = 12;
    for (unsigned i = 0; i < qd; i++) {
        pos = dns_skip_name(m, n, pos);
        if (pos < 0 || pos + 4 > n) {
            if (i == 0) return; /* no complete question: the Python reader keeps no answer */
            k->dns_unsure = 1;
            return;
        }
        pos += 4;
    }
    if (plain && !pool_suffix(k, name, len)) return;
    for (unsigned i = 0; i < an; i++) {
        pos = dns_skip_name(m, n, pos);
        if (pos < 0) {
            k->dns_unsure = 1;
            return;
        }
        if (pos + 10 > n) return; /* the Python reader stops here too */
        uint16_t type = rd_be16(m + pos), rdlen = rd_be16(m + pos + 8);
        pos += 10;
        if (pos + rdlen > n) return;
        if ((type == 1 && rdlen == 4) || (type == 28 && rdlen == 16)) {
            uint8_t addr[16] = {0};
            memcpy(addr, m + pos, rdlen);
            if (k->pool_ips_count >= MAX_POOL_IPS ||
                addrset_add(k->seed, &k->pool_ips, &k->pool_ips_cap, &k->pool_ips_count, addr, type == 28) < 0) {
                k->dns_unsure = 1;
                return;
            }
        }
        pos += rdlen;
    }
}

/* detector.dialects.dns.answered_addresses of a DNS response the Python reader needs no help with
 * (materialised as EV_ANSWERS): exactly one question, whose name is in-line labels of ASCII
 * letters, digits, '-' and '_' (its text is then its bytes joined by dots), and every answer
 * read owned by the pointer to that question (offset 12) — the usual response. The answers are
 * read as the Python reader reads them: at most DNS_MAX_RECORDS, a record running past the end
 * stops the reading, an A record with 4 bytes of RDATA and an AAAA record with 16 give an
 * address, owned by the question's name. 1 with *out = (asked, ((address, asked), ...)); 0 for
 * any other message (EV_DNS: the Python reader decides); -1 with an exception set. */
static int dns_answers(Kernel *k, const uint8_t *m, Py_ssize_t n, PyObject **out) {
    if (n < 12 || n > 65535 || !(m[2] & 0x80) || rd_be16(m + 4) != 1) return 0;
    char name[MAX_NAME_TEXT + 2];
    size_t len = 0, octets = 1;
    Py_ssize_t pos = 12;
    for (;;) {
        if (pos >= n) return 0;
        uint8_t c = m[pos];
        if (c == 0) break;
        if (c & 0xC0) return 0; /* a pointer or another label type */
        octets += 1 + (size_t)c;
        if (octets > 255 || pos + 1 + c > n) return 0;
        if (len) name[len++] = '.';
        for (int i = 0; i < c; i++) {
            uint8_t b = m[pos + 1 + i];
            if (!((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '-' || b == '_'))
                return 0;
            name[len++] = (char)b;
        }
        pos += 1 + c;
    }
    if (len == 0 || pos + 5 > n) return 0; /* the root ("."), or no complete question */
    unsigned an = rd_be16(m + 6);
    if (an > DNS_MAX_RECORDS) an = DNS_MAX_RECORDS;
    Py_ssize_t at[DNS_MAX_RECORDS]; /* where each address's RDATA starts */
    uint8_t v6[DNS_MAX_RECORDS];
    size_t count = 0;
    pos += 5;
    for (unsigned i = 0; i < an; i++) {
        if (pos >= n) break;                          /* the message ends: so does the reading */
        if (pos + 1 >= n || m[pos] < 0xC0) return 0; /* an owner of its own: the Python reader */
        if (m[pos] != 0xC0 || m[pos + 1] != 12) return 0;
        pos += 2;
        if (pos + 10 > n) break;
        Py_ssize_t start = pos + 10, end = start + rd_be16(m + pos + 8);
        if (end > n) break;
        uint8_t type = m[pos] == 0 ? m[pos + 1] : 0;
        if ((type == 1 && end - start == 4) || (type == 28 && end - start == 16)) {
            at[count] = start;
            v6[count++] = type == 28;
        }
        pos = end;
    }
    PyObject *asked = PyUnicode_FromStringAndSize(name, (Py_ssize_t)len);
    PyObject *pairs = asked == NULL ? NULL : PyTuple_New((Py_ssize_t)count);
    for (size_t i = 0; pairs != NULL && i < count; i++) {
        uint8_t addr[16] = {0};
        memcpy(addr, m + at[i], v6[i] ? 16 : 4);
        PyObject *text = addr_text(k, addr, v6[i]);
        PyObject *pair = text == NULL ? NULL : PyTuple_Pack(2, text, asked);
        Py_XDECREF(text);
        if (pair == NULL) Py_CLEAR(pairs);
        else PyTuple_SET_ITEM(pairs, (Py_ssize_t)i, pair);
    }
    *out = pairs == NULL ? NULL : PyTuple_Pack(2, asked, pairs);
    Py_XDECREF(asked);
    Py_XDECREF(pairs);
    return *out == NULL ? -1 : 1;
}

/* The idle sweep: end every flow silent for more than IDLE_TIMEOUT at time `now`. FlowTable
 * reads every flow's last_ts and may end flows: the held counts go first. */
static int sweep(Kernel *k, double now) {
    int any_idle = 1;
    k->since_sweep = 0;
    if (flush_held(k) < 0) return -1;
    if (k->summary.cls != NULL) { /* the summaries of the flows it ends, in creation order */
        size_t n = 0, cap = 0;
        Flow **list = NULL;
        for (uint32_t s = 1; s <= k->n_slots; s++) {
            Flow *f = flow_at(k, s);
            if (f->state == FLOW_EMPTY || !(now - f->last_ts > k->idle_timeout)) continue;
            if (reserve((void **)&list, &cap, n, sizeof(Flow *), 64) < 0) {
                PyMem_RawFree(list);
                return fail_nomem(k);
            }
            list[n++] = f;
        }
        int r = emit_summaries(k, list, n, 0);
        PyMem_RawFree(list);
        if (r < 0) return -1;
        any_idle = n > 0; /* nothing idle: no pass to remove anything (the usual sweep) */
    }
    for (uint32_t s = 1; any_idle && s <= k->n_slots; s++) {
        Flow *f = flow_at(k, s);
        if (f->state != FLOW_EMPTY && now - f->last_ts > k->idle_timeout) flow_remove(k, f);
    }
    Ev *e = ev_new(k, EV_SWEEP, 0);
    if (e == NULL) return -1;
    e->u.ts = now;
    return 0;
}

/* A pure ACK (no payload, no SYN / FIN / RST) of a PYTHON flow: FlowTable.add would only count it. */
static inline int pure_ack(const Kernel *k, const Pkt *p) {
    return k->hold_acks && p->proto == TCP && p->plen == 0 && !(p->flags & (F_SYN | F_FIN | F_RST));
}

static void hold(Kernel *k, Flow *f, int d, const Pkt *p) {
    f->held = f->held_last = 1;
    f->held_ts = p->ts;
    f->held_packets[d]++;
    f->held_bytes[d] += (uint64_t)p->wirelen;
    f->held_flags[d] |= p->flags;
    if (p->flags & F_PSH) f->held_pushes[d]++;
    k->any_held = 1;
}

static int on_packet(Kernel *k, Pkt *p) {
    k->fs.decoded++;
    uint64_t h = flow_hash(k->seed, p);
    Flow *f = flow_find(k, p, h);
    int replaced_python = 0, created = 0;
    /* a SYN reusing the 4-tuple of a finished connection starts a new flow */
    if (f != NULL && p->proto == TCP && (p->flags & (F_SYN | F_ACK)) == F_SYN && (f->rst || f->fin == 3)) {
        replaced_python = f->state == FLOW_PYTHON;
        if (replaced_python && f->held && emit_acks(k, f) < 0) return -1; /* FlowTable ends it: its counts first */
        if (emit_summary(k, f) < 0) return -1;
        flow_remove(k, f);
        f = NULL;
    }
    if (f == NULL) {
        f = flow_insert(k, p, h);
        if (f == NULL) return fail_nomem(k);
        k->flows_seen++;
        if (ips_add(k, p->src, p->v6) < 0 || ips_add(k, p->dst, p->v6) < 0) return fail_nomem(k);
        created = 1;
    } else if (p->ts - f->last_ts > k->idle_timeout) {
        replaced_python = f->state == FLOW_PYTHON;
        if (replaced_python && f->held && emit_acks(k, f) < 0) return -1;
        if (emit_summary(k, f) < 0) return -1;
        flow_init(k, f, p, h); /* same slot: the hash is symmetric */
        k->flows_seen++;
        created = 1;
    }
    int dns = p->proto == UDP && (p->sport == 53 || p->dport == 53);
    if (created && ((dns && !k->dns_events) || replaced_python)) {
        /* Python takes over a flow replacing one it held, so that it ends the old one at this
         * very packet, as the pure path does; without dns_events it holds every DNS flow too */
        f->state = FLOW_PYTHON;
        if (emit_prelude(k, f) < 0) return -1;
    }
    int fwd = f->ap == p->sport && memcmp(f->a, p->src, 16) == 0; /* p.src == flow.a and p.sport == flow.ap */
    int d = fwd ? 0 : 1;
    if (f->state == FLOW_NEW && p->proto == TCP && p->plen > 0 && hinted(k, p->payload, p->plen)) {
        int v;
        if (tls_settles(k, f, p, d)) {
            /* an ordinary server's ClientHello: TlsWatch would settle it now, FlowTable ignore it */
            f->state = FLOW_IGNORED;
            k->tls_settled++;
        } else if ((v = held_start(k, f, p, d)) < 0) {
            return -1;
        } else if (v == V_SETTLE) {
            f->state = FLOW_IGNORED; /* JSON-RPC whose first segment has enough foreign methods */
            k->rpc_settled++;
        } else if (v == V_HAND) {
            /* first segment that may carry a mining protocol: hand the flow over as it stands */
            f->state = FLOW_PYTHON;
            if (emit_prelude(k, f) < 0) return -1;
        } /* else held: a GET or JSON-RPC, kept until it tells */
    } else if (f->state == FLOW_HELD) {
        int mode = f->held_pkts->mode;
        int v = held_next(k, f, p, d);
        if (v < 0) return -1;
        if (v == V_SETTLE) {
            /* FlowTable would ignore the flow at this segment, recording nothing */
            flow_drop_held(k, f);
            f->state = FLOW_IGNORED;
            if (mode == HELD_GET) k->http_settled++;
            else k->rpc_settled++;
        } else if (v == V_HAND && held_handover(k, f) < 0) {
            return -1;
        }
    }
    f->last_ts = p->ts;
    f->packets[d]++;
    f->bytes[d] += (uint64_t)p->wirelen;
    f->payload[d] += (uint64_t)p->plen;
    /* the flow-shape accumulators (FlowTable.add): the same values, the same double arithmetic
     * in the same order */
    f->flags_or[d] |= p->flags;
    if (p->flags & F_PSH) f->pushes[d]++;
    if (p->plen > 0) {
        uint64_t sq = (uint64_t)p->plen * (uint64_t)p->plen; /* plen < 2^32 (see Pkt) */
        f->payload_packets[d]++;
        f->sumsq_lo[d] += sq;
        f->sumsq_hi[d] += f->sumsq_lo[d] < sq;
        if ((f->has_pts >> d) & 1) {
            double gap = p->ts - f->last_pts[d];
            f->gap_n[d]++;
            f->gap_sum[d] += gap;
            f->gap_sumsq[d] += gap * gap;
        }
        f->last_pts[d] = p->ts;
        f->has_pts |= (uint8_t)(1 << d);
        if (f->n_first < k->first_payloads) {
            f->first_len[f->n_first] = (uint32_t)p->plen;
            if (d) f->first_dir |= (uint16_t)(1u << f->n_first);
            f->n_first++;
        }
    }
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
    if (dns && p->plen >= 3 && (p->payload[2] & 0x80)) {
        /* a DNS response (FlowTable.add -> _dns): the settle rule learns which addresses may
         * have pool names; with dns_events Python reads its answers and the kernel keeps the flow */
        if (k->settle_tls) dns_learn(k, p->payload, p->plen);
        if (k->dns_events && f->state != FLOW_PYTHON) {
            Ev *e = ev_new(k, EV_DNS, f->fid);
            if (e == NULL) return -1;
            e->u.pkt = *p;
        }
    }
    if (f->state == FLOW_PYTHON) {
        if (pure_ack(k, p)) {
            hold(k, f, d, p);
        } else {
            /* FlowTable.add ends a flow idle since its last_ts: give it the held ACKs' time first
             * when without them it would (the kernel found the flow alive) */
            if (f->held && p->ts - f->py_ts > k->idle_timeout && emit_acks(k, f) < 0) return -1;
            if (emit_packet(k, f, p) < 0) return -1;
        }
    }
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
        fs->unsup_index = PyMem_RawCalloc(65536, sizeof(int32_t));
        if (fs->unsup_index == NULL) return -1;
    }
    int32_t at = fs->unsup_index[lt & 0xFFFF];
    if (at) {
        fs->unsup[at - 1].count++;
        return 0;
    }
    if (fs->n_unsup == fs->cap_unsup) {
        size_t ncap = fs->cap_unsup ? fs->cap_unsup * 2 : 8;
        Unsupported *n = PyMem_RawRealloc(fs->unsup, ncap * sizeof(Unsupported));
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
        if (tally_unsupported(k, lt, record_offset) < 0) return fail_nomem(k);
        return 0;
    }
    Dec x;
    x.buf = buf;
    x.ts = ts;
    int r = decode_link(k, &x, lt, start, end);
    if (r == DEC_PACKET) return on_packet(k, &x.pkt);
    if (r == DEC_FRAGMENT) {
        k->stop = 1; /* Python reassembles it and observe()s the result before the walk goes on */
        return emit_fragment(k, x.frag_v6 ? 6 : 4, buf + x.frag_off, x.frag_end - x.frag_off, ts);
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
        uint32_t *n = PyMem_RawRealloc(fs->linktypes, ncap * sizeof(uint32_t));
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
        return fail_value(k, "not a pcap file header (magic %08x)", magic);
    }
    uint32_t snaplen = rd32(h + 16, fs->be);
    fs->linktype = rd32(h + 20, fs->be) & 0xFFFF; /* upper bits carry the FCS length flags */
    fs->maxcap = (snaplen > 0 && snaplen <= k->max_caplen) ? snaplen : k->max_caplen;
    if (add_linktype(fs, fs->linktype, 0) < 0) return fail_nomem(k);
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
    /* the next record's header and its frame's headers: a miss to memory on nearly every record
     * otherwise (the records are walked, their payloads mostly skipped, so no prefetcher follows) */
    __builtin_prefetch(c->buf + end);
    __builtin_prefetch(c->buf + end + 64);
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
            Iface *n = PyMem_RawRealloc(fs->ifaces, ncap * sizeof(Iface));
            if (n == NULL) return fail_nomem(k);
            fs->ifaces = n;
            fs->cap_ifaces = ncap;
        }
        Iface *f = &fs->ifaces[fs->n_ifaces];
        if (pcapng_idb(k, blk, blen, here_off, f) < 0) return -1;
        fs->n_ifaces++;
        if (add_linktype(fs, f->linktype, 1) < 0) return fail_nomem(k);
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
/* One walk: from pos until the budget, a fragment, the event limit, or the end of what is     */
/* there. No Python object is touched: callers release the GIL around it.                      */

/* Bytes ahead of the record in hand whose cache lines the walk asks for (one prefetch per line).
 * A walk reads a few scattered lines of each record — its header, the packet's headers, a payload
 * now and then — of a buffer it crosses once, front to back; the hardware prefetcher, which
 * stops at every 4 KiB page and follows no irregular stride, left most of them as misses the
 * walk waited for. Measured on the 1M-packet benchmark (10 interleaved runs each): 512, 1024 and
 * 2048 bytes ahead took the command's CPU from 1.072 s to 1.059, 1.038 and 1.040 s, the walker's
 * share of the profile from 19.1 % to 17.0 % (walk_batch itself 3.6 % -> 2.5 %). A prefetch
 * never faults, so lines of pages not mapped yet cost nothing. */
#define PREFETCH_AHEAD 1024

static void walk_batch(Kernel *k, BatchData *b, const uint8_t *buf, Py_ssize_t size, Py_ssize_t pos,
                       int64_t base, int final, Py_ssize_t budget) {
    k->cur = b;
    apply_pending(k);
    Cursor c = {buf, size, pos, base, final, 0};
    int status = ST_MORE;
    k->stop = 0;
    if (k->fs.done) {
        status = ST_DONE;
    } else {
        Py_ssize_t ahead = pos & ~(Py_ssize_t)63; /* prefetched up to here */
        for (;;) {
            Py_ssize_t until = c.pos + PREFETCH_AHEAD < size ? c.pos + PREFETCH_AHEAD : size;
            if (ahead < (c.pos & ~(Py_ssize_t)63)) ahead = c.pos & ~(Py_ssize_t)63; /* past a long record */
            for (; ahead < until; ahead += 64) __builtin_prefetch(buf + ahead, 0, 3);
            if (k->fs.kind == KIND_PCAP)
                status = k->fs.started ? pcap_record(k, &c) : pcap_header(k, &c);
            else
                status = pcapng_block(k, &c);
            if (status != ST_MORE) break;
            if (k->stop || c.pos - pos >= budget || b->n >= MAX_EVENTS_PER_CALL) break;
        }
        if (status == ST_DONE) {
            k->fs.done = 1;
            if (flush_held(k) < 0) status = -1; /* FlowTable may end every flow after the file */
        }
    }
    if (status < 0 && b->err == ERR_NONE) b->err = ERR_NOMEM;
    b->status = status;
    b->pos = c.pos;
    b->need = c.need;
    b->barrier = k->stop;
    b->decoded = k->fs.decoded;
    k->cur = NULL;
}

/* The hash runs while the walker is idle or far enough ahead (k->mu held). */
static void kernel_gate(Kernel *k) {
    if (k->hasher != NULL) hasher_gate(k->hasher, k->walker_busy && k->n_ready < GATE_AHEAD, 1);
}

/* Drop from this process's mapping the whole pages of run_view before `to` (release()): the
 * walker does it, before a batch, so that Python's thread, which bounds the walk, does not. */
static void walker_release(Kernel *k, Py_ssize_t to) {
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t base = (uintptr_t)k->run_view.buf;
    if (to > k->run_view.len) to = k->run_view.len;
    uintptr_t first = (base + (uintptr_t)k->released + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t end = (base + (uintptr_t)to) & ~((uintptr_t)page - 1);
    if (end <= first) return;
    madvise((void *)first, end - first, MADV_DONTNEED); /* a hint: on failure the pages stay mapped */
    k->released = (Py_ssize_t)(end - base);
}

/* The position of a release() not yet applied, now taken (k->mu held); 0 when there is none. */
static Py_ssize_t release_take(Kernel *k) {
    if (k->release_to <= k->release_seen) return 0;
    return k->release_seen = k->release_to;
}

/* The walker thread: walks the whole of run_view, WALK_AHEAD batches ahead of Python at most. */
static void *walker_main(void *arg) {
    Kernel *k = arg;
    for (;;) {
        pthread_mutex_lock(&k->mu);
        for (;;) { /* releases are applied at once, also while the walker waits */
            Py_ssize_t release_to = release_take(k);
            if (release_to > 0) {
                pthread_mutex_unlock(&k->mu);
                walker_release(k, release_to);
                pthread_mutex_lock(&k->mu);
                continue;
            }
            if (k->stopping || (k->n_ready < WALK_AHEAD && !k->at_barrier)) break;
            pthread_cond_wait(&k->wake_walker, &k->mu);
        }
        int stopping = k->stopping;
        k->walker_busy = !stopping;
        kernel_gate(k);
        pthread_mutex_unlock(&k->mu);
        if (stopping) break;
        BatchData *b = batch_alloc();
        if (b == NULL) {
            pthread_mutex_lock(&k->mu);
            k->walker_err = ERR_NOMEM;
            k->walker_busy = 0;
            kernel_gate(k);
            pthread_mutex_unlock(&k->mu);
            break;
        }
        walk_batch(k, b, k->run_view.buf, k->run_view.len, k->run_pos, k->run_base, 1, k->run_budget);
        k->run_pos = b->pos;
        int last = b->status != ST_MORE;
        pthread_mutex_lock(&k->mu);
        if (k->ready_last != NULL) k->ready_last->later = b;
        else k->ready = b;
        k->ready_last = b;
        k->n_ready++;
        if (b->barrier) k->at_barrier = 1;
        if (last) k->walker_done = 1;
        k->walker_busy = 0;
        kernel_gate(k);
        pthread_cond_signal(&k->wake_main);
        Py_ssize_t release_to = last ? release_take(k) : 0; /* asked for while the last batch was walked */
        if (release_to > 0) walker_release(k, release_to); /* under k->mu: release() does the rest from now on */
        pthread_mutex_unlock(&k->mu);
        if (last) return NULL;
    }
    pthread_mutex_lock(&k->mu);
    k->walker_done = 1;
    pthread_cond_signal(&k->wake_main);
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Materialisation: events -> Python objects (GIL held).                                      */

static PyObject *py_bool(int v) { return Py_NewRef(v ? Py_True : Py_False); }

/* Instances of a slotted dataclass (Packet, Prelude) are built as its generated __init__ builds
 * them — each field stored in its slot — when the class allows it: every field a writable object
 * slot, in __slots__ order, all init fields, no __post_init__. The generated __init__ (Python
 * code, object.__setattr__ per field for a frozen class) costs more than the rest of the
 * materialisation. Any other class is called with the values. */
static int maker_init(Maker *m, PyObject *cls, int n) {
    m->cls = Py_NewRef(cls);
    m->type = NULL;
    m->n = n;
    if (!PyType_Check(cls)) return 0;
    PyTypeObject *t = (PyTypeObject *)cls;
    PyObject *fields = NULL, *slots = NULL;
    int ok = 0;
    if (t->tp_new != PyBaseObject_Type.tp_new || t->tp_alloc != PyType_GenericAlloc) return 0;
    if (PyObject_HasAttrString(cls, "__post_init__")) return 0;
    fields = PyObject_GetAttrString(cls, "__dataclass_fields__");
    slots = fields != NULL ? PyObject_GetAttrString(cls, "__slots__") : NULL;
    if (fields == NULL || slots == NULL || !PyDict_Check(fields) || !PyTuple_Check(slots) ||
        PyDict_GET_SIZE(fields) != n || PyTuple_GET_SIZE(slots) != n) {
        PyErr_Clear();
        goto done;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *name, *field;
    while (PyDict_Next(fields, &pos, &name, &field)) {
        if (PyObject_RichCompareBool(name, PyTuple_GET_ITEM(slots, i), Py_EQ) != 1) goto done;
        PyObject *init = PyObject_GetAttrString(field, "init");
        int is_init = init != NULL && PyObject_IsTrue(init) == 1;
        Py_XDECREF(init);
        if (!is_init) goto done;
        PyObject *descr = PyDict_GetItemWithError(t->tp_dict, name);
        if (descr == NULL || Py_TYPE(descr) != &PyMemberDescr_Type) goto done;
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX || (member->flags & READONLY)) goto done;
        m->off[i++] = member->offset;
    }
    ok = 1;
done:
    PyErr_Clear();
    Py_XDECREF(fields);
    Py_XDECREF(slots);
    if (ok) m->type = t;
    return 0;
}

/* A new instance from m->n values (new references, consumed; a NULL one means an error is set). */
static PyObject *maker_make(Maker *m, PyObject **args) {
    PyObject *res = NULL;
    for (int i = 0; i < m->n; i++)
        if (args[i] == NULL) goto done;
    if (m->type != NULL) {
        res = m->type->tp_alloc(m->type, 0);
        if (res == NULL) goto done;
        for (int i = 0; i < m->n; i++) {
            *(PyObject **)((char *)res + m->off[i]) = args[i];
            args[i] = NULL;
        }
        return res;
    }
    res = PyObject_Vectorcall(m->cls, args, m->n, NULL);
done:
    for (int i = 0; i < m->n; i++) Py_XDECREF(args[i]);
    return res;
}

/* The Packet object of a selected packet (Packet(ts, src, dst, proto, sport, dport, payload,
 * wirelen, flags, seq, ack, snapped)). */
static PyObject *make_packet(Kernel *k, const Pkt *p) {
    if (p->obj != NULL) return Py_NewRef(p->obj);
    PyObject *args[12];
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
    return maker_make(&k->packet, args);
}

static PyObject *pair_u64(uint64_t x, uint64_t y) {
    PyObject *a = PyLong_FromUnsignedLongLong(x), *b = PyLong_FromUnsignedLongLong(y);
    if (a == NULL || b == NULL) {
        Py_XDECREF(a);
        Py_XDECREF(b);
        return NULL;
    }
    PyObject *t = PyTuple_Pack(2, a, b);
    Py_DECREF(a);
    Py_DECREF(b);
    return t;
}

/* A pair of counts (x, y). A flow summary holds ten pairs and its first payloads' (direction,
 * size): 15,608 summaries of the 1M-packet benchmark made 265k tuples, 182k of them of small
 * counts and sizes. Those are shared, one tuple per value, made on first use — tuples are
 * immutable and compare by value, so nothing can tell but the memory and time they no longer
 * take. */
static PyObject *shared_pair(Kernel *k, size_t at, uint64_t x, uint64_t y) {
    if (k->pairs == NULL && (k->pairs = PyMem_RawCalloc(PAIR_SLOTS, sizeof(PyObject *))) == NULL)
        return pair_u64(x, y);
    PyObject **slot = &k->pairs[at];
    if (*slot == NULL && (*slot = pair_u64(x, y)) == NULL) return NULL;
    return Py_NewRef(*slot);
}

static PyObject *pair_k(Kernel *k, uint64_t x, uint64_t y) {
    if (x >= SMALL_PAIR || y >= SMALL_PAIR) return pair_u64(x, y);
    return shared_pair(k, (size_t)(x * SMALL_PAIR + y), x, y);
}

/* (direction, size) of one of a flow's first payloads (shared below FIRST_PAIR_SIZE). */
static PyObject *first_pair(Kernel *k, int dir, uint64_t size) {
    if (size >= FIRST_PAIR_SIZE) return pair_u64((uint64_t)dir, size);
    return shared_pair(k, SMALL_PAIR * SMALL_PAIR + (size_t)dir * FIRST_PAIR_SIZE + (size_t)size, (uint64_t)dir, size);
}

static PyObject *pair_of(PyObject *x, PyObject *y);

/* A pair of floats; (0.0, 0.0), the gaps of a flow with fewer than two payloads, is shared. */
static PyObject *float_pair(Kernel *k, double x, double y) {
    if (x == 0.0 && y == 0.0 && !signbit(x) && !signbit(y)) {
        if (k->zero_floats == NULL && (k->zero_floats = pair_of(PyFloat_FromDouble(0.0), PyFloat_FromDouble(0.0))) == NULL)
            return NULL;
        return Py_NewRef(k->zero_floats);
    }
    return pair_of(PyFloat_FromDouble(x), PyFloat_FromDouble(y));
}

/* The fields a Prelude and a FlowSummary begin with: a, ap, b, bp, proto, first_ts, last_ts,
 * packets and bytes per direction (new references in args[0..8]; NULL where one failed). */
static void flow_head(Kernel *k, const Flow *f, PyObject **args) {
    args[0] = addr_text(k, f->a, f->v6);
    args[1] = PyLong_FromLong(f->ap);
    args[2] = addr_text(k, f->b, f->v6);
    args[3] = PyLong_FromLong(f->bp);
    args[4] = PyLong_FromLong(f->proto);
    args[5] = PyFloat_FromDouble(f->first_ts);
    args[6] = PyFloat_FromDouble(f->last_ts);
    args[7] = pair_k(k, f->packets[0], f->packets[1]);
    args[8] = pair_k(k, f->bytes[0], f->bytes[1]);
}

/* The Prelude of a flow: its state as FlowTable would hold it before the next packet. */
static PyObject *make_prelude(Kernel *k, const Flow *f) {
    PyObject *args[16];
    PyObject *seq[2];
    for (int d = 0; d < 2; d++)
        seq[d] = (f->has_seq >> d) & 1 ? PyLong_FromUnsignedLong(f->next_seq[d]) : Py_NewRef(Py_None);
    flow_head(k, f, args);
    args[9] = pair_u64(f->payload[0], f->payload[1]);
    args[10] = (seq[0] && seq[1]) ? PyTuple_Pack(2, seq[0], seq[1]) : NULL;
    args[11] = f->client == 2 ? Py_NewRef(Py_None) : py_bool(f->client);
    args[12] = Py_NewRef(f->handshake ? k->s_handshake : k->s_guess);
    args[13] = PyTuple_Pack(2, f->fin & 1 ? Py_True : Py_False, f->fin & 2 ? Py_True : Py_False);
    args[14] = py_bool(f->rst);
    args[15] = PyLong_FromUnsignedLong(f->unhinted);
    Py_XDECREF(seq[0]);
    Py_XDECREF(seq[1]);
    return maker_make(&k->prelude, args);
}

/* A tuple of n new references (consumed; a NULL one means an error is set). */
static PyObject *tuple_of(PyObject **items, Py_ssize_t n) {
    PyObject *t = NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        if (items[i] == NULL) goto fail;
    t = PyTuple_New(n);
    if (t == NULL) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) PyTuple_SET_ITEM(t, i, items[i]);
    return t;
fail:
    for (Py_ssize_t i = 0; i < n; i++) Py_XDECREF(items[i]);
    return NULL;
}

/* (EV_ACKS, fid, (a, ap, b, bp, proto), packets, bytes, flags, pushes, last_ts | None) */
static PyObject *make_acks(Kernel *k, const Flow *f) {
    PyObject *key[5] = {addr_text(k, f->a, f->v6), PyLong_FromLong(f->ap), addr_text(k, f->b, f->v6),
                        PyLong_FromLong(f->bp), PyLong_FromLong(f->proto)};
    PyObject *items[8] = {
        PyLong_FromLong(EV_ACKS),
        PyLong_FromUnsignedLongLong(f->fid),
        tuple_of(key, 5),
        pair_u64(f->held_packets[0], f->held_packets[1]),
        pair_u64(f->held_bytes[0], f->held_bytes[1]),
        pair_u64(f->held_flags[0], f->held_flags[1]),
        pair_u64(f->held_pushes[0], f->held_pushes[1]),
        f->held_last ? PyFloat_FromDouble(f->held_ts) : Py_NewRef(Py_None),
    };
    return tuple_of(items, 8);
}

/* An unsigned 128-bit integer hi * 2^64 + lo. */
static PyObject *long_u128(uint64_t hi, uint64_t lo) {
    if (hi == 0) return PyLong_FromUnsignedLongLong(lo);
    PyObject *h = PyLong_FromUnsignedLongLong(hi), *l = PyLong_FromUnsignedLongLong(lo);
    PyObject *shift = PyLong_FromLong(64), *up = NULL, *res = NULL;
    if (h != NULL && l != NULL && shift != NULL && (up = PyNumber_Lshift(h, shift)) != NULL)
        res = PyNumber_Or(up, l);
    Py_XDECREF(h);
    Py_XDECREF(l);
    Py_XDECREF(shift);
    Py_XDECREF(up);
    return res;
}

static PyObject *pair_of(PyObject *x, PyObject *y) {
    PyObject *items[2] = {x, y};
    return tuple_of(items, 2);
}

/* The FlowSummary of an ended flow, field for field as detector.flows.summarise builds it. */
static PyObject *make_summary(Kernel *k, const Flow *f) {
    PyObject *first = PyTuple_New(f->n_first);
    for (Py_ssize_t i = 0; first != NULL && i < f->n_first; i++) {
        PyObject *item = first_pair(k, (f->first_dir >> i) & 1, f->first_len[i]);
        if (item == NULL) Py_CLEAR(first);
        else PyTuple_SET_ITEM(first, i, item);
    }
    PyObject *args[19];
    flow_head(k, f, args);
    args[9] = pair_k(k, f->payload_packets[0], f->payload_packets[1]);
    args[10] = pair_k(k, f->payload[0], f->payload[1]);
    args[11] = f->sumsq_hi[0] == 0 && f->sumsq_hi[1] == 0
                   ? pair_k(k, f->sumsq_lo[0], f->sumsq_lo[1])
                   : pair_of(long_u128(f->sumsq_hi[0], f->sumsq_lo[0]), long_u128(f->sumsq_hi[1], f->sumsq_lo[1]));
    args[12] = pair_k(k, f->pushes[0], f->pushes[1]);
    args[13] = pair_k(k, f->flags_or[0], f->flags_or[1]);
    args[14] = pair_k(k, f->gap_n[0], f->gap_n[1]);
    args[15] = float_pair(k, f->gap_sum[0], f->gap_sum[1]);
    args[16] = float_pair(k, f->gap_sumsq[0], f->gap_sumsq[1]);
    args[17] = first;
    args[18] = f->handshake ? py_bool(f->client) : Py_NewRef(Py_None); /* the first SYN's verdict */
    return maker_make(&k->summary, args);
}

static PyObject *materialise(Batch *bt, const Ev *e) {
    Kernel *k = bt->kernel;
    const BatchData *b = bt->b;
    switch (e->kind) {
    case EV_PACKET: {
        PyObject *items[3] = {PyLong_FromLong(EV_PACKET), PyLong_FromUnsignedLongLong(e->fid),
                              make_packet(k, &e->u.pkt)};
        return tuple_of(items, 3);
    }
    case EV_PRELUDE: {
        PyObject *items[3] = {PyLong_FromLong(EV_PRELUDE), PyLong_FromUnsignedLongLong(e->fid),
                              make_prelude(k, &b->flows[e->u.flow])};
        return tuple_of(items, 3);
    }
    case EV_ACKS:
        return make_acks(k, &b->flows[e->u.flow]);
    case EV_SUMMARY: {
        PyObject *items[3] = {PyLong_FromLong(EV_SUMMARY), PyLong_FromUnsignedLongLong(e->fid),
                              make_summary(k, &b->flows[e->u.flow])};
        return tuple_of(items, 3);
    }
    case EV_BEHAVIOUR: { /* what Behaviour.tcp reads of the flow's FlowSummary (make_summary's fields) */
        PyObject *items[8] = {PyLong_FromLong(EV_BEHAVIOUR), addr_text(k, e->u.beh.a, e->u.beh.v6),
                              addr_text(k, e->u.beh.b, e->u.beh.v6), PyLong_FromLong(e->u.beh.bp),
                              PyLong_FromLong(e->u.beh.flags_a), PyLong_FromLong(e->u.beh.flags_b),
                              e->u.beh.client == 2 ? Py_NewRef(Py_None) : py_bool(e->u.beh.client),
                              py_bool(e->u.beh.silent)};
        return tuple_of(items, 8);
    }
    case EV_DNS: {
        const Pkt *p = &e->u.pkt;
        if (k->dns_answers) {
            PyObject *read = NULL;
            int r = dns_answers(k, p->payload, p->plen, &read);
            if (r < 0) return NULL;
            if (r > 0) {
                PyObject *items[5] = {PyLong_FromLong(EV_ANSWERS), PyFloat_FromDouble(p->ts),
                                      addr_text(k, p->dst, p->v6), Py_NewRef(PyTuple_GET_ITEM(read, 0)),
                                      Py_NewRef(PyTuple_GET_ITEM(read, 1))};
                Py_DECREF(read);
                return tuple_of(items, 5);
            }
        }
        PyObject *items[4] = {PyLong_FromLong(EV_DNS), PyFloat_FromDouble(p->ts), addr_text(k, p->dst, p->v6),
                              PyBytes_FromStringAndSize((const char *)p->payload, p->plen)};
        return tuple_of(items, 4);
    }
    case EV_SWEEP: {
        PyObject *items[2] = {PyLong_FromLong(EV_SWEEP), PyFloat_FromDouble(e->u.ts)};
        return tuple_of(items, 2);
    }
    case EV_WARN: {
        PyObject *items[3] = {PyLong_FromLong(EV_WARN), PyLong_FromLongLong(e->u.warn.offset),
                              PyUnicode_DecodeUTF8(b->text + e->u.warn.at, (Py_ssize_t)e->u.warn.len, "replace")};
        return tuple_of(items, 3);
    }
    default: {
        PyObject *items[4] = {PyLong_FromLong(EV_FRAGMENT), PyLong_FromLong(e->u.frag.version),
                              PyBytes_FromStringAndSize((const char *)e->u.frag.data, e->u.frag.len),
                              PyFloat_FromDouble(e->u.frag.ts)};
        return tuple_of(items, 4);
    }
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The skip set: serial numbers of flows FlowTable ignored, until the walk that applied the    */
/* ignore is iterated. Open addressing on the serial number (never 0), backward-shift removal. */

static inline size_t skip_home(const Kernel *k, uint64_t fid) { return fmix64(fid) & (k->skip_cap - 1); }

static int skip_has(const Kernel *k, uint64_t fid) {
    if (k->skip_count == 0) return 0;
    size_t mask = k->skip_cap - 1;
    for (size_t i = skip_home(k, fid);; i = (i + 1) & mask) {
        if (k->skip[i] == fid) return 1;
        if (k->skip[i] == 0) return 0;
    }
}

static int skip_add(Kernel *k, uint64_t fid) {
    if (fid == 0 || skip_has(k, fid)) return 0;
    if ((k->skip_count + 1) * 2 > k->skip_cap) {
        size_t ncap = k->skip_cap ? k->skip_cap * 2 : 64;
        uint64_t *n = table_alloc(ncap, sizeof(uint64_t));
        if (n == NULL) return -1;
        uint64_t *old = k->skip;
        size_t ocap = k->skip_cap;
        k->skip = n;
        k->skip_cap = ncap;
        for (size_t i = 0; i < ocap; i++) {
            if (old[i] == 0) continue;
            size_t j = skip_home(k, old[i]);
            while (n[j] != 0) j = (j + 1) & (ncap - 1);
            n[j] = old[i];
        }
        PyMem_RawFree(old);
    }
    size_t mask = k->skip_cap - 1, i = skip_home(k, fid);
    while (k->skip[i] != 0) i = (i + 1) & mask;
    k->skip[i] = fid;
    k->skip_count++;
    return 0;
}

static void skip_remove(Kernel *k, uint64_t fid) {
    if (k->skip_count == 0) return;
    size_t mask = k->skip_cap - 1, i = skip_home(k, fid);
    for (;; i = (i + 1) & mask) {
        if (k->skip[i] == 0) return;
        if (k->skip[i] == fid) break;
    }
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (k->skip[j] == 0) break;
        size_t home = skip_home(k, k->skip[j]);
        int stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            k->skip[i] = k->skip[j];
            i = j;
        }
    }
    k->skip[i] = 0;
    k->skip_count--;
}

/* ------------------------------------------------------------------------------------------ */
/* The Batch type: one walk's events, materialised as they are iterated.                       */

static PyTypeObject BatchType;

/* This walk applied these ignores before walking: neither it nor any later walk has events of
 * those flows, so they leave the skip set once its events are read (or dropped unread). */
static void batch_forget_applied(Batch *bt) {
    if (bt->started || bt->b == NULL) return;
    bt->started = 1;
    for (size_t i = 0; i < bt->b->n_applied; i++) skip_remove(bt->kernel, bt->b->applied[i]);
}

static void batch_release(Batch *bt) {
    batch_forget_applied(bt);
    if (bt->has_view) {
        PyBuffer_Release(&bt->view);
        bt->has_view = 0;
    }
    Py_CLEAR(bt->hold);
    batch_free(bt->b);
    bt->b = NULL;
}

static void Batch_dealloc(Batch *bt) {
    batch_release(bt);
    Py_XDECREF(bt->kernel);
    Py_TYPE(bt)->tp_free((PyObject *)bt);
}

static PyObject *batch_error(const BatchData *b) {
    if (b->err == ERR_VALUE) return PyErr_Format(PyExc_ValueError, "%s", b->errmsg);
    return PyErr_NoMemory();
}

/* A Batch owning b (and the buffer view, moved in, when given). */
static PyObject *batch_wrap(Kernel *k, BatchData *b, Py_buffer *view, PyObject *hold) {
    Batch *bt = PyObject_New(Batch, &BatchType);
    if (bt == NULL) {
        batch_free(b);
        if (view != NULL) PyBuffer_Release(view);
        Py_XDECREF(hold);
        return NULL;
    }
    bt->kernel = (Kernel *)Py_NewRef((PyObject *)k);
    bt->b = b;
    bt->has_view = view != NULL;
    if (view != NULL) bt->view = *view;
    bt->hold = hold;
    bt->next = 0;
    bt->started = 0;
    bt->pos = b->pos;
    bt->need = b->need;
    bt->status = b->status;
    bt->barrier = b->barrier ? 1 : 0;
    bt->decoded = b->decoded;
    return (PyObject *)bt;
}

static PyObject *Batch_iternext(Batch *bt) {
    BatchData *b = bt->b;
    if (b == NULL) return NULL;
    Kernel *k = bt->kernel;
    batch_forget_applied(bt);
    while (bt->next < b->n) {
        const Ev *e = &b->ev[bt->next++];
        if ((e->kind == EV_PACKET || e->kind == EV_ACKS) && k->skip_count && skip_has(k, e->fid))
            continue; /* FlowTable ignored the flow after the kernel walked this */
        if (e->kind == EV_PACKET || e->kind == EV_DNS) {
            k->selected++;
        } else if (e->kind == EV_ACKS) {
            const Flow *f = &b->flows[e->u.flow];
            k->selected += f->held_packets[0] + f->held_packets[1];
            k->held += f->held_packets[0] + f->held_packets[1];
        }
        return materialise(bt, e);
    }
    batch_release(bt); /* all read: let go of the buffer now */
    return NULL;
}

static PyObject *Batch_close(Batch *bt, PyObject *Py_UNUSED(ignored)) {
    batch_release(bt);
    Py_RETURN_NONE;
}

static PyMemberDef Batch_members[] = {
    {"pos", T_PYSSIZET, offsetof(Batch, pos), READONLY, "where the walk stopped"},
    {"status", T_INT, offsetof(Batch, status), READONLY, "ST_MORE, ST_NEED or ST_DONE"},
    {"need", T_PYSSIZET, offsetof(Batch, need), READONLY, "ST_NEED: bytes wanted from pos"},
    {"decoded", T_ULONGLONG, offsetof(Batch, decoded), READONLY, "TCP/UDP packets of the file decoded so far"},
    {"barrier", T_BOOL, offsetof(Batch, barrier), READONLY, "the walk stopped after a fragment"},
    {NULL, 0, 0, 0, NULL},
};

static PyMethodDef Batch_methods[] = {
    {"close", (PyCFunction)Batch_close, METH_NOARGS, "close(): drop the events and let go of the buffer"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "detector._fastpath.Batch",
    .tp_basicsize = sizeof(Batch),
    .tp_dealloc = (destructor)Batch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The events of one walk, materialised one by one as they are iterated, and where the "
              "walk stopped (pos, status, need, decoded, barrier).",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Batch_iternext,
    .tp_methods = Batch_methods,
    .tp_members = Batch_members,
};
/* ------------------------------------------------------------------------------------------ */
/* The Kernel type.                                                                           */

static void file_reset(FileState *fs, int kind) {
    PyMem_RawFree(fs->ifaces);
    PyMem_RawFree(fs->linktypes);
    PyMem_RawFree(fs->unsup);
    PyMem_RawFree(fs->unsup_index);
    memset(fs, 0, sizeof(FileState));
    fs->kind = kind;
}

/* End the walker thread (if any) and free what it left; the GIL may be held (the walker never
 * takes it). */
static void walker_join(Kernel *k) {
    pthread_mutex_lock(&k->mu);
    k->stopping = 1;
    pthread_cond_broadcast(&k->wake_walker);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    while (k->ready != NULL) {
        BatchData *b = k->ready;
        k->ready = b->later;
        batch_free(b);
    }
    k->ready_last = NULL;
    k->n_ready = 0;
    k->running = 0;
}

/* After the walker: the gate open for good, the Hasher let go (GIL held). */
static void kernel_let_hasher_go(Kernel *k) {
    if (k->hasher != NULL) hasher_gate(k->hasher, 0, 0);
    Py_CLEAR(k->hasher);
}

static void Kernel_dealloc(Kernel *k) {
    if (k->running) {
        walker_join(k);
        PyBuffer_Release(&k->run_view);
    }
    kernel_let_hasher_go(k);
    if (k->names != NULL) {
        names_clear(k);
        PyMem_RawFree(k->names);
    }
    int initialised = k->index != NULL;
    flows_free(k);
    PyMem_RawFree(k->ips);
    PyMem_RawFree(k->pool_ips);
    PyMem_RawFree(k->kept);
    strset_free(&k->pools);
    strset_free(&k->methods);
    PyMem_RawFree(k->skip);
    PyMem_RawFree(k->pending);
    file_reset(&k->fs, 0);
    if (initialised) { /* the lock and conditions exist */
        pthread_mutex_destroy(&k->mu);
        pthread_cond_destroy(&k->wake_walker);
        pthread_cond_destroy(&k->wake_main);
    }
    Py_XDECREF(k->hints_obj);
    Py_XDECREF(k->http_obj);
    Py_XDECREF(k->packet.cls);
    Py_XDECREF(k->prelude.cls);
    Py_XDECREF(k->summary.cls);
    Py_XDECREF(k->name6);
    Py_XDECREF(k->s_guess);
    Py_XDECREF(k->s_handshake);
    if (k->pairs != NULL) {
        for (size_t i = 0; i < PAIR_SLOTS; i++) Py_XDECREF(k->pairs[i]);
        PyMem_RawFree(k->pairs);
    }
    Py_XDECREF(k->zero_floats);
    Py_TYPE(k)->tp_free((PyObject *)k);
}

/* Fill an empty set from a sequence of str (`what` names the argument in errors). */
static int strset_fill(StrSet *set, PyObject *items, const char *what) {
    PyObject *seq = PySequence_Fast(items, what);
    if (seq == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    size_t total = 0, cap = 64;
    while (cap < (size_t)n * 2 + 2) cap *= 2;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        Py_ssize_t len;
        if (!PyUnicode_Check(item) || PyUnicode_AsUTF8AndSize(item, &len) == NULL) {
            if (!PyErr_Occurred()) PyErr_Format(PyExc_TypeError, "%s must be a sequence of str", what);
            Py_DECREF(seq);
            return -1;
        }
        total += (size_t)len;
    }
    set->blob = PyMem_RawMalloc(total + 1);
    set->slots = PyMem_RawCalloc(cap, sizeof(StrSlot));
    if (set->blob == NULL || set->slots == NULL) {
        Py_DECREF(seq);
        strset_free(set);
        PyErr_NoMemory();
        return -1;
    }
    set->cap = cap;
    size_t off = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t len;
        const char *text = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(seq, i), &len);
        if (strset_has(set, text, (size_t)len)) continue;
        memcpy(set->blob + off, text, (size_t)len);
        uint64_t h = name_hash(text, (size_t)len);
        size_t j = h & (cap - 1);
        while (set->slots[j].hash != 0) j = (j + 1) & (cap - 1);
        set->slots[j].hash = h;
        set->slots[j].off = off;
        set->slots[j].len = (size_t)len;
        off += (size_t)len;
    }
    Py_DECREF(seq);
    return 0;
}

/* What classify_download (detector/behaviour.py) looks for: magic numbers (a tuple of non-empty
 * bytes) and script content types (a tuple of lower-case ASCII str). Sets settle_http. */
static int http_set(Kernel *k, PyObject *magic, PyObject *scripts, Py_ssize_t peek_bytes) {
    if (!PyTuple_Check(magic) || !PyTuple_Check(scripts)) {
        PyErr_SetString(PyExc_TypeError, "download_magic and script_types must be tuples");
        return -1;
    }
    Py_ssize_t nm = PyTuple_GET_SIZE(magic), ns = PyTuple_GET_SIZE(scripts);
    if (nm > MAX_MAGIC || ns > MAX_SCRIPT_TYPES || peek_bytes < 1) {
        PyErr_SetString(PyExc_ValueError, "too many download_magic or script_types, or peek_bytes < 1");
        return -1;
    }
    for (Py_ssize_t i = 0; i < nm; i++) {
        PyObject *m = PyTuple_GET_ITEM(magic, i);
        if (!PyBytes_Check(m) || PyBytes_GET_SIZE(m) == 0) {
            PyErr_SetString(PyExc_TypeError, "download_magic must hold non-empty bytes");
            return -1;
        }
        k->magic[i] = (const uint8_t *)PyBytes_AS_STRING(m);
        k->magic_len[i] = PyBytes_GET_SIZE(m);
    }
    for (Py_ssize_t i = 0; i < ns; i++) {
        PyObject *t = PyTuple_GET_ITEM(scripts, i);
        Py_ssize_t len;
        const char *text = PyUnicode_Check(t) ? PyUnicode_AsUTF8AndSize(t, &len) : NULL;
        if (text == NULL || !PyUnicode_IS_ASCII(t)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "script_types must hold ASCII str");
            return -1;
        }
        for (Py_ssize_t j = 0; j < len; j++) {
            if (text[j] >= 'A' && text[j] <= 'Z') {
                PyErr_SetString(PyExc_ValueError, "script_types must be lower case");
                return -1;
            }
        }
        k->script[i] = text;
        k->script_len[i] = len;
    }
    k->http_obj = PyTuple_Pack(2, magic, scripts);
    if (k->http_obj == NULL) return -1;
    k->n_magic = (int)nm;
    k->n_script = (int)ns;
    k->peek_bytes = peek_bytes;
    k->settle_http = 1;
    return 0;
}

static int Kernel_init(Kernel *k, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"hints", "unhinted_limit", "idle_timeout", "sweep_every", "max_caplen",
                             "max_block", "max_tags", "max_ext_headers", "addr_cache_size", "packet_cls",
                             "prelude_cls", "name6", "seed", "hold_acks", "summary_cls", "first_payloads",
                             "dns_events", "pool_domains", "download_magic", "script_types", "peek_bytes",
                             "methods", "message_limit", "foreign_limit", "tcp_summaries_only", "dns_answers",
                             "summary_gate", NULL};
    PyObject *hints, *packet_cls, *prelude_cls, *name6, *summary_cls = Py_None, *pool_domains = Py_None;
    PyObject *download_magic = Py_None, *script_types = Py_None;
    Py_ssize_t peek_bytes = 64;
    PyObject *methods = Py_None;
    unsigned int message_limit = 16, foreign_limit = 4;
    int dns_events = 0;
    unsigned int first_payloads = 8;
    unsigned int unhinted_limit, max_caplen, max_block, max_tags, max_ext;
    double idle_timeout;
    unsigned long long sweep_every, seed;
    Py_ssize_t addr_cache_size;
    int hold_acks = 0, tcp_summaries_only = 0, dns_answers = 0;
    PyObject *summary_gate = Py_None;
    if (k->index != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Kernel already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!IdKIIIInOOOK|pOIpOOOnOIIppO", kwlist, &PyTuple_Type, &hints,
                                     &unhinted_limit, &idle_timeout, &sweep_every, &max_caplen, &max_block,
                                     &max_tags, &max_ext, &addr_cache_size, &packet_cls, &prelude_cls, &name6,
                                     &seed, &hold_acks, &summary_cls, &first_payloads, &dns_events, &pool_domains,
                                     &download_magic, &script_types, &peek_bytes, &methods, &message_limit,
                                     &foreign_limit, &tcp_summaries_only, &dns_answers, &summary_gate))
        return -1;
    if (summary_gate != Py_None) {
        /* (min_duration, min_packets, min_each, min_first, first_sizes): see "Behaviour only" */
        PyObject *sizes;
        if (!PyArg_ParseTuple(summary_gate, "dKKIO!;summary_gate: (min_duration, min_packets, min_each, "
                              "min_first, first_sizes)", &k->gate_duration, &k->gate_packets, &k->gate_each,
                              &k->gate_first, &PyTuple_Type, &sizes))
            return -1;
        Py_ssize_t ns = PyTuple_GET_SIZE(sizes);
        if (ns > 8) {
            PyErr_SetString(PyExc_ValueError, "summary_gate: at most 8 first sizes");
            return -1;
        }
        for (Py_ssize_t i = 0; i < ns; i++) {
            unsigned long v = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(sizes, i));
            if (v == (unsigned long)-1 && PyErr_Occurred()) return -1;
            k->gate_sizes[i] = v > UINT32_MAX ? UINT32_MAX : (unsigned int)v;
        }
        k->n_gate_sizes = (int)ns;
        k->gate = 1;
    }
    if (pool_domains != Py_None) {
        /* the pool domains of the TLS settle rule (as detector.sidecar.intel.PoolIntel.index holds them) */
        if (strset_fill(&k->pools, pool_domains, "pool_domains") < 0) return -1;
        k->settle_tls = 1;
    }
    if (download_magic != Py_None && http_set(k, download_magic, script_types, peek_bytes) < 0) return -1;
    if (methods != Py_None) {
        /* FlowTable's limits for JSON-RPC without a mining method, and every method a dialect claims */
        if (message_limit == 0 || foreign_limit == 0) {
            PyErr_SetString(PyExc_ValueError, "message_limit and foreign_limit must be positive");
            return -1;
        }
        if (strset_fill(&k->methods, methods, "methods") < 0) return -1;
        k->message_limit = message_limit;
        k->foreign_limit = foreign_limit;
        k->settle_rpc = 1;
    }
    if (first_payloads > MAX_FIRST_PAYLOADS) {
        PyErr_Format(PyExc_ValueError, "first_payloads must be at most %d", MAX_FIRST_PAYLOADS);
        return -1;
    }
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
    k->n_hint_first = 0;
    for (int i = 0; i < k->n_hints; i++) {
        int seen = 0;
        for (int f = 0; f < k->n_hint_first; f++) seen |= k->hint_first[f] == k->hint[i][0];
        if (!seen) k->hint_first[k->n_hint_first++] = k->hint[i][0];
    }
    k->hints_obj = Py_NewRef(hints);
    k->unhinted_limit = unhinted_limit;
    k->idle_timeout = idle_timeout;
    k->sweep_every = sweep_every;
    k->max_caplen = max_caplen;
    k->max_block = max_block;
    k->max_tags = max_tags;
    k->max_ext = max_ext;
    k->addr_cache_size = (size_t)addr_cache_size;
    k->hold_acks = hold_acks;
    k->first_payloads = first_payloads;
    k->dns_events = dns_events;
    k->dns_answers = dns_events && dns_answers;
    if (maker_init(&k->packet, packet_cls, 12) < 0 || maker_init(&k->prelude, prelude_cls, 16) < 0) return -1;
    if (summary_cls != Py_None && maker_init(&k->summary, summary_cls, 19) < 0) return -1;
    k->tcp_summaries_only = tcp_summaries_only;
    k->name6 = Py_NewRef(name6);
    k->seed = seed;
    k->s_guess = PyUnicode_InternFromString("guess");
    k->s_handshake = PyUnicode_InternFromString("handshake");
    if (k->s_guess == NULL || k->s_handshake == NULL) return -1;
    k->cap = 1024;
    k->ips_cap = 1024;
    k->names_cap = 256;
    k->ips = table_alloc(k->ips_cap, sizeof(IpSlot));
    k->names = table_alloc(k->names_cap, sizeof(NameSlot));
    if (k->ips == NULL || k->names == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (pthread_mutex_init(&k->mu, NULL) != 0 || pthread_cond_init(&k->wake_walker, NULL) != 0 ||
        pthread_cond_init(&k->wake_main, NULL) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "cannot create the kernel's lock");
        return -1;
    }
    k->index = table_alloc(k->cap, sizeof(FlowRef)); /* last: non-NULL means initialised */
    if (k->index == NULL) {
        pthread_mutex_destroy(&k->mu);
        pthread_cond_destroy(&k->wake_walker);
        pthread_cond_destroy(&k->wake_main);
        PyErr_NoMemory();
        return -1;
    }
    file_reset(&k->fs, KIND_PCAP);
    k->fs.done = 1;
    return 0;
}

static int ready(Kernel *k) {
    if (k->index == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Kernel not initialised");
        return 0;
    }
    return 1;
}

/* The flow table and file state are free: no walk in any thread. */
static int idle(Kernel *k) {
    if (!ready(k)) return 0;
    if (k->busy || k->running) {
        PyErr_SetString(PyExc_RuntimeError, "the kernel is walking a capture");
        return 0;
    }
    return 1;
}

static PyObject *Kernel_begin(Kernel *k, PyObject *arg) {
    if (!idle(k)) return NULL;
    long kind = PyLong_AsLong(arg);
    if (kind == -1 && PyErr_Occurred()) return NULL;
    if (kind != KIND_PCAP && kind != KIND_PCAPNG) {
        PyErr_SetString(PyExc_ValueError, "kind must be 0 (pcap) or 1 (pcapng)");
        return NULL;
    }
    file_reset(&k->fs, (int)kind);
    Py_RETURN_NONE;
}

static int get_view(PyObject *bufobj, Py_ssize_t pos, Py_buffer *view) {
    if (PyObject_GetBuffer(bufobj, view, PyBUF_SIMPLE) < 0) return -1;
    if (pos < 0 || pos > view->len) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "pos outside the buffer");
        return -1;
    }
    return 0;
}

/* walk(buf, pos, base, final, budget) -> Batch: one walk in this thread, the GIL released. */
static PyObject *Kernel_walk(Kernel *k, PyObject *args) {
    PyObject *bufobj;
    Py_ssize_t pos, budget;
    long long base;
    int final;
    if (!idle(k)) return NULL;
    if (!PyArg_ParseTuple(args, "OnLpn", &bufobj, &pos, &base, &final, &budget)) return NULL;
    Py_buffer view;
    if (get_view(bufobj, pos, &view) < 0) return NULL;
    BatchData *b = batch_alloc();
    if (b == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    k->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    walk_batch(k, b, view.buf, view.len, pos, (int64_t)base, final, budget);
    Py_END_ALLOW_THREADS
    k->busy = 0;
    if (b->status < 0) {
        batch_error(b);
        batch_free(b);
        PyBuffer_Release(&view);
        return NULL;
    }
    return batch_wrap(k, b, &view, NULL);
}

/* feed(buf, pos, base, final, budget) -> (pos, status, events, need): walk() read at once. */
static PyObject *Kernel_feed(Kernel *k, PyObject *args) {
    PyObject *batch = Kernel_walk(k, args);
    if (batch == NULL) return NULL;
    Batch *bt = (Batch *)batch;
    PyObject *events = PySequence_List(batch);
    PyObject *res = events == NULL ? NULL : Py_BuildValue("(niNn)", bt->pos, bt->status, events, bt->need);
    Py_DECREF(batch);
    return res;
}

/* start(buf, pos, base, budget, hasher=None): walk all of buf[pos:] (its end is the file's) in the
 * walker; a Hasher given is held back while the walker walks (see kernel_gate). */
static PyObject *Kernel_start(Kernel *k, PyObject *args) {
    PyObject *bufobj, *hasher = Py_None;
    Py_ssize_t pos, budget;
    long long base;
    if (!idle(k)) return NULL;
    if (!PyArg_ParseTuple(args, "OnLn|O", &bufobj, &pos, &base, &budget, &hasher)) return NULL;
    if (hasher != Py_None && !PyObject_TypeCheck(hasher, &HasherType)) {
        PyErr_SetString(PyExc_TypeError, "hasher must be a Hasher or None");
        return NULL;
    }
    if (get_view(bufobj, pos, &k->run_view) < 0) return NULL;
    k->run_pos = pos;
    k->release_to = k->released = k->release_seen = pos;
    k->run_base = (int64_t)base;
    k->run_budget = budget;
    k->stopping = k->at_barrier = k->barrier_out = k->walker_done = k->walker_err = 0;
    k->ready = k->ready_last = NULL;
    k->n_ready = k->walker_busy = 0;
    Py_XSETREF(k->hasher, hasher == Py_None ? NULL : (Hasher *)Py_NewRef(hasher));
    if (pthread_create(&k->thread, NULL, walker_main, k) != 0) {
        Py_CLEAR(k->hasher);
        PyBuffer_Release(&k->run_view);
        PyErr_SetString(PyExc_RuntimeError, "cannot start the kernel's walker thread");
        return NULL;
    }
    k->running = 1;
    Py_RETURN_NONE;
}

/* release(pos): the caller is done with the walked buffer before pos — it must be a shared
 * mapping of a file (Python's mmap of the capture): its whole pages before pos are dropped from
 * the mapping (MADV_DONTNEED; the page cache keeps them) by the walker, before its next batch.
 * Without this a scan's resident memory would grow with the size of the capture (mapped file
 * pages count as resident). The walker does it so that Python's thread, which the walk waits for,
 * does not: ~12 ms of madvise per 489 MB, measured on the 1M-packet benchmark. Once the walker
 * has made its last batch, the caller drops the pages itself (the walker no longer touches
 * k->released then). */
static PyObject *Kernel_release(Kernel *k, PyObject *arg) {
    Py_ssize_t pos = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (pos == -1 && PyErr_Occurred()) return NULL;
    if (!k->running) {
        PyErr_SetString(PyExc_RuntimeError, "the walker is not running (start() first)");
        return NULL;
    }
    pthread_mutex_lock(&k->mu);
    if (pos > k->release_to) k->release_to = pos;
    if (k->walker_done) { /* the walker has walked its last batch and releases no more: here, then */
        Py_ssize_t release_to = release_take(k);
        if (release_to > 0) walker_release(k, release_to);
    } else {
        pthread_cond_signal(&k->wake_walker); /* also while it waits with its queue full */
    }
    pthread_mutex_unlock(&k->mu);
    Py_RETURN_NONE;
}

/* next() -> Batch | None: the walker's next batch, waiting for it with the GIL released. Calling
 * it again means the previous batch has been dispatched: a walker waiting at a fragment goes on. */
static PyObject *Kernel_next(Kernel *k, PyObject *Py_UNUSED(ignored)) {
    if (!ready(k)) return NULL;
    if (!k->running) {
        PyErr_SetString(PyExc_RuntimeError, "the walker is not running (start() first)");
        return NULL;
    }
    BatchData *b;
    int err;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&k->mu);
    if (k->barrier_out) { /* the batch that ended at a fragment has been dispatched */
        k->barrier_out = k->at_barrier = 0;
        pthread_cond_signal(&k->wake_walker);
    }
    while (k->ready == NULL && !k->walker_done) pthread_cond_wait(&k->wake_main, &k->mu);
    b = k->ready;
    if (b != NULL) {
        k->ready = b->later;
        if (k->ready == NULL) k->ready_last = NULL;
        b->later = NULL;
        k->n_ready--;
        kernel_gate(k);
        if (b->barrier) k->barrier_out = 1;
        pthread_cond_signal(&k->wake_walker);
    }
    err = k->walker_err;
    pthread_mutex_unlock(&k->mu);
    Py_END_ALLOW_THREADS
    if (b == NULL) {
        if (err) return PyErr_NoMemory();
        Py_RETURN_NONE;
    }
    if (b->status < 0) {
        batch_error(b);
        batch_free(b);
        return NULL;
    }
    Py_buffer view; /* each batch keeps the buffer alive while its events point into it */
    if (PyObject_GetBuffer(k->run_view.obj, &view, PyBUF_SIMPLE) < 0) {
        batch_free(b);
        return NULL;
    }
    return batch_wrap(k, b, &view, NULL);
}

/* stop(): end the walker (wherever it is), join it, release the buffer. */
static PyObject *Kernel_stop(Kernel *k, PyObject *Py_UNUSED(ignored)) {
    if (!ready(k)) return NULL;
    if (!k->running) Py_RETURN_NONE;
    Py_BEGIN_ALLOW_THREADS
    walker_join(k);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&k->run_view);
    kernel_let_hasher_go(k);
    Py_RETURN_NONE;
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

/* observe(packet) -> Batch: a Packet built in Python (a reassembled fragment), through the flow
 * logic now — between walks, or while the walker waits at the fragment's batch. */
static PyObject *Kernel_observe(Kernel *k, PyObject *pkt) {
    if (!ready(k)) return NULL;
    if (k->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the kernel is walking a capture");
        return NULL;
    }
    if (k->running) {
        pthread_mutex_lock(&k->mu);
        int waiting = k->at_barrier;
        pthread_mutex_unlock(&k->mu);
        if (!waiting) {
            PyErr_SetString(PyExc_RuntimeError, "observe() while the walker walks (only at a fragment's batch)");
            return NULL;
        }
    }
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
    p.payload = (const uint8_t *)PyBytes_AS_STRING(payload); /* kept alive by the packet */
    p.plen = PyBytes_GET_SIZE(payload);
    if ((uint64_t)p.plen > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "observe: payload longer than 2^32 - 1 bytes");
        goto done;
    }
    p.obj = pkt;
    BatchData *b = batch_alloc();
    if (b == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    k->cur = b;
    apply_pending(k);
    int r = on_packet(k, &p);
    k->cur = NULL;
    if (r < 0) {
        batch_error(b);
        batch_free(b);
        goto done;
    }
    result = batch_wrap(k, b, NULL, Py_NewRef(pkt));
done:
    Py_XDECREF(src);
    Py_XDECREF(dst);
    Py_XDECREF(payload);
    Py_XDECREF(ts);
    Py_XDECREF(snapped);
    return result;
}

/* ignore(a, ap, b, bp, proto, fid): Python stopped inspecting flow instance `fid`. Queued for the
 * next walk (the walker may hold the flow table now); its events are dropped from now on. */
static PyObject *Kernel_ignore(Kernel *k, PyObject *args) {
    PyObject *a, *b;
    int ap, bp, proto;
    unsigned long long fid;
    if (!ready(k)) return NULL;
    if (!PyArg_ParseTuple(args, "UiUiiK", &a, &ap, &b, &bp, &proto, &fid)) return NULL;
    PendingIgnore q;
    memset(&q, 0, sizeof(q));
    uint8_t v6a, v6b;
    if (parse_addr(a, q.a, &v6a) < 0 || parse_addr(b, q.b, &v6b) < 0) return NULL;
    if (v6a != v6b || fid == 0) Py_RETURN_NONE; /* no flow of the kernel has this key */
    q.v6 = v6a;
    q.ap = (uint16_t)ap;
    q.bp = (uint16_t)bp;
    q.proto = (uint8_t)proto;
    q.fid = fid;
    if (skip_add(k, fid) < 0) return PyErr_NoMemory();
    pthread_mutex_lock(&k->mu);
    int r = reserve((void **)&k->pending, &k->cap_pending, k->n_pending, sizeof(PendingIgnore), 16);
    if (r == 0) k->pending[k->n_pending++] = q;
    pthread_mutex_unlock(&k->mu);
    if (r < 0) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* `read` (summary_gate): the 4-tuples (a, ap, b, bp) of the table's sessions and live flows, whose
 * summaries are read. */
static int kept_read(Kernel *k, PyObject *read) {
    PyObject *it = PyObject_GetIter(read);
    if (it == NULL) return -1;
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        PyObject *a, *b;
        int ap, bp;
        uint8_t xa[16] = {0}, xb[16] = {0}, v6a, v6b;
        int ok = PyArg_ParseTuple(item, "UiUi;read: (a, ap, b, bp) tuples", &a, &ap, &b, &bp) &&
                 parse_addr(a, xa, &v6a) == 0 && parse_addr(b, xb, &v6b) == 0;
        Py_DECREF(item);
        if (!ok) break;
        if (v6a != v6b) continue; /* no flow of the kernel has this tuple */
        TupleSlot t;
        tuple_make(&t, xa, (uint16_t)ap, xb, (uint16_t)bp, v6a);
        if (kept_put(k, &t) < 0) {
            PyErr_NoMemory();
            break;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

/* finish(read=None) -> Batch: the end of the scan (FlowTable.finish ends every flow): held ACK
 * counts not handed over yet, then the summary of every live flow in creation order (or its
 * behaviour: see "Behaviour only"); the flow table is emptied (a later file starts new flows, as
 * it would after FlowTable.finish). */
static PyObject *Kernel_finish(Kernel *k, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"read", NULL};
    PyObject *read = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O", kwlist, &read)) return NULL;
    if (!idle(k)) return NULL;
    BatchData *b = batch_alloc();
    Flow **list = NULL;
    if (b == NULL) return PyErr_NoMemory();
    k->cur = b;
    if (read != Py_None && k->gate && kept_read(k, read) < 0) {
        k->cur = NULL;
        batch_free(b);
        return NULL;
    }
    apply_pending(k);
    int r = flush_held(k);
    size_t n = 0;
    if (r == 0 && k->summary.cls != NULL && k->count > 0) {
        list = PyMem_RawMalloc(k->count * sizeof(Flow *));
        if (list == NULL) {
            r = fail_nomem(k);
        } else {
            for (uint32_t s = 1; s <= k->n_slots; s++) {
                Flow *f = flow_at(k, s);
                if (f->state != FLOW_EMPTY) list[n++] = f;
            }
            r = emit_summaries(k, list, n, 1);
        }
    }
    k->cur = NULL;
    if (r < 0) {
        PyMem_RawFree(list);
        batch_error(b);
        batch_free(b);
        return NULL;
    }
    /* the table is emptied; the store keeps its chunks and starts again from its first slot (a slot
     * is written whole when it is taken) */
    for (uint32_t s = 1; s <= k->n_slots; s++) flow_drop_held(k, flow_at(k, s));
    memset(k->index, 0, k->cap * sizeof(FlowRef));
    k->n_slots = 0;
    k->n_free = 0;
    PyMem_RawFree(list);
    k->count = 0;
    k->any_held = 0;
    b->status = ST_DONE;
    return batch_wrap(k, b, NULL, NULL);
}

static PyObject *Kernel_file_stats(Kernel *k, PyObject *Py_UNUSED(ignored)) {
    if (!idle(k)) return NULL;
    FileState *fs = &k->fs;
    PyObject *lts = PyList_New((Py_ssize_t)fs->n_linktypes);
    if (lts == NULL) return NULL;
    for (size_t i = 0; i < fs->n_linktypes; i++) {
        PyObject *v = PyLong_FromUnsignedLong(fs->linktypes[i]);
        if (v == NULL) {
            Py_DECREF(lts);
            return NULL;
        }
        PyList_SET_ITEM(lts, i, v);
    }
    PyObject *uns = PyList_New((Py_ssize_t)fs->n_unsup);
    if (uns == NULL) {
        Py_DECREF(lts);
        return NULL;
    }
    for (size_t i = 0; i < fs->n_unsup; i++) {
        PyObject *v = Py_BuildValue("(ILK)", fs->unsup[i].linktype, (long long)fs->unsup[i].offset,
                                    (unsigned long long)fs->unsup[i].count);
        if (v == NULL) {
            Py_DECREF(lts);
            Py_DECREF(uns);
            return NULL;
        }
        PyList_SET_ITEM(uns, i, v);
    }
    PyObject *lo = fs->have_ts ? PyFloat_FromDouble(fs->lo) : Py_NewRef(Py_None);
    PyObject *hi = fs->have_ts ? PyFloat_FromDouble(fs->hi) : Py_NewRef(Py_None);
    return Py_BuildValue("(KKNNNNKKK)", (unsigned long long)fs->records, (unsigned long long)fs->bytes, lo, hi,
                         lts, uns, (unsigned long long)fs->malformed, (unsigned long long)fs->truncated,
                         (unsigned long long)fs->decoded);
}

static PyObject *Kernel_counts(Kernel *k, PyObject *Py_UNUSED(ignored)) {
    if (!idle(k)) return NULL;
    return Py_BuildValue("(KKKKKKK)", (unsigned long long)k->flows_seen, (unsigned long long)k->ips_count,
                         (unsigned long long)k->selected, (unsigned long long)k->held,
                         (unsigned long long)k->tls_settled, (unsigned long long)k->http_settled,
                         (unsigned long long)k->rpc_settled);
}

static PyMethodDef Kernel_methods[] = {
    {"begin", (PyCFunction)Kernel_begin, METH_O, "begin(kind): start a file (0 pcap, 1 pcapng)"},
    {"walk", (PyCFunction)Kernel_walk, METH_VARARGS,
     "walk(buf, pos, base, final, budget) -> Batch: one walk in this thread, the GIL released"},
    {"feed", (PyCFunction)Kernel_feed, METH_VARARGS,
     "feed(buf, pos, base, final, budget) -> (pos, status, events, need)"},
    {"start", (PyCFunction)Kernel_start, METH_VARARGS,
     "start(buf, pos, base, budget, hasher=None): walk the whole of buf[pos:] in the walker thread"},
    {"next", (PyCFunction)Kernel_next, METH_NOARGS, "next() -> Batch | None: the walker's next batch"},
    {"stop", (PyCFunction)Kernel_stop, METH_NOARGS, "stop(): end and join the walker, release the buffer"},
    {"release", (PyCFunction)Kernel_release, METH_O,
     "release(pos): the walker drops the mapped file's whole pages before pos from the mapping"},
    {"observe", (PyCFunction)Kernel_observe, METH_O, "observe(packet) -> Batch"},
    {"ignore", (PyCFunction)Kernel_ignore, METH_VARARGS, "ignore(a, ap, b, bp, proto, fid): queue an ignore"},
    {"finish", (PyCFunction)(void (*)(void))Kernel_finish, METH_VARARGS | METH_KEYWORDS,
     "finish(read=None) -> Batch: the end of the scan: the summaries of every live flow; the table is emptied"},
    {"file_stats", (PyCFunction)Kernel_file_stats, METH_NOARGS,
     "file_stats() -> (records, bytes, first_ts, last_ts, linktypes, unsupported, malformed, truncated, decoded)"},
    {"counts", (PyCFunction)Kernel_counts, METH_NOARGS, "counts() -> (flows_seen, distinct_ips, selected, held, tls_settled, http_settled, rpc_settled)"},
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

/* ------------------------------------------------------------------------------------------ */
/* MessageParser: one JSON-RPC line's common case, as detector/jsonrpc.py's _parse takes it.     */
/* MessageParser(scan_once, message_cls, known, no_extra, hashable_id); parser(raw) for raw bytes
 * that begin with "{": strict UTF-8, one JSON value read by json's own C scanner (scan_once, the
 * scanner raw_decode calls), nothing after it but " \t\r\n" -> the value's Message (or None where
 * message_from_object gives None, or the value is no object), built as message_from_object builds
 * it: the same objects in the same fields, `extra` the shared no_extra unless a member is not in
 * known, an id that is not str/int/float/bool normalised by hashable_id. Anything else — another
 * first byte, invalid UTF-8, a value the scanner refuses (ValueError, RecursionError,
 * StopIteration), other text after it — returns NotImplemented: jsonrpc's general path decides,
 * exactly as before. The miners' 20k messages on the benchmark capture each spent ~1 us in the
 * two Python functions this replaces. */

typedef struct {
    PyObject_HEAD
    PyObject *scan_once, *message_cls, *known, *no_extra, *hashable_id;
    PyObject *k_method, *k_id, *k_params, *k_result, *k_error, *zero;
} MessageParser;

static int MessageParser_init(MessageParser *mp, PyObject *args, PyObject *kwds) {
    PyObject *scan_once, *message_cls, *known, *no_extra, *hashable_id;
    if (!PyArg_ParseTuple(args, "OO!O!O!O", &scan_once, &PyType_Type, &message_cls, &PyFrozenSet_Type, &known,
                          &PyDict_Type, &no_extra, &hashable_id))
        return -1;
    if (!PyType_IsSubtype((PyTypeObject *)message_cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "message_cls must be a tuple subclass (a NamedTuple)");
        return -1;
    }
    Py_XSETREF(mp->scan_once, Py_NewRef(scan_once));
    Py_XSETREF(mp->message_cls, Py_NewRef(message_cls));
    Py_XSETREF(mp->known, Py_NewRef(known));
    Py_XSETREF(mp->no_extra, Py_NewRef(no_extra));
    Py_XSETREF(mp->hashable_id, Py_NewRef(hashable_id));
    Py_XSETREF(mp->k_method, PyUnicode_InternFromString("method"));
    Py_XSETREF(mp->k_id, PyUnicode_InternFromString("id"));
    Py_XSETREF(mp->k_params, PyUnicode_InternFromString("params"));
    Py_XSETREF(mp->k_result, PyUnicode_InternFromString("result"));
    Py_XSETREF(mp->k_error, PyUnicode_InternFromString("error"));
    Py_XSETREF(mp->zero, PyLong_FromLong(0));
    if (!mp->k_method || !mp->k_id || !mp->k_params || !mp->k_result || !mp->k_error || !mp->zero) return -1;
    return 0;
}

static void MessageParser_dealloc(MessageParser *mp) {
    Py_XDECREF(mp->scan_once);
    Py_XDECREF(mp->message_cls);
    Py_XDECREF(mp->known);
    Py_XDECREF(mp->no_extra);
    Py_XDECREF(mp->hashable_id);
    Py_XDECREF(mp->k_method);
    Py_XDECREF(mp->k_id);
    Py_XDECREF(mp->k_params);
    Py_XDECREF(mp->k_result);
    Py_XDECREF(mp->k_error);
    Py_XDECREF(mp->zero);
    Py_TYPE(mp)->tp_free((PyObject *)mp);
}

/* d.get(key) as a new reference (None when absent); NULL on error. */
static PyObject *dict_get_or_none(PyObject *d, PyObject *key) {
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (v == NULL) return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    return Py_NewRef(v);
}

/* detector/jsonrpc.py's message_from_object, for a dict. */
static PyObject *mp_from_object(MessageParser *mp, PyObject *obj) {
    PyObject *method = dict_get_or_none(obj, mp->k_method);
    if (method == NULL) return NULL;
    int is_response;
    if (method == Py_None) {
        int has_result = PyDict_Contains(obj, mp->k_result);
        int has_error = has_result == 0 ? PyDict_Contains(obj, mp->k_error) : 0;
        if (has_result < 0 || has_error < 0) {
            Py_DECREF(method);
            return NULL;
        }
        if (!has_result && !has_error) {
            Py_DECREF(method);
            Py_RETURN_NONE;
        }
        is_response = 1;
    } else if (PyUnicode_Check(method)) {
        is_response = 0;
    } else {
        Py_DECREF(method);
        Py_RETURN_NONE;
    }
    PyObject *ident = dict_get_or_none(obj, mp->k_id), *params = NULL, *result = NULL, *error = NULL, *extra = NULL;
    if (ident == NULL) goto fail;
    if (ident != Py_None && !PyUnicode_Check(ident) && !PyLong_Check(ident) && !PyFloat_Check(ident)) {
        Py_SETREF(ident, PyObject_CallOneArg(mp->hashable_id, ident)); /* bool is an int */
        if (ident == NULL) goto fail;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(obj, &pos, &key, &value)) { /* the other members, in order (made at the first) */
        int in = PySet_Contains(mp->known, key);
        if (in < 0 || (!in && extra == NULL && (extra = PyDict_New()) == NULL)) goto fail;
        if (!in && PyDict_SetItem(extra, key, value) < 0) goto fail;
    }
    if (extra == NULL) extra = Py_NewRef(mp->no_extra);
    if (!(params = dict_get_or_none(obj, mp->k_params)) || !(result = dict_get_or_none(obj, mp->k_result)) ||
        !(error = dict_get_or_none(obj, mp->k_error)))
        goto fail;
    PyTypeObject *cls = (PyTypeObject *)mp->message_cls;
    PyObject *msg = cls->tp_alloc(cls, 7); /* tuple.__new__(Message, fields), as tuple_subtype_new does */
    if (msg == NULL) goto fail;
    PyTuple_SET_ITEM(msg, 0, method);
    PyTuple_SET_ITEM(msg, 1, ident);
    PyTuple_SET_ITEM(msg, 2, params);
    PyTuple_SET_ITEM(msg, 3, result);
    PyTuple_SET_ITEM(msg, 4, error);
    PyTuple_SET_ITEM(msg, 5, py_bool(is_response));
    PyTuple_SET_ITEM(msg, 6, extra);
    return msg;
fail:
    Py_DECREF(method);
    Py_XDECREF(ident);
    Py_XDECREF(params);
    Py_XDECREF(result);
    Py_XDECREF(error);
    Py_XDECREF(extra);
    return NULL;
}

static PyObject *MessageParser_call(MessageParser *mp, PyObject *args, PyObject *kwds) {
    PyObject *raw;
    if (!PyArg_ParseTuple(args, "O", &raw)) return NULL;
    if (!PyBytes_CheckExact(raw) || PyBytes_GET_SIZE(raw) == 0 || PyBytes_AS_STRING(raw)[0] != '{')
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *text = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), "strict");
    if (text == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError)) return NULL;
        PyErr_Clear();
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *pair = PyObject_CallFunctionObjArgs(mp->scan_once, text, mp->zero, NULL);
    if (pair == NULL) {
        Py_DECREF(text);
        if (!PyErr_ExceptionMatches(PyExc_ValueError) && !PyErr_ExceptionMatches(PyExc_RecursionError) &&
            !PyErr_ExceptionMatches(PyExc_StopIteration))
            return NULL;
        PyErr_Clear();
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
        Py_DECREF(text);
        Py_DECREF(pair);
        PyErr_SetString(PyExc_TypeError, "scan_once must give (value, end)");
        return NULL;
    }
    Py_ssize_t end = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 1));
    if (end == -1 && PyErr_Occurred()) {
        Py_DECREF(text);
        Py_DECREF(pair);
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = end; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') { /* other text after the value */
            Py_DECREF(text);
            Py_DECREF(pair);
            Py_RETURN_NOTIMPLEMENTED;
        }
    }
    Py_DECREF(text);
    PyObject *obj = PyTuple_GET_ITEM(pair, 0);
    PyObject *msg = PyDict_Check(obj) ? mp_from_object(mp, obj) : Py_NewRef(Py_None);
    Py_DECREF(pair);
    return msg;
}

static PyTypeObject MessageParserType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "detector._fastpath.MessageParser",
    .tp_basicsize = sizeof(MessageParser),
    .tp_dealloc = (destructor)MessageParser_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "parser(raw) -> Message | None | NotImplemented: a JSON-RPC line's common case (see jsonrpc._parse).",
    .tp_call = (ternaryfunc)MessageParser_call,
    .tp_init = (initproc)MessageParser_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef fastpath_module = {
    PyModuleDef_HEAD_INIT, .m_name = "detector._fastpath",
    .m_doc = "Compiled fast path of minesweep scan (see detector/capture/fast.py).", .m_size = -1,
};

PyMODINIT_FUNC PyInit__fastpath(void) {
    if (PyType_Ready(&KernelType) < 0 || PyType_Ready(&BatchType) < 0 || PyType_Ready(&HasherType) < 0 ||
        PyType_Ready(&MessageParserType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&fastpath_module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Kernel", (PyObject *)&KernelType) < 0 ||
        PyModule_AddObjectRef(m, "Batch", (PyObject *)&BatchType) < 0 ||
        PyModule_AddObjectRef(m, "Hasher", (PyObject *)&HasherType) < 0 ||
        PyModule_AddObjectRef(m, "MessageParser", (PyObject *)&MessageParserType) < 0 ||
        PyModule_AddIntConstant(m, "EV_PACKET", EV_PACKET) < 0 ||
        PyModule_AddIntConstant(m, "EV_PRELUDE", EV_PRELUDE) < 0 ||
        PyModule_AddIntConstant(m, "EV_SWEEP", EV_SWEEP) < 0 ||
        PyModule_AddIntConstant(m, "EV_WARN", EV_WARN) < 0 ||
        PyModule_AddIntConstant(m, "EV_FRAGMENT", EV_FRAGMENT) < 0 ||
        PyModule_AddIntConstant(m, "EV_ACKS", EV_ACKS) < 0 ||
        PyModule_AddIntConstant(m, "EV_SUMMARY", EV_SUMMARY) < 0 ||
        PyModule_AddIntConstant(m, "EV_DNS", EV_DNS) < 0 ||
        PyModule_AddIntConstant(m, "EV_ANSWERS", EV_ANSWERS) < 0 ||
        PyModule_AddIntConstant(m, "EV_BEHAVIOUR", EV_BEHAVIOUR) < 0 ||
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
