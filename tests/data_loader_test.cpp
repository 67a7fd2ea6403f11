// data_loader: map-style datasets, samplers, transforms and the DataLoader (nabla/data_loader.hpp).
#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

using namespace nabla;
using doctest::Contains;
namespace dl = nabla::data;

namespace {

// Example i: data [2] = {i, −i}, target int64 i.
dl::datasets::TensorDataset counting(std::int64_t n) {
  std::vector<double> v;
  for (std::int64_t i = 0; i < n; ++i) {
    v.push_back(double(i));
    v.push_back(-double(i));
  }
  return dl::datasets::TensorDataset(from_vector(std::span<const double>(v), {n, 2}), arange(0, double(n), 1, i64));
}

// One dtype, one shape, the same values.
bool equal(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.to_vector() == b.to_vector();
}

std::vector<std::int64_t> ids(const dl::Example& batch) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < batch.target.shape()[0]; ++i) out.push_back(std::int64_t(batch.target.at({i})));
  return out;
}

std::vector<std::vector<std::int64_t>> pass(dl::DataLoader& loader) {
  std::vector<std::vector<std::int64_t>> out;
  for (auto& batch : loader) {
    // The data travelled with its target.
    for (std::int64_t i = 0; i < batch.data.shape()[0]; ++i) CHECK(batch.data.at({i, 0}) == batch.target.at({i}));
    out.push_back(ids(batch));
  }
  return out;
}

// The message of the E that f throws; "" when it throws nothing.
template <class E, class F>
std::string message_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

// A user's dataset as libtorch writes one: it counts its get() calls, may sleep, and throws at `bad`.
struct Slow : dl::datasets::Dataset<Slow> {
  std::int64_t n = 20, bad = -1;
  int sleep_ms = 0;
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  dl::Example get(std::int64_t i) override {
    ++*calls;
    if (sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    if (i == bad) throw IoError(fmt::format("\"img{}.pgm\": truncated", i));
    return {full({3}, double(i)), scalar(double(i), i64)};
  }
  std::int64_t size() const override { return n; }
};

}  // namespace

TEST_CASE("data_loader: sequential batches in order, the last one partial unless drop_last") {
  dl::DataLoader loader(counting(10), {.batch_size = 4});
  CHECK(loader.size() == 3);
  const std::vector<std::vector<std::int64_t>> expected{{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}};
  CHECK(pass(loader) == expected);
  CHECK(pass(loader) == expected);  // a second pass, from the start

  dl::DataLoader dropping(counting(10), {.batch_size = 4, .drop_last = true});
  CHECK(dropping.size() == 2);
  CHECK(pass(dropping) == std::vector<std::vector<std::int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}});
  dl::DataLoader exact(counting(8), {.batch_size = 4, .drop_last = true});
  CHECK(pass(exact).size() == 2);
  dl::DataLoader too_few(counting(3), {.batch_size = 4, .drop_last = true});
  CHECK(too_few.size() == 0);
  CHECK(pass(too_few).empty());
  dl::DataLoader empty(dl::datasets::TensorDataset(zeros({0, 2}), zeros({0}, i64)), {.batch_size = 4});
  CHECK(empty.size() == 0);
  CHECK(pass(empty).empty());

  // PyTorch's default batch size 1; a batch's shapes.
  dl::DataLoader ones(counting(3));
  auto it = ones.begin();
  CHECK(it->data.shape() == Shape{1, 2});
  CHECK(it->target.shape() == Shape{1});
  CHECK(it->target.dtype() == i64);
}

TEST_CASE("data_loader: shuffling is a function of the seed; each pass draws a new order") {
  auto run = [](std::uint64_t seed, std::int64_t workers) {
    dl::DataLoader loader(counting(23), {.batch_size = 5, .shuffle = true, .num_workers = workers, .seed = seed});
    auto first = pass(loader);
    return std::pair(first, pass(loader));
  };
  const auto [a1, a2] = run(7, 0);
  CHECK(run(7, 0) == std::pair(a1, a2));
  CHECK(a1 != a2);              // pass 2 has another order
  CHECK(run(8, 0).first != a1);  // another seed, another order
  for (const auto& p : {a1, a2}) {
    std::multiset<std::int64_t> seen;
    for (const auto& b : p) seen.insert(b.begin(), b.end());
    CHECK(seen.size() == 23);
    CHECK(std::set<std::int64_t>(seen.begin(), seen.end()).size() == 23);  // each example once
    CHECK(p.back().size() == 3);
  }
  // The same batches with 0, 1 and 4 workers, and with a prefetch of 1.
  CHECK(run(7, 1) == std::pair(a1, a2));
  CHECK(run(7, 4) == std::pair(a1, a2));
  dl::DataLoader narrow(counting(23), {.batch_size = 5, .shuffle = true, .num_workers = 3, .seed = 7, .prefetch_factor = 1});
  CHECK(pass(narrow) == a1);
}

