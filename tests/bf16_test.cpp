// bf16: the dtype (conversion with round-to-nearest-even over every bit pattern, printing, the ops
// that take it and the ones that refuse it), the bfloat16 GEMM and convolution against float64
// references with bounds from the rounding, and autocast (AutocastGuard): the op lists' dtypes,
// gradients into float32 weights, nesting, threads. Runs at every CPU level (CTest's level/*), so the
// generic GEMM (widened + sgemm) and level avx512bf16's vdpbf16ps GEMM are both checked.
#include <bit>
#include <cmath>
#include <cstring>
#include <thread>

#include "test_util.hpp"

using namespace nabla;

namespace {
Tensor from_bits(const std::vector<std::uint16_t>& bits) {
  Tensor t = empty(Shape{static_cast<std::int64_t>(bits.size())}, bf16);
  bfloat16* p = t.mutable_data<bfloat16>();
  for (std::size_t i = 0; i < bits.size(); ++i) p[i] = bfloat16::from_bits(bits[i]);
  return t;
}
std::uint16_t bits_at(const Tensor& t, std::int64_t i) { return t.data<bfloat16>()[i].bits; }

// c10::BFloat16's round_to_nearest_even, written from its definition with a wider integer.
std::uint16_t reference_rne(float f) {
  if (std::isnan(f)) return 0x7fc0;
  const std::uint64_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint64_t lsb = (x >> 16) & 1;
  return static_cast<std::uint16_t>((x + 0x7fff + lsb) >> 16);
}

// A tensor of random values already on the bf16 grid, as float64 (exact) and as bf16.
std::pair<Tensor, Tensor> bf16_values(const Shape& s, Generator& gen) {
  Tensor b = randn(s, f32, gen).to(bf16);
  return {b.to(f64), b};
}
}  // namespace

