// fuzz/api_calls.cpp — the API harness's op table: Harness::call reads an op and its arguments from
// the input and calls it; each entry returns normally (its results checked and kept in the pool) or
// throws. A request that is valid but too big to run here is skipped (see api_fuzz.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "api_fuzz.hpp"

namespace api_fuzz {

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
      // Pieces of split(size) and chunk(size) along an axis in range: an empty tensor's axis can be up
      // to 2^40 long, and 2^40 (empty) pieces are valid but too many to hold here.
      if (a >= -x.dim() && a < x.dim() && size > 0) {
        const double n = static_cast<double>(x.shape()[a < 0 ? a + x.dim() : a]);
        const double k = static_cast<double>(size);  // split: about n / k pieces; chunk: min(k, n)
        if (std::min(n, std::max(n / k + 1, k)) > kSkipLow) break;
      }
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
      const Conv2dFuncOptions o{.stride = in.size(), .padding = in.size(), .dilation = in.size(), .groups = in.size()};
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
      const ConvTranspose2dFuncOptions o{.stride = in.size(), .padding = in.size(), .output_padding = in.size()};
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
                           skip(amount({double(h) + double(w), double(x.numel())})) ||
                           // adaptive pooling's matrices [H, h] and [W, w], made even for an empty batch
                           skip(amount({double(x.shape()[2]), double(h)})) || skip(amount({double(x.shape()[3]), double(w)})))) {
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

}  // namespace api_fuzz
