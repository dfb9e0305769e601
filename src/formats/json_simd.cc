/*
 * json_simd.cc - the one C++ file: simdjson On-Demand behind a C interface.
 *
 * One ondemand::parser lives as long as the sl_json_parser that owns it and
 * is reused for every line, so after the longest line has been seen parsing
 * allocates nothing. The line is iterated in place: the caller promises
 * SIMDJSON_PADDING readable bytes after it (the next lines of the read
 * buffer, or the buffer's padding), so no line is ever copied.
 *
 * On-Demand reads only what it is asked for. We walk the path tree of
 * json_simd.h: every field of every object on a wanted path is visited (so the
 * structure along those paths -- commas, colons, brackets -- is checked),
 * wanted values are read and checked in full, and values nobody wants are
 * skipped by bracket counting, which checks that their strings are closed and
 * their UTF-8 valid but not, say, that a skipped `tru` is `true`. That is the
 * price of On-Demand's speed and is documented in json.h.
 *
 * Stream mode (sl_jsimd_stream_*) is an accelerator on top: a second parser
 * runs iterate_many over a window of many lines, so stage 1 is paid once per
 * window instead of once per line. simdjson splits a stream into documents by
 * its structure, not by lines, and is lenient at window boundaries, so a line
 * is taken from the stream only when several independent checks agree that
 * it holds exactly one complete object (see sl_jsimd_stream_line); every
 * other line is parsed alone by sl_jsimd_parse, which is the reference. The
 * unit tests and fuzz_json compare both modes row for row.
 */
#include <simdjson.h>

#include <cstdio>
#include <cstring>
#include <vector>

extern "C" {
#include "core/error.h"
#include "formats/json_simd.h"
}

using namespace simdjson;

static_assert(SIMDJSON_PADDING <= 64, "SL_JSON_PADDING (json.h) must cover SIMDJSON_PADDING");

struct sl_jsimd {
    std::vector<char> scratch; /* unescaped strings of the current line */
    ondemand::parser parser;   /* line by line */
    ondemand::parser sparser;  /* stream mode: a stream owns its parser */
    ondemand::document_stream stream;
    ondemand::document_stream::iterator it;
    const char *sbase, *send;
    sl_jsimd_key_fn unknown; /* schema discovery (json_simd.h) */
    void *unknown_ud;
};

extern "C" sl_jsimd *sl_jsimd_new(void) {
    sl_jsimd *s = new (std::nothrow) sl_jsimd();
#ifdef SIMDJSON_THREADS_ENABLED
    if (s) s->sparser.threaded = false; /* one thread on the data path */
#endif
    return s;
}

extern "C" void sl_jsimd_free(sl_jsimd *s) { delete s; }

/* simdjson has messages but no names for its codes; names are what a user
 * greps for in a quarantine table. */
static const char *err_name(error_code e) {
    switch (e) {
    case CAPACITY:
        return "CAPACITY";
    case MEMALLOC:
        return "MEMALLOC";
    case TAPE_ERROR:
        return "TAPE_ERROR";
    case DEPTH_ERROR:
        return "DEPTH_ERROR";
    case STRING_ERROR:
        return "STRING_ERROR";
    case T_ATOM_ERROR:
        return "T_ATOM_ERROR";
    case F_ATOM_ERROR:
        return "F_ATOM_ERROR";
    case N_ATOM_ERROR:
        return "N_ATOM_ERROR";
    case NUMBER_ERROR:
        return "NUMBER_ERROR";
    case UTF8_ERROR:
        return "UTF8_ERROR";
    case EMPTY:
        return "EMPTY";
    case UNESCAPED_CHARS:
        return "UNESCAPED_CHARS";
    case UNCLOSED_STRING:
        return "UNCLOSED_STRING";
    case INCORRECT_TYPE:
        return "INCORRECT_TYPE";
    case NUMBER_OUT_OF_RANGE:
        return "NUMBER_OUT_OF_RANGE";
    case INCOMPLETE_ARRAY_OR_OBJECT:
        return "INCOMPLETE_ARRAY_OR_OBJECT";
    case TRAILING_CONTENT:
        return "TRAILING_CONTENT";
    default:
        return "ERROR";
    }
}

