#!/usr/bin/python3
"""Write the ONNX fuzzer's seed corpus: small models (a few hundred bytes to a few KiB) that
together reach every operator, attribute and pattern the importer reads.

usage: make_onnx_corpus.py DIR      (the committed corpus is tests/fuzz/corpus/onnx)
Needs python3-onnx and NumPy; deterministic (fixed seed), so rerunning rewrites the same files.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(13)


def w(name, *shape, dtype=np.float32):
    return numpy_helper.from_array((rng.standard_normal(shape) * 0.5).astype(dtype), name)


def i64(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def scalar(name, value, dtype=np.float32):
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


def save(d, name, nodes, inits, x_shape, y_shape, opset=13, elem=TensorProto.FLOAT, extra_inputs=()):
    x = helper.make_tensor_value_info("x", elem, x_shape)
    y = helper.make_tensor_value_info("y", elem, y_shape)
    g = helper.make_graph(nodes, name, [x] + list(extra_inputs), [y], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_onnx_corpus")
    m.ir_version = 7 if opset >= 7 else 3
    onnx.save(m, os.path.join(d, name + ".onnx"))


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "onnx")
    os.makedirs(d, exist_ok=True)
    N = "N"
    # an MLP, float32 and float64
    for dt, elem, tag in ((np.float32, TensorProto.FLOAT, "f32"), (np.float64, TensorProto.DOUBLE, "f64")):
        save(d, "mlp_" + tag, [
            helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], transB=1, alpha=1.0, beta=1.0),
            helper.make_node("Relu", ["h1"], ["a1"]),
            helper.make_node("Gemm", ["a1", "w2", "b2"], ["h2"], transB=1),
            helper.make_node("LogSoftmax", ["h2"], ["y"], axis=1),
        ], [w("w1", 6, 4, dtype=dt), w("b1", 6, dtype=dt), w("w2", 3, 6, dtype=dt), w("b2", 3, dtype=dt)],
            [N, 4], [N, 3], elem=elem)
    # a CNN: asymmetric pads, BatchNorm, both poolings, global pooling, flatten, dense, softmax
    save(d, "cnn", [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c1"], kernel_shape=[3, 2], pads=[1, 0, 0, 1],
                         strides=[2, 1], dilations=[1, 2], group=2),
        helper.make_node("BatchNormalization", ["c1", "g", "be", "mu", "var"], ["b1"], epsilon=1e-3),
        helper.make_node("Relu", ["b1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 0, 0],
                         ceil_mode=1),
        helper.make_node("AveragePool", ["p1"], ["p2"], kernel_shape=[2, 2], pads=[1, 1, 1, 1],
                         count_include_pad=1),
        helper.make_node("GlobalAveragePool", ["p2"], ["gp"]),
        helper.make_node("Flatten", ["gp"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fw"], ["h"], transB=1),
        helper.make_node("Softmax", ["h"], ["y"], axis=1),
    ], [w("cw", 4, 1, 3, 2), w("cb", 4), w("g", 4), w("be", 4), w("mu", 4),
        numpy_helper.from_array(np.abs(rng.standard_normal(4)).astype(np.float32) + 0.5, "var"), w("fw", 3, 4)],
        [N, 2, 7, 6], [N, 3])
    # a residual block
    save(d, "residual", [
        helper.make_node("Conv", ["x", "w1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "x"], ["s"]),
        helper.make_node("Relu", ["s"], ["y"]),
    ], [w("w1", 3, 3, 3, 3), w("w2", 3, 3, 3, 3), w("b2", 3)], [N, 3, 5, 5], [N, 3, 5, 5])
    # the activation patterns PyTorch writes: GELU, SiLU, Softplus and Sigmoid with a beta
    save(d, "patterns", [
        helper.make_node("Gemm", ["x", "w1"], ["h"], transB=1),
        helper.make_node("Div", ["h", "sqrt2"], ["d"]),
        helper.make_node("Erf", ["d"], ["e"]),
        helper.make_node("Add", ["e", "one"], ["e1"]),
        helper.make_node("Mul", ["h", "e1"], ["m"]),
        helper.make_node("Mul", ["m", "half"], ["gelu"]),
        helper.make_node("Sigmoid", ["gelu"], ["s"]),
        helper.make_node("Mul", ["gelu", "s"], ["silu"]),
        helper.make_node("Mul", ["silu", "beta"], ["sb"]),
        helper.make_node("Softplus", ["sb"], ["sp"]),
        helper.make_node("Div", ["sp", "beta"], ["spb"]),
        helper.make_node("Mul", ["spb", "beta2"], ["sc"]),
        helper.make_node("Sigmoid", ["sc"], ["y"]),
    ], [w("w1", 5, 4), scalar("sqrt2", 1.4142135623730951, np.float64), scalar("one", 1.0, np.float64),
        scalar("half", 0.5, np.float64), scalar("beta", 2.0), scalar("beta2", 0.5)], [N, 4], [N, 5])
    # shape arithmetic: x.view(x.size(0), -1), ZeroPad2d's padding list, Pad before a Conv
    save(d, "shapes", [
        helper.make_node("Constant", [], ["plist"], value=i64("pv", [1, 2, 0, 1])),
        helper.make_node("ConstantOfShape", ["four"], ["zeros"], value=i64("zv", [0])),
        helper.make_node("Concat", ["plist", "zeros"], ["cat"], axis=0),
        helper.make_node("Reshape", ["cat", "m1_2"], ["pairs"]),
        helper.make_node("Slice", ["pairs", "st", "en", "ax", "sp"], ["flip"]),
        helper.make_node("Transpose", ["flip"], ["tr"], perm=[1, 0]),
        helper.make_node("Reshape", ["tr", "m1"], ["pads8"]),
        helper.make_node("Cast", ["pads8"], ["pads"], to=TensorProto.INT64),
        helper.make_node("Pad", ["x", "pads", "zero"], ["xp"], mode="constant"),
        helper.make_node("Conv", ["xp", "cw"], ["c"], kernel_shape=[3, 3]),
        helper.make_node("Shape", ["c"], ["shp"]),
        helper.make_node("Gather", ["shp", "idx0"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Concat", ["n1", "m1"], ["target"], axis=0),
        helper.make_node("Reshape", ["c", "target"], ["flat"]),
        helper.make_node("MatMul", ["flat", "mw"], ["mm"]),
        helper.make_node("Add", ["mm", "mb"], ["h"]),
        helper.make_node("Dropout", ["h", "ratio"], ["dr"]),
        helper.make_node("Identity", ["dr"], ["y"]),
    ], [i64("four", [4]), i64("m1_2", [-1, 2]), i64("st", [-1]), i64("en", [-(2 ** 63 - 1)]), i64("ax", [0]),
        i64("sp", [-1]), i64("m1", [-1]), scalar("zero", 0.0), i64("idx0", 0), i64("ax0", [0]), w("cw", 2, 1, 3, 3),
        w("mw", 2 * 4 * 5, 3), w("mb", 3), scalar("ratio", 0.25)], [N, 1, 5, 4], [N, 3])
    # the old opsets of pytorch-converted: BatchNorm with is_test, Gemm with broadcast, Softmax 2-D
    save(d, "opset6", [
        helper.make_node("BatchNormalization", ["x", "g", "be", "mu", "var"], ["b"], is_test=1, epsilon=1e-5,
                         momentum=0.9),
        helper.make_node("Flatten", ["b"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["h"], transB=1, broadcast=1),
        helper.make_node("Elu", ["h"], ["e"], alpha=0.5),
        helper.make_node("LeakyRelu", ["e"], ["l"], alpha=0.1),
        helper.make_node("Dropout", ["l"], ["dr"], is_test=1, ratio=0.5),
        helper.make_node("Softmax", ["dr"], ["y"], axis=1),
    ], [w("g", 2), w("be", 2), w("mu", 2), numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "var"),
        w("fw", 3, 6), w("fb", 3)], [N, 2, 3], [N, 3], opset=6)
    # a 1-D convolution and pooling (N, C, L), and a channel softmax over a rank-3 tensor
    save(d, "conv1d", [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], kernel_shape=[3], pads=[2, 1], dilations=[2]),
        helper.make_node("Tanh", ["c"], ["t"]),
        helper.make_node("AveragePool", ["t"], ["p"], kernel_shape=[2], strides=[2], ceil_mode=1),
        helper.make_node("GlobalMaxPool", ["p"], ["gm"]),
        helper.make_node("Softmax", ["gm"], ["y"], axis=1),
    ], [w("cw", 4, 3, 3), w("cb", 4)], [N, 3, 9], [N, 4, 1])
    # a few the importer refuses, for the fuzzer to mutate from
    save(d, "unsupported_axis", [helper.make_node("Softmax", ["x"], ["y"], axis=2)], [], [N, 3, 4], [N, 3, 4])
    save(d, "unsupported_op", [helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=2)],
         [w("W", 1, 8, 3), w("R", 1, 8, 2)], [5, N, 3], [5, 1, N, 2])
    ext = w("ew", 2, 3)
    ext.ClearField("raw_data")
    ext.data_location = TensorProto.EXTERNAL
    ext.external_data.add(key="location", value="weights.bin")
    save(d, "external", [helper.make_node("Gemm", ["x", "ew"], ["y"], transB=1)], [ext], [N, 3], [N, 2])
    print(f"wrote {len(os.listdir(d))} models to {d}")


if __name__ == "__main__":
    main()