TEST_CASE("bf16: every one of the 65,536 bit patterns widens exactly and rounds back to itself (NaN to 0x7fc0)") {
  std::vector<std::uint16_t> all(65536);
  for (std::uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<std::uint16_t>(i);
  const Tensor b = from_bits(all);
  const Tensor f = b.to(f32);
  const Tensor d = b.to(f64);
  const Tensor back = f.to(bf16), back_d = d.to(bf16);
  int nans = 0;
  for (std::int64_t i = 0; i < 65536; ++i) {
    const std::uint16_t h = all[static_cast<std::size_t>(i)];
    const float v = f.data<float>()[i];
    REQUIRE(std::bit_cast<std::uint32_t>(v) == std::uint32_t(h) << 16);  // exact: the top half of a float32
    CHECK((d.data<double>()[i] == static_cast<double>(v) || std::isnan(v)));
    const bool nan = (h & 0x7fff) > 0x7f80;
    nans += nan;
    REQUIRE(bits_at(back, i) == (nan ? 0x7fc0 : h));
    REQUIRE(bits_at(back_d, i) == (nan ? 0x7fc0 : h));
  }
  CHECK(nans == 2 * 127);
}

TEST_CASE("bf16: float32 → bf16 rounds to nearest, ties to even, as c10::BFloat16") {
  const std::vector<std::uint32_t> patterns = {
      0x3f800000, 0x3f808000,  // 1 + 2^-8: a tie, to the even 1.0
      0x3f818000,              // 1 + 3·2^-8: a tie, to the even 1 + 2^-6 (0x3f82)
      0x3f808001, 0x3f807fff,  // just above and below the tie
      0x7f7f7fff,              // just below the midpoint above the largest bf16: 0x7f7f
      0x7f7f8000,              // the midpoint: ties to even → infinity
      0x7f7fffff,              // FLT_MAX → infinity
      0xff7f8000, 0x7f800000, 0xff800000,  // overflow and infinities keep their sign
      0x7fc00000, 0x7f800001, 0xffc12345,  // NaNs → 0x7fc0
      0x00000001, 0x00008000, 0x00018000, 0x80008000,  // subnormals, their ties, −0 results
      0x80000000, 0x00000000, 0x3eaaaaab, 0xc0490fdb};
  std::vector<float> values;
  for (std::uint32_t p : patterns) values.push_back(std::bit_cast<float>(p));
  const Tensor t = from_vector(std::span<const float>(values), {static_cast<std::int64_t>(values.size())}).to(bf16);
  for (std::size_t i = 0; i < values.size(); ++i) {
    CAPTURE(patterns[i]);
    CHECK(bits_at(t, static_cast<std::int64_t>(i)) == reference_rne(values[i]));
  }
  CHECK(bits_at(t, 1) == 0x3f80);
  CHECK(bits_at(t, 2) == 0x3f82);
  CHECK(bits_at(t, 5) == 0x7f7f);
  CHECK(bits_at(t, 6) == 0x7f80);
  CHECK(bits_at(t, 7) == 0x7f80);
  CHECK(bits_at(t, 8) == 0xff80);
  CHECK(bits_at(t, 11) == 0x7fc0);
  CHECK(bits_at(t, 13) == 0x7fc0);
  // float64 goes through float32 (c10::BFloat16(double)): 1 + 2^-8 + 2^-30 rounds to float32's tie first
  const Tensor d = tensor({1.0 + 0x1p-8 + 0x1p-30}, {1}, f64).to(bf16);
  CHECK(bits_at(d, 0) == 0x3f80);
  // element by element (set/at) takes the same path
  Tensor e = zeros({2}, bf16);
  e.set({0}, 1.0 + 0x1p-8);
  CHECK(bits_at(e, 0) == 0x3f80);
  CHECK(e.at({0}) == 1.0);
}

TEST_CASE("bf16: the dtype's name, size, printing, fill, and the ops that refuse it name themselves") {
  CHECK(dtype_name(bf16) == "bfloat16");
  CHECK(dtype_size(bf16) == 2);
  CHECK(is_floating_point(bf16));
  CHECK_FALSE(is_floating(bf16));
  const Tensor t = tensor({1.5, -0.1, 3.0}, {3}).to(bf16);
  CHECK(to_string(t) == "tensor(bfloat16, [3], [1.5, -0.100098, 3])");
  CHECK(full({2}, 0.1, bf16).to_vector<double>() == std::vector<double>{0.10009765625, 0.10009765625});
  CHECK_THROWS_WITH_AS(sigmoid(t), doctest::Contains("sigmoid: expected a float32 or float64 tensor, got bfloat16 [3]"),
                       ValueError);
  CHECK_THROWS_WITH_AS(softmax(t.reshape({1, 3})), doctest::Contains("got bfloat16"), ValueError);
  CHECK_THROWS_WITH_AS(t + tensor({1, 2, 3}, {3}), doctest::Contains("add: dtypes differ: bfloat16 [3] and float32 [3]"),
                       ValueError);
}

TEST_CASE("bf16: elementwise ops, reductions and movement compute in float32 and round once") {
  Generator gen(3);
  auto [a64, a] = bf16_values({4, 5}, gen);
  auto [b64, b] = bf16_values({4, 5}, gen);
  auto rounded = [](const Tensor& x64) { return x64.to(f32).to(bf16).to(f64); };
  for (auto [name, y, ref] : std::vector<std::tuple<std::string, Tensor, Tensor>>{
           {"add", a + b, a64 + b64}, {"sub", a - b, a64 - b64}, {"mul", a * b, a64 * b64}, {"div", a / b, a64 / b64},
           {"neg", -a, -a64}, {"relu", relu(a), relu(a64)}, {"scalar", a * 3.0 + 1.0, rounded(rounded(a64 * 3.0) + 1.0)},
           {"transpose", transpose(a), transpose(a64)}, {"cat", cat({a, b}, 0), cat({a64, b64}, 0)}}) {
    CAPTURE(name);
    CHECK(y.dtype() == bf16);
    // float32 arithmetic of bf16 values, rounded once to bf16: the float64 result rounded (float32's
    // own rounding lies within bf16's half ulp except at exact ties, not met by these draws)
    CHECK(y.to(f64).to_vector<double>() == rounded(ref).to_vector<double>());
  }
  const Tensor s = sum(a, 1);
  CHECK(s.dtype() == bf16);
  const auto sv = s.to(f64).to_vector<double>(), sr = sum(a64, 1).to_vector<double>();
  for (std::size_t i = 0; i < sv.size(); ++i) CHECK(std::abs(sv[i] - sr[i]) <= 0x1p-8 * std::abs(sr[i]) + 1e-6);
  CHECK(sum(a).dtype() == bf16);
  CHECK(mean(a).item() == doctest::Approx(mean(a64).item()).epsilon(0x1p-7));
}

TEST_CASE("bf16: to(bf16) is differentiable; gradients come back in the source dtype") {
  const Tensor x = tensor({0.5, -2.0, 3.25}, {3}).requires_grad(true);
  const Tensor y = x.to(bf16);
  CHECK(y.requires_grad());
  sum(y * tensor({1, 2, 4}, {3}).to(bf16)).backward();
  CHECK(x.grad().dtype() == f32);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 2, 4});
  const Tensor z = tensor({1.0, 2.0}, {2}, f64).requires_grad(true);
  sum(z.to(bf16).to(f32) * 3.0).backward();
  CHECK(z.grad().dtype() == f64);
  CHECK(z.grad().to_vector<double>() == std::vector<double>{3, 3});
}