namespace {

struct walker {
    const sl_jnode *nodes;
    sl_jval *vals;
    const char *line;
    const char *end; /* line + len */
    bool no_escapes; /* the line has no backslash: raw keys and strings are final */
    char *scratch;   /* room for the line's unescaped strings (never more than its length) */
    sl_jsimd_key_fn unknown; /* root keys off the tree, or NULL */
    void *unknown_ud;
};

} // namespace

static std::string_view trim_right(std::string_view t) {
    size_t n = t.size();
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\r' || t[n - 1] == '\n'))
        n--;
    return t.substr(0, n);
}

/* An integer literal beyond [INT64_MIN, UINT64_MAX]: simdjson 3.0 refuses it
 * with NUMBER_ERROR; we keep it as SL_JV_BIGINT so a double column can take it. */
static bool is_big_integer(std::string_view t) {
    size_t i = (!t.empty() && t[0] == '-') ? 1 : 0;
    if (t.size() - i < 19) return false;
    if (t[i] == '0') return false;
    for (; i < t.size(); i++)
        if (t[i] < '0' || t[i] > '9') return false;
    return true;
}

static error_code read_leaf(walker &w, ondemand::value &v, const sl_jnode *n) {
    sl_jval *out = &w.vals[n->leaf];
    ondemand::json_type t;
    error_code e = v.type().get(t);
    if (e) return e;
    std::string_view tok = trim_right(v.raw_json_token());
    out->escaped = 0;
    out->raw = tok.data();
    out->rawlen = (uint32_t)tok.size();
    switch (t) {
    case ondemand::json_type::null: {
        bool isnull = false;
        e = v.is_null().get(isnull);
        if (e) return e;
        if (!isnull) return N_ATOM_ERROR;
        out->kind = SL_JV_NULL;
        return SUCCESS;
    }
    case ondemand::json_type::boolean: {
        bool b = false;
        e = v.get_bool().get(b);
        if (e == INCORRECT_TYPE) return tok.size() && tok[0] == 't' ? T_ATOM_ERROR : F_ATOM_ERROR;
        if (e) return e;
        out->kind = SL_JV_BOOL;
        out->v.b = b;
        return SUCCESS;
    }
    case ondemand::json_type::number: {
        /* The common case first: an int64 (get_int64 consumes the value only
         * when it succeeds, so the general path below can still run). */
        if (v.get_int64().get(out->v.i) == SUCCESS) {
            out->kind = SL_JV_INT;
            return SUCCESS;
        }
        ondemand::number num;
        e = v.get_number().get(num);
        if (e) {
            if (is_big_integer(tok)) {
                out->kind = SL_JV_BIGINT;
                return SUCCESS;
            }
            return e;
        }
        switch (num.get_number_type()) {
        case ondemand::number_type::signed_integer:
            out->kind = SL_JV_INT;
            out->v.i = num.get_int64();
            break;
        case ondemand::number_type::unsigned_integer:
            out->kind = SL_JV_UINT;
            out->v.u = num.get_uint64();
            break;
        default:
            out->kind = SL_JV_DOUBLE;
            out->v.d = num.get_double();
            break;
        }
        return SUCCESS;
    }
    case ondemand::json_type::string: {
        if (tok.size() < 2 || tok.back() != '"') return STRING_ERROR;
        const char *body = tok.data() + 1;
        size_t blen = tok.size() - 2;
        if (w.no_escapes || memchr(body, '\\', blen) == nullptr) {
            out->s = body;
            out->slen = (uint32_t)blen;
        } else {
            /* Unescaped text lives in the parser's string buffer, which a
             * stream reuses when it loads its next window: copy it out. */
            std::string_view sv;
            e = v.get_string().get(sv);
            if (e) return e;
            memcpy(w.scratch, sv.data(), sv.size());
            out->s = w.scratch;
            out->slen = (uint32_t)sv.size();
            w.scratch += sv.size();
            out->escaped = 1;
        }
        out->kind = SL_JV_STRING;
        return SUCCESS;
    }
    case ondemand::json_type::object: {
        out->kind = SL_JV_OBJECT;
        if (!n->want_raw) return SUCCESS; /* the parent skips it */
        ondemand::object o;
        std::string_view raw;
        e = v.get_object().get(o);
        if (!e) e = o.raw_json().get(raw);
        if (e) return e;
        raw = trim_right(raw);
        out->raw = raw.data();
        out->rawlen = (uint32_t)raw.size();
        return SUCCESS;
    }
    case ondemand::json_type::array: {
        out->kind = SL_JV_ARRAY;
        if (!n->want_raw) return SUCCESS;
        ondemand::array a;
        std::string_view raw;
        e = v.get_array().get(a);
        if (!e) e = a.raw_json().get(raw);
        if (e) return e;
        raw = trim_right(raw);
        out->raw = raw.data();
        out->rawlen = (uint32_t)raw.size();
        return SUCCESS;
    }
    }
    return INCORRECT_TYPE;
}

