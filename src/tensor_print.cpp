// src/tensor_print.cpp — to_string(Tensor): values as PyTorch prints them, large tensors summarized.
#include <fmt/format.h>

#include <ostream>

#include "tensor_impl.hpp"

namespace nabla {

using detail::load;

namespace {
constexpr std::int64_t kSummarizeAbove = 1000;  // elements
constexpr std::int64_t kEdgeItems = 3;

std::string element_text(Dtype d, double v) {
  if (d == Dtype::b8) return v != 0 ? "true" : "false";
  if (d == Dtype::i64) return fmt::format("{}", static_cast<std::int64_t>(v));
  return fmt::format("{:.6g}", v);
}

void format_axis(std::string& out, const Tensor& t, int axis, std::int64_t offset, bool summarize,
                 int indent) {
  const Shape& s = t.shape();
  const std::int64_t n = s[axis];
  std::int64_t stride = 1;
  for (int a = axis + 1; a < s.rank(); ++a) stride *= s[a];
  out += '[';
  for (std::int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
      out += axis + 1 == s.rank() ? "..., " : fmt::format("...,\n{:{}}", "", indent + 1);
      i = n - kEdgeItems;
    }
    if (axis + 1 == s.rank()) {
      const double v = load(t, offset + i);
      out += element_text(t.dtype(), v);
    } else {
      format_axis(out, t, axis + 1, offset + i * stride, summarize, indent + 1);
    }
    if (i + 1 < n) out += axis + 1 == s.rank() ? ", " : fmt::format(",\n{:{}}", "", indent + 1);
  }
  out += ']';
}
}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "tensor(undefined)";
  std::string head = fmt::format("tensor({}, {}, ", t.dtype(), t.shape());
  std::string body;
  if (t.dim() == 0) {
    body = element_text(t.dtype(), load(t, 0));
  } else {
    format_axis(body, t, 0, 0, t.numel() > kSummarizeAbove, static_cast<int>(head.size()));
  }
  return head + body + (t.requires_grad() ? ", requires_grad)" : ")");
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace nabla