TEST_CASE("bf16: GEMM against float64, every shape class, with the bound of its rounding") {
  // Products of two bf16 values are exact in float32 (8 + 8 significant bits); the error is the
  // float32 summation, at most γ_k Σ|a||b| (γ_k = k·2^-24 / (1 − k·2^-24)), plus the final rounding
  // of C to bf16, 2^-8 |c|.
  Generator gen(11);
  for (auto [m, n, k] : std::vector<std::array<std::int64_t, 3>>{
           {1, 1, 1}, {3, 5, 7}, {8, 48, 2}, {9, 49, 3}, {17, 100, 33}, {64, 960, 512}, {65, 97, 515}, {32, 784, 288}, {10, 64, 1},
           // past one block of columns (A packed once, reused), k past one block of pairs, odd k
           {70, 1000, 600}, {24, 1500, 577}, {8, 2000, 64}}) {
    for (int flags = 0; flags < 4; ++flags) {
      const bool ta = flags & 1, tb = flags & 2;
      CAPTURE(m);
      CAPTURE(n);
      CAPTURE(k);
      CAPTURE(flags);
      auto [a64, a] = bf16_values(ta ? Shape{k, m} : Shape{m, k}, gen);
      auto [b64, b] = bf16_values(tb ? Shape{n, k} : Shape{k, n}, gen);
      const Tensor c = kernels::gemm(a, b, ta, tb);
      REQUIRE(c.dtype() == bf16);
      const Tensor ref = kernels::gemm(a64, b64, ta, tb);
      const Tensor mag = kernels::gemm(abs(a64), abs(b64), ta, tb);
      const double uk = double(k) * 0x1p-24, gamma = uk / (1 - uk);
      const auto cv = c.to(f64).to_vector<double>(), rv = ref.to_vector<double>(), mv = mag.to_vector<double>();
      int bad = 0;
      for (std::size_t i = 0; i < cv.size(); ++i) {
        const double bound = 0x1p-8 * std::abs(rv[i]) + (1 + 0x1p-8) * gamma * mv[i] + 1e-30;
        bad += std::abs(cv[i] - rv[i]) > bound;
      }
      CHECK(bad == 0);
    }
  }
  // An empty sum writes zeros.
  CHECK(kernels::gemm(zeros({2, 0}, bf16), zeros({0, 3}, bf16), false, false).to(f64).to_vector<double>() ==
        std::vector<double>(6, 0.0));
}

