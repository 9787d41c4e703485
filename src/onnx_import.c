/*
 * ONNX import: a ModelProto (decoded by protobuf-c from the official schema) into an nnla_net.
 *
 * The file is untrusted. Before protobuf-c sees it, one walk over the wire format (driven by the
 * generated descriptors) bounds the nesting depth and the number of messages; protobuf-c then
 * decodes it with an allocator that caps the memory it may use. The graph is then read as data:
 *
 *   1. values: every initializer, the graph's one run-time input and every node output get an
 *      entry in a table by name (a name defined twice is malformed);
 *   2. liveness: only the nodes the graph's one output depends on are read (others may be
 *      anything); consumers of each value are counted, so patterns can ask "is this the only
 *      reader";
 *   3. the nodes, in order, become layers of an intermediate list (owning copies of weights):
 *      constants and shape arithmetic (Shape, Gather, Unsqueeze, Concat) are evaluated here, the
 *      batch dimension as a symbol; a few multi-node patterns (GELU, SiLU, a Sigmoid or Softplus
 *      with a beta, MatMul + Add, Pad + Conv) collapse into one layer;
 *   4. only when every node is understood is the network built (nnla_net_append() checks every
 *      shape again), BatchNorm folded and activations fused. Any failure frees everything.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

#define IR_INPUT ((size_t)-1) /* a layer's source: the network's input */
#define NONE ((size_t)-1)
#define SYM_BATCH INT64_MIN   /* in a constant integer vector: the batch size, not known yet */
#define MAX_FOLD ((size_t)1 << 22) /* most elements of a constant computed here (ConstantOfShape, ...) */
#define MAX_DIM ((int64_t)1 << 40) /* larger attribute values are refused (no overflow games) */

/* ------------------------------------------------------------------ wire-format pre-check */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p >= end) return 0;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 1;
        }
    }
    return 0;
}

typedef struct wire_state {
    size_t messages;
    int too_deep, too_many;
} wire_state;

/*
 * Walk one message's fields; recurse into the fields the schema says are messages. Returns 0 on
 * a malformed stream (protobuf-c would refuse it too) or a limit reached (flags in st).
 */
static int wire_walk(const uint8_t *p, const uint8_t *end, const ProtobufCMessageDescriptor *d, unsigned depth,
                     wire_state *st)
{
    if (depth > NNLA_ONNX_MAX_DEPTH) {
        st->too_deep = 1;
        return 0;
    }
    if (++st->messages > NNLA_ONNX_MAX_MESSAGES) {
        st->too_many = 1;
        return 0;
    }
    while (p < end) {
        uint64_t tag, len;
        if (!read_varint(&p, end, &tag)) return 0;
        uint64_t id = tag >> 3;
        switch (tag & 7) {
        case 0:
            if (!read_varint(&p, end, &len)) return 0;
            break;
        case 1:
            if ((size_t)(end - p) < 8) return 0;
            p += 8;
            break;
        case 5:
            if ((size_t)(end - p) < 4) return 0;
            p += 4;
            break;
        case 2: {
            if (!read_varint(&p, end, &len) || len > (uint64_t)(end - p)) return 0;
            const ProtobufCFieldDescriptor *f =
                id > 0 && id <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)id) : NULL;
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                !wire_walk(p, p + len, (const ProtobufCMessageDescriptor *)f->descriptor, depth + 1, st))
                return 0;
            p += len;
            break;
        }
        default: /* groups (3, 4) are not in the ONNX schema; 6, 7 do not exist */
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------ a capped allocator */

typedef struct capped {
    size_t used, limit;
    int exceeded;
} capped;

typedef union capped_hdr {
    size_t size;
    max_align_t align;
} capped_hdr;

static void *capped_alloc(void *data, size_t size)
{
    capped *c = data;
    size_t total;
    if (!nnla__add(size, sizeof(capped_hdr), &total) || total > c->limit - c->used) {
        c->exceeded = 1;
        return NULL;
    }
    capped_hdr *h = malloc(total);
    if (h == NULL) return NULL;
    h->size = total;
    c->used += total;
    return h + 1;
}

static void capped_free(void *data, void *p)
{
    if (p == NULL) return;
    capped *c = data;
    capped_hdr *h = (capped_hdr *)p - 1;
    c->used -= h->size;
    free(h);
}

/* ------------------------------------------------------------------ the importer's state */

typedef enum { V_RUNTIME, V_CONST } vkind;

typedef struct val {
    const char *name;
    size_t producer;  /* node index, or NONE (initializer, input, Constant's output is a node) */
    size_t consumers; /* reads by live nodes, plus one when it is the graph's output */
    size_t reader;    /* the first live node reading it (NONE if none) */
    int is_output, defined;
    vkind kind;
    /* V_RUNTIME: the layer that computes it (IR_INPUT for the input) and its shapes */
    size_t layer;
    unsigned rank;  /* ONNX rank, batch included (1..4) */
    size_t dims[4]; /* ONNX dims; dims[0] (the batch) unused */
    size_t c, h, w; /* the nnla sample shape */
    int flatview;   /* nnla's shape is (c*h*w, 1, 1) while ONNX keeps the spatial dims */
    int padded;     /* pending zero padding (a Pad node), for the Conv that reads it */
    int dense_in;   /* ONNX's (N, features) of an nnla image, read only by a Gemm or MatMul */
    size_t pad[4];  /* top, left, bottom, right */
    /* V_CONST */
    const Onnx__TensorProto *tp; /* decoded on first use, or NULL for a value made here */
    int decoded, is_int;
    unsigned crank;
    size_t cdims[NNLA_ONNX_MAX_RANK];
    size_t csize;
    double *f;
    int64_t *i;
} val;

typedef struct irl {
    nnla_layer_kind kind;
    nnla_act act;
    size_t src, src2;
    double *w, *b; /* dense: out x in; conv: out x (in/groups * kh * kw) */
    size_t in_f, out_f;
    nnla_conv2d_desc conv;
    nnla_pool2d_desc pool;
    size_t features;
    double *gamma, *beta, *mean, *var;
    double eps, momentum, p;
    size_t c, h, wd; /* output sample shape */
    size_t uses;     /* ONNX reads of the values it computes */
    size_t node;     /* the node that made it */
    size_t readers;  /* layers reading it (for pruning) */
    size_t final;    /* index in the network */
} irl;

typedef struct imp {
    const Onnx__GraphProto *g;
    int64_t opset;
    unsigned flags;
    nnla__msgbuf *msg;
    val *vals;
    size_t nvals;
    size_t *table; /* open addressing: index into vals, NONE for empty */
    size_t table_size;
    irl *layers;
    size_t nlayers, cap_layers;
    unsigned char *live, *done;
    size_t input;           /* the run-time input's value */
    int64_t static_batch;   /* the input's batch dimension when it is a number, else -1 */
    size_t node;            /* the node being read (for messages) */
    const Onnx__NodeProto *n;
} imp;

static const char *S(const char *s) { return s ? s : ""; }

/* Whether n is the operator op of the default domain. */
static int is_op(const Onnx__NodeProto *n, const char *op)
{
    return n != NULL && strcmp(S(n->op_type), op) == 0 && (n->domain == NULL || n->domain[0] == '\0' ||
                                                          strcmp(n->domain, "ai.onnx") == 0);
}

/* A name fit for a message: at most 48 printable characters. */
static const char *clean(const char *s, char *buf, size_t size)
{
    size_t k = 0;
    s = S(s);
    for (; *s && k + 4 < size; s++) buf[k++] = (*s >= 32 && *s < 127) ? *s : '?';
    if (*s && size >= 4) {
        buf[k++] = '.';
        buf[k++] = '.';
        buf[k++] = '.';
    }
    buf[k] = '\0';
    return buf;
}

/* "Conv node 'name' (#3): " + the reason. Returns st. */
static nnla_status fail(imp *im, nnla_status st, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static nnla_status fail(imp *im, nnla_status st, const char *fmt, ...)
{
    char reason[400], op[52], name[52];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    if (im->n != NULL)
        nnla__onnx_msg(im->msg, "%s node '%s' (#%zu): %s", clean(im->n->op_type, op, sizeof op),
                       clean(im->n->name, name, sizeof name), im->node, reason);
    else
        nnla__onnx_msg(im->msg, "%s", reason);
    return st;
}

#define UNSUP(...) fail(im, NNLA_EUNSUPPORTED, __VA_ARGS__)
#define BAD(...) fail(im, NNLA_EFORMAT, __VA_ARGS__)

/* "[N, 3, 32, 32]" of a run-time value. */
static const char *shape_str(const val *v, char *buf, size_t size)
{
    int k = snprintf(buf, size, "[N");
    for (unsigned d = 1; d < v->rank && k > 0 && (size_t)k < size; d++)
        k += snprintf(buf + k, size - (size_t)k, ", %zu", v->dims[d]);
    if (k > 0 && (size_t)k < size) snprintf(buf + k, size - (size_t)k, "]");
    return buf;
}

/* ------------------------------------------------------------------ the value table */

static size_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return (size_t)h;
}

static size_t lookup(const imp *im, const char *name)
{
    if (name == NULL || im->table_size == 0) return NONE;
    size_t mask = im->table_size - 1;
    for (size_t k = hash_name(name) & mask;; k = (k + 1) & mask) {
        size_t v = im->table[k];
        if (v == NONE) return NONE;
        if (strcmp(im->vals[v].name, name) == 0) return v;
    }
}

/* Add a value (the table has room: it is sized for every possible name). NONE if it exists. */
static size_t add_value(imp *im, const char *name)
{
    size_t mask = im->table_size - 1;
    size_t k = hash_name(name) & mask;
    for (; im->table[k] != NONE; k = (k + 1) & mask)
        if (strcmp(im->vals[im->table[k]].name, name) == 0) return NONE;
    size_t v = im->nvals++;
    memset(&im->vals[v], 0, sizeof im->vals[v]);
    im->vals[v].name = name;
    im->vals[v].producer = NONE;
    im->vals[v].reader = NONE;
    im->vals[v].layer = IR_INPUT;
    im->table[k] = v;
    return v;
}

static void free_values(imp *im)
{
    for (size_t v = 0; v < im->nvals; v++) {
        free(im->vals[v].f);
        free(im->vals[v].i);
    }
    free(im->vals);
    free(im->table);
}

static void free_layer(irl *l)
{
    free(l->w);
    free(l->b);
    free(l->gamma);
    free(l->beta);
    free(l->mean);
    free(l->var);
}

/* ------------------------------------------------------------------ tensors */

static nnla_status tensor_dims(imp *im, const Onnx__TensorProto *t, unsigned *rank, size_t *dims, size_t *size)
{
    char nm[52];
    if (t->n_dims > NNLA_ONNX_MAX_RANK)
        return fail(im, NNLA_EOVERFLOW, "tensor '%s' has %zu dimensions (at most %d)",
                    clean(t->name, nm, sizeof nm), t->n_dims, NNLA_ONNX_MAX_RANK);
    size_t total = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0) return BAD("tensor '%s' has a negative dimension", clean(t->name, nm, sizeof nm));
        if ((uint64_t)t->dims[d] > SIZE_MAX || !nnla__mul(total, (size_t)t->dims[d], &total))
            return fail(im, NNLA_EOVERFLOW, "tensor '%s': its size overflows", clean(t->name, nm, sizeof nm));
        dims[d] = (size_t)t->dims[d];
    }
    *rank = (unsigned)t->n_dims;
    *size = total;
    return NNLA_OK;
}

/* Decode a TensorProto into doubles (float types) or int64 (integer and bool types). */
static nnla_status decode_tensor(imp *im, val *v)
{
    const Onnx__TensorProto *t = v->tp;
    char nm[52];
    clean(t->name ? t->name : v->name, nm, sizeof nm);
    if ((t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
        t->n_external_data > 0) {
        char loc[52] = "?";
        for (size_t k = 0; k < t->n_external_data; k++)
            if (t->external_data[k] != NULL && strcmp(S(t->external_data[k]->key), "location") == 0)
                clean(t->external_data[k]->value, loc, sizeof loc);
        return UNSUP("tensor '%s' keeps its data in an external file ('%s'); external data is not "
                     "supported: save the model with its tensors inside (onnx.save_model(model, path, "
                     "save_as_external_data=False))",
                     nm, loc);
    }
    if (t->segment != NULL) return UNSUP("tensor '%s' is a segment of a larger tensor", nm);
    NNLA__TRY(tensor_dims(im, t, &v->crank, v->cdims, &v->csize));
    size_t n = v->csize;
    int dt = t->has_data_type ? t->data_type : 0;
    size_t esize;
    int is_int;
    switch (dt) {
    case NNLA__ONNX_FLOAT: esize = 4, is_int = 0; break;
    case NNLA__ONNX_DOUBLE: esize = 8, is_int = 0; break;
    case NNLA__ONNX_INT64: esize = 8, is_int = 1; break;
    case NNLA__ONNX_INT32: esize = 4, is_int = 1; break;
    case NNLA__ONNX_UINT8:
    case NNLA__ONNX_INT8:
    case NNLA__ONNX_BOOL: esize = 1, is_int = 1; break;
    default: return UNSUP("tensor '%s' has element type %d (only float, double and integers are read)", nm, dt);
    }
    size_t have;
    if (t->has_raw_data)
        have = t->raw_data.len / esize;
    else if (dt == NNLA__ONNX_FLOAT)
        have = t->n_float_data;
    else if (dt == NNLA__ONNX_DOUBLE)
        have = t->n_double_data;
    else if (dt == NNLA__ONNX_INT64)
        have = t->n_int64_data;
    else
        have = t->n_int32_data;
    if (have != n || (t->has_raw_data && t->raw_data.len % esize != 0))
        return BAD("tensor '%s' has %zu elements by its dimensions but holds %zu", nm, n, have);
    size_t alloc = n ? n : 1;
    if (is_int) {
        v->i = malloc(alloc * sizeof *v->i);
        if (v->i == NULL) return fail(im, NNLA_ENOMEM, "out of memory for tensor '%s'", nm);
    } else {
        v->f = malloc(alloc * sizeof *v->f);
        if (v->f == NULL) return fail(im, NNLA_ENOMEM, "out of memory for tensor '%s'", nm);
    }
    const uint8_t *raw = t->has_raw_data ? t->raw_data.data : NULL;
    for (size_t k = 0; k < n; k++) {
        switch (dt) {
        case NNLA__ONNX_FLOAT: {
            float x;
            if (raw) {
                uint32_t u = nnla__le32(raw + 4 * k);
                memcpy(&x, &u, 4);
            } else {
                x = t->float_data[k];
            }
            v->f[k] = (double)x;
            break;
        }
        case NNLA__ONNX_DOUBLE: {
            double x;
            if (raw) {
                uint64_t u = nnla__le64(raw + 8 * k);
                memcpy(&x, &u, 8);
            } else {
                x = t->double_data[k];
            }
            v->f[k] = x;
            break;
        }
        case NNLA__ONNX_INT64:
            v->i[k] = raw ? (int64_t)nnla__le64(raw + 8 * k) : t->int64_data[k];
            if (v->i[k] == SYM_BATCH) v->i[k] = SYM_BATCH + 1; /* the same as a bound; SYM_BATCH is ours */
            break;
        case NNLA__ONNX_INT32: v->i[k] = raw ? (int32_t)nnla__le32(raw + 4 * k) : t->int32_data[k]; break;
        case NNLA__ONNX_INT8: v->i[k] = raw ? (int8_t)raw[k] : (int8_t)t->int32_data[k]; break;
        default: v->i[k] = raw ? raw[k] : (uint8_t)t->int32_data[k]; break; /* uint8, bool */
        }
    }
    v->is_int = is_int;
    v->decoded = 1;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ attributes */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t k = 0; k < n->n_attribute; k++)
        if (n->attribute[k] != NULL && strcmp(S(n->attribute[k]->name), name) == 0) return n->attribute[k];
    return NULL;
}

