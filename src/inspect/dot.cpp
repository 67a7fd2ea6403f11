// src/inspect/dot.cpp — the recorded graph as Graphviz DOT.
//
// Nodes are numbered in breadth-first order from the output, so the text is deterministic. A run
// of identical layers along the graph's spine (the chain of ops each fed by exactly one other op)
// is drawn once, with the edge that skips the repeats labelled "× N".
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "../tensor_impl.hpp"
#include "nabla/inspect.hpp"

namespace nabla::inspect {
namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string norm_text(double v) { return std::isnan(v) ? "" : fmt::format("\\n‖∇‖ = {:.4g}", v); }

// The single op feeding `n`, if exactly one of its edges leads to an op.
Node* only_fn_input(const Node* n) {
  Node* found = nullptr;
  for (const Edge& e : n->edges()) {
    if (!e.fn) continue;
    if (found != nullptr) return nullptr;
    found = e.fn.get();
  }
  return found;
}

struct Collapsed {
  std::set<const Node*> hidden;
  std::map<const Node*, std::pair<Node*, int>> skip;  // last shown node of a run → (node after the run, repeats)
};

Collapsed find_repeats(Node* start) {
  Collapsed c;
  std::vector<Node*> spine;
  for (Node* n = start; n != nullptr && spine.size() < 1'000'000; n = only_fn_input(n)) spine.push_back(n);
  // Also the last spine node's single input op, so a run may end just before it.
  const std::size_t len = spine.size();
  auto same = [&](std::size_t a, std::size_t b) { return spine[a]->name() == spine[b]->name(); };
  std::size_t i = 0;
  while (i < len) {
    std::size_t best_p = 0, best_r = 1;
    for (std::size_t p = 1; p <= 16 && i + 2 * p <= len; ++p) {
      std::size_t r = 1;
      while (i + (r + 1) * p <= len) {
        bool eq = true;
        for (std::size_t k = 0; k < p && eq; ++k) eq = same(i + k, i + r * p + k);
        if (!eq) break;
        ++r;
      }
      if (r >= 3 && p * r > best_p * best_r) best_p = p, best_r = r;
    }
    if (best_r < 3) {
      ++i;
      continue;
    }
    for (std::size_t k = i + best_p; k < i + best_p * best_r; ++k) c.hidden.insert(spine[k]);
    const std::size_t after = i + best_p * best_r;
    c.skip[spine[i + best_p - 1]] = {after < len ? spine[after] : only_fn_input(spine[len - 1]), int(best_r)};
    i = after;
  }
  return c;
}

}  // namespace

std::string to_dot(const Tensor& root, const DotOptions& opts) {
  if (!root.defined()) throw ValueError("to_dot: the tensor is undefined");
  if (opts.max_depth < 0) throw ValueError(fmt::format("to_dot: max_depth must be ≥ 0, got {}", opts.max_depth));
  std::string out = "digraph nabla {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n";
  out += fmt::format("  out [shape=ellipse, style=bold, label=\"output\\n{} {}\"];\n", root.shape(), root.dtype());
  Node* start = root.grad_fn().get();
  if (start == nullptr) return out + "}\n";

  const Collapsed col = opts.collapse_repeats ? find_repeats(start) : Collapsed{};
  std::map<const Node*, int> id;
  std::map<const nabla::detail::TensorImpl*, int> leaf_id;
  std::vector<std::pair<Node*, int>> queue{{start, 0}};
  id[start] = 0;
  int cuts = 0;
  std::string edges = "  n0 -> out;\n";
  for (std::size_t q = 0; q < queue.size(); ++q) {
    auto [n, depth] = queue[q];
    const int me = id[n];
    std::string label = fmt::format("{}\\n{} {}", n->name(), n->output_shape(), n->output_dtype());
    if (!n->scope().empty()) label += "\\n" + escape(n->scope());
    label += norm_text(n->grad_norm());
    out += fmt::format("  n{} [shape=box, label=\"{}\"];\n", me, label);

    auto to_node = [&](Node* m, const std::string& attrs) {
      if (depth + 1 > opts.max_depth) {
        out += fmt::format("  cut{} [shape=plaintext, label=\"… (deeper than {})\"];\n", cuts, opts.max_depth);
        edges += fmt::format("  cut{} -> n{};\n", cuts++, me);
        return;
      }
      auto [it, fresh] = id.try_emplace(m, int(id.size()));
      if (fresh) queue.emplace_back(m, depth + 1);
      edges += fmt::format("  n{} -> n{}{};\n", it->second, me, attrs);
    };
    for (const Edge& e : n->edges()) {
      if (e.fn) {
        if (col.hidden.contains(e.fn.get())) {
          auto s = col.skip.find(n);
          if (s != col.skip.end()) {
            if (s->second.first != nullptr) {
              to_node(s->second.first, fmt::format(" [style=dashed, label=\"× {}\"]", s->second.second));
            } else {
              out += fmt::format("  rep{} [shape=plaintext, label=\"× {}\"];\n", me, s->second.second);
              edges += fmt::format("  rep{} -> n{} [style=dashed];\n", me, me);
            }
          }
          continue;
        }
        to_node(e.fn.get(), "");
      } else if (const auto leaf = e.leaf.lock()) {
        auto [it, fresh] = leaf_id.try_emplace(leaf.get(), int(leaf_id.size()));
        if (fresh) {
          const nabla::detail::TensorImpl& t = *leaf;
          out += fmt::format("  l{} [shape=ellipse, label=\"{} {}{}\"];\n", it->second, t.shape, t.dtype,
                             t.grad.defined() ? norm_text(detail::l2_norm(t.grad)) : "");
        }
        edges += fmt::format("  l{} -> n{};\n", it->second, me);
      }
    }
  }
  return out + edges + "}\n";
}

void write_dot(const Tensor& root, const std::string& path, const DotOptions& opts) {
  const std::string text = to_dot(root, opts);
  const std::filesystem::path p(path);
  const std::string ext = p.extension().string();
  const bool render = ext == ".svg" || ext == ".png";
  const std::string dot_path = render ? path + ".dot" : path;
  {
    std::ofstream f(dot_path, std::ios::binary);
    if (!(f << text) || !f.flush()) throw IoError(fmt::format("write_dot: cannot write {}", dot_path));
  }
  if (!render) return;
  const std::string cmd = fmt::format("dot -T{} -o '{}' '{}' 2>&1", ext.substr(1), path, dot_path);
  std::FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) throw IoError(fmt::format("write_dot: cannot run Graphviz dot for {}", path));
  std::string msg;
  char buf[256];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) msg += buf;
  const int rc = pclose(pipe);
  std::error_code ignored;
  std::filesystem::remove(dot_path, ignored);
  if (rc != 0) {
    throw IoError(fmt::format("write_dot: Graphviz dot could not render {} (exit status {}{}){}", path, rc,
                              rc == 127 << 8 ? ": not installed? apt-get install graphviz" : "", msg.empty() ? "" : ": " + msg));
  }
}

}  // namespace nabla::inspect