TEST_CASE("bf16: matmul and conv2d in bf16 against float64, forward and every gradient") {
  Generator gen(5);
  auto [x64, x] = bf16_values({3, 4, 9, 8}, gen);
  auto [w64, w] = bf16_values({6, 4, 3, 3}, gen);
  auto [b64, b] = bf16_values({6}, gen);
  auto [g64, g] = bf16_values({3, 6, 9, 8}, gen);
  for (std::int64_t padding : {0, 1}) {
    CAPTURE(padding);
    const Tensor xs = x.detach().requires_grad(true), ws = w.detach().requires_grad(true), bs = b.detach().requires_grad(true);
    const Tensor x6 = x64.detach().requires_grad(true), w6 = w64.detach().requires_grad(true), b6 = b64.detach().requires_grad(true);
    const Tensor gs = padding == 0 ? slice(slice(g, 2, 0, 7), 3, 0, 6) : g;
    const Tensor g6 = padding == 0 ? slice(slice(g64, 2, 0, 7), 3, 0, 6) : g64;
    const Tensor y = conv2d(xs, ws, bs, {.padding = padding});
    const Tensor y6 = conv2d(x6, w6, b6, {.padding = padding});
    REQUIRE(y.dtype() == bf16);
    y.backward(gs);
    y6.backward(g6);
    // Each is a sum of at most 4·3·3 (forward, input gradient) or 3·9·8 (weight and bias gradients)
    // exact products: the float32 sum's error is far below the final rounding to bf16 (2^-8 relative).
    for (auto [name, got, want] : std::vector<std::tuple<std::string, Tensor, Tensor>>{
             {"y", y, y6}, {"gx", xs.grad(), x6.grad()}, {"gw", ws.grad(), w6.grad()}, {"gb", bs.grad(), b6.grad()}}) {
      CAPTURE(name);
      REQUIRE(got.dtype() == bf16);
      const auto gv = got.to(f64).to_vector<double>(), wv = want.to_vector<double>();
      double worst = 0, scale = 0;
      for (std::size_t i = 0; i < gv.size(); ++i) {
        worst = std::max(worst, std::abs(gv[i] - wv[i]) - 0x1p-8 * std::abs(wv[i]));
        scale = std::max(scale, std::abs(wv[i]));
      }
      CHECK(worst <= 1e-5 * scale);
    }
  }
  // bn_cnn's shapes (3×3, padding 1, 32 channels): stride 1 on shifted views (the products split over
  // the pool on 2 threads), stride 2 by columns in chunks of images, K = 288 past one block of pairs;
  // float32 sums of 288 products, so the bound adds a share of the largest magnitude.
  const int threads_before = num_threads();
  // The last four: an odd channel count (the stride-1 product reads channels by pairs, the last one
  // alone) with K = 65·9 past two blocks of 256 pairs, 5×5 taps, padding past the window (images one
  // by one, rows not sharing their padding), and a wide window with a wide shared padding (the reads
  // past the last row, under ASan); 10 images: stacks of 3 and one alone.
  for (auto [stride, padding, threads, c, kernel] : std::vector<std::array<std::int64_t, 5>>{
           {1, 1, 1, 32, 3}, {1, 0, 1, 32, 3}, {2, 1, 1, 32, 3}, {1, 1, 2, 32, 3}, {1, 1, 1, 65, 3}, {1, 2, 2, 7, 5},
           {1, 3, 1, 5, 3}, {1, 18, 1, 3, 19}}) {
    CAPTURE(stride);
    CAPTURE(padding);
    CAPTURE(threads);
    CAPTURE(c);
    CAPTURE(kernel);
    set_num_threads(static_cast<int>(threads));
    auto [bx64, bx] = bf16_values({10, c, 14, 11}, gen);
    auto [bw64, bw] = bf16_values({40, c, kernel, kernel}, gen);
    const Tensor xs = bx.detach().requires_grad(true), ws = bw.detach().requires_grad(true);
    const Tensor x6 = bx64.detach().requires_grad(true), w6 = bw64.detach().requires_grad(true);
    const Tensor y = conv2d(xs, ws, Tensor{}, {.stride = stride, .padding = padding});
    const Tensor y6 = conv2d(x6, w6, Tensor{}, {.stride = stride, .padding = padding});
    auto [bg64, bg] = bf16_values(y6.shape(), gen);
    y.backward(bg);
    y6.backward(bg64);
    for (auto [name, got, want] : std::vector<std::tuple<std::string, Tensor, Tensor>>{
             {"y", y, y6}, {"gx", xs.grad(), x6.grad()}, {"gw", ws.grad(), w6.grad()}}) {
      CAPTURE(name);
      REQUIRE(got.dtype() == bf16);
      const auto gv = got.to(f64).to_vector<double>(), wv = want.to_vector<double>();
      double scale = 0;
      for (double v : wv) scale = std::max(scale, std::abs(v));
      int bad = 0;
      for (std::size_t i = 0; i < gv.size(); ++i) bad += std::abs(gv[i] - wv[i]) > 0x1p-8 * std::abs(wv[i]) + 1e-4 * scale;
      CHECK(bad == 0);
    }
  }
  set_num_threads(threads_before);
  auto [p64, p] = bf16_values({5, 7}, gen);
  auto [q64, q] = bf16_values({2, 7, 3}, gen);
  const Tensor mm = matmul(p, q);  // batched, b broadcast
  CHECK(mm.dtype() == bf16);
  const auto mv = mm.to(f64).to_vector<double>(), rv = matmul(p64, q64).to_vector<double>();
  for (std::size_t i = 0; i < mv.size(); ++i) CHECK(std::abs(mv[i] - rv[i]) <= 0x1p-8 * std::abs(rv[i]) + 1e-6);
}