TEST_CASE("data_loader: workers give the same tensors as the caller, and drop_last with them") {
  Slow d;
  d.n = 37;
  for (bool drop : {false, true}) {
    std::vector<dl::Example> ref;
    dl::DataLoader l0(d, {.batch_size = 8, .shuffle = true, .drop_last = drop, .seed = 3});
    for (auto& b : l0) ref.push_back(b);
    for (std::int64_t w : {1, 4}) {
      dl::DataLoader lw(d, {.batch_size = 8, .shuffle = true, .num_workers = w, .drop_last = drop, .seed = 3});
      std::size_t k = 0;
      for (auto& b : lw) {
        REQUIRE(k < ref.size());
        CHECK(b.data.shape() == ref[k].data.shape());
        CHECK(equal(b.data, ref[k].data));
        CHECK(equal(b.target, ref[k].target));
        ++k;
      }
      CHECK(k == ref.size());
      CHECK(k == (drop ? 4u : 5u));
    }
  }
}

TEST_CASE("data_loader: an early break or a new pass stops the workers without waiting for the pass") {
  Slow d;
  d.n = 400;
  d.sleep_ms = 2;
  const auto t0 = std::chrono::steady_clock::now();
  {
    dl::DataLoader loader(d, {.batch_size = 2, .num_workers = 4, .prefetch_factor = 2});
    int seen = 0;
    for (auto& batch : loader) {
      CHECK(batch.target.at({0}) == 2 * seen);
      if (++seen == 3) break;
    }
    // A new pass while the last one's workers run ahead: starts from the first batch.
    auto it = loader.begin();
    CHECK(it->target.at({0}) == 0);
    ++it;
    CHECK(it->target.at({0}) == 2);
  }  // the destructor joins the workers mid-pass
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // At most (batches handed out + 4 workers × 2 ahead + 4 being made) batches were made per pass,
  // far from the 200 of a whole pass (400 get() calls × 2 ms / 4 workers).
  CHECK(*d.calls <= 2 * 2 * (3 + 8 + 4));
  CHECK(seconds < 60);  // a whole pass would take 0.2 s at least; this guards against a hang, not for speed
}

TEST_CASE("data_loader: an exception of get() reaches the caller at its batch, with the index") {
  for (std::int64_t workers : {0, 1, 4}) {
    CAPTURE(workers);
    Slow d;
    d.bad = 13;
    dl::DataLoader loader(d, {.batch_size = 4, .num_workers = workers});
    std::vector<std::int64_t> got;
    bool threw = false;
    try {
      for (auto& batch : loader) {
        for (auto i : ids(batch)) got.push_back(i);
      }
    } catch (const IoError& e) {  // the same kind of error as get() threw
      threw = true;
      const std::string msg = e.what();
      CHECK_MESSAGE(msg.find("DataLoader: dataset get(13) of batch 3") != std::string::npos, msg);
      CHECK_MESSAGE(msg.find("\"img13.pgm\": truncated") != std::string::npos, msg);
      if (workers > 0) CHECK_MESSAGE(msg.find("in worker") != std::string::npos, msg);
      // The original, nested.
      try {
        std::rethrow_if_nested(e);
        FAIL("no nested exception");
      } catch (const IoError& inner) {
        CHECK(std::string(inner.what()) == "\"img13.pgm\": truncated");
      }
    }
    CHECK(threw);
    CHECK(got.size() == 12);  // batches 0, 1, 2, in order, before the fault
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == std::int64_t(i));
    // The loader is usable again; the loader is destroyed with workers mid-pass.
    auto it = loader.begin();
    CHECK(ids(*it) == std::vector<std::int64_t>{0, 1, 2, 3});
  }

  // Anything else thrown becomes a nabla::Error, and a collation's fault names the batch.
  struct Odd : dl::datasets::Dataset<Odd> {
    dl::Example get(std::int64_t i) override {
      if (i == 5) throw 42;  // NOLINT: not an exception class on purpose
      return {zeros({i == 2 ? 3 : 2}), scalar(0, i64)};
    }
    std::int64_t size() const override { return 6; }
  };
  for (std::int64_t workers : {0, 2}) {
    dl::DataLoader loader(Odd{}, {.batch_size = 3, .num_workers = workers});
    const std::string collating = message_of<ShapeError>([&] { loader.begin(); });
    CHECK_MESSAGE(collating.find("collating batch 0 (indices [0, 1, 2])") != std::string::npos, collating);
    CHECK_MESSAGE(collating.find("example 2's data is float32 [3], example 0's is float32 [2]") != std::string::npos, collating);
    dl::DataLoader second(Odd{}, {.batch_size = 1, .num_workers = workers});
    auto it = second.begin();
    for (int k = 0; k < 4; ++k) ++it;
    const std::string odd = message_of<Error>([&] { ++it; });
    CHECK_MESSAGE(odd.find("get(5) of batch 5") != std::string::npos, odd);
    CHECK_MESSAGE(odd.find("not derived from std::exception") != std::string::npos, odd);
  }
}

