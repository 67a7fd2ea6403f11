// optimizers: Adam, AdamW, RMSprop, Adagrad against PyTorch's updates (scripts/optimizer_reference.py
// printed the literals below), parameter groups, and checkpoints of every optimizer.
#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

#include "test_util.hpp"

using namespace nabla;
using nabla_test::TempDir;
using doctest::Contains;

namespace {

const std::vector<std::vector<double>> kGrads = {{0.5, -1.0, 2.0}, {-0.25, 0.75, 1.5}, {1.0, 0.5, -0.5}};

/// Three steps from w = [1, −2, 0.5] with the gradients above; the parameter after each.
template <class Make>
std::vector<std::vector<double>> three_steps(Make make) {
  nn::Param p{"w", tensor({1.0, -2.0, 0.5}, {3}, f64).requires_grad(true), true};
  auto opt = make(std::vector<nn::Param>{p});
  std::vector<std::vector<double>> out;
  for (const auto& g : kGrads) {
    p.tensor.set_grad(from_vector(g, {3}, f64));
    opt.step();
    out.push_back(p.tensor.to_vector());
  }
  return out;
}

void check_close(const std::vector<std::vector<double>>& got, const std::vector<std::vector<double>>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t s = 0; s < got.size(); ++s) {
    for (std::size_t i = 0; i < got[s].size(); ++i) CHECK(got[s][i] == doctest::Approx(want[s][i]).epsilon(1e-12));
  }
}

}  // namespace

TEST_CASE("optimizers: each update equals PyTorch's (float64, three steps)") {
  check_close(three_steps([](auto ps) { return optim::Adam(ps, {.lr = 0.1}); }),
              {{0.900000002, -1.900000001, 0.4000000005},
               {0.8733662987078463, -1.8910675003605355, 0.3017424929100241},
               {0.8075551396770898, -1.9083989585109238, 0.23980452025778967}});
  check_close(three_steps([](auto ps) { return optim::Adam(ps, {.lr = 0.1, .weight_decay = 0.1}); }),
              {{0.9000000016666666, -1.9000000008333333, 0.4000000004878049},
               {0.8544413674617625, -1.870767278976266, 0.3017274630771566},
               {0.7815043998631658, -1.8634805744453644, 0.23853163544516678}});
  check_close(three_steps([](auto ps) { return optim::AdamW(ps, {.lr = 0.1, .weight_decay = 0.1}); }),
              {{0.890000002, -1.880000001, 0.3950000005},
               {0.8544662986878463, -1.8522675003505356, 0.29279249290502407},
               {0.7801104766702113, -1.8510762834974184, 0.2279265953237394}});
  check_close(three_steps([](auto ps) { return optim::RMSprop(ps, {.lr = 0.01}); }),
              {{0.900000019999996, -1.900000009999999, 0.40000000499999977},
               {0.9449013374421751, -1.960192931711966, 0.33980708087257405},
               {0.8574273783928595, -1.9975963017206564, 0.35957455883518086}});
  check_close(three_steps([](auto ps) { return optim::RMSprop(ps, {.lr = 0.01, .weight_decay = 0.05, .momentum = 0.9}); }),
              {{0.900000018181815, -1.9000000090909084, 0.4000000049382714},
               {0.845079941359609, -1.8613520334326463, 0.2497755076645338},
               {0.7083223982360703, -1.8571019077677922, 0.13363085047370646}});
  check_close(three_steps([](auto ps) { return optim::Adagrad(ps, {.lr = 0.1, .lr_decay = 0.01, .initial_accumulator_value = 0.1}); }),
              {{0.9154845745414341, -1.9046537410845317, 0.40122704033991907},
               {0.9540241262265979, -1.9622453302629472, 0.34229071929281146},
               {0.8715333101724267, -1.9976914834987267, 0.3613715757666159}});
}