TEST_CASE("autocast: the op lists' dtypes, float64 untouched, nesting, one thread only") {
  Generator gen(1);
  const Tensor x = randn({4, 3, 6, 6}, f32, gen), w = randn({5, 3, 3, 3}, f32, gen);
  const Tensor a = randn({4, 8}, f32, gen), m = randn({8, 2}, f32, gen);
  CHECK_FALSE(autocast_enabled());
  {
    AutocastGuard autocast;
    CHECK(autocast_enabled());
    const Tensor c = conv2d(x, w, Tensor{}, {.padding = 1});
    CHECK(c.dtype() == bf16);
    const Tensor p = matmul(a, m);
    CHECK(p.dtype() == bf16);
    CHECK(matmul(a, m, {.trans_b = false}).dtype() == bf16);
    CHECK(relu(p).dtype() == bf16);                  // widest: bf16 alone stays
    CHECK((p + tensor({1, 2}, {2})).dtype() == f32);  // widest: with float32, float32
    CHECK(softmax(p, 1).dtype() == f32);              // float32 list
    CHECK(sum(p).dtype() == f32);
    CHECK(sigmoid(p).dtype() == f32);                 // every other op: float32 (it refuses bf16 outside)
    CHECK(batch_norm(c, Tensor{}, Tensor{}, Tensor{}, Tensor{}, true).dtype() == f32);
    CHECK(matmul(a.to(f64), m.to(f64)).dtype() == f64);  // float64 is never cast
    CHECK(p.to(f32).dtype() == f32);
    {
      AutocastGuard off(bf16, false);
      CHECK_FALSE(autocast_enabled());
      CHECK(matmul(a, m).dtype() == f32);
      AutocastGuard on_again;
      CHECK(matmul(a, m).dtype() == bf16);
    }
    CHECK(autocast_enabled());
    bool other_thread = true;
    std::thread([&] { other_thread = autocast_enabled() || matmul(a, m).dtype() != f32; }).join();
    CHECK_FALSE(other_thread);
    // The matmul itself is the bf16 product of the rounded operands, rounded once.
    const Tensor ref = matmul(a.to(bf16).to(f64), m.to(bf16).to(f64));
    const auto pv = p.to(f64).to_vector<double>(), rv = ref.to_vector<double>();
    for (std::size_t i = 0; i < pv.size(); ++i) CHECK(std::abs(pv[i] - rv[i]) <= 0x1p-8 * std::abs(rv[i]) + 1e-6);
  }
  CHECK_FALSE(autocast_enabled());
  CHECK(matmul(a, m).dtype() == f32);
  CHECK_THROWS_WITH_AS(AutocastGuard guard(Dtype::f64), doctest::Contains("AutocastGuard: dtype must be bfloat16"), ValueError);
}

