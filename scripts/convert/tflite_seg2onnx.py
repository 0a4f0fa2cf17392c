"""Converts MediaPipe's selfie segmentation (TensorFlow Lite) to ONNX.

usage: python tflite_seg2onnx.py SRC.tflite DST.onnx

tflite2onnx 0.4.1 rejects this model (HARD_SWISH, and MediaPipe's custom
Convolution2DTransposeBias), so this writes the graph directly with
onnx.helper: each TFLite operator becomes the ONNX operator with the same
arithmetic, in NCHW layout (weights are transposed once here, so no
Transpose runs per frame). fp16 weights behind DEQUANTIZE are folded to
fp32 constants.

In:  "input" float32 [1, 3, H, W], RGB in [0, 1] (H = W = 256 for the
     general model, 144 x 256 for the landscape one).
Out: "mask"  float32 [1, 1, H, W], the probability that a pixel is a person.

The output is deterministic (names in graph order, no timestamps), so its
sha256 can be pinned.
"""
import struct
import sys

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
BUILTIN = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
ACT_NONE, ACT_RELU, ACT_RELU6 = 0, 1, 3


class Graph:
    def __init__(self, model: tflite.Model, sub: tflite.SubGraph):
        self.model, self.sub = model, sub
        self.nodes: list = []
        self.inits: dict[str, np.ndarray] = {}
        self.consts: dict[int, np.ndarray] = {}
        self.count = 0

    def tensor(self, i: int) -> tflite.Tensor:
        return self.sub.Tensors(i)

    def name(self, i: int) -> str:
        return f"t{i}"

    def shape(self, i: int) -> list[int]:
        return [int(d) for d in self.tensor(i).ShapeAsNumpy()]

    def const(self, i: int) -> np.ndarray | None:
        if i in self.consts:
            return self.consts[i]
        t = self.tensor(i)
        buf = self.model.Buffers(t.Buffer())
        if buf is None or buf.DataLength() == 0:
            return None
        dtype = {0: np.float32, 1: np.float16, 2: np.int32}[t.Type()]
        data = np.frombuffer(buf.DataAsNumpy().tobytes(), dtype=dtype).reshape(self.shape(i))
        self.consts[i] = data
        return data

    def init(self, value: np.ndarray) -> str:
        self.count += 1
        name = f"c{self.count}"
        self.inits[name] = value
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        self.nodes.append(helper.make_node(op, inputs, outputs, name=f"n{len(self.nodes)}", **attrs))

    def activate(self, act: int, raw: str, out: str) -> None:
        if act == ACT_NONE:
            self.node("Identity", [raw], [out])
        elif act == ACT_RELU:
            self.node("Relu", [raw], [out])
        elif act == ACT_RELU6:
            self.node("Clip", [raw, self.init(np.float32(0)), self.init(np.float32(6))], [out])
        else:
            sys.exit(f"tflite_seg2onnx: fused activation {act} not handled")

    def nchw_const(self, value: np.ndarray) -> np.ndarray:
        """An NHWC constant operand of an elementwise op, in NCHW."""
        value = value.astype(np.float32)
        while value.ndim < 4:
            value = value[np.newaxis]
        return np.ascontiguousarray(value.transpose(0, 3, 1, 2))