static error_code walk_object(walker &w, ondemand::object &obj, const sl_jnode *parent);
static error_code walk_array(walker &w, ondemand::array &arr, const sl_jnode *parent);

/* A node may be both a value and the prefix of deeper paths ("check" and
 * "check.name" when payload shapes differ): an object or array there feeds
 * the deeper paths, anything else the value. */
static error_code visit(walker &w, ondemand::value &v, const sl_jnode *n) {
    if (n->child < 0) return read_leaf(w, v, n);
    ondemand::json_type t;
    error_code e = v.type().get(t);
    if (e) return e;
    if (t == ondemand::json_type::object) {
        ondemand::object o;
        e = v.get_object().get(o);
        return e ? e : walk_object(w, o, n);
    }
    if (t == ondemand::json_type::array) {
        ondemand::array a;
        e = v.get_array().get(a);
        return e ? e : walk_array(w, a, n);
    }
    if (n->leaf >= 0) return read_leaf(w, v, n);
    return SUCCESS; /* a scalar where a path goes deeper: the leaves stay absent */
}

static inline uint64_t load8(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Compares 8 bytes at a time: both sides may be read up to 7 bytes past
 * their end (node names are stored with 8 spare bytes, see json.c; raw keys
 * lie inside the padded line). */
static inline bool name_is(const sl_jnode *n, const char *k, size_t klen) {
    if (n->len != klen) return false;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    size_t i = 0;
    for (; i + 8 <= klen; i += 8)
        if (load8(n->name + i) != load8(k + i)) return false;
    size_t rest = klen - i;
    if (rest == 0) return true;
    uint64_t mask = ~0ULL >> (64 - 8 * rest);
    return ((load8(n->name + i) ^ load8(k + i)) & mask) == 0;
#else
    return memcmp(n->name, k, klen) == 0;
#endif
}

static inline bool name_is_slow(const sl_jnode *n, const char *k, size_t klen) {
    return n->len == klen && memcmp(n->name, k, klen) == 0;
}

/* Keys usually come in the same order line after line, so the child after
 * the last match is tried first (*hint); then all children. */
static const sl_jnode *match_key_slow(const walker &w, const sl_jnode *parent, const char *k,
                                      size_t klen) {
    for (int32_t c = parent->child; c >= 0; c = w.nodes[c].next)
        if (name_is_slow(&w.nodes[c], k, klen)) return &w.nodes[c];
    return nullptr;
}

static const sl_jnode *match_key(const walker &w, const sl_jnode *parent, int32_t *hint,
                                 const char *k, size_t klen) {
    if (*hint >= 0 && name_is(&w.nodes[*hint], k, klen)) {
        const sl_jnode *n = &w.nodes[*hint];
        *hint = n->next;
        return n;
    }
    for (int32_t c = parent->child; c >= 0; c = w.nodes[c].next) {
        const sl_jnode *n = &w.nodes[c];
        if (name_is(n, k, klen)) {
            *hint = n->next;
            return n;
        }
    }
    return nullptr;
}

/* Kind of a value for discovery and inference, without consuming it (the
 * value is skipped by its object afterwards); strings give their text. */
static int value_kind(ondemand::value &v, std::string_view &str) {
    ondemand::json_type t;
    if (v.type().get(t)) return SL_JV_ABSENT;
    std::string_view tok = trim_right(v.raw_json_token());
    switch (t) {
    case ondemand::json_type::null:
        return SL_JV_NULL;
    case ondemand::json_type::boolean:
        return SL_JV_BOOL;
    case ondemand::json_type::number:
        for (char c : tok)
            if (c == '.' || c == 'e' || c == 'E') return SL_JV_DOUBLE;
        return SL_JV_INT;
    case ondemand::json_type::string:
        if (tok.size() >= 2) str = tok.substr(1, tok.size() - 2);
        return SL_JV_STRING;
    case ondemand::json_type::object:
        return SL_JV_OBJECT;
    case ondemand::json_type::array:
        return SL_JV_ARRAY;
    }
    return SL_JV_ABSENT;
}

static error_code walk_object(walker &w, ondemand::object &obj, const sl_jnode *parent) {
    int32_t hint = parent->child;
    const bool discover = w.unknown != nullptr && parent == w.nodes;
    for (auto fres : obj) {
        ondemand::field f;
        error_code e = std::move(fres).get(f);
        if (e) return e;
        if (parent->child < 0 && !discover) continue; /* iterate anyway: checks the structure */
        /* Keys are compared raw; only a key with a backslash is unescaped.
         * The key's closing quote is found backwards from the value (past
         * the ':' that stage 2 has already checked), not by scanning the key. */
        const char *kp = f.key().raw();
        const char *q = f.value().raw_json_token().data();
        do
            q--;
        while (q > kp && *q != ':');
        do
            q--;
        while (q > kp && *q != '"');
        if (q < kp || *q != '"') return TAPE_ERROR;
        const sl_jnode *n;
        std::string_view key(kp, (size_t)(q - kp));
        if (w.no_escapes || memchr(kp, '\\', (size_t)(q - kp)) == nullptr) {
            n = match_key(w, parent, &hint, kp, (size_t)(q - kp));
        } else {
            e = f.unescaped_key().get(key);
            if (e) return e;
            n = match_key_slow(w, parent, key.data(), key.size()); /* unescaped: no over-read */
        }
        if (n != nullptr) {
            e = visit(w, f.value(), n);
            if (e) return e;
        } else if (discover) {
            std::string_view str;
            int kind = value_kind(f.value(), str);
            if (kind != SL_JV_NULL && kind != SL_JV_ABSENT)
                w.unknown(w.unknown_ud, key.data(), key.size(), kind, str.data(), str.size());
        }
    }
    return SUCCESS;
}

static error_code walk_array(walker &w, ondemand::array &arr, const sl_jnode *parent) {
    int64_t idx = 0;
    for (auto vres : arr) {
        ondemand::value v;
        error_code e = std::move(vres).get(v);
        if (e) return e;
        for (int32_t c = parent->child; c >= 0; c = w.nodes[c].next) {
            if (w.nodes[c].index == idx) {
                e = visit(w, v, &w.nodes[c]);
                if (e) return e;
                break;
            }
        }
        idx++;
    }
    return SUCCESS;
}

static int fail(error_code e, ondemand::document &doc, const char *line, size_t len, char *msg,
                size_t msgcap) {
    long at = -1;
    const char *loc = nullptr;
    if (doc.current_location().get(loc) == SUCCESS && loc >= line && loc <= line + len)
        at = (long)(loc - line);
    if (at >= 0)
        snprintf(msg, msgcap, "malformed JSON: %s at byte %ld: %s", err_name(e), at,
                 error_message(e));
    else
        snprintf(msg, msgcap, "malformed JSON: %s: %s", err_name(e), error_message(e));
    return SL_EPARSE;
}

extern "C" int sl_jsimd_parse(sl_jsimd *s, const char *line, size_t len, size_t avail,
                              const sl_jnode *nodes, sl_jval *vals, char *msg, size_t msgcap) {
    ondemand::document doc;
    error_code e = s->parser.iterate(line, len, avail).get(doc);
    if (e) {
        snprintf(msg, msgcap, "malformed JSON: %s: %s", err_name(e), error_message(e));
        return SL_EPARSE;
    }
    ondemand::json_type t;
    e = doc.type().get(t);
    if (e) return fail(e, doc, line, len, msg, msgcap);
    if (t != ondemand::json_type::object) {
        snprintf(msg, msgcap, "expected a JSON object");
        return SL_EPARSE;
    }
    ondemand::object obj;
    e = doc.get_object().get(obj);
    if (e) return fail(e, doc, line, len, msg, msgcap);
    bool no_esc = memchr(line, '\\', len) == nullptr;
    if (!no_esc && s->scratch.size() < len) s->scratch.resize(len);
    walker w{nodes, vals, line, line + len, no_esc, s->scratch.data(), s->unknown, s->unknown_ud};
    e = walk_object(w, obj, &nodes[0]);
    if (e) return fail(e, doc, line, len, msg, msgcap);
    /* The whole object has been iterated: anything left is trailing garbage. */
    const char *loc = nullptr;
    e = doc.current_location().get(loc);
    if (e == SUCCESS) {
        snprintf(
            msg, msgcap,
            "malformed JSON: TRAILING_CONTENT at byte %ld: unexpected content after the object",
            (long)(loc - line));
        return SL_EPARSE;
    }
    return 0;
}

extern "C" void sl_jsimd_set_unknown(sl_jsimd *s, sl_jsimd_key_fn fn, void *ud) {
    s->unknown = fn;
    s->unknown_ud = ud;
}

extern "C" int sl_jsimd_each_root(sl_jsimd *s, const char *line, size_t len, size_t avail,
                                  sl_jsimd_key_fn fn, void *ud, char *msg, size_t msgcap) {
    ondemand::document doc;
    error_code e = s->parser.iterate(line, len, avail).get(doc);
    ondemand::object obj;
    if (!e) e = doc.get_object().get(obj);
    if (e) {
        snprintf(msg, msgcap, "malformed JSON or not an object: %s", err_name(e));
        return SL_EPARSE;
    }
    for (auto fres : obj) {
        ondemand::field f;
        if ((e = std::move(fres).get(f))) break;
        std::string_view key;
        if ((e = f.unescaped_key().get(key))) break;
        /* the key lives in the parser's string buffer until the next
         * unescape: keep a copy while the value is looked at */
        std::string k(key);
        ondemand::value &v = f.value();
        ondemand::json_type t;
        if ((e = v.type().get(t))) break;
        if (t == ondemand::json_type::string) {
            std::string_view sv;
            if ((e = v.get_string().get(sv))) break;
            fn(ud, k.data(), k.size(), SL_JV_STRING, sv.data(), sv.size());
            continue;
        }
        std::string_view str;
        fn(ud, k.data(), k.size(), value_kind(v, str), nullptr, 0);
    }
    if (e) {
        snprintf(msg, msgcap, "malformed JSON: %s", err_name(e));
        return SL_EPARSE;
    }
    return 0;
}

extern "C" int sl_jsimd_stream_start(sl_jsimd *s, const char *buf, size_t len, size_t avail,
                                     size_t window) {
    if (avail < len + SIMDJSON_PADDING) return -1;
    /* simdjson indexes buf[0..n) with n = len minus the window's final '\n',
     * so that the byte just past what it indexed is that '\n'. When a
     * document runs past the window (its tail is cut off as truncated
     * bytes), On-Demand still walks it and reads the byte past the indexed
     * range as the next token: with the whole window indexed that is the
     * first byte of the next, unparsed line, and a '}' there "closed" the
     * root object, so `{"o":{"":1}` followed by `{"{":1:1` and a line
     * starting with '}' was taken as a row (found by fuzz_json; regression
     * input fuzz/corpus/json/stream_cut_root_closed_by_next_line). A '\n'
     * there is a missing comma, as in line mode. s->send still covers the
     * '\n': the last line's document ends before it. */
    size_t n = len;
    if (n > 0 && buf[n - 1] == '\n') n--;
    if (s->sparser.iterate_many(buf, n, window).get(s->stream)) return -1;
    s->it = s->stream.begin();
    s->sbase = buf;
    s->send = buf + len;
    return 0;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

extern "C" int sl_jsimd_stream_line(sl_jsimd *s, const char *line, size_t len, const char *nl,
                                    const sl_jnode *nodes, sl_jval *vals) {
    const char *first = line, *end = line + len;
    while (first < end && is_ws(*first))
        first++;
    /* Documents that began before this line were (or could not be) used. */
    const char *ds;
    for (;;) {
        if (!(s->it != s->stream.end())) return 2;
        ds = s->sbase + s->it.current_index();
        if (ds >= first) break;
        ++s->it;
    }
    if (ds != first) return 1; /* no document starts here */
    /* The line's last non-blank byte must be a '}'. Together with the checks
     * after the walk (the next structural lies past the line's '\n' with only
     * blanks between), that '}' is the last token the walk consumed, i.e.
     * the root object closed exactly there. Without it, a document the
     * stream cut short at a window boundary can be walked by On-Demand as if
     * it had ended (found by fuzz_json). */
    const char *last = end - 1;
    while (last > first && is_ws(*last))
        last--;
    if (*last != '}') return 1;
    ondemand::document_reference doc;
    if ((*s->it).get(doc)) return 2;
    ondemand::json_type t;
    if (doc.type().get(t)) return 2;
    if (t != ondemand::json_type::object) return 1;
    ondemand::object obj;
    if (doc.get_object().get(obj)) return 2;
    bool no_esc = memchr(line, '\\', len) == nullptr;
    if (!no_esc && s->scratch.size() < len) s->scratch.resize(len);
    walker w{nodes, vals, line, end, no_esc, s->scratch.data(), s->unknown, s->unknown_ud};
    if (walk_object(w, obj, &nodes[0])) return 2;
    /* The next structural is where the next document starts: it must be on a
     * later line, and between this line's end and it only whitespace, or the
     * document went on past the line. */
    const char *next = nullptr;
    if (doc.current_location().get(next)) {
        /* Last document of the window: the stream reports problems in what
         * follows (stage 1 errors, e.g. bad UTF-8 right after the object)
         * only when it moves on, so move on and look. */
        ++s->it;
        if (s->it != s->stream.end()) {
            ondemand::document_reference after;
            if ((*s->it).get(after)) return 2;
            next = s->sbase + s->it.current_index();
        } else {
            /* An incomplete document cut off after ours may be on this line. */
            if (s->stream.truncated_bytes() != 0) return 1;
            next = s->send;
        }
    }
    if (next <= nl) return 1; /* something after the object on this line */
    for (const char *q = nl; q < next; q++)
        if (!is_ws(*q)) return 1;
    /* Stage 1 of the window checked UTF-8, but the line-by-line path is the
     * reference: check this line's bytes directly (cheap, SIMD). */
    if (!simdjson::validate_utf8(line, len)) return 1;
    return 0;
}