TEST_CASE("autocast: gradients reach the float32 weights through the casts; float64 gradchecks unchanged") {
  Generator gen(2);
  nn::Linear fc(8, 3, {}, gen);
  nn::Conv2d conv(2, 4, 3, {.padding = 1}, gen);
  const Tensor x = randn({5, 2, 4, 4}, f32, gen);
  const Tensor y = tensor({0, 1, 2, 1, 0}, {5}).to(i64);
  Tensor loss;
  {
    AutocastGuard autocast;
    const Tensor h = relu(conv(x));                  // conv in bf16, relu in bf16
    const Tensor z = fc(narrow(flatten(mean(h, 3)), 1, 0, 8));
    loss = softmax_cross_entropy(z, y);             // float32
    CHECK(z.dtype() == f32);                        // matmul in bf16, + the float32 bias: float32
    CHECK(loss.dtype() == f32);
  }
  loss.backward();
  for (const Tensor& p : {fc.parameters()[0].tensor, fc.parameters()[1].tensor, conv.parameters()[0].tensor, conv.parameters()[1].tensor}) {
    REQUIRE(p.grad().defined());
    CHECK(p.grad().dtype() == f32);
    CHECK(sum(abs(p.grad())).item() > 0);
  }
  // The same in float32 without autocast: the gradients agree to bf16's precision.
  std::vector<Tensor> auto_grads;
  for (const nn::Param& p : fc.parameters()) auto_grads.push_back(p.tensor.grad().clone());
  for (const nn::Param& p : fc.parameters()) p.tensor.zero_grad();
  for (const nn::Param& p : conv.parameters()) p.tensor.zero_grad();
  softmax_cross_entropy(fc(narrow(flatten(mean(relu(conv(x)), 3)), 1, 0, 8)), y).backward();
  for (std::size_t i = 0; i < auto_grads.size(); ++i) {
    const Tensor want = fc.parameters()[i].tensor.grad();
    CHECK(max(abs(auto_grads[i] - want).reshape({-1}), 0).item() <= 0.05 * max(abs(want).reshape({-1}), 0).item() + 1e-6);
  }
  // Under autocast float64 ops are not cast: gradcheck of a float64 product and convolution passes.
  AutocastGuard autocast;
  const Tensor p = randn({3, 4}, f64, gen).requires_grad(true), q = randn({4, 2}, f64, gen).requires_grad(true);
  CHECK(nabla_test::check_grad([](const Tensor& u, const Tensor& v) { return matmul(u, v); }, {p, q}));
  // The cast pair f64 → f32 → f64 is the identity map's derivative through the casts (float32
  // rounding is far below gradcheck's tolerance for these values).
  const Tensor r = tensor({0.5, 0.25, -1.5}, {3}, f64).requires_grad(true);
  CHECK(gradcheck([](const Tensor& u) { return u.to(f32).to(f64) * 2.0; }, {r}, {.eps = 1e-3, .atol = 1e-4}));
}

TEST_CASE("autocast: the bn_cnn recipe (conv-BN-ReLU blocks, pooling, linear; AdamW) learns under autocast bf16") {
  // A small bn_cnn (examples/train_models.hpp's structure, 8 and 16 channels) on a fixed batch of
  // 64 patterned 28×28 images whose class sets where a bright square is: the loss falls.
  Generator gen(7);
  auto block = [&](std::int64_t in, std::int64_t out) {
    return nn::Sequential{nn::Conv2d(in, out, 3, {.padding = 1, .has_bias = false}, gen), nn::BatchNorm2d(out), nn::ReLU()};
  };
  nn::Sequential net{block(1, 8), nn::MaxPool2d(2), block(8, 16), nn::MaxPool2d(2), nn::AdaptiveAvgPool2d(1), nn::Flatten(),
                     nn::Linear(16, 10, {}, gen)};
  Tensor x = 0.1 * uniform({64, 1, 28, 28}, 0, 1, f32, gen);
  std::vector<std::int64_t> labels(64);
  for (std::int64_t i = 0; i < 64; ++i) {
    const std::int64_t c = i % 10;
    labels[std::size_t(i)] = c;
    for (std::int64_t r = 0; r < 6; ++r) {
      for (std::int64_t s = 0; s < 6; ++s) x.set({i, 0, 2 + (c / 5) * 14 + r + (c % 2), 2 + (c % 5) * 5 + s}, 1.0);
    }
  }
  const Tensor y = from_vector(std::span<const std::int64_t>(labels), {64});
  optim::AdamW opt(net.parameters(), {.lr = 0.01});
  std::vector<double> losses;
  for (int step = 0; step < 40; ++step) {
    Tensor c;
    {
      AutocastGuard autocast;
      c = softmax_cross_entropy(net(x), y);
    }
    CHECK(c.dtype() == f32);
    opt.zero_grad();
    c.backward();
    opt.step();
    losses.push_back(c.item());
  }
  for (const nn::Param& p : net.parameters()) CHECK(p.tensor.dtype() == f32);  // master weights stay float32
  MESSAGE("loss " << losses.front() << " → " << losses.back());
  CHECK(losses.back() < 0.5 * losses.front());
}

