// nabla/detail/trace.hpp — internal, not part of nabla's API: may change in any release.
//
// The op recorder onnx::export_model (nabla/onnx.hpp) traces a forward with: while it is on (a
// hook bit, so the plain path of apply costs nothing more), every op called from outside another
// op reports its name, its attributes and its input and output tensors. An op tells its
// attributes (what ONNX needs beyond the tensors: a stride, an axis) with a member
//   void trace(detail::TraceAttrs& a) const { a.ints("stride", {stride}); }
// and an op without one reports none.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nabla/tensor.hpp"

namespace nabla::detail {

/// One attribute of a traced op: integers or floats (one or several), by name.
struct TraceAttr {
  std::string name;
  std::vector<std::int64_t> ints;
  std::vector<double> floats;
  bool is_float = false;
};

/// The attributes an op reports.
struct TraceAttrs {
  std::vector<TraceAttr> list;
  void ints(std::string name, std::vector<std::int64_t> v) { list.push_back({std::move(name), std::move(v), {}, false}); }
  void floats(std::string name, std::vector<double> v) { list.push_back({std::move(name), {}, std::move(v), true}); }
  void flag(std::string name, bool v) { ints(std::move(name), {v ? 1 : 0}); }
};

/// Whether the recorder is on for this thread.
bool tracing();
/// While alive, ops are inside another op's forward and not reported (src/onnx/trace.cpp).
class TraceDepth {
 public:
  TraceDepth();
  ~TraceDepth();
  TraceDepth(const TraceDepth&) = delete;
  TraceDepth& operator=(const TraceDepth&) = delete;
  /// Whether this call is the outermost op (the one to report).
  bool outer() const { return outer_; }

 private:
  bool outer_;
};
/// Reports one op call to the recorder.
void trace_op(std::string_view op, TraceAttrs attrs, std::span<const Tensor* const> inputs, std::span<const Tensor> outputs);

template <class Op>
TraceAttrs trace_attrs(const Op& op) {
  TraceAttrs a;
  if constexpr (requires { op.trace(a); }) op.trace(a);
  return a;
}

}  // namespace nabla::detail
