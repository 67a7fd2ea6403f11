// Reading the PyTorch reference files (tests/data/*_reference.json) written by scripts/*_reference.py.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include <doctest/doctest.h>
#include <nabla/nabla.hpp>
#include <nlohmann/json.hpp>

namespace nabla_test {

/// {"dtype", "shape", "values"} → a tensor (float64, int64 or bool).
inline nabla::Tensor decode(const nlohmann::json& j) {
  using namespace nabla;
  Shape s;
  for (std::int64_t d : j.at("shape")) s.push_back(d);
  const std::string dt = j.at("dtype");
  if (dt == "int64") return from_vector(std::span<const std::int64_t>(j.at("values").get<std::vector<std::int64_t>>()), s);
  std::vector<double> v;
  if (dt == "bool") {
    for (bool x : j.at("values")) v.push_back(x ? 1 : 0);
  } else {
    v = j.at("values").get<std::vector<double>>();
  }
  Tensor t = from_vector(std::span<const double>(v), s, f64);
  return dt == "bool" ? t.to(b8) : t;
}

/// max |a − b| / max(1, |b|) over the elements; the shapes must match.
inline double worst(const nabla::Tensor& a, const nabla::Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto va = a.to_vector(), vb = b.to_vector();
  double w = 0;
  for (std::size_t i = 0; i < va.size(); ++i) w = std::max(w, std::abs(va[i] - vb[i]) / std::max(1.0, std::abs(vb[i])));
  return w;
}

}  // namespace nabla_test