def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (the odd pixel goes at the end)."""
    k = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def convert(src: str, dst: str) -> None:
    data = open(src, "rb").read()
    model = tflite.Model.GetRootAsModel(data, 0)
    sub = model.Subgraphs(0)
    g = Graph(model, sub)
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        custom = oc.CustomCode()
        codes.append(custom.decode() if custom else BUILTIN[code])

    (inp,) = [sub.Inputs(i) for i in range(sub.InputsLength())]
    (out,) = [sub.Outputs(i) for i in range(sub.OutputsLength())]
    _, h, w, c = g.shape(inp)
    g.node("Identity", ["input"], [g.name(inp)])

    for k in range(sub.OperatorsLength()):
        op = sub.Operators(k)
        kind = codes[op.OpcodeIndex()]
        ins = [op.Inputs(i) for i in range(op.InputsLength())]
        outs = [op.Outputs(i) for i in range(op.OutputsLength())]
        y = g.name(outs[0])
        raw = y + "_raw"
        opts = op.BuiltinOptions()
        if kind == "DEQUANTIZE":
            g.consts[outs[0]] = g.const(ins[0]).astype(np.float32)
        elif kind == "CONV_2D":
            o = tflite.Conv2DOptions()
            o.Init(opts.Bytes, opts.Pos)
            wt = g.const(ins[1])  # O H W I
            kh, kw = wt.shape[1:3]
            ih, iw = g.shape(ins[0])[1:3]
            if o.Padding() == tflite.Padding.SAME:
                (pt, pb), (pl, pr) = same_pads(ih, kh, o.StrideH()), same_pads(iw, kw, o.StrideW())
            else:
                pt = pb = pl = pr = 0
            inputs = [g.name(ins[0]), g.init(np.ascontiguousarray(wt.transpose(0, 3, 1, 2)))]
            if len(ins) > 2 and ins[2] >= 0:
                inputs.append(g.init(g.const(ins[2]).astype(np.float32)))
            g.node("Conv", inputs, [raw], kernel_shape=[kh, kw], strides=[o.StrideH(), o.StrideW()],
                   dilations=[o.DilationHFactor(), o.DilationWFactor()], pads=[pt, pl, pb, pr])
            g.activate(o.FusedActivationFunction(), raw, y)
        elif kind == "DEPTHWISE_CONV_2D":
            o = tflite.DepthwiseConv2DOptions()
            o.Init(opts.Bytes, opts.Pos)
            wt = g.const(ins[1])  # 1 H W C*M
            kh, kw, cm = wt.shape[1:4]
            ih, iw, ci = g.shape(ins[0])[1:4]
            if o.Padding() == tflite.Padding.SAME:
                (pt, pb), (pl, pr) = same_pads(ih, kh, o.StrideH()), same_pads(iw, kw, o.StrideW())
            else:
                pt = pb = pl = pr = 0
            inputs = [g.name(ins[0]), g.init(np.ascontiguousarray(wt.transpose(3, 0, 1, 2)))]
            if len(ins) > 2 and ins[2] >= 0:
                inputs.append(g.init(g.const(ins[2]).astype(np.float32)))
            g.node("Conv", inputs, [raw], kernel_shape=[kh, kw], strides=[o.StrideH(), o.StrideW()],
                   dilations=[o.DilationHFactor(), o.DilationWFactor()], pads=[pt, pl, pb, pr], group=ci)
            assert cm % ci == 0
            g.activate(o.FusedActivationFunction(), raw, y)
        elif kind == "AVERAGE_POOL_2D":
            o = tflite.Pool2DOptions()
            o.Init(opts.Bytes, opts.Pos)
            ih, iw = g.shape(ins[0])[1:3]
            kh, kw = o.FilterHeight(), o.FilterWidth()
            if o.Padding() == tflite.Padding.SAME:
                (pt, pb), (pl, pr) = same_pads(ih, kh, o.StrideH()), same_pads(iw, kw, o.StrideW())
            else:
                pt = pb = pl = pr = 0
            g.node("AveragePool", [g.name(ins[0])], [raw], kernel_shape=[kh, kw],
                   strides=[o.StrideH(), o.StrideW()], pads=[pt, pl, pb, pr], count_include_pad=0)
            g.activate(o.FusedActivationFunction(), raw, y)
        elif kind in ("ADD", "MUL"):
            cls = tflite.AddOptions if kind == "ADD" else tflite.MulOptions
            o = cls()
            o.Init(opts.Bytes, opts.Pos)
            operands = []
            for i in ins:
                value = g.const(i)
                operands.append(g.name(i) if value is None else g.init(g.nchw_const(value)))
            g.node("Add" if kind == "ADD" else "Mul", operands, [raw])
            g.activate(o.FusedActivationFunction(), raw, y)
        elif kind == "MEAN":
            o = tflite.ReducerOptions()
            o.Init(opts.Bytes, opts.Pos)
            nhwc_to_nchw = {0: 0, 1: 2, 2: 3, 3: 1}
            axes = sorted(nhwc_to_nchw[int(a) % 4] for a in g.const(ins[1]).reshape(-1))
            if not o.KeepDims():
                sys.exit("tflite_seg2onnx: MEAN without keep_dims not handled")
            g.node("ReduceMean", [g.name(ins[0])], [y], axes=axes, keepdims=1)
        elif kind == "HARD_SWISH":
            g.node("HardSwish", [g.name(ins[0])], [y])
        elif kind == "RELU":
            g.node("Relu", [g.name(ins[0])], [y])
        elif kind == "LOGISTIC":
            g.node("Sigmoid", [g.name(ins[0])], [y])
        elif kind == "RESIZE_BILINEAR":
            o = tflite.ResizeBilinearOptions()
            o.Init(opts.Bytes, opts.Pos)
            oh, ow, oc = g.shape(outs[0])[1:4]
            mode = "align_corners" if o.AlignCorners() else "half_pixel" if o.HalfPixelCenters() else "asymmetric"
            sizes = g.init(np.array([1, oc, oh, ow], dtype=np.int64))
            g.node("Resize", [g.name(ins[0]), "", "", sizes], [y], mode="linear",
                   coordinate_transformation_mode=mode)
        elif kind == "Convolution2DTransposeBias":
            # custom_options: TfLiteTransposeConvParams {padding, stride_w, stride_h}
            # with TfLitePadding 1 = SAME, 2 = VALID.
            padding, sw, sh = struct.unpack("<3i", op.CustomOptionsAsNumpy().tobytes()[:12])
            wt = g.const(ins[1])  # O H W I
            kh, kw = wt.shape[1:3]
            ih, iw = g.shape(ins[0])[1:3]
            oh, ow = g.shape(outs[0])[1:3]
            if padding == 1:
                th, tw = max((ih - 1) * sh + kh - oh, 0), max((iw - 1) * sw + kw - ow, 0)
                pads = [th // 2, tw // 2, th - th // 2, tw - tw // 2]
            else:
                pads = [0, 0, 0, 0]
            g.node("ConvTranspose",
                   [g.name(ins[0]), g.init(np.ascontiguousarray(wt.transpose(3, 0, 1, 2))),
                    g.init(g.const(ins[2]).astype(np.float32))],
                   [y], kernel_shape=[kh, kw], strides=[sh, sw], pads=pads)
        else:
            sys.exit(f"tflite_seg2onnx: operator {kind} not handled")

    g.node("Identity", [g.name(out)], ["mask"])
    graph = helper.make_graph(
        g.nodes, "selfie_segmentation",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, c, h, w])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, h, w])],
        [numpy_helper.from_array(v, k) for k, v in g.inits.items()],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="iprod tflite_seg2onnx")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, dst)


if __name__ == "__main__":
    convert(sys.argv[1], sys.argv[2])
