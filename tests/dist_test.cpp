// tests/dist_test.cpp — what data-parallel training rests on, in one process: the post-accumulate
// gradient hook, the sharded batch order, and nabla::dist at world size 1. The ranks themselves
// (2 processes under mpirun) are tested by tests/dist/dist_check.cpp and tests/dist/*.cmake.
#include <algorithm>
#include <numeric>
#include <set>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

using namespace nabla;

TEST_CASE("post-accumulate hook: once per backward, after the leaf's last contribution") {
  Tensor w = from_vector(std::vector<double>{1, 2, 3}, {3}).requires_grad(true);
  std::vector<std::vector<double>> seen;
  const std::size_t id = w.register_post_accumulate_grad_hook([&](const Tensor& t) { seen.push_back(t.grad().to_vector<double>()); });
  // w is used three times: the hook sees the total, once.
  Tensor c = sum(w * w) + sum(w * 3.0) + sum(exp(w * 0.0));
  c.backward();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == std::vector<double>{5, 7, 9});  // 2w + 3 + 0
  // A second backward accumulates, and the hook sees the accumulated .grad.
  sum(w).backward();
  REQUIRE(seen.size() == 2);
  CHECK(seen[1] == std::vector<double>{6, 8, 10});
  // grad() leaves .grad alone and calls no post-accumulate hook.
  (void)grad({sum(w * w)}, {w});
  CHECK(seen.size() == 2);
  // A backward from the leaf itself.
  w.backward(ones({3}, w.dtype()));
  CHECK(seen.size() == 3);
  // Removed: not called again.
  w.remove_hook(id);
  sum(w).backward();
  CHECK(seen.size() == 3);
}

TEST_CASE("post-accumulate hook: a leaf the backward does not reach is not called; misuse is refused") {
  Tensor a = ones({2}, f64).requires_grad(true), b = ones({2}, f64).requires_grad(true);
  int calls_a = 0, calls_b = 0;
  a.register_post_accumulate_grad_hook([&](const Tensor&) { ++calls_a; });
  b.register_post_accumulate_grad_hook([&](const Tensor&) { ++calls_b; });
  sum(a * 2.0).backward();
  CHECK(calls_a == 1);
  CHECK(calls_b == 0);
  // Both reached, in one pass: each once.
  sum(a * b).backward();
  CHECK(calls_a == 2);
  CHECK(calls_b == 1);
  Tensor y = a * 2.0;
  CHECK_THROWS_AS(y.register_post_accumulate_grad_hook([](const Tensor&) {}), GraphError);
  CHECK_THROWS_AS(ones({2}).register_post_accumulate_grad_hook([](const Tensor&) {}), GraphError);
}

TEST_CASE("batches sharded over ranks: disjoint, equal in size, and together one process's batches at W·b") {
  const std::int64_t n = 24, b = 3;
  Tensor x = arange(0, double(n), 1, f32).reshape({n, 1});
  data::Dataset d(x, arange(0, double(n), 1, i64));
  for (std::int64_t world : {2, 3, 4}) {
    std::vector<std::vector<std::int64_t>> per_rank;
    for (std::int64_t r = 0; r < world; ++r) {
      std::vector<std::int64_t> ids;
      for (const auto& batch : d.batches(b, {.shuffle = true, .seed = 7, .rank = r, .world_size = world})) {
        for (auto v : batch.y.to_vector<std::int64_t>()) ids.push_back(v);
      }
      CHECK(std::int64_t(ids.size()) == n / world);
      per_rank.push_back(ids);
    }
    // Batch k of every rank together = batch k of one process at world·b.
    std::int64_t k = 0;
    for (const auto& batch : d.batches(b * world, {.shuffle = true, .seed = 7})) {
      std::multiset<std::int64_t> one;
      for (auto v : batch.y.to_vector<std::int64_t>()) one.insert(v);
      std::multiset<std::int64_t> all;
      for (const auto& ids : per_rank) {
        for (std::int64_t i = k * b; i < std::min<std::int64_t>((k + 1) * b, std::int64_t(ids.size())); ++i) all.insert(ids[std::size_t(i)]);
      }
      CHECK(one == all);
      ++k;
    }
  }
  // n not divisible by the world: the last n mod W of the order are left out, every rank the same size.
  data::Dataset odd = d.slice(0, 23);
  std::set<std::int64_t> union_ids;
  for (std::int64_t r = 0; r < 2; ++r) {
    const auto batches = odd.batches(5, {.shuffle = true, .seed = 1, .rank = r, .world_size = 2});
    CHECK(batches.size() == 3);  // 11 examples each: 5, 5, 1
    for (const auto& batch : batches) {
      for (auto v : batch.y.to_vector<std::int64_t>()) CHECK(union_ids.insert(v).second);
    }
  }
  CHECK(union_ids.size() == 22);
  CHECK_THROWS_AS(d.batches(4, {.rank = 2, .world_size = 2}), ValueError);
  CHECK_THROWS_AS(d.batches(4, {.world_size = 0}), ValueError);
}

TEST_CASE("dist at world size 1: every collective is the identity, DistributedDataParallel does nothing") {
  if (dist::launched_by_mpi()) return;  // the suite runs as a plain process; under mpirun see tests/dist/
  dist::init();
  CHECK(dist::is_initialized());
  CHECK(dist::rank() == 0);
  CHECK(dist::world_size() == 1);
  CHECK(dist::is_main());
  Tensor t = from_vector(std::vector<float>{1, 2}, {2});
  dist::all_reduce(t);
  dist::broadcast(t);
  CHECK(t.to_vector<float>() == std::vector<float>{1, 2});
  CHECK(dist::all_reduce(std::vector<double>{1.5}) == std::vector<double>{1.5});
  CHECK(dist::all_gather(42) == std::vector<std::uint64_t>{42});
  CHECK(dist::shard_range(10) == std::pair<std::int64_t, std::int64_t>{0, 10});
  dist::check_same("a value", 5);
  Generator gen(1);
  nn::Sequential net{nn::Linear(3, 2, {}, gen), nn::Sigmoid()};
  dist::check_same_model(net);
  dist::broadcast_state(net);
  dist::DistributedDataParallel ddp(net);
  Tensor c = sum(net(ones({4, 3})));
  c.backward();
  const auto before = net.parameters()[0].tensor.grad().to_vector<float>();
  ddp.synchronize();
  CHECK(net.parameters()[0].tensor.grad().to_vector<float>() == before);
  CHECK(ddp.stats().buckets == 0);
  const train::Evaluation e = dist::all_reduce(train::Evaluation{.cost = 0.5, .accuracy = 0.75, .correct = 3, .examples = 4});
  CHECK(e.cost == 0.5);
  CHECK(e.accuracy == 0.75);
  CHECK(dist::hash_bytes("ab", 2) != dist::hash_bytes("ba", 2));
  CHECK(!dist::describe().empty());
}
