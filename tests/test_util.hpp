// Helpers shared by the test suites.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>

namespace nabla_test {

inline int& gradcheck_cases() {
  static int n = 0;
  return n;
}
inline long& gradcheck_entries() {
  static long n = 0;
  return n;
}

inline int& gradgradcheck_cases() {
  static int n = 0;
  return n;
}
inline long& gradgradcheck_entries() {
  static long n = 0;
  return n;
}

/// Runs nabla::gradcheck and then nabla::gradgradcheck (the second derivatives), and counts them;
/// use as CHECK(check_grad(f, {x, y})). The result is the first that failed, else gradcheck's.
template <class F>
nabla::GradcheckResult check_grad(F f, const std::vector<nabla::Tensor>& inputs, nabla::GradcheckOptions opts = {}) {
  ++gradcheck_cases();
  nabla::GradcheckResult r = nabla::gradcheck(f, inputs, opts);
  gradcheck_entries() += r.entries;
  if (!r) return r;
  ++gradgradcheck_cases();
  nabla::GradcheckResult r2;
  try {
    r2 = nabla::gradgradcheck(f, inputs, opts);
  } catch (const nabla::GraphError& e) {  // an op without a second derivative: a failure naming it
    r2.ok = false;
    r2.message = std::string("gradgradcheck: ") + e.what();
  }
  gradgradcheck_entries() += r2.entries;
  return r2 ? r : r2;
}

/// gradcheck alone, for a function whose second derivative is out of reach of finite differences
/// (say why where it is used).
template <class F>
nabla::GradcheckResult check_grad_first_order(F f, const std::vector<nabla::Tensor>& inputs, nabla::GradcheckOptions opts = {}) {
  ++gradcheck_cases();
  nabla::GradcheckResult r = nabla::gradcheck(f, inputs, opts);
  gradcheck_entries() += r.entries;
  return r;
}

/// Float64 leaf drawn N(0, 1), requiring grad.
inline nabla::Tensor param(const nabla::Shape& s, nabla::Generator& gen) {
  return nabla::randn(s, nabla::f64, gen).requires_grad(true);
}

/// Float64 leaf whose entries stay at least `margin` away from 0 (for ops with a kink at 0:
/// 0.1 is 100,000 finite-difference steps of 1e-6).
inline nabla::Tensor param_away_from_zero(const nabla::Shape& s, nabla::Generator& gen, double margin = 0.1) {
  std::vector<double> v = nabla::randn(s, nabla::f64, gen).to_vector();
  for (double& x : v) x = x >= 0 ? x + margin : x - margin;
  return nabla::from_vector(v, s, nabla::f64).requires_grad(true);
}

/// Float64 leaf of distinct values at least 0.05 apart, shuffled (no ties for max).
inline nabla::Tensor param_distinct(const nabla::Shape& s, nabla::Generator& gen) {
  std::vector<double> v(static_cast<std::size_t>(s.numel()));
  std::iota(v.begin(), v.end(), 0.0);
  std::shuffle(v.begin(), v.end(), gen.engine());
  for (double& x : v) x = 0.05 * x - 0.5;
  return nabla::from_vector(v, s, nabla::f64).requires_grad(true);
}

/// Probabilities in (0.05, 0.95), f64, requiring grad.
inline nabla::Tensor param_prob(const nabla::Shape& s, nabla::Generator& gen) {
  return nabla::uniform(s, 0.05, 0.95, nabla::f64, gen).requires_grad(true);
}

/// int64 labels in [0, classes).
inline nabla::Tensor labels(std::int64_t n, std::int64_t classes, nabla::Generator& gen) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<std::int64_t>(gen.engine()() % static_cast<std::uint64_t>(classes));
  return nabla::from_vector(std::span<const std::int64_t>(v), {n});
}

/// max |a − b| over all elements.
inline double max_abs_diff(const nabla::Tensor& a, const nabla::Tensor& b) {
  const auto va = a.to_vector(), vb = b.to_vector();
  REQUIRE(va.size() == vb.size());
  double m = 0;
  for (std::size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

/// The message of the nabla::Error that f throws; "(no error)" when it throws none.
template <class F>
std::string message_of(F f) {
  try {
    f();
  } catch (const nabla::Error& e) {
    return e.what();
  }
  return "(no error)";
}

/// A fresh directory under the system's temporary directory, removed with everything in it.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "nabla-test-XXXXXX").string();
    path = mkdtemp(t.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

/// Shapes that exercise edge sizes: 1×1, a single row (batch 1), odd sizes.
inline std::vector<nabla::Shape> awkward_shapes() { return {{1, 1}, {1, 7}, {5, 3}, {3, 1}, {4}}; }

}  // namespace nabla_test
