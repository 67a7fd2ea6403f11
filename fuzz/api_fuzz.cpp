// fuzz/api_fuzz.cpp — libFuzzer harness: the public op API under arbitrary arguments. The input is
// decoded into a pool of up to four tensors (shapes from small or extreme int64 values: 0, negative,
// 2^31, 2^62, INT64_MAX; dtypes float32, float64, int64 and bool; values with NaN, ±inf, huge and
// denormal numbers; some requiring grad) and then up to eight calls from a table of public ops, each
// with arguments (axes, sizes, strides, paddings, equations) read from the input too. Every call must
// either return well-formed tensors (defined, a valid dtype, non-negative dimensions whose product is
// numel, readable data) or throw a nabla::Error; any other exception escapes and is a finding, as is
// whatever AddressSanitizer and UndefinedBehaviorSanitizer report.
//
// Sizes: a call whose arguments ask for between 2^24 and 2^38 elements (or as much work) is skipped,
// so that a valid but large request does not exhaust the fuzzer's memory or time; smaller requests
// run, and so do larger ones (and overflowing or negative ones): those are past any memory and must
// be refused. Small results go back into the pool for the next calls. Deterministic in its input
// (the default generator is reseeded, one thread).
//
// Layout of an input: byte 0 → pool size (1–4); per tensor: dtype, rank, dims, requires_grad, a
// count and that many element values (repeated to fill); then per call: the op, its arguments.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <nabla/nabla.hpp>

#include "fuzz_util.hpp"

using namespace nabla;