/* The attribute's type; old writers leave it out, then it comes from the field that is set. */
static int attr_type(const Onnx__AttributeProto *a)
{
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED) return (int)a->type;
    if (a->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (a->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (a->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (a->t) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (a->g) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (a->n_floats) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (a->n_ints) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (a->n_strings) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

/* Refuse attributes the operator does not have (or that nnla does not know). */
static nnla_status check_attrs(imp *im, const char *const *known)
{
    const Onnx__NodeProto *n = im->n;
    char nm[52];
    for (size_t k = 0; k < n->n_attribute; k++) {
        const Onnx__AttributeProto *a = n->attribute[k];
        if (a == NULL) continue;
        if (a->ref_attr_name != NULL && a->ref_attr_name[0])
            return UNSUP("attribute '%s' refers to a function's attribute", clean(a->name, nm, sizeof nm));
        int ok = 0;
        for (const char *const *p = known; *p; p++)
            if (strcmp(S(a->name), *p) == 0) ok = 1;
        if (!ok) return UNSUP("attribute '%s' is not supported", clean(a->name, nm, sizeof nm));
        for (size_t j = 0; j < k; j++)
            if (n->attribute[j] && strcmp(S(n->attribute[j]->name), S(a->name)) == 0)
                return BAD("attribute '%s' is given twice", clean(a->name, nm, sizeof nm));
    }
    return NNLA_OK;
}

static nnla_status attr_int(imp *im, const char *name, int64_t def, int64_t *out)
{
    const Onnx__AttributeProto *a = attr(im->n, name);
    if (a == NULL) {
        *out = def;
        return NNLA_OK;
    }
    if (attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) return BAD("attribute '%s' is not an integer", name);
    *out = a->i;
    return NNLA_OK;
}

static nnla_status attr_float(imp *im, const char *name, double def, double *out)
{
    const Onnx__AttributeProto *a = attr(im->n, name);
    if (a == NULL) {
        *out = def;
        return NNLA_OK;
    }
    if (attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) return BAD("attribute '%s' is not a float", name);
    if (!isfinite(a->f)) return UNSUP("attribute '%s' is not finite", name);
    *out = nnla__onnx_float_attr(a->f);
    return NNLA_OK;
}

/* An INTS attribute: *count = 0 when absent; values within [lo, MAX_DIM]. */
static nnla_status attr_ints(imp *im, const char *name, int64_t lo, const int64_t **v, size_t *count)
{
    const Onnx__AttributeProto *a = attr(im->n, name);
    *v = NULL;
    *count = 0;
    if (a == NULL) return NNLA_OK;
    if (attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) return BAD("attribute '%s' is not a list of integers", name);
    for (size_t k = 0; k < a->n_ints; k++)
        if (a->ints[k] < lo || a->ints[k] > MAX_DIM) return BAD("attribute '%s' has the value %lld", name, (long long)a->ints[k]);
    *v = a->ints;
    *count = a->n_ints;
    return NNLA_OK;
}

/* A STRING attribute compared with the accepted values; returns the index (def when absent). */
static nnla_status attr_choice(imp *im, const char *name, const char *const *choices, int def, int *out)
{
    const Onnx__AttributeProto *a = attr(im->n, name);
    *out = def;
    if (a == NULL) return NNLA_OK;
    if (attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING) return BAD("attribute '%s' is not a string", name);
    for (int k = 0; choices[k]; k++)
        if (a->s.len == strlen(choices[k]) && memcmp(a->s.data, choices[k], a->s.len) == 0) {
            *out = k;
            return NNLA_OK;
        }
    char buf[52] = "";
    size_t len = a->s.len < 40 ? a->s.len : 40;
    for (size_t k = 0; k < len; k++) buf[k] = (a->s.data[k] >= 32 && a->s.data[k] < 127) ? (char)a->s.data[k] : '?';
    buf[len] = '\0';
    return UNSUP("attribute %s = '%s' is not supported", name, buf);
}

/* ------------------------------------------------------------------ inputs and outputs of nodes */

/* The value read by input k of the node (NULL when absent or the empty name). */
static val *in_val(imp *im, size_t k)
{
    if (k >= im->n->n_input || im->n->input[k] == NULL || im->n->input[k][0] == '\0') return NULL;
    size_t v = lookup(im, im->n->input[k]);
    return v == NONE ? NULL : &im->vals[v];
}

/* What need_runtime() lets through besides plain run-time values. */
#define ALLOW_PADDED 1u   /* a Pad's output (Conv folds it) */
#define ALLOW_FLATVIEW 2u /* a sample flattened by a Softmax over several axes */
#define ALLOW_DENSE_IN 4u /* a Reshape to (N, features) that only a dense layer reads */

/* A run-time input. */
static nnla_status need_runtime(imp *im, size_t k, unsigned allow, val **out)
{
    val *v = in_val(im, k);
    if (v == NULL) return BAD("input %zu is missing", k);
    if (v->kind != V_RUNTIME)
        return UNSUP("input %zu ('%s') is a constant; nnla's layers compute on the model's input only", k,
                     im->n->input[k]);
    if (v->padded && !(allow & ALLOW_PADDED))
        return UNSUP("input %zu comes from a Pad node: zero padding is supported only before a Conv", k);
    if (v->flatview && !(allow & ALLOW_FLATVIEW))
        return UNSUP("input %zu was flattened by a Softmax over several axes; this operator needs its "
                     "spatial layout",
                     k);
    if (v->dense_in && !(allow & ALLOW_DENSE_IN)) return BAD("input %zu: an internal reshape reached the wrong reader", k);
    *out = v;
    return NNLA_OK;
}

/* A constant input, decoded; role names it in messages. NULL (and OK) when optional and absent. */
static nnla_status need_const(imp *im, size_t k, const char *role, int optional, val **out)
{
    val *v = in_val(im, k);
    *out = NULL;
    if (v == NULL) {
        if (optional) return NNLA_OK;
        return BAD("the %s (input %zu) is missing", role, k);
    }
    if (v->kind != V_CONST)
        return UNSUP("the %s (input %zu, '%s') is computed at run time; nnla needs it constant (an initializer)",
                     role, k, v->name);
    if (!v->decoded) NNLA__TRY(decode_tensor(im, v));
    *out = v;
    return NNLA_OK;
}

/* A float constant with finite values. */
static nnla_status need_weights(imp *im, size_t k, const char *role, int optional, val **out)
{
    NNLA__TRY(need_const(im, k, role, optional, out));
    val *v = *out;
    if (v == NULL) return NNLA_OK;
    if (v->is_int) return UNSUP("the %s (input %zu) holds integers; floating-point weights are expected", role, k);
    if (!nnla__all_finite_vec(v->f, v->csize))
        return fail(im, NNLA_ENONFINITE, "the %s (input %zu, '%s') holds NaN or Inf", role, k, v->name);
    return NNLA_OK;
}

/* A scalar float constant (rank 0 or one element). */
static int const_scalar(const val *v, double *x)
{
    if (v == NULL || v->kind != V_CONST || !v->decoded || v->csize != 1) return 0;
    *x = v->is_int ? (double)v->i[0] : v->f[0];
    return 1;
}

static val *out_val(imp *im, size_t k)
{
    if (k >= im->n->n_output || im->n->output[k] == NULL || im->n->output[k][0] == '\0') return NULL;
    size_t v = lookup(im, im->n->output[k]);
    return v == NONE ? NULL : &im->vals[v];
}

/* Outputs from `from` on must be unused (MaxPool's indices, Dropout's mask, BatchNorm's statistics). */
static nnla_status extra_outputs_unused(imp *im, size_t from, const char *what)
{
    for (size_t k = from; k < im->n->n_output; k++) {
        val *v = out_val(im, k);
        if (v != NULL && v->consumers > 0) return UNSUP("output %zu (%s) is used; only the first output is supported", k, what);
    }
    return NNLA_OK;
}

static void canon(unsigned rank, const size_t *dims, size_t *c, size_t *h, size_t *w)
{
    *c = rank >= 2 ? dims[1] : 1;
    *h = rank == 4 ? dims[2] : 1;
    *w = rank == 4 ? dims[3] : rank == 3 ? dims[2] : 1;
}

/* Bind output k of the node to a run-time value computed by `layer`. */
static nnla_status define_runtime(imp *im, size_t k, size_t layer, unsigned rank, const size_t *dims, int flatview)
{
    val *v = out_val(im, k);
    if (v == NULL) return NNLA_OK;
    v->kind = V_RUNTIME;
    v->layer = layer;
    v->rank = rank;
    for (unsigned d = 0; d < 4; d++) v->dims[d] = d < rank ? dims[d] : 0;
    v->dims[0] = 0;
    if (flatview) {
        size_t s = 1;
        for (unsigned d = 1; d < rank; d++) s *= dims[d];
        v->c = s;
        v->h = v->w = 1;
    } else {
        canon(rank, v->dims, &v->c, &v->h, &v->w);
    }
    v->flatview = flatview;
    v->defined = 1;
    if (layer != IR_INPUT) im->layers[layer].uses += v->consumers;
    return NNLA_OK;
}

/* Output k as the same run-time value as in (Identity, skipped Dropout), possibly reshaped. */
static nnla_status define_alias(imp *im, size_t k, const val *in)
{
    val *v = out_val(im, k);
    if (v == NULL) return NNLA_OK;
    if (in->kind == V_CONST) {
        v->kind = V_CONST;
        v->tp = in->tp;
        v->decoded = in->decoded;
        v->is_int = in->is_int;
        v->crank = in->crank;
        memcpy(v->cdims, in->cdims, sizeof v->cdims);
        v->csize = in->csize;
        size_t n = in->csize ? in->csize : 1;
        if (in->decoded) {
            if (in->is_int) {
                v->i = malloc(n * sizeof *v->i);
                if (v->i == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
                memcpy(v->i, in->i, in->csize * sizeof *v->i);
            } else {
                v->f = malloc(n * sizeof *v->f);
                if (v->f == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
                memcpy(v->f, in->f, in->csize * sizeof *v->f);
            }
        }
        v->defined = 1;
        return NNLA_OK;
    }
    NNLA__TRY(define_runtime(im, k, in->layer, in->rank, in->dims, in->flatview));
    if (in->layer != IR_INPUT && im->layers[in->layer].uses > 0) im->layers[in->layer].uses--; /* the read moved on */
    v->padded = in->padded;
    memcpy(v->pad, in->pad, sizeof v->pad);
    return NNLA_OK;
}

/* A constant made here (shape arithmetic, Constant nodes); takes ownership of f or i. */
static nnla_status define_const(imp *im, size_t k, unsigned crank, const size_t *cdims, double *f, int64_t *i)
{
    val *v = out_val(im, k);
    size_t size = 1;
    for (unsigned d = 0; d < crank; d++) size *= cdims[d];
    if (v == NULL) {
        free(f);
        free(i);
        return NNLA_OK;
    }
    v->kind = V_CONST;
    v->tp = NULL;
    v->decoded = 1;
    v->is_int = i != NULL;
    v->crank = crank;
    for (unsigned d = 0; d < crank; d++) v->cdims[d] = cdims[d];
    v->csize = size;
    v->f = f;
    v->i = i;
    v->defined = 1;
    return NNLA_OK;
}

static nnla_status new_layer(imp *im, nnla_layer_kind kind, size_t src, irl **out, size_t *index)
{
    if (im->nlayers == im->cap_layers) {
        size_t cap = im->cap_layers ? 2 * im->cap_layers : 16;
        irl *p = realloc(im->layers, cap * sizeof *p);
        if (p == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
        im->layers = p;
        im->cap_layers = cap;
    }
    irl *l = &im->layers[im->nlayers];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->act = nnla_act_default(NNLA_ACT_IDENTITY);
    l->src = src;
    l->src2 = NONE;
    l->node = im->node;
    *index = im->nlayers++;
    *out = l;
    return NNLA_OK;
}

static double *dup_doubles(const double *src, size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    if (p != NULL && n) memcpy(p, src, n * sizeof *p);
    return p;
}

/* The values of a constant for a layer to own: taken when this node is its only reader (no copy
 * of the weights), copied otherwise. NULL when out of memory. */
static double *take_doubles(val *v)
{
    if (v->consumers == 1 && v->tp != NULL && v->f != NULL) {
        double *p = v->f;
        v->f = NULL;
        v->decoded = 0; /* decoded again should anyone ask (no one reads it) */
        return p;
    }
    return dup_doubles(v->f, v->csize);
}

static size_t value_size(const val *v)
{
    size_t s = 1;
    for (unsigned d = 1; d < v->rank; d++) s *= v->dims[d];
    return s;
}

/* ------------------------------------------------------------------ operators: activations */

/* An activation layer on x; with flatten, over the whole sample (a flatten layer first if needed). */
static nnla_status add_act(imp *im, const val *x, nnla_act act, int flatten)
{
    size_t idx = 0, src = x->layer;
    irl *l = NULL;
    int flat = x->flatview;
    if (!(flatten && !(x->h == 1 && x->w == 1)) && !(im->flags & NNLA_ONNX_KEEP_ACTIVATIONS) && !x->flatview &&
        x->layer != IR_INPUT) {
        /* Fused here already, as nnla_net_fuse_activations() would (bit for bit the same), when
         * the activation is the only reader of a dense or convolution layer without one: the
         * network is then built once instead of rebuilt by the fusion. */
        irl *p = &im->layers[x->layer];
        if ((p->kind == NNLA_LAYER_DENSE || p->kind == NNLA_LAYER_CONV2D) && p->act.kind == NNLA_ACT_IDENTITY &&
            p->uses == 1) {
            p->act = act;
            return define_alias(im, 0, x);
        }
    }
    if (flatten && !(x->h == 1 && x->w == 1)) {
        NNLA__TRY(new_layer(im, NNLA_LAYER_FLATTEN, src, &l, &idx));
        l->c = x->c * x->h * x->w;
        l->h = l->wd = 1;
        src = idx;
        flat = 1;
    }
    NNLA__TRY(new_layer(im, NNLA_LAYER_ACT, src, &l, &idx));
    l->act = act;
    l->c = flat ? x->c * x->h * x->w : x->c;
    l->h = flat ? 1 : x->h;
    l->wd = flat ? 1 : x->w;
    return define_runtime(im, 0, idx, x->rank, x->dims, flat);
}

static nnla_status op_simple_act(imp *im, nnla_act_kind kind, const char *param)
{
    static const char *const none[] = {NULL};
    static const char *const alpha[] = {"alpha", NULL};
    static const char *const legacy[] = {"consumed_inputs", NULL};
    static const char *const alpha_legacy[] = {"alpha", "consumed_inputs", NULL};
    int old = im->opset < 6;
    NNLA__TRY(check_attrs(im, param ? (old ? alpha_legacy : alpha) : (old ? legacy : none)));
    val *x;
    NNLA__TRY(need_runtime(im, 0, ALLOW_FLATVIEW, &x));
    nnla_act act = nnla_act_default(kind);
    if (param) {
        NNLA__TRY(attr_float(im, param, act.param, &act.param));
        if (nnla_act_check(act) != NNLA_OK) return UNSUP("%s = %g is outside the range nnla accepts", param, act.param);
    }
    return add_act(im, x, act, 0);
}

static nnla_status op_softmax(imp *im, int log_sm)
{
    static const char *const known[] = {"axis", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *x;
    NNLA__TRY(need_runtime(im, 0, ALLOW_FLATVIEW, &x));
    int64_t axis;
    int coerce = im->opset < 13;
    NNLA__TRY(attr_int(im, "axis", coerce ? 1 : -1, &axis));
    int64_t r = x->rank;
    if (axis < -r || axis >= r) return BAD("axis %lld is out of range for a rank-%lld tensor", (long long)axis, (long long)r);
    if (axis < 0) axis += r;
    char sh[96];
    shape_str(x, sh, sizeof sh);
    if (axis == 0)
        return UNSUP("axis 0 of %s is the batch axis: the result would mix the samples of a batch", sh);
    int ones_before = 1, ones_after = 1;
    for (int64_t d = 1; d < axis; d++)
        if (x->dims[d] != 1) ones_before = 0;
    for (int64_t d = axis + 1; d < r; d++)
        if (x->dims[d] != 1) ones_after = 0;
    nnla_act act = nnla_act_default(log_sm ? NNLA_ACT_LOG_SOFTMAX : NNLA_ACT_SOFTMAX);
    if (coerce) {
        /* opset < 13: over dims axis..r-1 together, for each index of dims 0..axis-1 */
        if (!ones_before)
            return UNSUP("axis %lld of %s (opset %lld: the tensor is coerced to 2-D at the axis) normalizes "
                         "over dims %lld..%lld separately for each index of dims 1..%lld; nnla normalizes each "
                         "sample over its channels, or over the whole flattened sample",
                         (long long)axis, sh, (long long)im->opset, (long long)axis, (long long)(r - 1),
                         (long long)(axis - 1));
        int whole = axis == 1 ? (x->h == 1 && x->w == 1) || x->flatview : 0;
        return add_act(im, x, act, !whole || axis > 1);
    }
    if (axis == 1) {
        if (x->flatview)
            return UNSUP("axis 1 of %s after a flattening Softmax: the channels are no longer apart", sh);
        return add_act(im, x, act, 0);
    }
    if (ones_before && ones_after) return add_act(im, x, act, 1);
    return UNSUP("axis %lld of %s normalizes over dimension %lld separately for each channel; nnla normalizes "
                 "over the channel axis (axis 1) only",
                 (long long)axis, sh, (long long)axis);
}

/* ------------------------------------------------------------------ operators: layers with weights */

/* Kernel, strides, dilations and pads of Conv and the pools, for sp = 1 or 2 spatial dims. */
typedef struct geom {
    size_t k[2], s[2], d[2];
    size_t pb[2], pe[2]; /* pads at the beginning and end of each spatial dim */
    int ceil;
} geom;

static nnla_status read_geom(imp *im, unsigned sp, const size_t *in, int has_dil, geom *g)
{
    const int64_t *v;
    size_t n;
    for (unsigned d = 0; d < 2; d++) g->s[d] = g->d[d] = 1, g->pb[d] = g->pe[d] = 0;
    NNLA__TRY(attr_ints(im, "strides", 1, &v, &n));
    if (n && n != sp) return BAD("strides has %zu values for %u spatial dimensions", n, sp);
    for (size_t d = 0; d < n; d++) g->s[d] = (size_t)v[d];
    if (has_dil) {
        NNLA__TRY(attr_ints(im, "dilations", 1, &v, &n));
        if (n && n != sp) return BAD("dilations has %zu values for %u spatial dimensions", n, sp);
        for (size_t d = 0; d < n; d++) g->d[d] = (size_t)v[d];
    }
    static const char *const modes[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", NULL};
    int mode;
    NNLA__TRY(attr_choice(im, "auto_pad", modes, 0, &mode));
    NNLA__TRY(attr_ints(im, "pads", 0, &v, &n));
    if (n && mode != 0) return BAD("pads is given with auto_pad");
    if (n && n != 2 * sp) return BAD("pads has %zu values for %u spatial dimensions", n, sp);
    for (size_t d = 0; d < sp && n; d++) {
        g->pb[d] = (size_t)v[d];
        g->pe[d] = (size_t)v[d + sp];
    }
    if (mode == 1 || mode == 2) { /* SAME: output = ceil(in / stride) */
        for (unsigned d = 0; d < sp; d++) {
            size_t out = (in[d] + g->s[d] - 1) / g->s[d];
            size_t span = (g->k[d] - 1) * g->d[d] + 1;
            size_t need = (out - 1) * g->s[d] + span;
            size_t total = need > in[d] ? need - in[d] : 0;
            size_t small = total / 2, big = total - small;
            g->pb[d] = mode == 1 ? small : big;
            g->pe[d] = mode == 1 ? big : small;
        }
    }
    return NNLA_OK;
}

/* The Conv's and pools' 2-D view of a rank-3 (N, C, L) or rank-4 input. */
static void spatial_in(const val *x, unsigned *sp, size_t in[2])
{
    *sp = x->rank - 2;
    in[0] = x->dims[2];
    in[1] = x->rank == 4 ? x->dims[3] : 0;
}

static nnla_status op_conv(imp *im)
{
    static const char *const known[] = {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *x, *wv, *bv;
    NNLA__TRY(need_runtime(im, 0, ALLOW_PADDED, &x));
    char sh[96];
    if (x->rank != 3 && x->rank != 4)
        return UNSUP("input of shape %s: only 1-D (N, C, L) and 2-D (N, C, H, W) convolutions are supported",
                     shape_str(x, sh, sizeof sh));
    NNLA__TRY(need_weights(im, 1, "weight", 0, &wv));
    NNLA__TRY(need_weights(im, 2, "bias", 1, &bv));
    unsigned sp;
    size_t in[2];
    spatial_in(x, &sp, in);
    if (wv->crank != x->rank) return BAD("the weight has rank %u for a rank-%u input", wv->crank, x->rank);
    size_t m = wv->cdims[0], cpg = wv->cdims[1];
    int64_t group;
    NNLA__TRY(attr_int(im, "group", 1, &group));
    if (group < 1 || group > MAX_DIM) return BAD("group = %lld", (long long)group);
    size_t c = x->dims[1], gr = (size_t)group;
    if (m == 0 || cpg == 0 || c % gr != 0 || m % gr != 0 || cpg * gr != c)
        return BAD("weight [%zu, %zu, ...] with group %zu does not fit %zu input channels", m, cpg, gr, c);
    geom g;
    for (unsigned d = 0; d < sp; d++) g.k[d] = wv->cdims[2 + d];
    const int64_t *ks;
    size_t nk;
    NNLA__TRY(attr_ints(im, "kernel_shape", 1, &ks, &nk));
    if (nk && nk != sp) return BAD("kernel_shape has %zu values for %u spatial dimensions", nk, sp);
    for (size_t d = 0; d < nk; d++)
        if ((size_t)ks[d] != g.k[d]) return BAD("kernel_shape does not match the weight's shape");
    for (unsigned d = 0; d < sp; d++)
        if (g.k[d] == 0) return BAD("the kernel has a zero dimension");
    NNLA__TRY(read_geom(im, sp, in, 1, &g));
    if (bv != NULL && (bv->csize != m || bv->crank != 1)) return BAD("the bias has %zu values for %zu output channels", bv->csize, m);

    nnla_conv2d_desc d = nnla_conv2d_desc_make(c, m, sp == 2 ? g.k[0] : 1, sp == 2 ? g.k[1] : g.k[0]);
    d.groups = gr;
    size_t h = sp == 2 ? in[0] : 1, w = sp == 2 ? in[1] : in[0];
    if (sp == 2) {
        d.stride_h = g.s[0], d.stride_w = g.s[1];
        d.dilation_h = g.d[0], d.dilation_w = g.d[1];
        d.pad_top = g.pb[0], d.pad_bottom = g.pe[0], d.pad_left = g.pb[1], d.pad_right = g.pe[1];
    } else {
        d.stride_w = g.s[0];
        d.dilation_w = g.d[0];
        d.pad_left = g.pb[0], d.pad_right = g.pe[0];
    }
    if (x->padded) { /* a Pad node before: its zeros join the convolution's padding */
        h -= x->pad[0] + x->pad[2];
        w -= x->pad[1] + x->pad[3];
        d.pad_top += x->pad[0], d.pad_left += x->pad[1], d.pad_bottom += x->pad[2], d.pad_right += x->pad[3];
    }
    size_t oh, ow;
    nnla_status st = nnla_conv2d_output_size(&d, h, w, &oh, &ow);
    if (st != NNLA_OK)
        return fail(im, st == NNLA_EOVERFLOW ? NNLA_EOVERFLOW : NNLA_EFORMAT,
                    "the convolution does not fit input %s (kernel, padding, stride, dilation): %s",
                    shape_str(x, sh, sizeof sh), nnla_strerror(st));
    irl *l = NULL;
    size_t idx = 0;
    NNLA__TRY(new_layer(im, NNLA_LAYER_CONV2D, x->layer, &l, &idx));
    l->conv = d;
    l->w = take_doubles(wv);
    l->b = bv ? take_doubles(bv) : NULL;
    if (l->w == NULL || (bv && l->b == NULL)) return fail(im, NNLA_ENOMEM, "out of memory");
    l->c = m, l->h = oh, l->wd = ow;
    size_t dims[4] = {0, m, sp == 2 ? oh : ow, ow};
    return define_runtime(im, 0, idx, x->rank, dims, 0);
}

/* A dense layer from a weight W[out][in] already computed; bias optional (n = out). */
static nnla_status add_dense(imp *im, const val *x, double *w, size_t out, double *b)
{
    irl *l = NULL;
    size_t idx = 0;
    nnla_status st = new_layer(im, NNLA_LAYER_DENSE, x->layer, &l, &idx);
    if (st != NNLA_OK) {
        free(w);
        free(b);
        return st;
    }
    l->w = w;
    l->b = b;
    l->in_f = value_size(x);
    l->out_f = out;
    l->c = out, l->h = l->wd = 1;
    size_t dims[2] = {0, out};
    return define_runtime(im, 0, idx, 2, dims, 0);
}

/*
 * The bias a constant adds to a (N, out) or (N, out, ...) value: all ones but for dim 1 (out or
 * 1), after aligning the constant's shape to the value's rank (numpy's rule, or legacy axis).
 * Fills b[out]; returns 0 when the constant does not broadcast that way.
 */
static int bias_of(const val *x, const val *cv, int64_t legacy_axis, double *b, size_t out)
{
    size_t full[NNLA_ONNX_MAX_RANK];
    unsigned r = x->rank;
    if (cv->crank > r) return 0;
    size_t off = legacy_axis >= 0 ? (size_t)legacy_axis : r - cv->crank;
    if (off + cv->crank > r) return 0;
    for (unsigned d = 0; d < r; d++) full[d] = 1;
    for (unsigned d = 0; d < cv->crank; d++) full[off + d] = cv->cdims[d];
    for (unsigned d = 0; d < r; d++)
        if (d != 1 && full[d] != 1) return 0;
    if (r < 2 || full[1] == 1) {
        for (size_t j = 0; j < out; j++) b[j] = cv->f[0];
        return cv->csize == 1;
    }
    if (full[1] != out) return 0;
    for (size_t j = 0; j < out; j++) b[j] = cv->f[j];
    return 1;
}

static nnla_status op_gemm(imp *im)
{
    static const char *const known[] = {"alpha", "beta", "transA", "transB", "broadcast", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *x, *bv, *cv;
    NNLA__TRY(need_runtime(im, 0, ALLOW_FLATVIEW | ALLOW_DENSE_IN, &x));
    int64_t ta, tb;
    double alpha, beta;
    NNLA__TRY(attr_int(im, "transA", 0, &ta));
    NNLA__TRY(attr_int(im, "transB", 0, &tb));
    NNLA__TRY(attr_float(im, "alpha", 1.0, &alpha));
    NNLA__TRY(attr_float(im, "beta", 1.0, &beta));
    char sh[96];
    if (x->rank != 2) return UNSUP("input A of shape %s: Gemm needs a matrix of samples (N, features)", shape_str(x, sh, sizeof sh));
    if (ta) return UNSUP("transA = 1 would mix the samples of a batch (A's rows are the samples)");
    NNLA__TRY(need_weights(im, 1, "weight B", 0, &bv));
    NNLA__TRY(need_weights(im, 2, "bias C", 1, &cv));
    if (bv->crank != 2) return BAD("B has rank %u", bv->crank);
    size_t in = x->dims[1];
    size_t kdim = tb ? bv->cdims[1] : bv->cdims[0], out = tb ? bv->cdims[0] : bv->cdims[1];
    if (kdim != in) return BAD("B of shape [%zu, %zu] (transB = %lld) does not fit %zu input features", bv->cdims[0],
                               bv->cdims[1], (long long)tb, in);
    if (out == 0) return BAD("B has no output column");
    double *w = tb && alpha == 1.0 ? take_doubles(bv) : malloc(out * in * sizeof *w), *b = NULL;
    if (w == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
    if (!(tb && alpha == 1.0))
        for (size_t o = 0; o < out; o++)
            for (size_t i = 0; i < in; i++) w[o * in + i] = alpha * (tb ? bv->f[o * in + i] : bv->f[i * out + o]);
    if (cv != NULL) {
        b = malloc(out * sizeof *b);
        if (b == NULL || !bias_of(x, cv, -1, b, out)) {
            free(w);
            free(b);
            if (b == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
            return UNSUP("bias C of %u dimensions (%zu values) does not broadcast as one value per output: a C "
                         "with a row per sample depends on the batch",
                         cv->crank, cv->csize);
        }
        for (size_t j = 0; j < out; j++) b[j] *= beta;
    }
    return add_dense(im, x, w, out, b);
}

static nnla_status op_matmul(imp *im)
{
    static const char *const none[] = {NULL};
    NNLA__TRY(check_attrs(im, none));
    val *x, *bv;
    NNLA__TRY(need_runtime(im, 0, ALLOW_FLATVIEW | ALLOW_DENSE_IN, &x));
    char sh[96];
    if (x->rank != 2)
        return UNSUP("input A of shape %s: MatMul is supported on a matrix of samples (N, features) times a "
                     "constant matrix",
                     shape_str(x, sh, sizeof sh));
    NNLA__TRY(need_weights(im, 1, "matrix B", 0, &bv));
    if (bv->crank != 2 || bv->cdims[0] != x->dims[1] || bv->cdims[1] == 0)
        return BAD("B (rank %u) does not fit %zu input features", bv->crank, x->dims[1]);
    size_t in = bv->cdims[0], out = bv->cdims[1];
    double *w = malloc(out * in * sizeof *w);
    if (w == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
    for (size_t o = 0; o < out; o++)
        for (size_t i = 0; i < in; i++) w[o * in + i] = bv->f[i * out + o];
    return add_dense(im, x, w, out, NULL);
}

static nnla_status op_add(imp *im)
{
    static const char *const known[] = {"broadcast", "axis", "consumed_inputs", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *a = in_val(im, 0), *b = in_val(im, 1);
    if (a == NULL || b == NULL) return BAD("Add needs two inputs");
    char sh[96], sh2[96];
    if (a->kind == V_RUNTIME && b->kind == V_RUNTIME) {
        NNLA__TRY(need_runtime(im, 0, ALLOW_FLATVIEW, &a));
        NNLA__TRY(need_runtime(im, 1, ALLOW_FLATVIEW, &b));
        int same = a->rank == b->rank && a->flatview == b->flatview;
        for (unsigned d = 1; same && d < a->rank; d++) same = a->dims[d] == b->dims[d];
        if (!same)
            return UNSUP("the inputs have shapes %s and %s: a residual sum needs equal shapes (broadcasting "
                         "between run-time tensors is not supported)",
                         shape_str(a, sh, sizeof sh), shape_str(b, sh2, sizeof sh2));
        irl *l;
        size_t idx;
        NNLA__TRY(new_layer(im, NNLA_LAYER_ADD, a->layer, &l, &idx));
        l->src2 = b->layer;
        l->c = a->c, l->h = a->h, l->wd = a->w;
        return define_runtime(im, 0, idx, a->rank, a->dims, a->flatview);
    }
    if (a->kind == V_CONST && b->kind == V_CONST) return UNSUP("both inputs are constants (constant folding is not supported)");
    size_t ki = a->kind == V_RUNTIME ? 0 : 1;
    val *x, *cv;
    NNLA__TRY(need_runtime(im, ki, ALLOW_FLATVIEW, &x));
    NNLA__TRY(need_weights(im, 1 - ki, "addend", 0, &cv));
    int64_t axis = -1;
    if (im->opset < 7) {
        int64_t bc, ax;
        NNLA__TRY(attr_int(im, "broadcast", 0, &bc));
        NNLA__TRY(attr_int(im, "axis", -1, &ax));
        if (bc && ax >= 0) axis = ax;
    }
    irl *l = x->layer != IR_INPUT ? &im->layers[x->layer] : NULL;
    if (l == NULL || (l->kind != NNLA_LAYER_DENSE && l->kind != NNLA_LAYER_CONV2D) || l->act.kind != NNLA_ACT_IDENTITY ||
        l->uses != 1 || x->flatview)
        return UNSUP("adding a constant is supported only as the bias of the Gemm, MatMul or Conv before it (that "
                     "layer's only reader); input %s is not such a layer's output",
                     shape_str(x, sh, sizeof sh));
    size_t out = l->kind == NNLA_LAYER_DENSE ? l->out_f : l->conv.out_channels;
    double *bias = malloc(out * sizeof *bias);
    if (bias == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
    if (!bias_of(x, cv, axis, bias, out)) {
        free(bias);
        return UNSUP("the constant (%u dimensions, %zu values) does not broadcast as one value per channel of %s",
                     cv->crank, cv->csize, shape_str(x, sh, sizeof sh));
    }
    if (l->b == NULL) {
        l->b = bias;
    } else {
        for (size_t j = 0; j < out; j++) l->b[j] += bias[j];
        free(bias);
    }
    return define_alias(im, 0, x);
}

/* ------------------------------------------------------------------ operators: pooling, shapes */

static nnla_status op_pool(imp *im, nnla_pool_kind kind)
{
    static const char *const max_known[] = {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides", NULL};
    static const char *const avg_known[] = {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides", NULL};
    NNLA__TRY(check_attrs(im, kind == NNLA_POOL_MAX ? max_known : avg_known));
    NNLA__TRY(extra_outputs_unused(im, 1, "the indices of the maxima"));
    val *x;
    NNLA__TRY(need_runtime(im, 0, kind == NNLA_POOL_AVG ? ALLOW_PADDED : 0, &x));
    char sh[96];
    if (x->rank != 3 && x->rank != 4)
        return UNSUP("input of shape %s: only 1-D (N, C, L) and 2-D (N, C, H, W) pooling is supported",
                     shape_str(x, sh, sizeof sh));
    unsigned sp;
    size_t in[2];
    spatial_in(x, &sp, in);
    const int64_t *ks;
    size_t nk;
    NNLA__TRY(attr_ints(im, "kernel_shape", 1, &ks, &nk));
    if (nk != sp) return BAD("kernel_shape has %zu values for %u spatial dimensions", nk, sp);
    geom g;
    for (unsigned d = 0; d < sp; d++) g.k[d] = (size_t)ks[d];
    NNLA__TRY(read_geom(im, sp, in, kind == NNLA_POOL_MAX, &g));
    for (unsigned d = 0; d < sp; d++)
        if (g.d[d] != 1) return UNSUP("dilations other than 1 are not supported by nnla's pooling");
    int64_t ceil_mode, cip;
    NNLA__TRY(attr_int(im, "ceil_mode", 0, &ceil_mode));
    NNLA__TRY(attr_int(im, "count_include_pad", 0, &cip));
    nnla_pool2d_desc d = nnla_pool2d_desc_make(kind, sp == 2 ? g.k[0] : 1, sp == 2 ? g.k[1] : g.k[0]);
    size_t h = sp == 2 ? in[0] : 1, w = sp == 2 ? in[1] : in[0];
    if (sp == 2) {
        d.stride_h = g.s[0], d.stride_w = g.s[1];
        d.pad_top = g.pb[0], d.pad_bottom = g.pe[0], d.pad_left = g.pb[1], d.pad_right = g.pe[1];
    } else {
        d.stride_h = 1, d.stride_w = g.s[0];
        d.pad_left = g.pb[0], d.pad_right = g.pe[0];
    }
    d.ceil_mode = ceil_mode != 0;
    d.count_include_pad = cip != 0;
    if (x->padded) {
        /* Pad's zeros then an AveragePool (PyTorch's export of count_include_pad=True): the zeros
         * are counted, as padding is with count_include_pad; the pool's own padding must agree */
        if (!cip && (d.pad_top || d.pad_bottom || d.pad_left || d.pad_right))
            return UNSUP("a Pad before an AveragePool that has its own padding and count_include_pad = 0");
        if (sp == 2) {
            h -= x->pad[0] + x->pad[2];
            w -= x->pad[1] + x->pad[3];
            in[0] = h, in[1] = w;
        } else {
            w -= x->pad[1] + x->pad[3];
            in[0] = w;
        }
        d.pad_top += x->pad[0], d.pad_left += x->pad[1], d.pad_bottom += x->pad[2], d.pad_right += x->pad[3];
        if (sp == 2) g.pb[0] = d.pad_top, g.pe[0] = d.pad_bottom, g.pb[1] = d.pad_left, g.pe[1] = d.pad_right;
        else g.pb[0] = d.pad_left, g.pe[0] = d.pad_right;
        d.count_include_pad = 1;
    }
    size_t oh, ow;
    nnla_status st = nnla_pool2d_output_size(&d, h, w, &oh, &ow);
    if (st != NNLA_OK)
        return UNSUP("kernel %zux%zu, stride %zux%zu, pads (top %zu, left %zu, bottom %zu, right %zu) on input %s: "
                     "%s (nnla's pooling takes padding of at most half the kernel, as PyTorch)",
                     d.kernel_h, d.kernel_w, d.stride_h, d.stride_w, d.pad_top, d.pad_left, d.pad_bottom, d.pad_right,
                     shape_str(x, sh, sizeof sh), nnla_strerror(st));
    /* ONNX's output size (opsets <= 17): floor or ceil of (in + pads - kernel) / stride + 1 */
    size_t onnx_out[2];
    for (unsigned k = 0; k < sp; k++) {
        size_t span = in[k] + g.pb[k] + g.pe[k] - g.k[k];
        onnx_out[k] = (ceil_mode ? (span + g.s[k] - 1) / g.s[k] : span / g.s[k]) + 1;
    }
    if ((sp == 2 && (onnx_out[0] != oh || onnx_out[1] != ow)) || (sp == 1 && onnx_out[0] != ow))
        return UNSUP("with ceil_mode the last window would start in the padding: ONNX keeps it, PyTorch and nnla "
                     "drop it");
    irl *l = NULL;
    size_t idx = 0;
    NNLA__TRY(new_layer(im, NNLA_LAYER_POOL2D, x->layer, &l, &idx));
    l->pool = d;
    l->c = x->c, l->h = oh, l->wd = ow;
    size_t dims[4] = {0, x->dims[1], sp == 2 ? oh : ow, ow};
    return define_runtime(im, 0, idx, x->rank, dims, 0);
}

static nnla_status op_global_pool(imp *im, int is_max)
{
    static const char *const none[] = {NULL};
    NNLA__TRY(check_attrs(im, none));
    val *x;
    NNLA__TRY(need_runtime(im, 0, 0, &x));
    char sh[96];
    if (x->rank != 3 && x->rank != 4)
        return UNSUP("input of shape %s: global pooling needs (N, C, L) or (N, C, H, W)", shape_str(x, sh, sizeof sh));
    irl *l = NULL;
    size_t idx = 0;
    if (is_max) {
        nnla_pool2d_desc d = nnla_pool2d_desc_make(NNLA_POOL_MAX, x->h, x->w);
        d.stride_h = d.stride_w = 1;
        NNLA__TRY(new_layer(im, NNLA_LAYER_POOL2D, x->layer, &l, &idx));
        l->pool = d;
    } else {
        NNLA__TRY(new_layer(im, NNLA_LAYER_GLOBAL_AVGPOOL, x->layer, &l, &idx));
    }
    l->c = x->c, l->h = l->wd = 1;
    size_t dims[4] = {0, x->dims[1], 1, 1};
    return define_runtime(im, 0, idx, x->rank, dims, 0);
}

static nnla_status add_flatten(imp *im, const val *x, size_t k_out)
{
    irl *l = NULL;
    size_t idx = 0;
    NNLA__TRY(new_layer(im, NNLA_LAYER_FLATTEN, x->layer, &l, &idx));
    l->c = x->c * x->h * x->w, l->h = l->wd = 1;
    size_t dims[2] = {0, l->c};
    return define_runtime(im, k_out, idx, 2, dims, 0);
}

static nnla_status op_flatten(imp *im)
{
    static const char *const known[] = {"axis", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *x;
    NNLA__TRY(need_runtime(im, 0, ALLOW_FLATVIEW, &x));
    int64_t axis, r = x->rank;
    NNLA__TRY(attr_int(im, "axis", 1, &axis));
    if (axis < -r || axis > r) return BAD("axis %lld is out of range for rank %lld", (long long)axis, (long long)r);
    if (axis < 0) axis += r;
    char sh[96];
    for (int64_t d = 1; d < axis; d++)
        if (x->dims[d] != 1) axis = 0;
    if (axis == 0)
        return UNSUP("flattening %s at this axis folds the batch into the features (only axis 1 keeps the samples apart)",
                     shape_str(x, sh, sizeof sh));
    return add_flatten(im, x, 0);
}

/* The integer vector of a constant (1-D or scalar). */
static nnla_status need_ints(imp *im, size_t k, const char *role, int optional, val **out)
{
    NNLA__TRY(need_const(im, k, role, optional, out));
    if (*out != NULL && (!(*out)->is_int || (*out)->crank > 1)) return BAD("the %s (input %zu) is not a vector of integers", role, k);
    return NNLA_OK;
}

static nnla_status reshape_const(imp *im, val *dv, const int64_t *t, size_t tr, int allowzero);

static nnla_status op_reshape(imp *im)
{
    static const char *const known[] = {"allowzero", "shape", "consumed_inputs", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *x = in_val(im, 0), *sv = NULL;
    if (x != NULL && x->kind == V_CONST && im->opset >= 5) {
        int64_t az;
        NNLA__TRY(need_const(im, 0, "data", 0, &x));
        NNLA__TRY(need_ints(im, 1, "shape", 0, &sv));
        NNLA__TRY(attr_int(im, "allowzero", 0, &az));
        return reshape_const(im, x, sv->i, sv->csize, az != 0);
    }
    NNLA__TRY(need_runtime(im, 0, ALLOW_FLATVIEW, &x));
    const int64_t *t;
    size_t tr;
    if (im->opset < 5) {
        const Onnx__AttributeProto *a = attr(im->n, "shape");
        if (a == NULL || attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) return BAD("attribute shape is missing");
        t = a->ints;
        tr = a->n_ints;
    } else {
        NNLA__TRY(need_ints(im, 1, "shape", 0, &sv));
        t = sv->i;
        tr = sv->csize;
    }
    int64_t allowzero;
    NNLA__TRY(attr_int(im, "allowzero", 0, &allowzero));
    char sh[96];
    shape_str(x, sh, sizeof sh);
    if (tr < 1 || tr > 4) return UNSUP("the target shape has %zu dimensions (1 to 4 are supported)", tr);
    size_t per = value_size(x), dims[4] = {0, 0, 0, 0}, known_prod = 1;
    int batch_ok = 0;
    size_t minus = NONE;
    for (size_t k = 0; k < tr; k++) {
        int64_t v = t[k];
        if (v == SYM_BATCH) {
            if (k != 0) return UNSUP("the batch size goes to dimension %zu of the target shape", k);
            batch_ok = 1;
        } else if (v == 0 && !allowzero) {
            if (k == 0)
                batch_ok = 1;
            else if (k < x->rank)
                dims[k] = x->dims[k], known_prod *= x->dims[k];
            else
                return BAD("the target shape copies dimension %zu of a rank-%u input", k, x->rank);
        } else if (v == -1) {
            if (minus != NONE) return BAD("the target shape has two -1");
            minus = k;
        } else if (v <= 0 || v > MAX_DIM) {
            return UNSUP("the target shape has the dimension %lld", (long long)v);
        } else if (k == 0) {
            if (im->static_batch < 0 || v != im->static_batch)
                return UNSUP("the target shape fixes the batch size to %lld", (long long)v);
            batch_ok = 1;
        } else {
            dims[k] = (size_t)v;
            if (!nnla__mul(known_prod, (size_t)v, &known_prod)) return BAD("the target shape overflows");
        }
    }
    if (minus == 0) {
        if (known_prod != per) return UNSUP("Reshape of %s with a -1 first: the batch size would change", sh);
        batch_ok = 1;
    } else if (minus != NONE) {
        if (known_prod == 0 || per % known_prod != 0) return BAD("Reshape of %s: the sizes do not divide", sh);
        dims[minus] = per / known_prod;
    } else if (known_prod != per) {
        return BAD("Reshape of %s: the target holds %zu values per sample", sh, known_prod);
    }
    if (!batch_ok) return UNSUP("Reshape of %s moves the batch dimension", sh);
    size_t c, h, w;
    canon((unsigned)tr, dims, &c, &h, &w);
    if (c == x->c && h == x->h && w == x->w) {
        val tmp = *x;
        tmp.rank = (unsigned)tr;
        for (unsigned d = 1; d < 4; d++) tmp.dims[d] = dims[d];
        tmp.flatview = 0;
        return define_alias(im, 0, &tmp);
    }
    if (tr == 2 && !x->flatview) {
        /* read by a Gemm or MatMul alone: the dense layer flattens its input itself */
        val *y = out_val(im, 0);
        const Onnx__NodeProto *r = y && y->consumers == 1 && !y->is_output && y->reader != NONE ? im->g->node[y->reader] : NULL;
        if (r != NULL && (strcmp(S(r->op_type), "Gemm") == 0 || strcmp(S(r->op_type), "MatMul") == 0) && r->n_input > 0 &&
            strcmp(S(r->input[0]), y->name) == 0) {
            NNLA__TRY(define_runtime(im, 0, x->layer, 2, dims, 0));
            if (x->layer != IR_INPUT && im->layers[x->layer].uses > 0) im->layers[x->layer].uses--;
            y->c = x->c, y->h = x->h, y->w = x->w;
            y->dense_in = 1;
            return NNLA_OK;
        }
        return add_flatten(im, x, 0);
    }
    return UNSUP("Reshape of %s to %zu dimensions moves values between channels and positions; only reshapes to "
                 "(N, features) and ones that add or drop unit dimensions are supported",
                 sh, tr);
}

static nnla_status op_batchnorm(imp *im)
{
    static const char *const known[] = {"epsilon", "momentum", "spatial", "is_test", "training_mode", "consumed_inputs", NULL};
    NNLA__TRY(check_attrs(im, known));
    NNLA__TRY(extra_outputs_unused(im, 1, "training statistics"));
    val *x, *p[4];
    NNLA__TRY(need_runtime(im, 0, 0, &x));
    char sh[96];
    if (x->rank < 2) return UNSUP("input of shape %s has no channel axis", shape_str(x, sh, sizeof sh));
    static const char *const roles[4] = {"scale", "bias", "running mean", "running variance"};
    size_t c = x->dims[1];
    for (int k = 0; k < 4; k++) {
        NNLA__TRY(need_weights(im, (size_t)k + 1, roles[k], 0, &p[k]));
        if (p[k]->csize != c) return BAD("the %s has %zu values for %zu channels", roles[k], p[k]->csize, c);
    }
    for (size_t j = 0; j < c; j++)
        if (p[3]->f[j] < 0) return BAD("the running variance is negative");
    double eps, mom;
    int64_t spatial, is_test, training;
    NNLA__TRY(attr_float(im, "epsilon", 1e-5, &eps));
    NNLA__TRY(attr_float(im, "momentum", 0.9, &mom));
    NNLA__TRY(attr_int(im, "spatial", 1, &spatial));
    NNLA__TRY(attr_int(im, "is_test", im->opset < 7 ? 0 : 1, &is_test));
    NNLA__TRY(attr_int(im, "training_mode", 0, &training));
    if (!spatial) return UNSUP("spatial = 0 (statistics per position) is not supported");
    if (!is_test || training) return UNSUP("training mode (batch statistics) is not supported: export the model in eval mode");
    if (!(eps > 0)) return UNSUP("epsilon = %g: nnla needs epsilon > 0", eps);
    irl *l = NULL;
    size_t idx = 0;
    NNLA__TRY(new_layer(im, NNLA_LAYER_BATCHNORM, x->layer, &l, &idx));
    l->features = c;
    l->gamma = take_doubles(p[0]);
    l->beta = take_doubles(p[1]);
    l->mean = take_doubles(p[2]);
    l->var = take_doubles(p[3]);
    if (!l->gamma || !l->beta || !l->mean || !l->var) return fail(im, NNLA_ENOMEM, "out of memory");
    l->eps = eps;
    l->momentum = 1.0 - mom; /* ONNX keeps the old statistics' share; PyTorch (and nnla) the new one's */
    if (!(l->momentum >= 0.0 && l->momentum <= 1.0)) l->momentum = 0.1;
    l->c = x->c, l->h = x->h, l->wd = x->w;
    return define_runtime(im, 0, idx, x->rank, x->dims, 0);
}

static nnla_status op_dropout(imp *im)
{
    static const char *const known[] = {"ratio", "is_test", "seed", "consumed_inputs", NULL};
    NNLA__TRY(check_attrs(im, known));
    NNLA__TRY(extra_outputs_unused(im, 1, "the mask"));
    val *x, *rv, *tv;
    NNLA__TRY(need_runtime(im, 0, ALLOW_FLATVIEW, &x));
    double ratio = 0.5;
    if (im->opset < 12) {
        NNLA__TRY(attr_float(im, "ratio", 0.5, &ratio));
    } else {
        NNLA__TRY(need_const(im, 1, "ratio", 1, &rv));
        if (rv != NULL && !const_scalar(rv, &ratio)) return BAD("the ratio is not a scalar");
        NNLA__TRY(need_const(im, 2, "training_mode", 1, &tv));
        double tm;
        if (tv != NULL && (!const_scalar(tv, &tm) || tm != 0))
            return UNSUP("training_mode is true: dropout in training is not supported");
    }
    if (!(im->flags & NNLA_ONNX_KEEP_DROPOUT)) return define_alias(im, 0, x);
    if (!(ratio >= 0.0 && ratio < 1.0)) return UNSUP("ratio %g: nnla's dropout takes [0, 1)", ratio);
    irl *l = NULL;
    size_t idx = 0;
    NNLA__TRY(new_layer(im, NNLA_LAYER_DROPOUT, x->layer, &l, &idx));
    l->p = ratio;
    l->c = x->c, l->h = x->h, l->wd = x->w;
    return define_runtime(im, 0, idx, x->rank, x->dims, x->flatview);
}

static nnla_status op_identity(imp *im)
{
    static const char *const none[] = {NULL};
    NNLA__TRY(check_attrs(im, none));
    val *x = in_val(im, 0);
    if (x == NULL) return BAD("input 0 is missing");
    if (x->kind == V_CONST && !x->decoded) NNLA__TRY(decode_tensor(im, x));
    return define_alias(im, 0, x);
}

static nnla_status op_pad(imp *im)
{
    static const char *const known[] = {"mode", "pads", "value", "paddings", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *x;
    NNLA__TRY(need_runtime(im, 0, 0, &x));
    static const char *const modes[] = {"constant", "reflect", "edge", "wrap", NULL};
    int mode;
    NNLA__TRY(attr_choice(im, "mode", modes, 0, &mode));
    if (mode != 0) return UNSUP("mode '%s': only zero padding (constant) is supported", modes[mode]);
    const int64_t *p;
    size_t np;
    double value = 0;
    if (im->opset < 11) {
        const Onnx__AttributeProto *a = attr(im->n, im->opset < 2 ? "paddings" : "pads");
        if (a == NULL || attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) return BAD("attribute pads is missing");
        p = a->ints;
        np = a->n_ints;
        NNLA__TRY(attr_float(im, "value", 0.0, &value));
    } else {
        val *pv, *cv;
        NNLA__TRY(need_ints(im, 1, "pads", 0, &pv));
        p = pv->i;
        np = pv->csize;
        NNLA__TRY(need_const(im, 2, "constant value", 1, &cv));
        if (cv != NULL && !const_scalar(cv, &value)) return BAD("the constant value is not a scalar");
        if (in_val(im, 3) != NULL) return UNSUP("the axes input is not supported");
    }
    if (value != 0) return UNSUP("padding with %g: only zeros are supported", value);
    unsigned r = x->rank;
    if (np != 2 * r) return BAD("pads has %zu values for rank %u", np, r);
    if (r != 3 && r != 4) return UNSUP("padding a rank-%u tensor: only (N, C, L) and (N, C, H, W) are supported", r);
    for (size_t k = 0; k < np; k++)
        if (p[k] < 0 || p[k] > MAX_DIM) return UNSUP("pads has the value %lld (cropping is not supported)", (long long)p[k]);
    if (p[0] || p[1] || p[r] || p[r + 1]) return UNSUP("padding the batch or channel axis is not supported");
    val *y = out_val(im, 0);
    if (y == NULL) return NNLA_OK;
    if (y->consumers != 1 || y->reader == NONE) return UNSUP("zero padding is supported only when one Conv reads it");
    const Onnx__NodeProto *reader = im->g->node[y->reader];
    if (!(is_op(reader, "Conv") || is_op(reader, "AveragePool")) || reader->n_input < 1 ||
        strcmp(S(reader->input[0]), y->name) != 0)
        return UNSUP("zero padding is supported only before a Conv or an AveragePool (it becomes their padding)");
    size_t dims[4] = {0, x->dims[1], 0, 0};
    size_t add[4] = {0, 0, 0, 0}; /* top, left, bottom, right */
    if (r == 4) {
        add[0] = (size_t)p[2], add[1] = (size_t)p[3], add[2] = (size_t)p[6], add[3] = (size_t)p[7];
        dims[2] = x->dims[2] + add[0] + add[2];
        dims[3] = x->dims[3] + add[1] + add[3];
    } else {
        add[1] = (size_t)p[2], add[3] = (size_t)p[5];
        dims[2] = x->dims[2] + add[1] + add[3];
    }
    NNLA__TRY(define_runtime(im, 0, x->layer, r, dims, 0));
    if (x->layer != IR_INPUT && im->layers[x->layer].uses > 0) im->layers[x->layer].uses--; /* the read moved on */
    y->padded = 1;
    for (int k = 0; k < 4; k++) y->pad[k] = (x->padded ? x->pad[k] : 0) + add[k];
    return NNLA_OK;
}

/* ------------------------------------------------------------------ constants and shape arithmetic */

static nnla_status op_constant(imp *im)
{
    static const char *const known[] = {"value", "value_float", "value_floats", "value_int", "value_ints",
                                        "sparse_value", "value_string", "value_strings", NULL};
    NNLA__TRY(check_attrs(im, known));
    if (im->n->n_attribute != 1 || im->n->attribute[0] == NULL) return BAD("a Constant needs exactly one attribute");
    const Onnx__AttributeProto *a = im->n->attribute[0];
    const char *name = S(a->name);
    int type = attr_type(a);
    val *y = out_val(im, 0);
    if (y == NULL) return NNLA_OK;
    if (strcmp(name, "value") == 0) {
        if (type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR || a->t == NULL) return BAD("value is not a tensor");
        y->kind = V_CONST;
        y->tp = a->t;
        y->defined = 1;
        return decode_tensor(im, y);
    }
    size_t one = 1;
    if (strcmp(name, "value_float") == 0 && type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) {
        double *f = malloc(sizeof *f);
        if (f == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
        f[0] = a->f;
        return define_const(im, 0, 0, &one, f, NULL);
    }
    if (strcmp(name, "value_int") == 0 && type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) {
        int64_t *i = malloc(sizeof *i);
        if (i == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
        i[0] = a->i;
        return define_const(im, 0, 0, &one, NULL, i);
    }
    if (strcmp(name, "value_floats") == 0 && type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS) {
        size_t n = a->n_floats;
        double *f = malloc((n ? n : 1) * sizeof *f);
        if (f == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
        for (size_t k = 0; k < n; k++) f[k] = a->floats[k];
        return define_const(im, 0, 1, &n, f, NULL);
    }
    if (strcmp(name, "value_ints") == 0 && type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) {
        size_t n = a->n_ints;
        int64_t *i = malloc((n ? n : 1) * sizeof *i);
        if (i == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
        if (n) memcpy(i, a->ints, n * sizeof *i);
        return define_const(im, 0, 1, &n, NULL, i);
    }
    return UNSUP("a Constant given by '%s' is not supported", name);
}

static nnla_status op_shape(imp *im)
{
    static const char *const known[] = {"start", "end", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *x = in_val(im, 0);
    if (x == NULL) return BAD("input 0 is missing");
    int64_t full[NNLA_ONNX_MAX_RANK];
    int64_t r;
    if (x->kind == V_RUNTIME) {
        if (x->padded || x->flatview) return UNSUP("the shape of a padded or flattened intermediate is not supported");
        r = x->rank;
        full[0] = SYM_BATCH;
        for (int64_t d = 1; d < r; d++) full[d] = (int64_t)x->dims[d];
    } else {
        if (!x->decoded) NNLA__TRY(decode_tensor(im, x));
        r = x->crank;
        for (int64_t d = 0; d < r; d++) full[d] = (int64_t)x->cdims[d];
    }
    int64_t start, end;
    NNLA__TRY(attr_int(im, "start", 0, &start));
    NNLA__TRY(attr_int(im, "end", r, &end));
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    size_t n = end > start ? (size_t)(end - start) : 0;
    int64_t *i = malloc((n ? n : 1) * sizeof *i);
    if (i == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
    for (size_t k = 0; k < n; k++) i[k] = full[start + (int64_t)k];
    return define_const(im, 0, 1, &n, NULL, i);
}

static nnla_status op_gather(imp *im)
{
    static const char *const known[] = {"axis", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *dv, *iv;
    NNLA__TRY(need_const(im, 0, "data", 0, &dv));
    NNLA__TRY(need_ints(im, 1, "indices", 0, &iv));
    int64_t axis;
    NNLA__TRY(attr_int(im, "axis", 0, &axis));
    if (dv->crank != 1 || (axis != 0 && axis != -1))
        return UNSUP("Gather is supported on a constant vector (shape arithmetic) only");
    size_t n = iv->csize, len = dv->cdims[0];
    int64_t *i = dv->is_int ? malloc((n ? n : 1) * sizeof *i) : NULL;
    double *f = dv->is_int ? NULL : malloc((n ? n : 1) * sizeof *f);
    if (i == NULL && f == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
    for (size_t k = 0; k < n; k++) {
        int64_t j = iv->i[k];
        if (j < 0) j += (int64_t)len;
        if (j < 0 || (uint64_t)j >= len) {
            free(i);
            free(f);
            return BAD("index %lld is out of range", (long long)iv->i[k]);
        }
        if (i) i[k] = dv->i[j];
        else f[k] = dv->f[j];
    }
    return define_const(im, 0, iv->crank, iv->crank ? iv->cdims : &n, f, i);
}

static nnla_status op_unsqueeze(imp *im)
{
    static const char *const known[] = {"axes", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *dv, *av = NULL;
    NNLA__TRY(need_const(im, 0, "data", 0, &dv));
    const int64_t *axes;
    size_t na;
    if (im->opset < 13) {
        const Onnx__AttributeProto *a = attr(im->n, "axes");
        if (a == NULL || attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) return BAD("attribute axes is missing");
        axes = a->ints;
        na = a->n_ints;
    } else {
        NNLA__TRY(need_ints(im, 1, "axes", 0, &av));
        axes = av->i;
        na = av->csize;
    }
    size_t r = dv->crank + na;
    if (r > NNLA_ONNX_MAX_RANK) return fail(im, NNLA_EOVERFLOW, "the result has more than %d dimensions", NNLA_ONNX_MAX_RANK);
    int is_new[NNLA_ONNX_MAX_RANK] = {0};
    for (size_t k = 0; k < na; k++) {
        int64_t a = axes[k] < 0 ? axes[k] + (int64_t)r : axes[k];
        if (a < 0 || a >= (int64_t)r || is_new[a]) return BAD("axes are out of range or repeated");
        is_new[a] = 1;
    }
    size_t dims[NNLA_ONNX_MAX_RANK];
    for (size_t d = 0, s = 0; d < r; d++) dims[d] = is_new[d] ? 1 : dv->cdims[s++];
    size_t n = dv->csize ? dv->csize : 1;
    int64_t *i = dv->is_int ? malloc(n * sizeof *i) : NULL;
    double *f = dv->is_int ? NULL : malloc(n * sizeof *f);
    if (i == NULL && f == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
    if (i) memcpy(i, dv->i, dv->csize * sizeof *i);
    else memcpy(f, dv->f, dv->csize * sizeof *f);
    return define_const(im, 0, (unsigned)r, dims, f, i);
}

static nnla_status op_concat(imp *im)
{
    static const char *const known[] = {"axis", NULL};
    NNLA__TRY(check_attrs(im, known));
    int64_t axis;
    NNLA__TRY(attr_int(im, "axis", 0, &axis));
    if (axis != 0 && axis != -1) return UNSUP("Concat is supported on constant vectors (shape arithmetic) only");
    size_t total = 0;
    int is_int = -1;
    for (size_t k = 0; k < im->n->n_input; k++) {
        val *v;
        NNLA__TRY(need_const(im, k, "part", 0, &v));
        if (v->crank != 1 || (is_int >= 0 && is_int != v->is_int))
            return UNSUP("Concat is supported on constant vectors (shape arithmetic) only");
        is_int = v->is_int;
        total += v->csize;
    }
    if (is_int < 0) return BAD("Concat without inputs");
    int64_t *i = is_int ? malloc((total ? total : 1) * sizeof *i) : NULL;
    double *f = is_int ? NULL : malloc((total ? total : 1) * sizeof *f);
    if (i == NULL && f == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
    size_t at = 0;
    for (size_t k = 0; k < im->n->n_input; k++) {
        val *v = in_val(im, k);
        if (i) memcpy(i + at, v->i, v->csize * sizeof *i);
        else memcpy(f + at, v->f, v->csize * sizeof *f);
        at += v->csize;
    }
    return define_const(im, 0, 1, &total, f, i);
}

/* Strides of a C-order shape. */
static void strides_of(unsigned rank, const size_t *dims, size_t *st)
{
    size_t s = 1;
    for (unsigned d = rank; d-- > 0;) {
        st[d] = s;
        s *= dims[d];
    }
}

/* A new constant of the same element kind as `like`, size n (>= 1 allocated). */
static nnla_status alloc_like(imp *im, const val *like, size_t n, double **f, int64_t **i)
{
    *f = NULL;
    *i = NULL;
    if (n > MAX_FOLD) return fail(im, NNLA_EOVERFLOW, "a computed constant would have %zu elements (at most %zu)", n, MAX_FOLD);
    if (like->is_int) *i = malloc((n ? n : 1) * sizeof **i);
    else *f = malloc((n ? n : 1) * sizeof **f);
    if (*i == NULL && *f == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
    return NNLA_OK;
}

static nnla_status op_constant_of_shape(imp *im)
{
    static const char *const known[] = {"value", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *sv;
    NNLA__TRY(need_ints(im, 0, "shape", 0, &sv));
    if (sv->csize > NNLA_ONNX_MAX_RANK) return fail(im, NNLA_EOVERFLOW, "the shape has %zu dimensions", sv->csize);
    size_t dims[NNLA_ONNX_MAX_RANK], n = 1;
    for (size_t d = 0; d < sv->csize; d++) {
        if (sv->i[d] == SYM_BATCH) return UNSUP("a constant of the batch's size is not supported");
        if (sv->i[d] < 0 || sv->i[d] > MAX_DIM || !nnla__mul(n, (size_t)sv->i[d], &n)) return BAD("shape entry %lld", (long long)sv->i[d]);
        dims[d] = (size_t)sv->i[d];
    }
    val fill;
    memset(&fill, 0, sizeof fill);
    double zero = 0;
    fill.f = &zero;
    fill.csize = 1;
    const Onnx__AttributeProto *a = attr(im->n, "value");
    if (a != NULL) {
        if (attr_type(a) != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR || a->t == NULL) return BAD("value is not a tensor");
        fill.tp = a->t;
        fill.name = "value";
        fill.f = NULL;
        NNLA__TRY(decode_tensor(im, &fill));
        if (fill.csize != 1) {
            free(fill.f), free(fill.i);
            return BAD("value has %zu elements", fill.csize);
        }
    }
    double *f;
    int64_t *i;
    nnla_status st = alloc_like(im, &fill, n, &f, &i);
    for (size_t k = 0; st == NNLA_OK && k < n; k++) {
        if (i) i[k] = fill.i[0];
        else f[k] = fill.f[0];
    }
    if (a != NULL) free(fill.f), free(fill.i);
    if (st != NNLA_OK) return st;
    return define_const(im, 0, (unsigned)sv->csize, dims, f, i);
}

static nnla_status op_transpose(imp *im)
{
    static const char *const known[] = {"perm", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *dv;
    NNLA__TRY(need_const(im, 0, "data", 0, &dv));
    unsigned r = dv->crank;
    size_t perm[NNLA_ONNX_MAX_RANK];
    const int64_t *p;
    size_t np;
    NNLA__TRY(attr_ints(im, "perm", 0, &p, &np));
    if (np && np != r) return BAD("perm has %zu entries for rank %u", np, r);
    int seen[NNLA_ONNX_MAX_RANK] = {0};
    for (unsigned d = 0; d < r; d++) {
        perm[d] = np ? (size_t)p[d] : r - 1 - d;
        if (perm[d] >= r || seen[perm[d]]++) return BAD("perm is not a permutation");
    }
    size_t dims[NNLA_ONNX_MAX_RANK], ist[NNLA_ONNX_MAX_RANK], idx[NNLA_ONNX_MAX_RANK] = {0};
    strides_of(r, dv->cdims, ist);
    for (unsigned d = 0; d < r; d++) dims[d] = dv->cdims[perm[d]];
    double *f;
    int64_t *i;
    NNLA__TRY(alloc_like(im, dv, dv->csize, &f, &i));
    for (size_t k = 0; k < dv->csize; k++) {
        size_t src = 0;
        for (unsigned d = 0; d < r; d++) src += idx[d] * ist[perm[d]];
        if (i) i[k] = dv->i[src];
        else f[k] = dv->f[src];
        for (unsigned d = r; d-- > 0;) { /* next output index, C order */
            if (++idx[d] < dims[d]) break;
            idx[d] = 0;
        }
    }
    return define_const(im, 0, r, dims, f, i);
}

/* Slice of a constant (shape arithmetic, PyTorch's padding lists): numpy's rules with steps. */
static nnla_status op_slice(imp *im)
{
    static const char *const known[] = {"starts", "ends", "axes", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *dv;
    NNLA__TRY(need_const(im, 0, "data", 0, &dv));
    unsigned r = dv->crank;
    const int64_t *starts, *ends, *axes = NULL, *steps = NULL;
    size_t n, na = 0, ns = 0, ne;
    if (im->opset < 10) {
        const Onnx__AttributeProto *a = attr(im->n, "starts"), *b = attr(im->n, "ends"), *c = attr(im->n, "axes");
        if (a == NULL || b == NULL) return BAD("starts and ends are required");
        starts = a->ints, n = a->n_ints, ends = b->ints, ne = b->n_ints;
        if (c) axes = c->ints, na = c->n_ints;
    } else {
        val *sv, *ev, *av, *tv;
        NNLA__TRY(need_ints(im, 1, "starts", 0, &sv));
        NNLA__TRY(need_ints(im, 2, "ends", 0, &ev));
        NNLA__TRY(need_ints(im, 3, "axes", 1, &av));
        NNLA__TRY(need_ints(im, 4, "steps", 1, &tv));
        starts = sv->i, n = sv->csize, ends = ev->i, ne = ev->csize;
        if (av) axes = av->i, na = av->csize;
        if (tv) steps = tv->i, ns = tv->csize;
    }
    if (ne != n || (axes && na != n) || (steps && ns != n) || n > r) return BAD("starts, ends, axes and steps disagree");
    int64_t lo[NNLA_ONNX_MAX_RANK], step[NNLA_ONNX_MAX_RANK];
    size_t dims[NNLA_ONNX_MAX_RANK], total = 1;
    int seen[NNLA_ONNX_MAX_RANK] = {0};
    for (unsigned d = 0; d < r; d++) lo[d] = 0, step[d] = 1, dims[d] = dv->cdims[d];
    for (size_t k = 0; k < n; k++) {
        int64_t ax = axes ? axes[k] : (int64_t)k;
        if (ax < 0) ax += r;
        if (ax < 0 || ax >= (int64_t)r || seen[ax]++) return BAD("bad axes");
        int64_t dim = (int64_t)dv->cdims[ax], st = steps ? steps[k] : 1, b = starts[k], e = ends[k];
        if (st == 0 || st == SYM_BATCH || b == SYM_BATCH || e == SYM_BATCH) return UNSUP("a step of 0 or bounds from the batch size");
        if (b < 0) b += dim; /* b, e > INT64_MIN: no overflow */
        if (e < 0) e += dim;
        if (st > 0) {
            b = b < 0 ? 0 : b > dim ? dim : b;
            e = e < 0 ? 0 : e > dim ? dim : e;
        } else {
            b = b < 0 ? 0 : b > dim - 1 ? dim - 1 : b;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
        }
        if (dim == 0) b = e = 0;
        int64_t cnt = st > 0 ? (e > b ? (e - b - 1) / st + 1 : 0) : (b > e ? (b - e - 1) / -st + 1 : 0);
        lo[ax] = b;
        step[ax] = st;
        dims[ax] = (size_t)cnt;
    }
    for (unsigned d = 0; d < r; d++) total *= dims[d];
    size_t ist[NNLA_ONNX_MAX_RANK], idx[NNLA_ONNX_MAX_RANK] = {0};
    strides_of(r, dv->cdims, ist);
    double *f;
    int64_t *i;
    NNLA__TRY(alloc_like(im, dv, total, &f, &i));
    for (size_t k = 0; k < total; k++) {
        size_t src = 0;
        for (unsigned d = 0; d < r; d++) src += (size_t)(lo[d] + (int64_t)idx[d] * step[d]) * ist[d];
        if (i) i[k] = dv->i[src];
        else f[k] = dv->f[src];
        for (unsigned d = r; d-- > 0;) {
            if (++idx[d] < dims[d]) break;
            idx[d] = 0;
        }
    }
    return define_const(im, 0, r, dims, f, i);
}

/* Reshape of a constant (shape arithmetic): numpy's rules, 0 copies a dimension, -1 is inferred. */
static nnla_status reshape_const(imp *im, val *dv, const int64_t *t, size_t tr, int allowzero)
{
    if (tr > NNLA_ONNX_MAX_RANK) return fail(im, NNLA_EOVERFLOW, "the target shape has %zu dimensions", tr);
    size_t dims[NNLA_ONNX_MAX_RANK], known = 1, minus = NONE;
    for (size_t k = 0; k < tr; k++) {
        int64_t v = t[k];
        if (v == 0 && !allowzero) {
            if (k >= dv->crank) return BAD("the target shape copies a dimension the data does not have");
            dims[k] = dv->cdims[k];
        } else if (v == -1 && minus == NONE) {
            minus = k;
            continue;
        } else if (v < 0 || v > MAX_DIM) {
            return BAD("the target shape has the entry %lld", (long long)v);
        } else {
            dims[k] = (size_t)v;
        }
        if (!nnla__mul(known, dims[k], &known)) return BAD("the target shape overflows");
    }
    if (minus != NONE) {
        if (known == 0 || dv->csize % known != 0) return BAD("the target shape does not fit %zu elements", dv->csize);
        dims[minus] = dv->csize / known;
    } else if (known != dv->csize) {
        return BAD("the target shape does not fit %zu elements", dv->csize);
    }
    double *f;
    int64_t *i;
    NNLA__TRY(alloc_like(im, dv, dv->csize, &f, &i));
    if (i) memcpy(i, dv->i, dv->csize * sizeof *i);
    else memcpy(f, dv->f, dv->csize * sizeof *f);
    return define_const(im, 0, (unsigned)tr, dims, f, i);
}

/* Cast: between integer types or between float types on constants; to float or double on run-time
 * values, which nnla holds in double either way. */
static nnla_status op_cast(imp *im)
{
    static const char *const known[] = {"to", "saturate", NULL};
    NNLA__TRY(check_attrs(im, known));
    int64_t to;
    NNLA__TRY(attr_int(im, "to", 0, &to));
    int to_int = to == NNLA__ONNX_INT64 || to == NNLA__ONNX_INT32;
    int to_float = to == NNLA__ONNX_FLOAT || to == NNLA__ONNX_DOUBLE;
    val *v = in_val(im, 0);
    if (v != NULL && v->kind == V_RUNTIME) {
        if (!to_float) return UNSUP("casting the run-time tensor to type %lld: nnla computes in double", (long long)to);
        NNLA__TRY(need_runtime(im, 0, ALLOW_FLATVIEW, &v));
        return define_alias(im, 0, v);
    }
    NNLA__TRY(need_const(im, 0, "input", 0, &v));
    if (!((to_int && v->is_int) || (to_float && !v->is_int)))
        return UNSUP("Cast is supported on constants between integer types or between float types only");
    return define_alias(im, 0, v);
}

/* ------------------------------------------------------------------ multi-node patterns */

/* The only node reading output k of node n (NULL when several, none, or the graph's output). */
static const Onnx__NodeProto *only_reader(imp *im, const Onnx__NodeProto *n, size_t k, size_t *index)
{
    if (k >= n->n_output) return NULL;
    size_t v = lookup(im, n->output[k]);
    if (v == NONE || im->vals[v].consumers != 1 || im->vals[v].is_output || im->vals[v].reader == NONE) return NULL;
    *index = im->vals[v].reader;
    return im->g->node[*index];
}

/* The other input of a two-input node, given that input `name` is one of them; NULL otherwise. */
static const char *other_input(const Onnx__NodeProto *n, const char *name)
{
    if (n->n_input != 2 || n->input[0] == NULL || n->input[1] == NULL) return NULL;
    if (strcmp(n->input[0], name) == 0) return n->input[1];
    if (strcmp(n->input[1], name) == 0) return n->input[0];
    return NULL;
}

/* A scalar constant by name (decoding it if needed). */
static int named_scalar(imp *im, const char *name, double *x)
{
    size_t v = name ? lookup(im, name) : NONE;
    if (v == NONE || im->vals[v].kind != V_CONST || !im->vals[v].defined) return 0;
    if (!im->vals[v].decoded) {
        const Onnx__NodeProto *saved = im->n;
        nnla_status st = decode_tensor(im, &im->vals[v]);
        im->n = saved;
        if (st != NNLA_OK) return 0;
    }
    return const_scalar(&im->vals[v], x);
}

/* Bind output 0 of node `last` (index li) to an activation layer on x: the result of a pattern. */
static nnla_status pattern_act(imp *im, const val *x, nnla_act act, size_t li)
{
    const Onnx__NodeProto *saved = im->n;
    size_t saved_i = im->node;
    im->n = im->g->node[li];
    im->node = li;
    nnla_status st = add_act(im, x, act, 0);
    im->n = saved;
    im->node = saved_i;
    return st;
}

/*
 * Div(x, sqrt 2) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5): PyTorch 1.13's export of the exact GELU.
 */
static nnla_status op_div(imp *im)
{
    static const char *const none[] = {NULL};
    NNLA__TRY(check_attrs(im, none));
    val *x = in_val(im, 0), *cv = in_val(im, 1);
    double c, one, half;
    size_t i1, i2, i3, i4;
    if (x && x->kind == V_RUNTIME && cv && cv->kind == V_CONST && named_scalar(im, im->n->input[1], &c) &&
        fabs(c - 1.4142135623730951) <= 1e-6) {
        const Onnx__NodeProto *erf = only_reader(im, im->n, 0, &i1);
        const Onnx__NodeProto *add = is_op(erf, "Erf") ? only_reader(im, erf, 0, &i2) : NULL;
        const Onnx__NodeProto *mul = is_op(add, "Add") && named_scalar(im, other_input(add, erf->output[0]), &one) &&
                                             one == 1.0
                                         ? only_reader(im, add, 0, &i3)
                                         : NULL;
        const char *mx = is_op(mul, "Mul") ? other_input(mul, add->output[0]) : NULL;
        size_t xv = mx ? lookup(im, mx) : NONE;
        const Onnx__NodeProto *mul2 = xv != NONE && im->vals[xv].kind == V_RUNTIME && im->vals[xv].layer == x->layer &&
                                              im->vals[xv].rank == x->rank && im->vals[xv].flatview == x->flatview
                                          ? only_reader(im, mul, 0, &i4)
                                          : NULL;
        if (is_op(mul2, "Mul") && named_scalar(im, other_input(mul2, mul->output[0]), &half) && half == 0.5 &&
            erf->n_attribute == 0 && add->n_attribute == 0 && mul->n_attribute == 0 && mul2->n_attribute == 0) {
            val *xx;
            NNLA__TRY(need_runtime(im, 0, ALLOW_FLATVIEW, &xx));
            im->done[i1] = im->done[i2] = im->done[i3] = im->done[i4] = 1;
            return pattern_act(im, xx, nnla_act_default(NNLA_ACT_GELU), i4);
        }
    }
    return UNSUP("Div is supported only inside the GELU that PyTorch exports (x * 0.5 * (1 + erf(x / sqrt 2))) and "
                 "after a Softplus with a beta");
}

/*
 * Mul(x, Sigmoid(x)): SiLU. Mul(x, beta) -> Sigmoid: sigmoid with a slope.
 * Mul(x, beta) -> Softplus -> Div(beta): softplus with a beta (PyTorch's export of nn.Softplus(beta)).
 */
static nnla_status op_mul(imp *im)
{
    static const char *const known[] = {"broadcast", "axis", "consumed_inputs", NULL};
    NNLA__TRY(check_attrs(im, known));
    val *a = in_val(im, 0), *b = in_val(im, 1);
    if (a == NULL || b == NULL) return BAD("Mul needs two inputs");
    if (a->kind == V_RUNTIME && b->kind == V_RUNTIME) {
        for (int k = 0; k < 2; k++) {
            val *s = k ? a : b, *x = k ? b : a;
            if (s->layer == IR_INPUT || x->padded || s->padded) continue;
            irl *l = &im->layers[s->layer];
            if (l->kind == NNLA_LAYER_ACT && l->act.kind == NNLA_ACT_SIGMOID && l->act.param == 1.0 &&
                l->src == x->layer && l->uses == 1 && s->rank == x->rank && s->flatview == x->flatview) {
                l->act = nnla_act_default(NNLA_ACT_SILU);
                return define_alias(im, 0, s);
            }
        }
        return UNSUP("a product of two run-time tensors is supported only as x * sigmoid(x) (SiLU)");
    }
    size_t ki = a->kind == V_RUNTIME ? 0 : 1;
    double beta, beta2;
    size_t i1, i2;
    if (named_scalar(im, im->n->input[1 - ki], &beta) && isfinite(beta) && beta > 0) {
        val *x;
        NNLA__TRY(need_runtime(im, ki, ALLOW_FLATVIEW, &x));
        const Onnx__NodeProto *next = only_reader(im, im->n, 0, &i1);
        if (is_op(next, "Sigmoid") && next->n_attribute == 0) {
            im->done[i1] = 1;
            nnla_act act = {NNLA_ACT_SIGMOID, beta};
            return pattern_act(im, x, act, i1);
        }
        const Onnx__NodeProto *div = is_op(next, "Softplus") ? only_reader(im, next, 0, &i2) : NULL;
        if (is_op(div, "Div") && div->n_input == 2 && strcmp(S(div->input[0]), S(next->output[0])) == 0 &&
            named_scalar(im, div->input[1], &beta2) && beta2 == beta && next->n_attribute == 0 && div->n_attribute == 0) {
            im->done[i1] = im->done[i2] = 1;
            nnla_act act = {NNLA_ACT_SOFTPLUS, beta};
            return pattern_act(im, x, act, i2);
        }
    }
    return UNSUP("multiplying by a constant is supported only as the beta of a Sigmoid or Softplus after it");
}

/* ------------------------------------------------------------------ the dispatch table */

typedef enum {
    OP_CONV, OP_GEMM, OP_MATMUL, OP_ADD, OP_RELU, OP_LEAKY, OP_SIGMOID, OP_TANH, OP_ELU, OP_SOFTPLUS, OP_SOFTMAX,
    OP_LOGSOFTMAX, OP_MAXPOOL, OP_AVGPOOL, OP_GAP, OP_GMP, OP_FLATTEN, OP_RESHAPE, OP_BN, OP_DROPOUT, OP_IDENTITY,
    OP_PAD, OP_CONSTANT, OP_SHAPE, OP_GATHER, OP_UNSQUEEZE, OP_CONCAT, OP_CAST, OP_MUL, OP_DIV, OP_CONSTANT_OF_SHAPE,
    OP_SLICE, OP_TRANSPOSE
} op_id;

static const struct {
    const char *name;
    op_id id;
} op_table[] = {
    {"Conv", OP_CONV}, {"Gemm", OP_GEMM}, {"MatMul", OP_MATMUL}, {"Add", OP_ADD}, {"Relu", OP_RELU},
    {"LeakyRelu", OP_LEAKY}, {"Sigmoid", OP_SIGMOID}, {"Tanh", OP_TANH}, {"Elu", OP_ELU}, {"Softplus", OP_SOFTPLUS},
    {"Softmax", OP_SOFTMAX}, {"LogSoftmax", OP_LOGSOFTMAX}, {"MaxPool", OP_MAXPOOL}, {"AveragePool", OP_AVGPOOL},
    {"GlobalAveragePool", OP_GAP}, {"GlobalMaxPool", OP_GMP}, {"Flatten", OP_FLATTEN}, {"Reshape", OP_RESHAPE},
    {"BatchNormalization", OP_BN}, {"Dropout", OP_DROPOUT}, {"Identity", OP_IDENTITY}, {"Pad", OP_PAD},
    {"Constant", OP_CONSTANT}, {"Shape", OP_SHAPE}, {"Gather", OP_GATHER}, {"Unsqueeze", OP_UNSQUEEZE},
    {"Concat", OP_CONCAT}, {"Cast", OP_CAST}, {"Mul", OP_MUL}, {"Div", OP_DIV},
    {"ConstantOfShape", OP_CONSTANT_OF_SHAPE}, {"Slice", OP_SLICE}, {"Transpose", OP_TRANSPOSE},
};

static nnla_status run_node(imp *im)
{
    const Onnx__NodeProto *n = im->n;
    const char *dom = S(n->domain);
    if (dom[0] && strcmp(dom, "ai.onnx") != 0) {
        char d[52];
        return UNSUP("operators of domain '%s' are not supported", clean(dom, d, sizeof d));
    }
    if (im->opset == 0) return BAD("the model imports no opset of the default ONNX domain, which this node uses");
    for (size_t k = 0; k < n->n_input; k++) {
        if (n->input[k] == NULL || n->input[k][0] == '\0') continue;
        size_t v = lookup(im, n->input[k]);
        if (v == NONE || !im->vals[v].defined) {
            char nm[52];
            return BAD("input %zu ('%s') is read before it is defined (the nodes are not in topological order)", k,
                       clean(n->input[k], nm, sizeof nm));
        }
    }
    for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++) {
        if (strcmp(S(n->op_type), op_table[i].name) != 0) continue;
        switch (op_table[i].id) {
        case OP_CONV: return op_conv(im);
        case OP_GEMM: return op_gemm(im);
        case OP_MATMUL: return op_matmul(im);
        case OP_ADD: return op_add(im);
        case OP_RELU: return op_simple_act(im, NNLA_ACT_RELU, NULL);
        case OP_LEAKY: return op_simple_act(im, NNLA_ACT_LEAKY_RELU, "alpha");
        case OP_SIGMOID: return op_simple_act(im, NNLA_ACT_SIGMOID, NULL);
        case OP_TANH: return op_simple_act(im, NNLA_ACT_TANH, NULL);
        case OP_ELU: return op_simple_act(im, NNLA_ACT_ELU, "alpha");
        case OP_SOFTPLUS: return op_simple_act(im, NNLA_ACT_SOFTPLUS, NULL);
        case OP_SOFTMAX: return op_softmax(im, 0);
        case OP_LOGSOFTMAX: return op_softmax(im, 1);
        case OP_MAXPOOL: return op_pool(im, NNLA_POOL_MAX);
        case OP_AVGPOOL: return op_pool(im, NNLA_POOL_AVG);
        case OP_GAP: return op_global_pool(im, 0);
        case OP_GMP: return op_global_pool(im, 1);
        case OP_FLATTEN: return op_flatten(im);
        case OP_RESHAPE: return op_reshape(im);
        case OP_BN: return op_batchnorm(im);
        case OP_DROPOUT: return op_dropout(im);
        case OP_IDENTITY: return op_identity(im);
        case OP_PAD: return op_pad(im);
        case OP_CONSTANT: return op_constant(im);
        case OP_SHAPE: return op_shape(im);
        case OP_GATHER: return op_gather(im);
        case OP_UNSQUEEZE: return op_unsqueeze(im);
        case OP_CONCAT: return op_concat(im);
        case OP_CAST: return op_cast(im);
        case OP_MUL: return op_mul(im);
        case OP_DIV: return op_div(im);
        case OP_CONSTANT_OF_SHAPE: return op_constant_of_shape(im);
        case OP_SLICE: return op_slice(im);
        case OP_TRANSPOSE: return op_transpose(im);
        }
    }
    return UNSUP("the operator is not supported (docs/onnx.md lists those that are)");
}

/* ------------------------------------------------------------------ the graph */

/* The graph's one run-time input: its shape. */
static nnla_status read_input(imp *im, const Onnx__ValueInfoProto *vi, val *v)
{
    char nm[52];
    clean(vi->name, nm, sizeof nm);
    const Onnx__TypeProto *t = vi->type;
    if (t == NULL || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || t->tensor_type == NULL)
        return UNSUP("input '%s' is not a tensor", nm);
    const Onnx__TypeProto__Tensor *tt = t->tensor_type;
    int et = tt->has_elem_type ? tt->elem_type : 0;
    if (et != NNLA__ONNX_FLOAT && et != NNLA__ONNX_DOUBLE)
        return UNSUP("input '%s' has element type %d: nnla reads float and double inputs (as double)", nm, et);
    if (tt->shape == NULL) return UNSUP("input '%s' has no shape: nnla needs the sizes after the batch dimension", nm);
    size_t r = tt->shape->n_dim;
    if (r < 1 || r > 4)
        return UNSUP("input '%s' has rank %zu: nnla takes (N), (N, F), (N, C, L) or (N, C, H, W)", nm, r);
    v->kind = V_RUNTIME;
    v->layer = IR_INPUT;
    v->rank = (unsigned)r;
    v->defined = 1;
    im->static_batch = -1;
    for (size_t d = 0; d < r; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
        int has_value = dim != NULL && dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        if (d == 0) {
            if (has_value && dim->dim_value > 0) im->static_batch = dim->dim_value;
            continue;
        }
        if (!has_value || dim->dim_value < 1 || dim->dim_value > MAX_DIM)
            return UNSUP("dimension %zu of input '%s' is %s: the sizes after the batch dimension must be fixed numbers",
                         d, nm, has_value ? "not positive" : "symbolic");
        v->dims[d] = (size_t)dim->dim_value;
    }
    canon(v->rank, v->dims, &v->c, &v->h, &v->w);
    size_t t1;
    if (!nnla__mul(v->c, v->h, &t1) || !nnla__mul(t1, v->w, &t1) || t1 > (size_t)INT32_MAX)
        return fail(im, NNLA_EOVERFLOW, "input '%s' is too large", nm);
    return NNLA_OK;
}

static nnla_status read_graph(imp *im)
{
    const Onnx__GraphProto *g = im->g;
    if (g->n_node > NNLA_ONNX_MAX_NODES)
        return fail(im, NNLA_EOVERFLOW, "the graph has %zu nodes (at most %u)", g->n_node, NNLA_ONNX_MAX_NODES);
    size_t names = g->n_initializer + g->n_input, outs = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        if (g->node[i] == NULL) return BAD("an empty node");
        outs += g->node[i]->n_output;
    }
    names += outs;
    size_t ts = 16;
    while (ts < 2 * names + 16) ts *= 2;
    im->table = malloc(ts * sizeof *im->table);
    im->vals = malloc((names + 1) * sizeof *im->vals);
    im->live = calloc(g->n_node + 1, 1);
    im->done = calloc(g->n_node + 1, 1);
    if (!im->table || !im->vals || !im->live || !im->done) return fail(im, NNLA_ENOMEM, "out of memory");
    im->table_size = ts;
    for (size_t k = 0; k < ts; k++) im->table[k] = NONE;
    char nm[52];
    /* 1. initializers, the run-time input, node outputs */
    for (size_t k = 0; k < g->n_initializer; k++) {
        const Onnx__TensorProto *t = g->initializer[k];
        if (t == NULL || t->name == NULL || t->name[0] == '\0') return BAD("an initializer has no name");
        size_t v = add_value(im, t->name);
        if (v == NONE) return BAD("initializer '%s' is defined twice", clean(t->name, nm, sizeof nm));
        im->vals[v].kind = V_CONST;
        im->vals[v].tp = t;
        im->vals[v].defined = 1;
    }
    im->input = NONE;
    for (size_t k = 0; k < g->n_input; k++) {
        const Onnx__ValueInfoProto *vi = g->input[k];
        if (vi == NULL || vi->name == NULL || vi->name[0] == '\0') return BAD("a graph input has no name");
        if (lookup(im, vi->name) != NONE) {
            if (im->vals[lookup(im, vi->name)].kind == V_CONST) continue; /* an initializer given as input */
            return BAD("input '%s' is declared twice", clean(vi->name, nm, sizeof nm));
        }
        if (im->input != NONE) {
            char first[52];
            return UNSUP("the model has several run-time inputs ('%s', '%s', ...); nnla's networks take one",
                         clean(im->vals[im->input].name, first, sizeof first), clean(vi->name, nm, sizeof nm));
        }
        im->input = add_value(im, vi->name);
        NNLA__TRY(read_input(im, vi, &im->vals[im->input]));
    }
    if (im->input == NONE) return UNSUP("the model has no run-time input (every input has an initializer)");
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        for (size_t k = 0; k < n->n_output; k++) {
            if (n->output[k] == NULL || n->output[k][0] == '\0') continue;
            size_t v = add_value(im, n->output[k]);
            if (v == NONE) {
                im->n = n;
                im->node = i;
                return BAD("output '%s' is defined twice", clean(n->output[k], nm, sizeof nm));
            }
            im->vals[v].producer = i;
        }
    }
    /* 2. liveness from the one output */
    if (g->n_output != 1 || g->output[0] == NULL)
        return UNSUP("the model has %zu outputs; nnla's networks have one", g->n_output);
    size_t out = lookup(im, g->output[0]->name);
    if (out == NONE) return BAD("the output '%s' is defined nowhere", clean(g->output[0]->name, nm, sizeof nm));
    im->vals[out].is_output = 1;
    im->vals[out].consumers = 1;
    size_t *stack = malloc((g->n_node + 1) * sizeof *stack), top = 0;
    if (stack == NULL) return fail(im, NNLA_ENOMEM, "out of memory");
    if (im->vals[out].producer != NONE) {
        im->live[im->vals[out].producer] = 1;
        stack[top++] = im->vals[out].producer;
    }
    while (top > 0) {
        const Onnx__NodeProto *n = g->node[stack[--top]];
        for (size_t k = 0; k < n->n_input; k++) {
            size_t v = lookup(im, n->input[k]);
            if (v == NONE || im->vals[v].producer == NONE || im->live[im->vals[v].producer]) continue;
            im->live[im->vals[v].producer] = 1;
            stack[top++] = im->vals[v].producer;
        }
    }
    free(stack);
    /* consumers of each value among the live nodes */
    for (size_t i = 0; i < g->n_node; i++) {
        if (!im->live[i]) continue;
        const Onnx__NodeProto *n = g->node[i];
        for (size_t k = 0; k < n->n_input; k++) {
            if (n->input[k] == NULL || n->input[k][0] == '\0') continue;
            size_t v = lookup(im, n->input[k]);
            if (v == NONE) {
                im->n = n;
                im->node = i;
                return BAD("input %zu ('%s') is defined nowhere", k, clean(n->input[k], nm, sizeof nm));
            }
            im->vals[v].consumers++;
            if (im->vals[v].reader == NONE) im->vals[v].reader = i;
        }
    }
    /* 3. the nodes: Constants first (they read nothing; patterns look ahead at them), then in order */
    for (size_t i = 0; i < g->n_node; i++) {
        if (!im->live[i] || !is_op(g->node[i], "Constant")) continue;
        im->n = g->node[i];
        im->node = i;
        NNLA__TRY(run_node(im));
        im->done[i] = 1;
    }
    for (size_t i = 0; i < g->n_node; i++) {
        if (!im->live[i] || im->done[i]) continue;
        im->n = g->node[i];
        im->node = i;
        NNLA__TRY(run_node(im));
        im->done[i] = 1;
    }
    im->n = NULL;
    return NNLA_OK;
}

/* Drop layers nothing reads (a branch only Shape looked at); returns the output layer's new index. */
static void prune(imp *im, size_t out_layer)
{
    for (size_t i = 0; i < im->nlayers; i++) im->layers[i].readers = 0;
    im->layers[out_layer].readers = 1;
    for (size_t i = im->nlayers; i-- > 0;) {
        irl *l = &im->layers[i];
        if (l->readers == 0) continue;
        if (l->src != IR_INPUT) im->layers[l->src].readers++;
        if (l->kind == NNLA_LAYER_ADD && l->src2 != IR_INPUT) im->layers[l->src2].readers++;
    }
    size_t n = 0;
    for (size_t i = 0; i < im->nlayers; i++) im->layers[i].final = im->layers[i].readers ? n++ : NONE;
}

static nnla_status build(imp *im, const val *outv, nnla_net **result)
{
    const val *in = &im->vals[im->input];
    nnla_net *net = NULL;
    nnla_status st = nnla_net_create(in->c, in->h, in->w, &net);
    if (st != NNLA_OK) return fail(im, st, "creating the network for input (%zu, %zu, %zu): %s", in->c, in->h, in->w, nnla_strerror(st));
    if (outv->layer == IR_INPUT) { /* the model is the identity: one layer that copies */
        nnla_layer_spec s = nnla_layer_dropout(0.0);
        st = nnla_net_append(net, &s);
    } else {
        prune(im, outv->layer);
        nnla_layer_spec *specs = malloc((im->nlayers ? im->nlayers : 1) * sizeof *specs);
        if (specs == NULL) {
            nnla_net_free(net);
            return fail(im, NNLA_ENOMEM, "out of memory");
        }
        size_t k = 0;
        for (size_t i = 0; i < im->nlayers && st == NNLA_OK; i++) {
            irl *l = &im->layers[i];
            if (l->final == NONE) continue;
            size_t src = l->src == IR_INPUT ? NNLA_NET_INPUT : im->layers[l->src].final;
            size_t src2 = l->src2 == IR_INPUT ? NNLA_NET_INPUT : l->src2 == NONE ? NONE : im->layers[l->src2].final;
            nnla_layer_spec s;
            switch (l->kind) {
            case NNLA_LAYER_DENSE: s = nnla_layer_dense(nnla_cmat_view(l->w, l->out_f, l->in_f, l->in_f), l->b, l->act); break;
            case NNLA_LAYER_CONV2D: s = nnla_layer_conv2d(&l->conv, l->w, l->b, l->act); break;
            case NNLA_LAYER_POOL2D: s = nnla_layer_pool2d(&l->pool); break;
            case NNLA_LAYER_GLOBAL_AVGPOOL: s = nnla_layer_global_avgpool(); break;
            case NNLA_LAYER_FLATTEN: s = nnla_layer_flatten(); break;
            case NNLA_LAYER_ACT: s = nnla_layer_act(l->act); break;
            case NNLA_LAYER_BATCHNORM:
                s = nnla_layer_batchnorm(l->features, l->gamma, l->beta, l->mean, l->var);
                s.eps = l->eps;
                s.momentum = l->momentum;
                break;
            case NNLA_LAYER_DROPOUT: s = nnla_layer_dropout(l->p); break;
            default: s = nnla_layer_add(src, src2); break;
            }
            if (l->kind != NNLA_LAYER_ADD) s.src = (k > 0 && src == k - 1) || (k == 0 && src == NNLA_NET_INPUT) ? NNLA_NET_PREV : src;
            /* Each layer is checked alone first (a refusal names its node); the network is then
             * built in one edit: appending layer by layer would rebuild the parameter block each
             * time, a cost quadratic in the number of layers. */
            if (k == 0) st = nnla_net_append(net, &s);
            specs[k] = s;
            if (st != NNLA_OK) {
                const Onnx__NodeProto *n = im->g->node[l->node];
                im->n = n;
                im->node = l->node;
                fail(im, st, "nnla refused the %s layer made from it: %s", nnla_layer_kind_name(l->kind), nnla_strerror(st));
                im->n = NULL;
                nnla_net_free(net);
                free(specs);
                return st == NNLA_ENOMEM || st == NNLA_EOVERFLOW || st == NNLA_ENONFINITE ? st : NNLA_EUNSUPPORTED;
            }
            k++;
        }
        if (st == NNLA_OK && k > 1) {
            st = nnla_net_replace(net, 0, specs, k);
            if (st != NNLA_OK) {
                /* a layer nnla refuses: find which, for the message, by appending one by one */
                nnla_net *probe = NULL;
                size_t bad = 0;
                if (nnla_net_create(in->c, in->h, in->w, &probe) == NNLA_OK)
                    while (bad < k && nnla_net_append(probe, &specs[bad]) == NNLA_OK) bad++;
                nnla_status why = st;
                if (probe != NULL && bad < k) why = nnla_net_append(probe, &specs[bad]);
                nnla_net_free(probe);
                size_t node = 0;
                for (size_t i = 0; i < im->nlayers; i++)
                    if (im->layers[i].final == bad) node = im->layers[i].node;
                im->n = im->g->node[node];
                im->node = node;
                fail(im, why, "nnla refused the layer made from it: %s", nnla_strerror(why));
                im->n = NULL;
                nnla_net_free(net);
                free(specs);
                return why == NNLA_ENOMEM || why == NNLA_EOVERFLOW || why == NNLA_ENONFINITE ? why : NNLA_EUNSUPPORTED;
            }
        }
        free(specs);
    }
    if (st == NNLA_OK && !(im->flags & NNLA_ONNX_KEEP_BATCHNORM)) st = nnla_net_fold_batchnorm(net, NULL);
    if (st == NNLA_OK && !(im->flags & NNLA_ONNX_KEEP_ACTIVATIONS)) st = nnla_net_fuse_activations(net, NULL);
    size_t shape[3];
    if (st == NNLA_OK) st = nnla_net_output_shape(net, shape);
    if (st == NNLA_OK && (shape[0] != outv->c || shape[1] != outv->h || shape[2] != outv->w)) st = NNLA_EINTERNAL;
    if (st != NNLA_OK) {
        nnla_net_free(net);
        return fail(im, st, "building the network: %s", nnla_strerror(st));
    }
    *result = net;
    return NNLA_OK;
}

static nnla_status import_model(const Onnx__ModelProto *m, unsigned flags, nnla_net **net, nnla__msgbuf *msg)
{
    imp im;
    memset(&im, 0, sizeof im);
    im.flags = flags;
    im.msg = msg;
    im.static_batch = -1;
    int has_opset = 0;
    for (size_t k = 0; k < m->n_opset_import; k++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[k];
        if (o == NULL) continue;
        const char *d = S(o->domain);
        if (d[0] == '\0' || strcmp(d, "ai.onnx") == 0) {
            im.opset = o->has_version ? o->version : 0;
            has_opset = 1;
        }
    }
    if (!has_opset) /* before IR version 3 the default domain's opset 1 is implied; later, none is imported */
        im.opset = m->n_opset_import > 0 || (m->has_ir_version && m->ir_version >= 3) ? 0 : 1;
    if (im.opset != 0 && (im.opset < NNLA_ONNX_MIN_OPSET || im.opset > NNLA_ONNX_MAX_OPSET))
        return fail(&im, NNLA_EUNSUPPORTED, "opset %lld of the default domain: nnla reads opsets %d to %d",
                    (long long)im.opset, NNLA_ONNX_MIN_OPSET, NNLA_ONNX_MAX_OPSET);
    if (m->graph == NULL) return fail(&im, NNLA_EFORMAT, "the model has no graph");
    im.g = m->graph;
    nnla_status st = read_graph(&im);
    if (st == NNLA_OK) {
        const val *outv = &im.vals[lookup(&im, im.g->output[0]->name)];
        if (outv->kind != V_RUNTIME)
            st = fail(&im, NNLA_EUNSUPPORTED, "the output is a constant: the model does not depend on its input");
        else if (outv->padded)
            st = fail(&im, NNLA_EUNSUPPORTED, "the output comes from a Pad node: zero padding is supported only before a Conv");
        else
            st = build(&im, outv, net);
    }
    for (size_t i = 0; i < im.nlayers; i++) free_layer(&im.layers[i]);
    free(im.layers);
    free_values(&im);
    free(im.live);
    free(im.done);
    return st;
}

/* ------------------------------------------------------------------ the public entry points */

nnla_status nnla_onnx_load_mem(const void *data, size_t size, unsigned flags, nnla_net **net, char *msg,
                               size_t msg_size)
{
    nnla__msgbuf mb = {msg, msg_size};
    if (net == NULL || (data == NULL && size > 0)) {
        nnla__onnx_msg(&mb, "a required pointer argument is NULL");
        return NNLA_ENULL;
    }
    if (flags & ~(NNLA_ONNX_KEEP_BATCHNORM | NNLA_ONNX_KEEP_ACTIVATIONS | NNLA_ONNX_KEEP_DROPOUT)) {
        nnla__onnx_msg(&mb, "unknown flags 0x%x", flags);
        return NNLA_EINVAL;
    }
    if (size > NNLA_ONNX_MAX_BYTES) {
        nnla__onnx_msg(&mb, "the model has %zu bytes (at most %zu)", size, NNLA_ONNX_MAX_BYTES);
        return NNLA_EOVERFLOW;
    }
    if (size == 0) {
        nnla__onnx_msg(&mb, "the model is empty");
        return NNLA_EFORMAT;
    }
    wire_state ws = {0, 0, 0};
    if (!wire_walk(data, (const uint8_t *)data + size, &nnla__onnx__model_proto__descriptor, 0, &ws)) {
        if (ws.too_deep) {
            nnla__onnx_msg(&mb, "the model nests messages more than %d deep", NNLA_ONNX_MAX_DEPTH);
            return NNLA_EOVERFLOW;
        }
        if (ws.too_many) {
            nnla__onnx_msg(&mb, "the model has more than %u protobuf messages", NNLA_ONNX_MAX_MESSAGES);
            return NNLA_EOVERFLOW;
        }
        nnla__onnx_msg(&mb, "not an ONNX model: the protobuf encoding is malformed or truncated");
        return NNLA_EFORMAT;
    }
    capped cap = {0, 0, 0};
    cap.limit = size > (SIZE_MAX - ((size_t)64 << 20)) / 4 ? SIZE_MAX : 4 * size + ((size_t)64 << 20);
    ProtobufCAllocator alloc = {capped_alloc, capped_free, &cap};
    Onnx__ModelProto *m = nnla__onnx__model_proto__unpack(&alloc, size, data);
    if (m == NULL) {
        if (cap.exceeded) {
            nnla__onnx_msg(&mb, "decoding the model needs more than 4 x its size + 64 MiB of memory");
            return NNLA_EOVERFLOW;
        }
        nnla__onnx_msg(&mb, "not an ONNX model: protobuf-c could not decode it (malformed, truncated, or out of memory)");
        return NNLA_EFORMAT;
    }
    nnla_net *result = NULL;
    nnla_status st = import_model(m, flags, &result, &mb);
    nnla__onnx__model_proto__free_unpacked(m, &alloc);
    if (st != NNLA_OK) return st;
    nnla__onnx_msg_clear(&mb);
    *net = result;
    return NNLA_OK;
}

nnla_status nnla_onnx_load(const char *path, unsigned flags, nnla_net **net, char *msg, size_t msg_size)
{
    nnla__msgbuf mb = {msg, msg_size};
    if (path == NULL || net == NULL) {
        nnla__onnx_msg(&mb, "a required pointer argument is NULL");
        return NNLA_ENULL;
    }
    if (flags & ~(NNLA_ONNX_KEEP_BATCHNORM | NNLA_ONNX_KEEP_ACTIVATIONS | NNLA_ONNX_KEEP_DROPOUT)) {
        nnla__onnx_msg(&mb, "unknown flags 0x%x", flags);
        return NNLA_EINVAL;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        nnla__onnx_msg(&mb, "cannot open '%s': %s", path, strerror(e));
        errno = e;
        return NNLA_EIO;
    }
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    nnla_status st = buf ? NNLA_OK : NNLA_ENOMEM;
    while (st == NNLA_OK) {
        if (len == cap) {
            if (cap > NNLA_ONNX_MAX_BYTES) {
                st = NNLA_EOVERFLOW;
                break;
            }
            size_t ncap = cap * 2;
            unsigned char *p = realloc(buf, ncap);
            if (p == NULL) {
                st = NNLA_ENOMEM;
                break;
            }
            buf = p;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) st = NNLA_EIO;
            break;
        }
    }
    int e = errno;
    fclose(f);
    if (st == NNLA_OK && len > NNLA_ONNX_MAX_BYTES) st = NNLA_EOVERFLOW;
    if (st != NNLA_OK) {
        free(buf);
        if (st == NNLA_EIO) nnla__onnx_msg(&mb, "cannot read '%s': %s", path, strerror(e));
        else if (st == NNLA_EOVERFLOW) nnla__onnx_msg(&mb, "'%s' is larger than %zu bytes", path, NNLA_ONNX_MAX_BYTES);
        else nnla__onnx_msg(&mb, "out of memory reading '%s'", path);
        errno = e;
        return st;
    }
    st = nnla_onnx_load_mem(buf, len, flags, net, msg, msg_size);
    free(buf);
    return st;
}
