// src/onnx/ops_map.cpp — each nabla op as ONNX nodes (opset 18). An op missing here is refused by
// name. Shapes that follow the batch are written so that they work at any batch size: a reshape
// puts -1 in the dim that follows it, a split into equal parts says how many (num_outputs), not how
// large.
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <unordered_map>

#include "builder.hpp"
#include "nabla/onnx.hpp"

namespace nabla::onnx::detail {
namespace {

using Fn = void (*)(Builder&);

bool has_attr(const TracedOp& op, std::string_view name) {
  for (const auto& a : op.attrs.list) {
    if (a.name == name) return true;
  }
  return false;
}

std::int64_t norm_axis(std::int64_t axis, int rank) { return axis < 0 ? axis + rank : axis; }

// The one-input ops that are one ONNX node of the same meaning.
const std::unordered_map<std::string_view, std::string_view>& unary() {
  static const std::unordered_map<std::string_view, std::string_view> m = {
      {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"}, {"relu", "Relu"},         {"exp", "Exp"},   {"log", "Log"},
      {"sqrt", "Sqrt"},       {"abs", "Abs"},   {"neg", "Neg"},           {"erf", "Erf"},   {"sin", "Sin"},
      {"cos", "Cos"},         {"sign", "Sign"}, {"reciprocal", "Reciprocal"}, {"clone", "Identity"}};
  return m;
}
const std::unordered_map<std::string_view, std::string_view>& binary() {
  static const std::unordered_map<std::string_view, std::string_view> m = {
      {"add", "Add"}, {"sub", "Sub"}, {"mul", "Mul"}, {"div", "Div"}, {"where", "Where"}};
  return m;
}

void scalar_op(Builder& g, std::string_view op_type, bool scalar_first) {
  const std::string x = g.in(0);
  const std::string c = g.const_scalar(attr_float(*g.a, "c"), g.a->inputs[0].dtype());
  g.node(op_type, scalar_first ? std::vector{c, x} : std::vector{x, c}, {g.out()});
}

// Swaps the last two axes of a tensor of rank r.
std::string swap_last(Builder& g, const std::string& x, int r) {
  std::vector<std::int64_t> perm;
  for (int i = 0; i < r; ++i) perm.push_back(i);
  std::swap(perm[std::size_t(r - 1)], perm[std::size_t(r - 2)]);
  const std::string y = g.fresh("transposed");
  g.node("Transpose", {x}, {y}, {ints_attr("perm", perm)});
  return y;
}

void matmul(Builder& g) {
  std::string x = g.in(0), w = g.in(1);
  const int ra = g.a->inputs[0].dim(), rb = g.a->inputs[1].dim();
  if (attr_int(*g.a, "trans_a") != 0) x = swap_last(g, x, ra);
  if (attr_int(*g.a, "trans_b") != 0) w = swap_last(g, w, rb);
  g.node("MatMul", {x, w}, {g.out()});
}

// The output shape, with -1 for the one dim that follows the batch.
std::vector<std::int64_t> dynamic_shape(Builder& g, std::size_t k = 0) {
  const Shape& s = g.a->outputs[k].shape();
  const std::vector<bool> batch = g.batch_dims_of_output(k);
  std::vector<std::int64_t> v(s.begin(), s.end());
  int n = 0;
  for (std::size_t d = 0; d < v.size(); ++d) {
    if (batch[d]) {
      v[d] = -1;
      ++n;
    }
  }
  if (n > 1) {
    throw ExportError(fmt::format("onnx export: {} to {} follows the batch in {} dims; one at most can be written for any batch size",
                                  g.a->op, s, n));
  }
  return v;
}

void reshape(Builder& g) {
  const std::string x = g.in(0);
  g.node("Reshape", {x, g.const_i64(dynamic_shape(g))}, {g.out()});
}

void transpose(Builder& g) {
  const int r = g.a->inputs[0].dim();
  std::vector<std::int64_t> perm;
  for (int i = 0; i < r; ++i) perm.push_back(i);
  if (has_attr(*g.a, "dims")) {
    const auto& d = attr(*g.a, "dims").ints;
    std::swap(perm[std::size_t(norm_axis(d.at(0), r))], perm[std::size_t(norm_axis(d.at(1), r))]);
  } else {
    std::swap(perm[0], perm[1]);
  }
  g.node("Transpose", {g.in(0)}, {g.out()}, {ints_attr("perm", perm)});
}

void permute(Builder& g) {
  const int r = g.a->inputs[0].dim();
  std::vector<std::int64_t> perm;
  for (std::int64_t d : attr(*g.a, "dims").ints) perm.push_back(norm_axis(d, r));
  g.node("Transpose", {g.in(0)}, {g.out()}, {ints_attr("perm", perm)});
}

void slice(Builder& g) {
  const int r = g.a->inputs[0].dim();
  const std::int64_t axis = norm_axis(attr_int(*g.a, "axis"), r);
  if (g.batch_dims_of_input(0)[std::size_t(axis)]) {
    throw ExportError(fmt::format("onnx export: slice along axis {} of {}, which follows the batch", axis, g.a->inputs[0].shape()));
  }
  const std::string x = g.in(0);
  const std::vector<std::string> ins = {x, g.const_i64({attr_int(*g.a, "start")}), g.const_i64({attr_int(*g.a, "stop")}),
                                        g.const_i64({axis}), g.const_i64({attr_int(*g.a, "step")})};
  if (g.a->outputs[0].dim() == r) {
    g.node("Slice", ins, {g.out()});
    return;
  }
  const std::string y = g.fresh("sliced");  // select: the axis dropped
  g.node("Slice", ins, {y});
  g.node("Squeeze", {y, g.const_i64({axis})}, {g.out()});
}

void expand(Builder& g) {
  // Expand broadcasts both ways: a 1 where the output follows the batch keeps the input's batch.
  const std::vector<bool> in_batch = g.batch_dims_of_input(0), out_batch = g.batch_dims_of_output();
  const Shape& s = g.a->outputs[0].shape();
  std::vector<std::int64_t> v(s.begin(), s.end());
  const std::size_t lead = v.size() - in_batch.size();
  for (std::size_t d = 0; d < v.size(); ++d) {
    if (!out_batch[d]) continue;
    if (d < lead || !in_batch[d - lead]) {
      throw ExportError(fmt::format("onnx export: expand of {} to {} makes a batch dim the input does not have",
                                    g.a->inputs[0].shape(), s));
    }
    v[d] = 1;
  }
  const std::string x = g.in(0);
  g.node("Expand", {x, g.const_i64(v)}, {g.out()});
}

void split(Builder& g) {
  const int r = g.a->inputs[0].dim();
  const std::int64_t axis = norm_axis(attr_int(*g.a, "axis"), r);
  std::vector<std::int64_t> sizes;
  bool equal = true, follows = false;
  for (std::size_t k = 0; k < g.a->outputs.size(); ++k) {
    sizes.push_back(g.a->outputs[k].shape()[int(axis)]);
    equal = equal && sizes.back() == sizes.front();
    follows = follows || g.batch_dims_of_output(k)[std::size_t(axis)];
  }
  std::vector<std::string> outs;
  const std::string x = g.in(0);
  for (std::size_t k = 0; k < g.a->outputs.size(); ++k) outs.push_back(g.out(k));
  if (equal) {  // as many equal parts at any batch size
    g.node("Split", {x}, outs, {int_attr("axis", axis), int_attr("num_outputs", std::int64_t(outs.size()))});
  } else if (!follows) {
    g.node("Split", {x, g.const_i64(sizes)}, outs, {int_attr("axis", axis)});
  } else {
    throw ExportError(fmt::format("onnx export: split of {} into unequal parts along axis {}, which follows the batch",
                                  g.a->inputs[0].shape(), axis));
  }
}

void cat(Builder& g) {
  std::vector<std::string> ins;
  for (std::size_t i = 0; i < g.a->inputs.size(); ++i) ins.push_back(g.in(i));
  g.node("Concat", ins, {g.out()}, {int_attr("axis", attr_int(*g.a, "axis"))});
}

void index_select(Builder& g) {
  const std::string x = g.in(0), idx = g.in(1);
  g.node("Gather", {x, idx}, {g.out()}, {int_attr("axis", attr_int(*g.a, "axis"))});
}
void gather(Builder& g) {
  const std::string x = g.in(0), idx = g.in(1);
  g.node("GatherElements", {x, idx}, {g.out()}, {int_attr("axis", attr_int(*g.a, "axis"))});
}
void masked_fill(Builder& g) {
  const std::string x = g.in(0), mask = g.in(1);
  const std::string v = g.const_scalar(attr_float(*g.a, "value"), g.a->inputs[0].dtype());
  g.node("Where", {mask, v, x}, {g.out()});
}

void softmax(Builder& g) { g.node("Softmax", {g.in(0)}, {g.out()}, {int_attr("axis", attr_int(*g.a, "axis"))}); }
void log_softmax(Builder& g) { g.node("LogSoftmax", {g.in(0)}, {g.out()}, {int_attr("axis", attr_int(*g.a, "axis"))}); }

void reduce(Builder& g, std::string_view op_type) {
  const std::string x = g.in(0);
  if (!has_attr(*g.a, "axis")) {  // over everything, to a scalar
    g.node(op_type, {x}, {g.out()}, {int_attr("keepdims", 0)});
    return;
  }
  g.node(op_type, {x, g.const_i64({attr_int(*g.a, "axis")})}, {g.out()}, {int_attr("keepdims", attr_int(*g.a, "keepdim"))});
}

void pool(Builder& g, std::string_view op_type) {
  const std::int64_t k = attr_int(*g.a, "kernel"), s = attr_int(*g.a, "stride");
  g.node(op_type, {g.in(0)}, {g.out()}, {ints_attr("kernel_shape", {k, k}), ints_attr("strides", {s, s})});
}

void conv2d(Builder& g) {
  const std::int64_t s = attr_int(*g.a, "stride"), p = attr_int(*g.a, "padding");
  std::vector<std::string> ins = {g.in(0), g.in(1)};
  if (g.a->inputs.size() > 2 && g.a->inputs[2].defined()) ins.push_back(g.in(2));
  const Shape& w = g.a->inputs[1].shape();
  g.node("Conv", ins, {g.out()},
         {ints_attr("kernel_shape", {w[2], w[3]}), ints_attr("strides", {s, s}), ints_attr("pads", {p, p, p, p})});
}

// conv_transpose2d: conv2d's input gradient with x in the place of gy; the output size it was
// asked for fixes output_padding.
void conv_transpose2d(Builder& g) {
  const std::int64_t s = attr_int(*g.a, "stride"), p = attr_int(*g.a, "padding");
  const Shape& x = g.a->inputs[0].shape();
  const Shape& w = g.a->inputs[1].shape();
  const Shape& y = g.a->outputs[0].shape();
  std::vector<std::int64_t> out_pad;
  for (int d = 0; d < 2; ++d) out_pad.push_back(y[2 + d] - ((x[2 + d] - 1) * s - 2 * p + w[2 + d]));
  g.node("ConvTranspose", {g.in(0), g.in(1)}, {g.out()},
         {ints_attr("kernel_shape", {w[2], w[3]}), ints_attr("strides", {s, s}), ints_attr("pads", {p, p, p, p}),
          ints_attr("output_padding", out_pad)});
}

// gelu (opset 18 has no Gelu): x (1 + erf(x/√2)) / 2, or x (1 + tanh(√(2/π) (x + 0.044715 x³))) / 2.
void gelu(Builder& g) {
  const std::string x = g.in(0);
  const Dtype dt = g.a->inputs[0].dtype();
  const std::string inner = g.fresh("gelu_inner"), t = g.fresh("gelu_t"), one_plus = g.fresh("gelu_1p"), xh = g.fresh("gelu_xh");
  if (attr_int(*g.a, "tanh_approximation") != 0) {
    const std::string x3 = g.fresh("gelu_x3"), cx3 = g.fresh("gelu_cx3"), sum = g.fresh("gelu_sum"), x2 = g.fresh("gelu_x2");
    g.node("Mul", {x, x}, {x2});
    g.node("Mul", {x2, x}, {x3});
    g.node("Mul", {x3, g.const_scalar(0.044715, dt)}, {cx3});
    g.node("Add", {x, cx3}, {sum});
    g.node("Mul", {sum, g.const_scalar(std::sqrt(2.0 / 3.14159265358979323846), dt)}, {inner});
    g.node("Tanh", {inner}, {t});
  } else {
    g.node("Mul", {x, g.const_scalar(1 / std::sqrt(2.0), dt)}, {inner});
    g.node("Erf", {inner}, {t});
  }
  g.node("Add", {t, g.const_scalar(1, dt)}, {one_plus});
  g.node("Mul", {x, g.const_scalar(0.5, dt)}, {xh});
  g.node("Mul", {xh, one_plus}, {g.out()});
}

void rsqrt(Builder& g) {
  const std::string r = g.fresh("sqrt");
  g.node("Sqrt", {g.in(0)}, {r});
  g.node("Reciprocal", {r}, {g.out()});
}
void square(Builder& g) {
  const std::string x = g.in(0);
  g.node("Mul", {x, x}, {g.out()});
}
void to_dtype(Builder& g) { g.node("Cast", {g.in(0)}, {g.out()}, {int_attr("to", onnx_dtype(g.a->outputs[0].dtype()))}); }

// softmax(q kᵀ · scale + mask) v, the mask boolean (true: attend) or added; causal: row i attends j ≤ i.
void attention(Builder& g) {
  const std::string q = g.in(0), k = g.in(1), v = g.in(2);
  const Tensor& qt = g.a->inputs[0];
  const Tensor& kt = g.a->inputs[1];
  const Dtype dt = qt.dtype();
  const std::string scores = g.fresh("scores"), scaled = g.fresh("scaled");
  g.node("MatMul", {q, swap_last(g, k, kt.dim())}, {scores});
  g.node("Mul", {scores, g.const_scalar(attr_float(*g.a, "scale"), dt)}, {scaled});
  std::string s = scaled;
  auto neg_inf = [&] { return g.const_scalar(-std::numeric_limits<double>::infinity(), dt); };
  if (attr_int(*g.a, "causal") != 0) {
    const std::int64_t l = qt.shape()[qt.dim() - 2], n = kt.shape()[kt.dim() - 2];
    Tensor tri = zeros({l, n}, b8);
    for (std::int64_t i = 0; i < l; ++i) {
      for (std::int64_t j = 0; j <= i && j < n; ++j) tri.mutable_data<bool>()[i * n + j] = true;
    }
    const std::string name = g.fresh("causal_mask"), masked = g.fresh("masked");
    g.initializer(name, tri);
    g.node("Where", {name, s, neg_inf()}, {masked});
    s = masked;
  }
  if (g.a->inputs.size() > 3 && g.a->inputs[3].defined()) {
    const std::string mask = g.in(3), masked = g.fresh("masked");
    if (g.a->inputs[3].dtype() == b8) {
      g.node("Where", {mask, s, neg_inf()}, {masked});
    } else {
      g.node("Add", {s, mask}, {masked});
    }
    s = masked;
  }
  const std::string w = g.fresh("weights");
  g.node("Softmax", {s}, {w}, {int_attr("axis", -1)});
  g.node("MatMul", {w, v}, {g.out()});
}

const std::unordered_map<std::string_view, Fn>& table() {
  static const std::unordered_map<std::string_view, Fn> m = {
      {"add_scalar", [](Builder& g) { scalar_op(g, "Add", false); }},
      {"mul_scalar", [](Builder& g) { scalar_op(g, "Mul", false); }},
      {"rsub_scalar", [](Builder& g) { scalar_op(g, "Sub", true); }},
      {"rdiv_scalar", [](Builder& g) { scalar_op(g, "Div", true); }},
      {"matmul", matmul},
      {"reshape", reshape},
      {"transpose", transpose},
      {"permute", permute},
      {"slice", slice},
      {"expand", expand},
      {"split", split},
      {"cat", cat},
      {"index_select", index_select},
      {"gather", gather},
      {"masked_fill", masked_fill},
      {"softmax", softmax},
      {"log_softmax", log_softmax},
      {"sum", [](Builder& g) { reduce(g, "ReduceSum"); }},
      {"max", [](Builder& g) { reduce(g, "ReduceMax"); }},
      {"max_pool2d", [](Builder& g) { pool(g, "MaxPool"); }},
      {"avg_pool2d", [](Builder& g) { pool(g, "AveragePool"); }},
      {"conv2d", conv2d},
      {"conv2d_input_grad", conv_transpose2d},
      {"rsqrt", rsqrt},
      {"gelu", gelu},
      {"square", square},
      {"to", to_dtype},
      {"scaled_dot_product_attention", attention},
  };
  return m;
}

}  // namespace

void write_op(Builder& g) {
  const std::string_view op = g.a->op;
  if (auto it = unary().find(op); it != unary().end()) {
    g.node(it->second, {g.in(0)}, {g.out()});
    return;
  }
  if (auto it = binary().find(op); it != binary().end()) {
    std::vector<std::string> ins;
    for (std::size_t i = 0; i < g.a->inputs.size(); ++i) ins.push_back(g.in(i));
    g.node(it->second, ins, {g.out()});
    return;
  }
  if (auto it = table().find(op); it != table().end()) {
    it->second(g);
    return;
  }
  std::string shapes;
  for (const Tensor& t : g.a->inputs) shapes += fmt::format("{}{}", shapes.empty() ? "" : ", ", t.defined() ? fmt::format("{}", t.shape()) : "none");
  throw ExportError(fmt::format("onnx export: op '{}' (inputs {}) has no ONNX mapping", op, shapes));
}

}  // namespace nabla::onnx::detail
