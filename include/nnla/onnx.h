/**
 * @file nnla/onnx.h
 * @brief ONNX models in and out: load a model exported by PyTorch (or any ONNX writer) into an
 *        ::nnla_net, and save a network as an ONNX model.
 *
 * An optional module: it is built when protobuf-c and the ONNX schema are found at build time
 * (Debian: libprotobuf-c-dev, protobuf-c-compiler, libonnx-dev), and then nnla/config.h defines
 * ::NNLA_HAVE_ONNX as 1 and nnla.h includes this header. The core library never depends on it.
 * docs/onnx.md lists the operators, attributes and limits; in short:
 *
 * **Loading** maps a graph of Conv, Gemm, MatMul + Add, Relu, LeakyRelu, Sigmoid, Tanh, Elu,
 * Softplus, Softmax, LogSoftmax, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, Flatten,
 * Reshape (to a flat vector), BatchNormalization, Dropout, Identity, Pad (zeros, before a Conv),
 * Add (residual blocks, biases) and the subgraphs PyTorch 1.13 writes for GELU, SiLU and
 * Sigmoid/Softplus with a beta, in opsets 1 to 17, onto the network's layers. Weights come from
 * initializers or Constant nodes in float64 or float32 (widened to double, exactly). The model
 * has one input, of rank 2 (N, features), 3 (N, C, L: a 1-D signal becomes a C x 1 x L image) or
 * 4 (N, C, H, W), whose dimensions after the batch are fixed numbers; the batch dimension may be
 * anything (symbolic or a number), and any batch size runs. By default BatchNorm is folded into
 * the layer before it (nnla_net_fold_batchnorm()) and activations are fused into the dense and
 * convolution layers before them (nnla_net_fuse_activations()): the network is then the one a
 * user would build by hand.
 *
 * **A model the library cannot represent** (an unsupported operator, attribute or axis, several
 * inputs or outputs, weights computed at run time, ...) gets ::NNLA_EUNSUPPORTED and a message,
 * written into the caller's buffer, naming the operator, the node and the reason, for example
 * `Softmax node 'sm' (#3): axis 2 of a rank-3 tensor normalizes over the length of each
 * channel; nnla normalizes over the channel axis (axis 1) only`. On any failure no network is
 * returned (nothing half-built) and *net is untouched.
 *
 * **Untrusted input.** A file is decoded by protobuf-c from the official schema; before that, the
 * wire format is walked once to bound the nesting depth (::NNLA_ONNX_MAX_DEPTH) and the number of
 * messages (::NNLA_ONNX_MAX_MESSAGES), and decoding may use at most 4 times the file size plus
 * 64 MiB of memory. Files are at most ::NNLA_ONNX_MAX_BYTES (protobuf's own 2 GiB limit), graphs
 * at most ::NNLA_ONNX_MAX_NODES nodes, tensors at most ::NNLA_ONNX_MAX_RANK dimensions. Tensors
 * whose data lives in an external file are refused (::NNLA_EUNSUPPORTED). A malformed or
 * truncated file is ::NNLA_EFORMAT, never a crash or a read past the buffer.
 *
 * **Saving** writes opset 13 (the first whose Softmax normalizes over one axis, as nnla does; both
 * PyTorch 1.13's exporter and ONNX 1.12's checker know it), IR version 7, float64 tensors by
 * default (::NNLA_ONNX_FLOAT32 for float32). A model saved in float64 loads back into the same
 * network: the same layers, parameters bit for bit, the same outputs (for a network in the form
 * the loader produces: BatchNorm folded and activations fused, or loaded with the KEEP flags).
 * Activation parameters (leaky ReLU's and ELU's alpha, BatchNorm's epsilon) are float32
 * attributes in ONNX: the loader reads one as the shortest decimal that rounds to that float32
 * (0.01f as 0.01), so they travel exactly when they have at most 7 significant digits.
 *
 * **Messages**: every function takes `char *msg, size_t msg_size`: on failure a one-line,
 * NUL-terminated explanation is written there (truncated to msg_size - 1 characters); on success
 * msg becomes the empty string. msg may be NULL when msg_size is 0.
 */
#ifndef NNLA_ONNX_H
#define NNLA_ONNX_H

#include "net.h"

NNLA_EXTERN_C_BEGIN

/** Largest model file or buffer loaded, in bytes (2 GiB - 1: protobuf's limit of one message). */
#define NNLA_ONNX_MAX_BYTES ((size_t)0x7fffffff)
/** Deepest nesting of protobuf messages accepted (the ONNX schema nests 5 deep for a model). */
#define NNLA_ONNX_MAX_DEPTH 32
/** Most protobuf messages (nodes, attributes, tensors, value infos, ...) in one file. */
#define NNLA_ONNX_MAX_MESSAGES (1u << 20)
/** Most nodes in a graph. */
#define NNLA_ONNX_MAX_NODES (1u << 16)
/** Most dimensions of a tensor. */
#define NNLA_ONNX_MAX_RANK 8
/** The smallest opset of the default domain that nnla_onnx_load() reads. */
#define NNLA_ONNX_MIN_OPSET 1
/** The largest opset of the default domain that nnla_onnx_load() reads. */
#define NNLA_ONNX_MAX_OPSET 17
/** The opset nnla_onnx_save() writes. */
#define NNLA_ONNX_SAVE_OPSET 13