TEST_CASE("data_loader: a libtorch-style dataset, transforms and make_data_loader") {
  struct Images : dl::datasets::Dataset<Images> {
    dl::Example get(std::int64_t i) override { return {full({2, 1, 2}, double(i)), scalar(double(i), i64)}; }
    std::int64_t size() const override { return 6; }
  };
  auto dataset = Images{}
                     .map(dl::transforms::Normalize({1.0, 2.0}, {2.0, 4.0}))
                     .map(dl::transforms::TensorLambda([](Tensor x) { return x * 2.0; }))
                     .map(dl::transforms::Stack());
  CHECK(dataset.size() == 6);
  auto loader = dl::make_data_loader<dl::samplers::SequentialSampler>(std::move(dataset), {.batch_size = 4, .num_workers = 2});
  std::vector<dl::Example> batches;
  for (auto& batch : *loader) batches.push_back(batch);
  REQUIRE(batches.size() == 2);
  CHECK(batches[0].data.shape() == Shape{4, 2, 1, 2});
  CHECK(batches[1].target.shape() == Shape{2});
  // Example 5: channel 0 (5 − 1) / 2 · 2 = 4, channel 1 (5 − 2) / 4 · 2 = 1.5.
  CHECK(batches[1].data.at({1, 0, 0, 1}) == doctest::Approx(4.0));
  CHECK(batches[1].data.at({1, 1, 0, 0}) == doctest::Approx(1.5));

  // make_data_loader's default sampler is libtorch's: RandomSampler (from options.seed).
  auto shuffled = dl::make_data_loader(Images{}, {.batch_size = 6, .seed = 1});
  auto order = ids(*shuffled->begin());
  CHECK(std::set<std::int64_t>(order.begin(), order.end()).size() == 6);
  dl::samplers::RandomSampler same(6, 1);  // as libtorch's, drawn at construction and at each reset()
  same.reset();
  CHECK(order == *same.next(6));

  // Lambda sees the whole example; a collation of one's own; an lvalue dataset is copied.
  Images images;
  auto relabeled = images.map(dl::transforms::Lambda([](dl::Example e) {
    e.target = scalar(double(e.target.item<std::int64_t>() + 10), i64);
    return e;
  }));
  CHECK(relabeled.get(3).target.item<std::int64_t>() == 13);
  auto summed = relabeled.map([](std::vector<dl::Example> v) {
    dl::Example b = dl::transforms::Stack()(v);
    return dl::Example{sum(b.data), b.target};
  });
  dl::DataLoader two(std::move(summed), {.batch_size = 3});
  CHECK(two.begin()->data.dim() == 0);
  CHECK(ids(*two.begin()) == std::vector<std::int64_t>{10, 11, 12});
}