TEST_CASE("autocast: batch norm on a bf16 input is x.to(f32) then the float32 op, to the bit, gradients of both orders") {
  Generator gen(7);
  const Tensor xb = randn({5, 3, 4, 6}, f32, gen).to(bf16);
  const Tensor r = randn({5, 3, 4, 6}, f32, gen);
  struct Run {
    Tensor y, gx, gw, gb, rm, rv, ggw;
  };
  auto run = [&](bool fused) {
    Generator g2(8);
    const Tensor w = randn({3}, f32, g2).requires_grad(true), b = randn({3}, f32, g2).requires_grad(true);
    Tensor rm = zeros({3}, f32), rv = ones({3}, f32);
    const Tensor x = xb.detach().requires_grad(true);
    Tensor y;
    if (fused) {
      AutocastGuard autocast;  // the bf16 x goes to the kernel as it is
      y = batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
    } else {
      y = batch_norm(x.to(f32), rm, rv, w, b, true, 0.1, 1e-5);
    }
    const auto g = grad({sum(y * r)}, {x, w, b}, {}, {.create_graph = true});
    const Tensor ggw = grad({sum(square(g[0].to(f32)))}, {w})[0];
    return Run{y, g[0], g[1], g[2], rm, rv, ggw};
  };
  const Run a = run(true), e = run(false);
  CHECK(a.y.dtype() == f32);
  CHECK(a.gx.dtype() == bf16);
  CHECK(a.y.to_vector<float>() == e.y.to_vector<float>());
  CHECK(a.gx.to(f32).to_vector<float>() == e.gx.to(f32).to_vector<float>());
  CHECK(a.gw.to_vector<float>() == e.gw.to_vector<float>());
  CHECK(a.gb.to_vector<float>() == e.gb.to_vector<float>());
  CHECK(a.rm.to_vector<float>() == e.rm.to_vector<float>());
  CHECK(a.rv.to_vector<float>() == e.rv.to_vector<float>());
  CHECK(a.ggw.to_vector<float>() == e.ggw.to_vector<float>());
  float largest = 0;
  for (float v : a.ggw.to_vector<float>()) largest = std::max(largest, std::abs(v));
  CHECK(largest > 0);  // the second-order gradient is there, not zeros on both sides
}

TEST_CASE("bf16: a convolution's outputs are rounded as to(bf16) rounds, at every level (bias, ties, NaN, inf, subnormals)") {
  // A 1×1 convolution with weight 1: each output is x + b summed in float32, then rounded once — the
  // bits of (x.to(f32) + b.to(f32)).to(bf16), the rows a vector at a time (the last one masked) at
  // the AVX-512 levels. 37 columns: two full vectors and a masked one per row.
  // Inputs normal, infinite or NaN: vdpbf16ps reads subnormal inputs as zero (and −0 · 1 + 0 is +0),
  // a property of the product, not of the rounding checked here.
  std::vector<std::uint16_t> bits;
  for (std::uint32_t i = 0; i < 4 * 3 * 37; ++i) {
    std::uint16_t v = static_cast<std::uint16_t>((i * 40503u) >> 3);
    if ((v & 0x7f80) == 0) v |= 0x0080;
    bits.push_back(v);
  }
  for (std::uint16_t special : {0x7f80, 0xff80, 0x7fc0, 0xffc1, 0x0080, 0x8080, 0x3f80, 0x0000, 0x7f7f, 0xff7f}) {
    bits[special % bits.size()] = special;
  }
  const Tensor x = from_bits(bits).reshape({4, 1, 3, 37});
  const Tensor w = ones({1, 1, 1, 1}, f32).to(bf16);
  for (std::uint16_t b_bits : {std::uint16_t(0x3b80), std::uint16_t(0xbf81), std::uint16_t(0x0000)}) {
    CAPTURE(b_bits);
    const Tensor b = from_bits({b_bits});
    const Tensor y = conv2d(x, w, b);
    const Tensor want = (x.to(f32) + b.to(f32)).to(bf16);
    int differ = 0;
    for (std::int64_t i = 0; i < x.numel(); ++i) differ += bits_at(y.reshape({-1}), i) != bits_at(want.reshape({-1}), i);
    CHECK(differ == 0);
  }
  const Tensor y = conv2d(x, w, Tensor{});  // no bias: x itself, NaN quieted as to(bf16) does
  const Tensor want = x.to(f32).to(bf16);
  int differ = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) differ += bits_at(y.reshape({-1}), i) != bits_at(want.reshape({-1}), i);
  CHECK(differ == 0);
}