TEST_CASE("optimizers: parameter groups have their own learning rate and decay; a schedule keeps their ratio") {
  nn::Param a{"a", tensor({1.0}, {1}, f64).requires_grad(true), true}, b{"b", tensor({1.0}, {1}, f64).requires_grad(true), true};
  optim::SGD opt({optim::ParamGroup{{a}}, optim::ParamGroup{{b}, 0.5, 0.0}}, {.lr = 0.1});
  CHECK(opt.group_count() == 2);
  CHECK(opt.group_lr(1) == doctest::Approx(0.5));
  opt.set_lr(0.2);  // as a schedule would
  CHECK(opt.group_lr(0) == doctest::Approx(0.2));
  CHECK(opt.group_lr(1) == doctest::Approx(1.0));
  a.tensor.set_grad(ones({1}, f64));
  b.tensor.set_grad(ones({1}, f64));
  opt.step();
  CHECK(a.tensor.item() == doctest::Approx(0.8));
  CHECK(b.tensor.item() == doctest::Approx(0.0));
  // AdamW's decay per group: none for b.
  nn::Param c{"c", tensor({2.0}, {1}, f64).requires_grad(true), true}, d{"d", tensor({2.0}, {1}, f64).requires_grad(true), true};
  optim::AdamW adamw({optim::ParamGroup{{c}}, optim::ParamGroup{{d}, NAN, 0.0}}, {.lr = 0.1, .weight_decay = 0.5});
  c.tensor.set_grad(zeros({1}, f64));
  d.tensor.set_grad(zeros({1}, f64));
  adamw.step();
  CHECK(c.tensor.item() == doctest::Approx(2.0 * (1 - 0.1 * 0.5)));
  CHECK(d.tensor.item() == 2.0);
  CHECK_THROWS_WITH_AS(optim::Adam({optim::ParamGroup{{c}}, optim::ParamGroup{{c}}}), "Adam: parameter 'c' appears twice", ValueError);
  CHECK_THROWS_WITH_AS(optim::Adam({c}, {.betas = {1.0, 0.999}}), "Adam: betas[0] must be in [0, 1), got 1", ValueError);
}

TEST_CASE("optimizers: weight decay applies to every parameter, as torch.optim's; split_decay exempts biases") {
  auto make = [](bool decay) { return nn::Param{decay ? "w" : "b", tensor({2.0}, {1}, f64).requires_grad(true), decay}; };
  nn::Param w = make(true), b = make(false);
  optim::AdamW all({w, b}, {.lr = 0.1, .weight_decay = 0.5});
  w.tensor.set_grad(zeros({1}, f64));
  b.tensor.set_grad(zeros({1}, f64));
  all.step();
  CHECK(w.tensor.item() == doctest::Approx(2.0 * (1 - 0.1 * 0.5)));
  CHECK(b.tensor.item() == doctest::Approx(2.0 * (1 - 0.1 * 0.5)));  // the bias too (the book's SGD l2 would skip it)
  nn::Param w2 = make(true), b2 = make(false), w3 = make(true);
  const auto groups = optim::split_decay({b2, w2, w3});
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].params.size() == 2);
  CHECK(std::isnan(groups[0].weight_decay));
  CHECK(groups[1].params.size() == 1);
  CHECK(groups[1].weight_decay == 0.0);
  optim::AdamW weights_only(groups, {.lr = 0.1, .weight_decay = 0.5});
  for (auto* p : {&w2, &b2, &w3}) p->tensor.set_grad(zeros({1}, f64));
  weights_only.step();
  CHECK(w2.tensor.item() == doctest::Approx(2.0 * (1 - 0.1 * 0.5)));
  CHECK(b2.tensor.item() == 2.0);
  CHECK(optim::split_decay({w}).size() == 1);
}