TEST_CASE("data_loader: transforms and collation check their input") {
  using dl::transforms::Normalize;
  using dl::transforms::Stack;
  CHECK_THROWS_WITH_AS(Normalize(0.5, 0.0), Contains("stddev 0 must be finite and > 0"), ValueError);
  CHECK_THROWS_AS(Normalize({0.5}, {}), ValueError);
  CHECK_THROWS_WITH_AS(Normalize({0.1, 0.2, 0.3}, {1, 1, 1})({zeros({2, 4, 4}), {}}), Contains("expected data [3, ...]"), ShapeError);
  CHECK_THROWS_WITH_AS(Normalize(0.1, 1)({zeros({2}, i64), {}}), Contains("expected a float tensor"), ValueError);
  const dl::Example one = Normalize(0.5, 0.25)({full({1, 2}, 1.0), {}});
  CHECK(one.data.at({0, 1}) == doctest::Approx(2.0));
  CHECK_THROWS_WITH_AS(Stack()({}), Contains("no examples"), ValueError);
  CHECK_THROWS_WITH_AS(Stack()({{zeros({2}), scalar(0, i64)}, {zeros({2}), {}}}), Contains("example 1's target is undefined"), ShapeError);
  CHECK_THROWS_WITH_AS(Stack()({{zeros({2}), {}}, {zeros({2}, f64), {}}}), Contains("float64 [2], example 0's is float32 [2]"), ShapeError);
  const dl::Example unlabeled = Stack()({{zeros({2}), {}}, {ones({2}), {}}});
  CHECK(unlabeled.data.shape() == Shape{2, 2});
  CHECK(!unlabeled.target.defined());
}

TEST_CASE("data_loader: bad options are refused with the option named") {
  auto d = counting(5);
  CHECK_THROWS_WITH_AS(dl::DataLoader(d, {.batch_size = 0}), Contains("batch_size must be positive, got 0"), ValueError);
  CHECK_THROWS_WITH_AS(dl::DataLoader(d, {.num_workers = -1}), Contains("num_workers must be in [0, 256], got -1"), ValueError);
  CHECK_THROWS_WITH_AS(dl::DataLoader(d, {.prefetch_factor = 0}), Contains("prefetch_factor must be positive"), ValueError);
  auto sampler = std::make_shared<dl::samplers::SequentialSampler>(5);
  CHECK_THROWS_WITH_AS(dl::DataLoader(d, {.shuffle = true, .sampler = sampler}), Contains("mutually exclusive with shuffle"),
                       ValueError);
  CHECK_THROWS_WITH_AS(dl::make_data_loader(counting(5), {.shuffle = true}), Contains("template argument"), ValueError);
  CHECK_THROWS_WITH_AS(dl::DataLoader(std::shared_ptr<dl::datasets::DatasetBase>()), Contains("no dataset"), ValueError);
  // A sampler for a larger dataset: refused when the pass starts, naming the index.
  dl::DataLoader wrong(d, {.batch_size = 2, .sampler = std::make_shared<dl::samplers::SequentialSampler>(9)});
  CHECK_THROWS_WITH_AS(wrong.begin(), Contains("the sampler gave index 5 for a dataset of 5 examples"), ValueError);
  CHECK_THROWS_WITH_AS(d.get(5), Contains("index 5 is out of range for 5 examples"), ValueError);
  CHECK_THROWS_AS(dl::datasets::TensorDataset(zeros({3, 2}), zeros({4})), ShapeError);
  CHECK_THROWS_AS(dl::samplers::RandomSampler(-1), ValueError);
  CHECK_THROWS_WITH_AS(dl::samplers::DistributedSampler(10, 2, 2), Contains("rank 2 of 2 replicas"), ValueError);
  CHECK_THROWS_WITH_AS(dl::samplers::SequentialSampler(3).next(0), Contains("batch size must be positive"), ValueError);
  // An iterator of a pass that has ended.
  dl::DataLoader loader(d, {.batch_size = 2});
  auto first = loader.begin();
  auto second = loader.begin();
  CHECK(first == std::default_sentinel);
  CHECK_THROWS_WITH_AS(*first, Contains("pass that has ended"), ValueError);
  CHECK(second != std::default_sentinel);
}

