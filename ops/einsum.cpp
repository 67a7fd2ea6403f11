// ops/einsum.cpp — two-operand Einstein summation, lowered to ops nabla already differentiates:
// sums over the labels only one operand has (and the output lacks), one permute of each operand to
// [batch, free, contracted] and [batch, contracted, free], one batched matmul, a reshape and a
// permute to the output's order. Its gradient is theirs.
#include <algorithm>
#include <cctype>
#include <map>
#include <string>

#include "nabla/ops.hpp"
#include "nabla/toolkit.hpp"

namespace nabla {
namespace {

// A character as it is safe to print: control bytes (a NUL would cut what() short) and bytes past
// ASCII as \xNN.
std::string printable(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u >= 0x20 && u < 0x7F ? std::string(1, c) : fmt::format("\\x{:02x}", u);
}
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) out += printable(c);
  return out;
}

[[noreturn]] void bad(std::string_view eq, std::string_view why) {
  throw ValueError(fmt::format("einsum: \"{}\": {}", printable(eq), why));
}

std::string labels_of(std::string_view eq, std::string_view part, const Tensor& t, int k) {
  std::string out;
  for (char c : part) {
    if (c == ' ') continue;
    if (c == '.') bad(eq, "\"...\" is not supported");
    if (!std::isalpha(static_cast<unsigned char>(c))) bad(eq, fmt::format("'{}' is not a label (letters only)", printable(c)));
    if (out.find(c) != std::string::npos) {
      bad(eq, fmt::format("label '{}' appears twice in operand {} (diagonals are not supported)", c, k));
    }
    out += c;
  }
  if (static_cast<int>(out.size()) != t.dim()) {
    bad(eq, fmt::format("operand {} has {} labels \"{}\" but {} axes ({})", k, out.size(), out, t.dim(), t.shape()));
  }
  return out;
}

bool has(const std::string& s, char c) { return s.find(c) != std::string::npos; }

}  // namespace

Tensor einsum(std::string_view eq, const Tensor& a, const Tensor& b) {
  check_defined("einsum", {&a, &b});
  const auto comma = eq.find(',');
  if (comma == std::string_view::npos) bad(eq, "expected two operands, as \"ij,jk->ik\"");
  const auto arrow = eq.find("->");
  const std::string_view pa = eq.substr(0, comma);
  const std::string_view pb = eq.substr(comma + 1, arrow == std::string_view::npos ? std::string_view::npos : arrow - comma - 1);
  if (pb.find(',') != std::string_view::npos) bad(eq, "only two operands are supported");
  const std::string la = labels_of(eq, pa, a, 0), lb = labels_of(eq, pb, b, 1);
  check_floating("einsum", a);
  check_same_dtype("einsum", a, b);
  std::map<char, std::int64_t> size;
  for (std::size_t i = 0; i < la.size(); ++i) size[la[i]] = a.shape()[static_cast<int>(i)];
  for (std::size_t i = 0; i < lb.size(); ++i) {
    const std::int64_t n = b.shape()[static_cast<int>(i)];
    if (size.contains(lb[i]) && size[lb[i]] != n) {
      bad(eq, fmt::format("label '{}' is {} in operand 0 ({}) but {} in operand 1 ({})", lb[i], size[lb[i]], a.shape(), n,
                          b.shape()));
    }
    size[lb[i]] = n;
  }
  std::string lo;
  if (arrow == std::string_view::npos) {  // implicit output: the labels seen once, alphabetically
    for (const auto& [c, n] : size) {
      if (has(la, c) != has(lb, c)) lo += c;
    }
  } else {
    for (char c : eq.substr(arrow + 2)) {
      if (c == ' ') continue;
      if (!size.contains(c)) bad(eq, fmt::format("output label '{}' is in neither operand", printable(c)));
      if (has(lo, c)) bad(eq, fmt::format("output label '{}' appears twice", c));
      lo += c;
    }
  }
  if (lo.size() > static_cast<std::size_t>(Shape::kMaxRank)) {
    bad(eq, fmt::format("the output has {} axes, past the maximum rank of {}", lo.size(), Shape::kMaxRank));
  }
  // Sum each operand over its labels that are neither in the other nor in the output.
  auto drop_alone = [&](Tensor t, std::string& l, const std::string& other) {
    std::vector<int> axes;
    std::string kept;
    for (std::size_t i = 0; i < l.size(); ++i) {
      if (!has(other, l[i]) && !has(lo, l[i])) axes.push_back(static_cast<int>(i));
      else kept += l[i];
    }
    l = kept;
    return axes.empty() ? t : sum(t, axes);
  };
  std::string ka = la, kb = lb;
  const Tensor ta = drop_alone(a, ka, lb), tb = drop_alone(b, kb, la);
  std::string batch, free_a, free_b, contract;
  for (char c : ka) {
    if (has(kb, c)) (has(lo, c) ? batch : contract) += c;
    else free_a += c;
  }
  for (char c : kb) {
    if (!has(ka, c)) free_b += c;
  }
  auto order = [](const std::string& from, const std::string& to) {
    std::vector<int> p;
    for (char c : to) p.push_back(static_cast<int>(from.find(c)));
    return p;
  };
  auto extent = [&](const std::string& l) {
    std::int64_t n = 1;
    for (char c : l) n *= size[c];
    return n;
  };
  const std::int64_t nb = extent(batch), nfa = extent(free_a), nfb = extent(free_b), nc = extent(contract);
  const Tensor ma = permute(ta, order(ka, batch + free_a + contract)).reshape({nb, nfa, nc});
  const Tensor mb = permute(tb, order(kb, batch + contract + free_b)).reshape({nb, nc, nfb});
  Shape rs;
  for (char c : batch + free_a + free_b) rs.push_back(size[c]);
  const Tensor r = matmul(ma, mb).reshape(rs);
  return permute(r, order(batch + free_a + free_b, lo));
}

}  // namespace nabla