TEST_CASE("optimizers: a checkpoint with Adam resumes bit-identically; another optimizer's state is refused") {
  TempDir dir;
  auto make_net = [] {
    Generator gen(3);
    return nn::Sequential{nn::Linear(4, 3, {}, gen), nn::Tanh(), nn::Linear(3, 2, {}, gen)};
  };
  Generator data_gen(9);
  Tensor x = randn({8, 4}, f32, data_gen);
  Tensor labels = nabla_test::labels(8, 2, data_gen);
  auto train = [&](nn::Sequential& net, optim::Optimizer& opt, int steps) {
    for (int i = 0; i < steps; ++i) {
      opt.zero_grad();
      softmax_cross_entropy(net(x), labels).backward();
      opt.step();
    }
  };
  nn::Sequential net = make_net();
  optim::Adam opt(net.parameters(), {.lr = 0.01});
  train(net, opt, 5);
  io::save_checkpoint(dir / "adam.safetensors", net, &opt);
  train(net, opt, 5);  // the uninterrupted run

  nn::Sequential resumed = make_net();
  optim::Adam opt2(resumed.parameters(), {.lr = 0.01});
  const io::TensorFile f = io::load_checkpoint(dir / "adam.safetensors", resumed, &opt2);
  CHECK(f.metadata.at("nabla.optimizer") == "adam");
  CHECK(opt2.steps() == 5);
  train(resumed, opt2, 5);
  for (std::size_t i = 0; i < net.parameters().size(); ++i) {
    CHECK(resumed.parameters()[i].tensor.to_vector<float>() == net.parameters()[i].tensor.to_vector<float>());
  }

  // Into SGD (momentum) or RMSprop: refused, model and optimizer unchanged.
  nn::Sequential other = make_net();
  optim::SGD sgd(other.parameters(), {.lr = 0.1, .momentum = 0.9});
  const auto before = other.state();
  std::map<std::string, std::vector<float>> values;
  for (const auto& [name, t] : before) values[name] = t.to_vector<float>();
  CHECK_THROWS_WITH_AS(io::load_checkpoint(dir / "adam.safetensors", other, &sgd),
                       Contains("holds the state of a \"adam\" optimizer; this one is sgd"), IoError);
  for (const auto& [name, t] : other.state()) CHECK(t.to_vector<float>() == values[name]);
  CHECK(sgd.steps() == 0);
  optim::RMSprop rms(other.parameters());
  CHECK_THROWS_AS(io::load_checkpoint(dir / "adam.safetensors", other, &rms), IoError);
  // A state with Adam's names but without the kind in the metadata (made by hand) is still refused
  // by its names.
  CHECK_THROWS_WITH_AS(rms.load_state(opt.state()), Contains("RMSprop.load_state: 'square_avg.0.weight' is missing"), ValueError);
}

TEST_CASE("clip_grad_norm_: rescales the joint norm to max_norm, returns the norm before, leaves small ones") {
  nn::Param a{"a", tensor({1.0, 2.0}, {2}, f64).requires_grad(true), true};
  nn::Param b{"b", tensor({0.0}, {1}, f64).requires_grad(true), true};
  nn::Param none{"none", tensor({5.0}, {1}, f64).requires_grad(true), true};  // no gradient: skipped
  a.tensor.set_grad(tensor({3.0, 0.0}, {2}, f64));
  b.tensor.set_grad(tensor({4.0}, {1}, f64));
  const std::vector<nn::Param> params{a, b, none};
  CHECK(optim::clip_grad_norm_(params, 1.0) == doctest::Approx(5.0));
  const double f = 1.0 / (5.0 + 1e-6);
  CHECK(a.tensor.grad().to_vector()[0] == doctest::Approx(3.0 * f).epsilon(1e-14));
  CHECK(b.tensor.grad().to_vector()[0] == doctest::Approx(4.0 * f).epsilon(1e-14));
  CHECK(optim::clip_grad_norm_(params, 10.0) == doctest::Approx(1.0).epsilon(1e-6));  // under: unchanged
  CHECK(b.tensor.grad().to_vector()[0] == doctest::Approx(4.0 * f).epsilon(1e-14));
  CHECK_THROWS_WITH_AS(optim::clip_grad_norm_(params, 0.0), Contains("clip_grad_norm_: max_norm is 0"), ValueError);
}