/** Load flag: keep BatchNorm layers instead of folding them into the layer before them. */
#define NNLA_ONNX_KEEP_BATCHNORM 0x1u
/** Load flag: keep activation layers instead of fusing them into the dense/conv layer before them. */
#define NNLA_ONNX_KEEP_ACTIVATIONS 0x2u
/**
 * Load flag: import Dropout nodes as dropout layers (the identity at inference, for training
 * later) instead of skipping them.
 */
#define NNLA_ONNX_KEEP_DROPOUT 0x4u

/** Save flag: write tensors, inputs and outputs as float32 (the default is float64). */
#define NNLA_ONNX_FLOAT32 0x1u

/**
 * @brief Load an ONNX model from memory into a new network.
 * @param data     the serialized ModelProto (only read; need not stay valid after the call).
 * @param size     its size in bytes, at most ::NNLA_ONNX_MAX_BYTES.
 * @param flags    0 or an OR of ::NNLA_ONNX_KEEP_BATCHNORM, ::NNLA_ONNX_KEEP_ACTIVATIONS,
 *                 ::NNLA_ONNX_KEEP_DROPOUT.
 * @param net      receives the network (untouched on failure); free it with nnla_net_free().
 * @param msg      receives a message on failure, "" on success (may be NULL if msg_size is 0).
 * @param msg_size size of msg in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL (data with size > 0, or net); ::NNLA_EINVAL (unknown flags);
 *         ::NNLA_EFORMAT (not a valid ONNX model: malformed protobuf, truncated data, values used
 *         before they are defined, tensors whose data does not match their shape, inconsistent
 *         shapes); ::NNLA_EUNSUPPORTED (a valid model that nnla cannot represent, external data);
 *         ::NNLA_EOVERFLOW (a limit above is exceeded, or a size overflows); ::NNLA_ENONFINITE
 *         (a weight is NaN or Inf); ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_onnx_load_mem(const void *data, size_t size, unsigned flags, nnla_net **net,
                                        char *msg, size_t msg_size);

/**
 * @brief Load an ONNX model file into a new network (nnla_onnx_load_mem() of its contents).
 * @param path     the file ("model.onnx").
 * @param flags    as nnla_onnx_load_mem().
 * @param net      receives the network (untouched on failure); free it with nnla_net_free().
 * @param msg      as nnla_onnx_load_mem().
 * @param msg_size as nnla_onnx_load_mem().
 * @return as nnla_onnx_load_mem(), plus ::NNLA_EIO when the file cannot be opened or read
 *         (errno then holds the C library's error).
 */
NNLA_API nnla_status nnla_onnx_load(const char *path, unsigned flags, nnla_net **net, char *msg,
                                    size_t msg_size);

/**
 * @brief The size in bytes of the model nnla_onnx_save_mem() writes for a network.
 * @param net      the network (only read), with at least one layer.
 * @param flags    0 or ::NNLA_ONNX_FLOAT32.
 * @param bytes    receives the size (untouched on failure).
 * @param msg      as nnla_onnx_load_mem().
 * @param msg_size as nnla_onnx_load_mem().
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL (unknown flags); ::NNLA_EDIM (no layers);
 *         ::NNLA_EOVERFLOW (the model would exceed ::NNLA_ONNX_MAX_BYTES, or a parameter is
 *         beyond float32's range with ::NNLA_ONNX_FLOAT32); ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_onnx_encoded_size(const nnla_net *net, unsigned flags, size_t *bytes, char *msg,
                                            size_t msg_size);

/**
 * @brief Save a network as an ONNX model into a caller's buffer.
 * @param net      the network (only read).
 * @param flags    0 or ::NNLA_ONNX_FLOAT32.
 * @param buf      output buffer.
 * @param buf_size its size, at least nnla_onnx_encoded_size().
 * @param written  receives the number of bytes written (may be NULL).
 * @param msg      as nnla_onnx_load_mem().
 * @param msg_size as nnla_onnx_load_mem().
 * @return as nnla_onnx_encoded_size(), plus ::NNLA_ENULL (buf) and ::NNLA_EWORKSPACE when
 *         buf_size is too small (nothing is written then).
 */
NNLA_API nnla_status nnla_onnx_save_mem(const nnla_net *net, unsigned flags, void *buf, size_t buf_size,
                                        size_t *written, char *msg, size_t msg_size);

/**
 * @brief Save a network as an ONNX model file, replacing it.
 *
 * Should a write fail, a file this call created is removed; a file that already existed is
 * never removed and may be left partly written (write to a temporary name and rename it for an
 * atomic replacement, as the `nnla` program does).
 * @param net      the network (only read).
 * @param path     the file.
 * @param flags    0 or ::NNLA_ONNX_FLOAT32.
 * @param msg      as nnla_onnx_load_mem().
 * @param msg_size as nnla_onnx_load_mem().
 * @return as nnla_onnx_encoded_size(), plus ::NNLA_ENULL (path) and ::NNLA_EIO (the file cannot
 *         be created or written; errno then holds the C library's error).
 */
NNLA_API nnla_status nnla_onnx_save(const nnla_net *net, const char *path, unsigned flags, char *msg,
                                    size_t msg_size);

NNLA_EXTERN_C_END

#endif /* NNLA_ONNX_H */
