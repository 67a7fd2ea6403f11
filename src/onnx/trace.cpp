// src/onnx/trace.cpp — the op recorder: apply reports the outermost op calls here while on.
#include "trace.hpp"

#include <fmt/format.h>

#include "../inspect/hooks.hpp"
#include "nabla/onnx.hpp"

namespace nabla {
namespace {
thread_local onnx::detail::Recorder* t_recorder = nullptr;
thread_local int t_depth = 0;
}  // namespace

namespace detail {
bool tracing() { return t_recorder != nullptr; }
TraceDepth::TraceDepth() : outer_(t_depth == 0) { ++t_depth; }
TraceDepth::~TraceDepth() { --t_depth; }

void trace_op(std::string_view op, TraceAttrs attrs, std::span<const Tensor* const> inputs, std::span<const Tensor> outputs) {
  if (t_recorder == nullptr) return;
  onnx::detail::TracedOp t{std::string(op), std::move(attrs), {}, {outputs.begin(), outputs.end()}};
  t.inputs.reserve(inputs.size());
  for (const Tensor* x : inputs) t.inputs.push_back(*x);
  t_recorder->ops.push_back(std::move(t));
}
}  // namespace detail

namespace onnx::detail {

Recorder::Recorder() {
  if (t_recorder != nullptr) throw ExportError("onnx::export_model: a trace is already running on this thread");
  t_recorder = this;
  was_ = nabla::detail::set_hook(nabla::detail::kTraceHook, true);
}
Recorder::~Recorder() {
  nabla::detail::set_hook(nabla::detail::kTraceHook, was_);
  t_recorder = nullptr;
}

const nabla::detail::TraceAttr& attr(const TracedOp& op, std::string_view name) {
  for (const auto& a : op.attrs.list) {
    if (a.name == name) return a;
  }
  throw ExportError(fmt::format("onnx export: op {} did not report its attribute '{}'", op.op, name));
}
std::int64_t attr_int(const TracedOp& op, std::string_view name) {
  const auto& a = attr(op, name);
  if (a.is_float || a.ints.size() != 1) throw ExportError(fmt::format("onnx export: op {}: attribute '{}' is not one integer", op.op, name));
  return a.ints[0];
}
double attr_float(const TracedOp& op, std::string_view name) {
  const auto& a = attr(op, name);
  if (!a.is_float || a.floats.size() != 1) throw ExportError(fmt::format("onnx export: op {}: attribute '{}' is not one number", op.op, name));
  return a.floats[0];
}

}  // namespace onnx::detail
}  // namespace nabla