namespace {

constexpr std::int64_t I64MAX = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t I64MIN = std::numeric_limits<std::int64_t>::min();
constexpr double kSkipLow = 16777216.0;        // 2^24 elements: above, …
constexpr double kSkipHigh = 274877906944.0;   // … and below 2^38: skipped (valid, but too big to run here)
constexpr std::int64_t kPoolMax = 4096;        // a result larger than this does not go back into the pool

class Input {
 public:
  Input(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  bool empty() const { return n_ == 0; }
  std::uint8_t u8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | u8();
    return v;
  }
  bool flag() { return u8() & 1; }
  /// A size or count: mostly small, sometimes one of the edges, sometimes any int64.
  std::int64_t size() {
    static constexpr std::int64_t kEdges[16] = {-1,         -2,          8,           16,
                                                31,         64,          2147483647,  2147483648,
                                                4294967297, 1LL << 40,   1LL << 62,   (1LL << 62) - 1,
                                                I64MAX,     I64MIN,      1LL << 61,   1LL << 31 << 1};
    const std::uint8_t b = u8();
    if (b < 0x80) return b % 6;
    if (b < 0xF0) return kEdges[b & 15];
    return static_cast<std::int64_t>(u64());
  }
  /// An axis: mostly in [−5, 5], sometimes far out.
  int axis() {
    const std::uint8_t b = u8();
    if (b < 0xF0) return static_cast<int>(b % 11) - 5;
    static constexpr int kEdges[4] = {std::numeric_limits<int>::max(), std::numeric_limits<int>::min(), 9, -9};
    return kEdges[b & 3];
  }
  /// An element value or scalar argument.
  double value() {
    static constexpr double kValues[16] = {0.0,
                                           -0.0,
                                           1.0,
                                           -1.0,
                                           0.5,
                                           2.0,
                                           3.0,
                                           -7.0,
                                           std::numeric_limits<double>::quiet_NaN(),
                                           std::numeric_limits<double>::infinity(),
                                           -std::numeric_limits<double>::infinity(),
                                           1e30,
                                           -1e308,
                                           4.9e-324,
                                           9.3e18,
                                           1e-7};
    const std::uint8_t b = u8();
    if (b < 0xF0) return kValues[b & 15];
    const std::uint64_t bits = u64();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  Dtype dtype() {
    static constexpr Dtype kDtypes[4] = {f32, f64, i64, b8};
    return kDtypes[u8() & 3];
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

/// |a · b · …| as a double (no overflow); a negative factor counts as its magnitude.
double amount(std::initializer_list<double> factors) {
  double n = 1;
  for (double f : factors) n *= std::abs(f);
  return n;
}
/// Whether a request of this many elements (or this much work) is valid but too big to run here.
bool skip(double n) { return n > kSkipLow && n < kSkipHigh; }
double numel_of(const Shape& s) {
  double n = 1;
  for (std::int64_t d : s) n *= std::abs(static_cast<double>(d));
  return n;
}

/// A well-formed result: defined, a valid dtype, dimensions ≥ 0 whose product is numel, and data
/// whose first and last elements can be read (AddressSanitizer checks the reads).
void check_tensor(const Tensor& t) {
  fuzz_check(t.defined(), "an op returned an undefined tensor");
  const Dtype d = t.dtype();
  fuzz_check(d == f32 || d == f64 || d == i64 || d == b8, "an op returned a tensor of an invalid dtype");
  const Shape& s = t.shape();
  fuzz_check(s.rank() >= 0 && s.rank() <= Shape::kMaxRank, "an op returned a tensor of an invalid rank");
  std::int64_t n = 1;
  for (std::int64_t k : s) {
    fuzz_check(k >= 0, "an op returned a tensor with a negative dimension");
    fuzz_check(!__builtin_mul_overflow(n, k, &n), "an op returned a tensor whose element count overflows int64");
  }
  fuzz_check(t.numel() == n, "numel is not the product of the shape");
  if (n == 0 || n > (std::int64_t(1) << 26)) return;
  volatile unsigned char sink = 0;
  const auto* bytes = static_cast<const unsigned char*>(tensor_bytes(t));
  const std::size_t size = dtype_size(d);
  sink = sink + bytes[0];
  sink = sink + bytes[static_cast<std::size_t>(n - 1) * size + size - 1];
  (void)sink;
}

struct Harness {
  Input in;
  std::vector<Tensor> pool;

  Tensor& pick() { return pool[in.u8() % pool.size()]; }
  void keep(const Tensor& t) {
    check_tensor(t);
    Tensor& slot = pool[in.u8() % pool.size()];
    if (t.numel() <= kPoolMax) slot = t;
  }
  void keep(const std::vector<Tensor>& ts) {
    for (const Tensor& t : ts) check_tensor(t);
    if (!ts.empty()) keep(ts[in.u8() % ts.size()]);
  }
  void keep(const ValuesIndices& vi) {
    check_tensor(vi.values);
    check_tensor(vi.indices);
    fuzz_check(vi.indices.dtype() == i64 && vi.indices.shape() == vi.values.shape(), "values and indices differ");
    keep(vi.values);
  }

  Shape shape(int max_rank) {
    const std::uint8_t r = in.u8();
    const int rank = r < 0xF0 ? r % (max_rank + 1) : r % 10;  // sometimes past kMaxRank
    std::vector<std::int64_t> dims;
    for (int k = 0; k < rank; ++k) dims.push_back(in.size());
    return Shape(std::span<const std::int64_t>(dims));
  }
  std::vector<int> axes() {
    std::vector<int> a;
    for (int n = in.u8() % 4; n > 0; --n) a.push_back(in.axis());
    return a;
  }
  std::vector<std::int64_t> sizes(int max_count) {
    std::vector<std::int64_t> v;
    for (int n = in.u8() % (max_count + 1); n > 0; --n) v.push_back(in.size());
    return v;
  }

  Tensor make_tensor() {
    const Dtype dtype = in.dtype();
    const Shape s = shape(4);
    const bool grad = in.flag();
    const int count = 1 + in.u8() % 16;
    std::vector<double> values;
    for (int i = 0; i < count; ++i) values.push_back(in.value());
    const double n = numel_of(s);
    bool negative = false;
    for (std::int64_t d : s) negative = negative || d < 0;
    if (negative || n >= kSkipHigh) {
      // Must be refused (or, if a creation function accepts it, must still be well-formed).
      Tensor t = zeros(s, dtype);
      check_tensor(t);
      return t;
    }
    if (n > kPoolMax) return scalar(values[0], dtype == b8 ? f32 : dtype);
    std::vector<double> data(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < data.size(); ++i) {
      double v = values[i % values.size()];
      if (dtype == i64) v = std::isfinite(v) && std::abs(v) < 9e18 ? std::trunc(v) : static_cast<double>(i % 7);
      data[i] = v;
    }
    Tensor t = dtype == b8 ? (from_vector(std::span<const double>(data), s, f32) != 0.0)
                           : from_vector(std::span<const double>(data), s, dtype);
    if (grad && is_floating(dtype)) t = t.requires_grad(true);
    return t;
  }

  void call();
};

// The op table: each entry reads its arguments and returns normally or throws.
void Harness::call() {
  const std::uint8_t op = in.u8();
  switch (op % 64) {
    case 0: keep(add(pick(), pick())); break;
    case 1: keep(sub(pick(), pick())); break;
    case 2: keep(mul(pick(), pick())); break;
    case 3: keep(div(pick(), pick())); break;
    case 4: {
      Tensor& x = pick();
      const double c = in.value();
      switch (in.u8() % 6) {
        case 0: keep(add(x, c)); break;
        case 1: keep(mul(x, c)); break;
        case 2: keep(rsub(x, c)); break;
        case 3: keep(rdiv(x, c)); break;
        case 4: keep(pow(x, c)); break;
        default: keep(clamp(x, c, in.value())); break;
      }
      break;
    }
    case 5: {
      Tensor& x = pick();
      Tensor (*const unary[])(const Tensor&) = {neg,     exp,  log,  square,  sqrt,     abs,  log1p, expm1,
                                                sin,     cos,  sign, reciprocal, rsqrt, erf,  sigmoid, tanh,
                                                relu,    silu, softmax, log_softmax, logical_not, transpose,
                                                contiguous, flatten};
      keep(unary[in.u8() % std::size(unary)](x));
      break;
    }
    case 6: keep(maximum(pick(), pick())); break;
    case 7: keep(minimum(pick(), pick())); break;
    case 8: {
      Tensor& a = pick();
      Tensor& b = pick();
      switch (in.u8() % 9) {
        case 0: keep(eq(a, b)); break;
        case 1: keep(lt(a, b)); break;
        case 2: keep(ge(a, b)); break;
        case 3: keep(logical_and(a, b)); break;
        case 4: keep(logical_or(a, b)); break;
        case 5: keep(ne(a, in.value())); break;
        case 6: keep(gt(a, in.value())); break;
        case 7: keep(le(a, in.value())); break;
        default: keep(masked_fill(a, b, in.value())); break;
      }
      break;
    }
    case 9: {
      Tensor& x = pick();
      const bool keepdim = in.flag();
      switch (in.u8() % 8) {
        case 0: keep(sum(x)); break;
        case 1: keep(sum(x, in.axis(), keepdim)); break;
        case 2: keep(sum(x, axes(), keepdim)); break;
        case 3: keep(mean(x)); break;
        case 4: keep(mean(x, in.axis(), keepdim)); break;
        case 5: keep(mean(x, axes(), keepdim)); break;
        case 6: keep(prod(x)); break;
        default: keep(prod(x, in.axis(), keepdim)); break;
      }
      break;
    }
    case 10: {
      Tensor& x = pick();
      const bool keepdim = in.flag();
      switch (in.u8() % 8) {
        case 0: keep(max(x, in.axis(), keepdim)); break;
        case 1: keep(min(x, in.axis(), keepdim)); break;
        case 2: keep(argmax(x, in.axis())); break;
        case 3: keep(argmin(x, in.axis())); break;
        case 4: keep(amax(x, axes(), keepdim)); break;
        case 5: keep(amin(x, axes(), keepdim)); break;
        case 6: keep(max_with_indices(x, in.axis(), keepdim)); break;
        default: keep(min_with_indices(x, in.axis(), keepdim)); break;
      }
      break;
    }
    case 11: {
      Tensor& x = pick();
      const bool keepdim = in.flag();
      switch (in.u8() % 4) {
        case 0: keep(logsumexp(x, axes(), keepdim)); break;
        case 1: keep(var(x, axes(), in.value(), keepdim)); break;
        case 2: keep(nabla::std(x, axes(), in.value(), keepdim)); break;
        default: keep(norm(x, in.value(), axes(), keepdim)); break;
      }
      break;
    }
    case 12: {
      Tensor& x = pick();
      const int a = in.axis();
      switch (in.u8() % 4) {
        case 0: keep(cumsum(x, a)); break;
        case 1: keep(sort(x, a, in.flag())); break;
        case 2: keep(argsort(x, a, in.flag())); break;
        default: keep(topk(x, in.size(), a, in.flag())); break;
      }
      break;
    }
    case 13: {
      Tensor& x = pick();
      const Shape s = shape(5);
      keep(x.reshape(s));
      break;
    }
    case 14: {
      Tensor& x = pick();
      std::vector<int> dims;
      for (int n = in.u8() % 6; n > 0; --n) dims.push_back(in.axis());
      keep(permute(x, dims));
      break;
    }
    case 15: {
      Tensor& x = pick();
      const int a = in.axis(), b = in.axis();
      keep(transpose(x, a, b));
      break;
    }
    case 16: {
      Tensor& x = pick();
      const int a = in.axis();
      const std::int64_t start = in.size(), stop = in.size(), step = in.size();
      keep(slice(x, a, start, stop, step));
      break;
    }
    case 17: {
      Tensor& x = pick();
      const int a = in.axis();
      const std::int64_t start = in.size(), length = in.size();
      keep(narrow(x, a, start, length));
      break;
    }
    case 18: {
      Tensor& x = pick();
      const int a = in.axis();
      keep(select(x, a, in.size()));
      break;
    }
    case 19: {
      Tensor& x = pick();
      const int a = in.axis();
      keep(in.flag() ? squeeze(x, a) : unsqueeze(x, a));
      break;
    }
    case 20: {
      Tensor& x = pick();
      const Shape s = shape(5);
      if (skip(numel_of(s))) break;
      keep(expand(x, s));
      break;
    }
    case 21: {
      Tensor& x = pick();
      keep(flip(x, axes()));
      break;
    }
    case 22: {
      Tensor& x = pick();
      const std::vector<std::int64_t> w = sizes(6);
      const double value = in.value();
      double n = 1;
      for (int k = 0; k < x.dim(); ++k) {
        const int from_end = x.dim() - 1 - k;  // widths come in pairs from the last axis
        double d = static_cast<double>(x.shape()[k]);
        for (int side = 0; side < 2; ++side) {
          const std::size_t i = static_cast<std::size_t>(2 * from_end + side);
          if (i < w.size()) d += static_cast<double>(w[i]);
        }
        n *= std::abs(d);
      }
      if (skip(n)) break;
      keep(pad(x, w, value));
      break;
    }
    case 23: {
      Tensor& x = pick();
      const int a = in.axis();
      const std::int64_t size = in.size();
      switch (in.u8() % 3) {
        case 0: keep(split(x, size, a)); break;
        case 1: keep(split(x, sizes(4), a)); break;
        default: keep(chunk(x, size, a)); break;
      }
      break;
    }
    case 24: {
      std::vector<Tensor> ts;
      for (int n = in.u8() % 4; n > 0; --n) ts.push_back(pick());
      const int a = in.axis();
      keep(in.flag() ? stack(ts, a) : cat(ts, a));
      break;
    }
    case 25: {
      Tensor& x = pick();
      const int a = in.axis();
      keep(index_select(x, a, pick()));
      break;
    }
    case 26: {
      Tensor& x = pick();
      const int a = in.axis();
      Tensor& idx = pick();
      if (in.flag()) keep(gather(x, a, idx));
      else keep(scatter_add(x, a, idx, pick()));
      break;
    }
    case 27: {
      Tensor& labels = pick();
      const std::int64_t classes = in.size();
      const Dtype d = in.dtype();
      if (skip(amount({static_cast<double>(labels.numel()), static_cast<double>(classes)}))) break;
      keep(one_hot(labels, classes, d));
      break;
    }
    case 28: {
      Tensor& c = pick();
      Tensor& a = pick();
      switch (in.u8() % 3) {
        case 0: keep(where(c, a, pick())); break;
        case 1: keep(where(c, a, in.value())); break;
        default: keep(where(c, in.value(), a)); break;
      }
      break;
    }
    case 29: {
      Tensor& idx = pick();
      keep(embedding(idx, pick()));
      break;
    }
    case 30: {
      Tensor& a = pick();
      Tensor& b = pick();
      const bool ta = in.flag(), tb = in.flag();
      if (a.dim() >= 2 && b.dim() >= 2 &&
          skip(amount({double(a.numel()), double(b.shape()[b.dim() - 1]), double(b.shape()[b.dim() - 2])}))) {
        break;
      }
      switch (in.u8() % 4) {
        case 0: keep(matmul(a, b, {.trans_a = ta, .trans_b = tb})); break;
        case 1: keep(bmm(a, b)); break;
        case 2: keep(dot(a, b)); break;
        default: keep(outer(a, b)); break;
      }
      break;
    }
    case 31: {
      Tensor& a = pick();
      Tensor& b = pick();
      static constexpr char kChars[] = "ijk,->.ij,jk->ikbij ,bjk\0A";
      std::string eq;
      if (in.flag()) {
        static constexpr const char* kEquations[] = {"ij,jk->ik", "i,i->", "i,j->ij", "bij,bjk->bik", "ij,ij->ij", "ij->ji", "ii,i->i"};
        eq = kEquations[in.u8() % std::size(kEquations)];
      } else {
        for (int n = in.u8() % 12; n > 0; --n) eq += kChars[in.u8() % (sizeof kChars - 1)];
      }
      keep(einsum(eq, a, b));
      break;
    }
    case 32: {
      Tensor& x = pick();
      const int a = in.axis();
      keep(in.flag() ? softmax(x, a) : log_softmax(x, a));
      break;
    }
    case 33: {
      Tensor& a = pick();
      Tensor& y = pick();
      switch (in.u8() % 5) {
        case 0: keep(quadratic_cost(a, y)); break;
        case 1: keep(binary_cross_entropy(a, y)); break;
        case 2: keep(binary_cross_entropy_with_logits(a, y)); break;
        case 3: keep(nll_loss(a, y)); break;
        default: keep(softmax_cross_entropy(a, y)); break;
      }
      break;
    }
    case 34:
    case 35: {
      Tensor& x = pick();
      Tensor& w = pick();
      Tensor b = in.flag() ? pick() : Tensor{};
      const Conv2dOptions o{.stride = in.size(), .padding = in.size(), .dilation = in.size(), .groups = in.size()};
      if (x.dim() == 4 && w.dim() == 4) {
        const Shape& xs = x.shape();
        const Shape& ws = w.shape();
        const double p = static_cast<double>(o.padding), d = static_cast<double>(o.dilation);
        const double s = std::max(1.0, std::abs(static_cast<double>(o.stride)));
        const double ph = double(xs[2]) + 2 * p, pw = double(xs[3]) + 2 * p;
        const double kh = d * (double(ws[2]) - 1) + 1, kw = d * (double(ws[3]) - 1) + 1;
        const double oh = std::max(0.0, (ph - kh) / s + 1), ow = std::max(0.0, (pw - kw) / s + 1);
        if (skip(amount({double(xs[0]), double(xs[1]), ph, pw})) || skip(amount({d, double(ws[0]), double(ws[1]), kh, kw})) ||
            skip(amount({double(xs[0]), double(ws[0]), oh, ow, double(ws[1]), double(ws[2]), double(ws[3])}))) {
          break;
        }
      }
      if (op % 64 == 34) {
        keep(conv2d(x, w, b, o));
      } else if (x.dim() == 3 && w.dim() == 3 &&
                 skip(amount({double(x.shape()[0]), double(w.shape()[0]), double(x.shape()[2]) + 2 * double(o.padding),
                              double(w.shape()[1]), double(w.shape()[2]) * double(o.dilation)}))) {
        break;
      } else {
        keep(conv1d(x, w, b, o));
      }
      break;
    }
    case 36: {
      Tensor& x = pick();
      Tensor& w = pick();
      Tensor b = in.flag() ? pick() : Tensor{};
      const ConvTranspose2dOptions o{.stride = in.size(), .padding = in.size(), .output_padding = in.size()};
      if (x.dim() == 4 && w.dim() == 4) {
        const double s = static_cast<double>(o.stride);
        const double oh = (double(x.shape()[2]) - 1) * s + double(w.shape()[2]) + double(o.output_padding);
        const double ow = (double(x.shape()[3]) - 1) * s + double(w.shape()[3]) + double(o.output_padding);
        if (skip(amount({double(x.shape()[0]), double(w.shape()[1]), oh, ow, double(x.shape()[1])}))) break;
      }
      keep(conv_transpose2d(x, w, b, o));
      break;
    }
    case 37: {
      Tensor& x = pick();
      const std::int64_t k = in.size(), s = in.size();
      if (x.dim() == 4 && skip(amount({double(x.numel()), double(k), double(k)}))) break;
      switch (in.u8() % 3) {
        case 0: keep(max_pool2d(x, k, s)); break;
        case 1: keep(avg_pool2d(x, k, s)); break;
        default: keep(l2_pool2d(x, k, s)); break;
      }
      break;
    }
    case 38: {
      Tensor& x = pick();
      const std::int64_t h = in.size(), w = in.size();
      if (x.dim() == 4 && (skip(amount({double(x.shape()[0]), double(x.shape()[1]), double(h), double(w)})) ||
                           skip(amount({double(h) + double(w), double(x.numel())})))) {
        break;
      }
      keep(in.flag() ? adaptive_avg_pool2d(x, h, w) : upsample_nearest2d(x, h, w));
      break;
    }
    case 39: {
      Tensor& x = pick();
      Tensor& rm = pick();
      Tensor& rv = pick();
      const bool stats = in.flag(), affine = in.flag(), training = in.flag();
      const double momentum = in.value(), eps = in.value();
      Tensor w = affine ? pick() : Tensor{};
      Tensor b = affine ? pick() : Tensor{};
      // running statistics are updated in place: pass copies, so that pool tensors keep their graphs
      Tensor m = stats ? rm.detach().clone() : Tensor{}, v = stats ? rv.detach().clone() : Tensor{};
      keep(batch_norm(x, m, v, w, b, training, momentum, eps));
      break;
    }
    case 40: {
      Tensor& x = pick();
      const Shape s = in.flag() && x.dim() > 0 ? Shape{x.shape()[x.dim() - 1]} : shape(3);
      const bool affine = in.flag();
      Tensor w = affine ? pick() : Tensor{};
      Tensor b = affine ? pick() : Tensor{};
      keep(layer_norm(x, s, w, b, in.value()));
      break;
    }
    case 41: {
      Tensor& x = pick();
      const std::int64_t g = in.size();
      const bool affine = in.flag();
      Tensor w = affine ? pick() : Tensor{};
      Tensor b = affine ? pick() : Tensor{};
      keep(group_norm(x, g, w, b, in.value()));
      break;
    }
    case 42: {
      Tensor& x = pick();
      switch (in.u8() % 5) {
        case 0: keep(leaky_relu(x, in.value())); break;
        case 1: keep(softplus(x, in.value(), in.value())); break;
        case 2: keep(gelu(x, in.flag() ? "tanh" : "none")); break;
        case 3: keep(elu(x, in.value())); break;
        default: keep(x.to(in.dtype())); break;
      }
      break;
    }
    case 43: {
      Tensor& x = pick();
      const Shape s = shape(3);
      if (skip(numel_of(s))) break;
      keep(sum_to(x, s));
      break;
    }
    case 44: {
      const double start = in.value(), stop = in.value(), step = in.value();
      const Dtype d = in.dtype();
      const double n = (stop - start) / step;
      if (std::isfinite(n) && skip(n)) break;
      keep(arange(start, stop, step, d));
      break;
    }
    case 45: {
      const Shape s = shape(4);
      const Dtype d = in.dtype();
      const double value = in.value();
      const double n = numel_of(s);
      if (skip(n)) break;
      switch (in.u8() % 4) {
        case 0: keep(zeros(s, d)); break;
        case 1: keep(full(s, value, d)); break;
        case 2: keep(randn(s, d)); break;
        default: keep(uniform(s, value, in.value(), d)); break;
      }
      break;
    }
    case 46: {
      std::vector<Tensor> ts;
      for (int n = in.u8() % 3; n >= 0; --n) ts.push_back(pick());
      keep(vote(ts));
      break;
    }
    case 47: {
      Tensor& s = pick();
      Tensor& l = pick();
      const double a = accuracy(s, l);
      fuzz_check(!(a < 0) && !(a > 1), "accuracy outside [0, 1]");
      break;
    }
    case 48: {
      Tensor& x = pick();
      keep(x.clone());
      break;
    }
    case 49: {  // a module with the decoded sizes
      const std::int64_t n_in = in.size(), n_out = in.size();
      if (skip(amount({double(n_in), double(n_out)}))) break;
      nn::Linear layer(n_in, n_out, {.dtype = in.flag() ? f64 : f32});
      keep(layer(pick()));
      break;
    }
    case 50: {  // in-place updates of a copy
      Tensor x = pick().detach().clone();
      Tensor& y = pick();
      switch (in.u8() % 3) {
        case 0: x.add_(y, in.value()); break;
        case 1: x.mul_(in.value()); break;
        default: x.copy_(y); break;
      }
      keep(x);
      break;
    }
    default: {  // backward from a scalar made of a pool tensor
      Tensor& x = pick();
      if (!x.requires_grad()) break;
      const Tensor loss = x.numel() == 1 ? x.reshape({}) : sum(x);
      loss.backward({.retain_graph = in.flag()});
      for (const Tensor& t : pool) {
        if (t.requires_grad() && t.grad().defined()) {
          check_tensor(t.grad());
          fuzz_check(t.grad().shape() == t.shape(), "a gradient is not shaped like its tensor");
        }
      }
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool once = [] {
    set_num_threads(1);
    return true;
  }();
  (void)once;
  manual_seed(0);
  Harness h{Input(data, size), {}};
  const int count = 1 + h.in.u8() % 4;
  for (int i = 0; i < count; ++i) {
    try {
      h.pool.push_back(h.make_tensor());
    } catch (const Error&) {
      h.pool.push_back(scalar(1.0));
    }
  }
  for (int calls = 0; calls < 8 && !h.in.empty(); ++calls) {
    try {
      h.call();
    } catch (const Error&) {
    }
  }
  return 0;
}