TEST_CASE("data_loader: samplers") {
  dl::samplers::SequentialSampler seq(5);
  CHECK(*seq.next(3) == std::vector<std::int64_t>{0, 1, 2});
  CHECK(*seq.next(3) == std::vector<std::int64_t>{3, 4});
  CHECK(!seq.next(3));
  seq.reset(2);
  CHECK(*seq.next(3) == std::vector<std::int64_t>{0, 1});
  CHECK(seq.size() == 2);

  // DistributedSampler: the same order on every rank, disjoint shares (padded to a multiple of R by
  // repeating the first indices, or cut with drop_last), a new order per epoch.
  for (bool drop : {false, true}) {
    std::vector<std::int64_t> all;
    for (std::int64_t rank = 0; rank < 3; ++rank) {
      dl::samplers::DistributedSampler s(10, 3, rank, true, 5, drop);
      CHECK(s.size() == (drop ? 3 : 4));
      auto share = *s.next(100);
      CHECK(std::int64_t(share.size()) == *s.size());
      all.insert(all.end(), share.begin(), share.end());
    }
    const std::set<std::int64_t> distinct(all.begin(), all.end());
    CHECK(distinct.size() == (drop ? 9u : 10u));
    CHECK(all.size() == (drop ? 9u : 12u));
  }
  dl::samplers::DistributedSampler a(10, 2, 0, true, 5), b(10, 2, 0, true, 5);
  const auto e0 = *a.next(10);
  a.reset();
  CHECK(*a.next(10) == e0);  // without set_epoch, the same order (as PyTorch)
  b.set_epoch(1);
  b.reset();
  CHECK(*b.next(10) != e0);
  dl::samplers::DistributedSampler plain(5, 2, 1, false);
  CHECK(*plain.next(10) == std::vector<std::int64_t>{1, 3, 0});  // 0 1 2 3 4 | 0: rank 1 takes 1, 3, 0

  // Through the loader: batches of this rank's share.
  auto shard = std::make_shared<dl::samplers::DistributedSampler>(10, 2, 1, false);
  dl::DataLoader loader(counting(10), {.batch_size = 2, .sampler = shard, .num_workers = 2});
  CHECK(loader.size() == 3);
  CHECK(pass(loader) == std::vector<std::vector<std::int64_t>>{{1, 3}, {5, 7}, {9}});
}

TEST_CASE("data_loader: nabla's two-tensor Dataset gives the batches of Dataset::batches") {
  Generator gen(2);
  data::Dataset old(randn({11, 3}, f32, gen), arange(0, 11, 1, i64));
  dl::DataLoader loader(dl::datasets::TensorDataset(old), {.batch_size = 4, .num_workers = 2});
  std::int64_t k = 0;
  auto it = loader.begin();
  for (auto [x, y] : old.batches(4)) {
    REQUIRE(it != loader.end());
    CHECK(equal(it->data, x));
    CHECK(equal(it->target, y));
    ++it;
    ++k;
  }
  CHECK(it == loader.end());
  CHECK(k == 3);
}

TEST_CASE("data_loader: MNIST with the files' own 60,000 / 10,000 split") {
  namespace fs = std::filesystem;
  REQUIRE_MESSAGE(fs::exists(data::kFashionMnistDir), "install dataset-fashion-mnist (scripts/install-deps.sh)");
  dl::datasets::MNIST train(data::kFashionMnistDir), test(data::kFashionMnistDir, dl::datasets::MNIST::Mode::kTest);
  CHECK(train.is_train());
  CHECK(train.size() == 60000);
  CHECK(test.size() == 10000);
  CHECK(train.images().shape() == Shape{60000, 1, 28, 28});
  const dl::Example e = test.get(9999);
  CHECK(e.data.shape() == Shape{1, 28, 28});
  CHECK(e.target.dim() == 0);
  CHECK(e.target.dtype() == i64);
  // The same examples as load_fashion_mnist with no validation set; its default keeps the book's split.
  const data::Split torch_split = data::load_fashion_mnist(data::kFashionMnistDir, 0);
  CHECK(torch_split.train.size() == 60000);
  CHECK(torch_split.validation.size() == 0);
  CHECK(torch_split.test.size() == 10000);
  CHECK(equal(e.data.reshape({784}), select(torch_split.test.x(), 0, 9999)));
  CHECK(e.target.item<std::int64_t>() == torch_split.test.y().at({9999}));
  const data::Split book = data::load_fashion_mnist();
  CHECK(book.train.size() == 50000);
  CHECK(book.validation.size() == 10000);
  // Through the loader, with workers.
  dl::DataLoader loader(std::move(test), {.batch_size = 1000, .num_workers = 2, .drop_last = true});
  std::int64_t n = 0;
  for (auto& batch : loader) {
    CHECK(batch.data.shape() == Shape{1000, 1, 28, 28});
    n += batch.target.shape()[0];
  }
  CHECK(n == 10000);
  CHECK_THROWS_WITH_AS(dl::datasets::MNIST("/nonexistent"), Contains("no such directory"), IoError);
}