TEST_CASE("optimizers: torch.optim's spellings; one name per optimizer (class, errors, kind)") {
  static_assert(std::is_base_of_v<optim::Optimizer, optim::SGD> && std::is_base_of_v<optim::Optimizer, optim::Adam> &&
                std::is_base_of_v<optim::Adam, optim::AdamW> && std::is_base_of_v<optim::Optimizer, optim::RMSprop> &&
                std::is_base_of_v<optim::Optimizer, optim::Adagrad>);
  // The option structs take torch's fields in torch's order.
  const optim::SGDOptions sgd{.lr = 0.1, .momentum = 0.9, .dampening = 0.0, .weight_decay = 1e-4, .nesterov = true};
  const optim::AdamOptions adam{.lr = 1e-3, .betas = {0.5, 0.999}, .eps = 1e-8, .weight_decay = 0.0};
  const optim::AdamWOptions adamw{.lr = 1e-3, .betas = {0.9, 0.99}, .eps = 1e-8, .weight_decay = 0.01};
  const optim::RMSpropOptions rms{.lr = 1e-2, .alpha = 0.99, .eps = 1e-8, .weight_decay = 0.0, .momentum = 0.0};
  const optim::AdagradOptions ada{.lr = 1e-2, .lr_decay = 0.0, .weight_decay = 0.0, .initial_accumulator_value = 0.0, .eps = 1e-10};
  auto p = [] { return std::vector<nn::Param>{{"w", ones({2}, f64).requires_grad(true), true}}; };
  struct Case {
    std::unique_ptr<optim::Optimizer> opt;
    const char* name;
    const char* kind;
  };
  Case cases[] = {{std::make_unique<optim::SGD>(p(), sgd), "SGD", "sgd"},
                  {std::make_unique<optim::Adam>(p(), adam), "Adam", "adam"},
                  {std::make_unique<optim::AdamW>(p(), adamw), "AdamW", "adamw"},
                  {std::make_unique<optim::RMSprop>(p(), rms), "RMSprop", "rmsprop"},
                  {std::make_unique<optim::Adagrad>(p(), ada), "Adagrad", "adagrad"}};
  for (const Case& c : cases) {
    CAPTURE(c.name);
    CHECK(c.opt->name() == c.name);
    CHECK(c.opt->kind() == c.kind);
    // Its errors carry the same name.
    std::map<std::string, Tensor> state = c.opt->state();
    state.erase("steps");
    CHECK_THROWS_WITH_AS(c.opt->load_state(state), Contains((std::string(c.name) + ".load_state: 'steps'").c_str()), ValueError);
  }
  CHECK_THROWS_WITH_AS(optim::RMSprop(p(), {.lr = -1}), "RMSprop: lr must be a finite number ≥ 0, got -1", ValueError);
  CHECK_THROWS_WITH_AS(optim::AdamW(p(), {.eps = -1}), "AdamW: eps must be a finite number ≥ 0, got -1", ValueError);
  CHECK_THROWS_WITH_AS(optim::SGD(p(), {.lr = 0.1, .momentum = 2}), "SGD: momentum must be in [0, 1), got 2", ValueError);
}

namespace {
/// An optimizer written on the base as a user would: signSGD (Bernstein et al. 2018), w ← w − η sgn(g),
/// with a count of the updates per element as its one buffer. A few lines: the loop over the
/// parameters, groups and float types is the base's.
class SignSGD : public optim::Optimizer {
 public:
  SignSGD(std::vector<nn::Param> params, double lr) : Optimizer("SignSGD", {optim::ParamGroup{std::move(params)}}, lr, 0.0) { add_buffer("count"); }

 protected:
  void update(const optim::ParamUpdate<float>& u) override { apply(u); }
  void update(const optim::ParamUpdate<double>& u) override { apply(u); }

 private:
  template <class T>
  static void apply(const optim::ParamUpdate<T>& u) {
    for (std::int64_t i = 0; i < u.n; ++i) {
      u.w[i] -= T(u.lr) * T((u.g[i] > 0) - (u.g[i] < 0));
      u.buffer[0][i] += 1;
    }
  }
};
}  // namespace

TEST_CASE("optimizers: a new optimizer is its update of one parameter; the base runs the loop and keeps its state") {
  nn::Param a{"a", tensor({1.0, -2.0}, {2}, f64).requires_grad(true), true};
  nn::Param b{"b", tensor({0.5}, {1}, f32).requires_grad(true), false};  // float32: the base picks the type
  nn::Param none{"none", tensor({3.0}, {1}, f64).requires_grad(true), true};  // no gradient: skipped
  SignSGD opt({a, b, none}, 0.25);
  a.tensor.set_grad(tensor({0.1, -4.0}, {2}, f64));
  b.tensor.set_grad(tensor({-2.0}, {1}, f32));
  opt.step();
  CHECK(a.tensor.to_vector() == std::vector<double>{0.75, -1.75});
  CHECK(b.tensor.to_vector<float>() == std::vector<float>{0.75f});
  CHECK(none.tensor.to_vector() == std::vector<double>{3.0});
  CHECK(opt.kind() == "signsgd");
  CHECK(opt.steps() == 1);
  CHECK(opt.state().at("count.a").to_vector() == std::vector<double>{1, 1});
  CHECK(opt.state().at("count.none").to_vector() == std::vector<double>{0});
  // The base's checks name it.
  CHECK_THROWS_WITH_AS(SignSGD({}, 0.1), "SignSGD: optimizer got an empty parameter list", ValueError);
  CHECK_THROWS_WITH_AS(SignSGD({a}, -1.0), "SignSGD: lr must be a finite number ≥ 0, got -1", ValueError);
}
