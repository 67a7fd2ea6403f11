// src/io/pickle.cpp — the state-dict pickle reader (see pickle.hpp): opcodes, the allowlist, and
// what REDUCE, BUILD and BINPERSID make of the allowlisted names.
#include "pickle.hpp"

#include <bit>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

#include "nabla/error.hpp"

namespace nabla::io::detail {

std::size_t element_size(StorageType t) {
  switch (t) {
    case StorageType::f64: case StorageType::i64: return 8;
    case StorageType::f32: case StorageType::i32: return 4;
    case StorageType::f16: case StorageType::bf16: case StorageType::i16: return 2;
    case StorageType::i8: case StorageType::u8: case StorageType::b8: return 1;
  }
  return 1;
}

const char* storage_type_name(StorageType t) {
  switch (t) {
    case StorageType::f32: return "FloatStorage";
    case StorageType::f64: return "DoubleStorage";
    case StorageType::f16: return "HalfStorage";
    case StorageType::bf16: return "BFloat16Storage";
    case StorageType::i64: return "LongStorage";
    case StorageType::i32: return "IntStorage";
    case StorageType::i16: return "ShortStorage";
    case StorageType::i8: return "CharStorage";
    case StorageType::u8: return "ByteStorage";
    case StorageType::b8: return "BoolStorage";
  }
  return "?";
}

std::string printable(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (out.size() >= 77) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) out += fmt::format("\\x{:02x}", u);
    else out += c;
  }
  return out;
}

namespace {

using Kind = PyValue::Kind;

enum GlobalId : int {
  kOrderedDict = 1, kRebuildTensorV2, kRebuildTensor, kRebuildParameter, kRebuildParameterWithState,
  kSize, kDevice, kStorageType, kDtype, kCodecsEncode,
};

struct Allowed {
  std::string_view module, name;
  GlobalId id;
  StorageType storage = StorageType::f32;
};

// What a state dict may name. Everything else — os.system, builtins.eval, a model's own class
// (torch.save(model) instead of model.state_dict()), numpy scalars — is refused.
constexpr Allowed kAllowed[] = {
    {"collections", "OrderedDict", kOrderedDict},
    {"torch._utils", "_rebuild_tensor_v2", kRebuildTensorV2},
    {"torch._utils", "_rebuild_tensor", kRebuildTensor},
    {"torch._utils", "_rebuild_parameter", kRebuildParameter},
    {"torch._utils", "_rebuild_parameter_with_state", kRebuildParameterWithState},
    {"torch", "Size", kSize},
    {"_codecs", "encode", kCodecsEncode},  // how protocol 2 writes a bytes object: encode(str, "latin1")
    {"torch", "device", kDevice},
    {"torch", "FloatStorage", kStorageType, StorageType::f32},
    {"torch", "DoubleStorage", kStorageType, StorageType::f64},
    {"torch", "HalfStorage", kStorageType, StorageType::f16},
    {"torch", "BFloat16Storage", kStorageType, StorageType::bf16},
    {"torch", "LongStorage", kStorageType, StorageType::i64},
    {"torch", "IntStorage", kStorageType, StorageType::i32},
    {"torch", "ShortStorage", kStorageType, StorageType::i16},
    {"torch", "CharStorage", kStorageType, StorageType::i8},
    {"torch", "ByteStorage", kStorageType, StorageType::u8},
    {"torch", "UntypedStorage", kStorageType, StorageType::u8},
    {"torch", "BoolStorage", kStorageType, StorageType::b8},
    {"torch", "float32", kDtype}, {"torch", "float", kDtype}, {"torch", "float64", kDtype},
    {"torch", "double", kDtype}, {"torch", "float16", kDtype}, {"torch", "half", kDtype},
    {"torch", "bfloat16", kDtype}, {"torch", "int64", kDtype}, {"torch", "long", kDtype},
    {"torch", "int32", kDtype}, {"torch", "int", kDtype}, {"torch", "int16", kDtype},
    {"torch", "short", kDtype}, {"torch", "int8", kDtype}, {"torch", "uint8", kDtype},
    {"torch", "bool", kDtype},
};

/// The name of a pickle opcode, for the refusal of one this reader does not run.
const char* opcode_name(std::uint8_t op) {
  switch (op) {
    case '(': return "MARK"; case '.': return "STOP"; case '0': return "POP"; case '1': return "POP_MARK";
    case '2': return "DUP"; case 'F': return "FLOAT"; case 'I': return "INT"; case 'L': return "LONG";
    case 'P': return "PERSID"; case 'S': return "STRING"; case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING"; case 'V': return "UNICODE"; case 'd': return "DICT";
    case 'g': return "GET"; case 'i': return "INST"; case 'l': return "LIST"; case 'o': return "OBJ";
    case 'p': return "PUT"; case 0x81: return "NEWOBJ"; case 0x82: return "EXT1"; case 0x83: return "EXT2";
    case 0x84: return "EXT4"; case 0x8f: return "EMPTY_SET"; case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET"; case 0x92: return "NEWOBJ_EX"; case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER"; case 0x98: return "READONLY_BUFFER";
    default: return "an unknown opcode";
  }
}

class Machine {
 public:
  Machine(std::span<const std::byte> bytes, const std::string& where) : bytes_(bytes), where_(where) {}

  Pickle run() {
    while (true) {
      op_at_ = at_;
      const auto op = static_cast<std::uint8_t>(next(1)[0]);
      ++out_.opcodes;
      switch (op) {
        case 0x80: {  // PROTO
          const auto v = le(1);
          if (v > 5) fail(fmt::format("pickle protocol {}; nabla reads protocols 2 to 5", v));
          break;
        }
        case 0x95: next(8); break;  // FRAME: a length hint; the bytes follow as usual
        case '}': push(make(Kind::dict)); break;
        case ']': push(make(Kind::list)); break;
        case ')': push(make(Kind::tuple)); break;
        case '(': marks_.push_back(stack_.size()); break;
        case 'X': push_text(Kind::string, le(4)); break;            // BINUNICODE
        case 0x8c: push_text(Kind::string, le(1)); break;           // SHORT_BINUNICODE
        case 0x8d: push_text(Kind::string, le(8)); break;           // BINUNICODE8
        case 'B': push_text(Kind::bytes, le(4)); break;             // BINBYTES
        case 'C': push_text(Kind::bytes, le(1)); break;             // SHORT_BINBYTES
        case 0x8e: push_text(Kind::bytes, le(8)); break;            // BINBYTES8
        case 'J': push_int(static_cast<std::int32_t>(le(4))); break;  // BININT
        case 'K': push_int(static_cast<std::int64_t>(le(1))); break;  // BININT1
        case 'M': push_int(static_cast<std::int64_t>(le(2))); break;  // BININT2
        case 0x8a: push_long(le(1)); break;                         // LONG1
        case 0x8b: push_long(le(4)); break;                         // LONG4
        case 'G': {                                                 // BINFLOAT: big-endian
          std::uint64_t bits = 0;
          for (const std::byte b : std::span(next(8), 8)) bits = (bits << 8) | std::to_integer<std::uint64_t>(b);
          PyValue* v = make(Kind::floating);
          v->floating = std::bit_cast<double>(bits);
          push(v);
          break;
        }
        case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
          PyValue* v = make(Kind::boolean);
          v->boolean = op == 0x88;
          push(v);
          break;
        }
        case 'N': push(make(Kind::none)); break;
        case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
          const std::size_t n = op - 0x84u;
          if (stack_.size() - floor() < n) fail(fmt::format("TUPLE{} needs {} values on the stack", n, n));
          PyValue* t = make(Kind::tuple);
          t->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(t);
          break;
        }
        case 't': {
          PyValue* t = make(Kind::tuple);
          t->items = pop_mark();
          push(t);
          break;
        }
        case 's': {  // SETITEM
          PyValue* v = pop();
          PyValue* k = pop();
          PyValue* d = into(Kind::dict, "SETITEM");
          d->items.push_back(k);
          d->items.push_back(v);
          break;
        }
        case 'u': {  // SETITEMS
          std::vector<PyValue*> kv = pop_mark();
          if (kv.size() % 2 != 0) fail(fmt::format("SETITEMS with an odd number of values ({})", kv.size()));
          PyValue* d = into(Kind::dict, "SETITEMS");
          d->items.insert(d->items.end(), kv.begin(), kv.end());
          break;
        }
        case 'a': {  // APPEND
          PyValue* v = pop();
          into(Kind::list, "APPEND")->items.push_back(v);
          break;
        }
        case 'e': {  // APPENDS
          std::vector<PyValue*> vs = pop_mark();
          PyValue* l = into(Kind::list, "APPENDS");
          l->items.insert(l->items.end(), vs.begin(), vs.end());
          break;
        }
        case 'q': memo_[le(1)] = top("BINPUT"); break;
        case 'r': memo_[le(4)] = top("LONG_BINPUT"); break;
        case 0x94: memo_[memo_.size()] = top("MEMOIZE"); break;
        case 'h': push(memo(le(1))); break;  // BINGET
        case 'j': push(memo(le(4))); break;  // LONG_BINGET
        case '0': pop(); break;              // POP
        case '1': pop_mark(); break;         // POP_MARK
        case '2': push(top("DUP")); break;   // DUP
        case 'c': {                          // GLOBAL: "module\nname\n"
          const std::string module = line(), name = line();
          push(global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          PyValue* name = pop();
          PyValue* module = pop();
          if (module->kind != Kind::string || name->kind != Kind::string) fail("STACK_GLOBAL needs two strings");
          push(global(module->text, name->text));
          break;
        }
        case 'R': {  // REDUCE
          PyValue* args = pop();
          PyValue* callable = pop();
          push(reduce(*callable, *args));
          break;
        }
        case 'b': {  // BUILD
          PyValue* state = pop();
          build(*top("BUILD"), *state);
          break;
        }
        case 'Q': push(persistent(*pop())); break;  // BINPERSID
        case '.': {                                  // STOP
          if (!marks_.empty()) fail("STOP inside an unclosed MARK");
          if (stack_.size() != 1) fail(fmt::format("STOP with {} values on the stack; a pickle ends with one", stack_.size()));
          out_.root = stack_.back();
          out_.end = at_;
          return std::move(out_);
        }
        default:
          fail(fmt::format("opcode 0x{:02x} ({}) is not one a state dict needs; nabla reads protocol 2-5 pickles of "
                           "dicts, lists, tuples, strings, numbers and tensors",
                           op, opcode_name(op)));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw IoError(fmt::format("{}, byte {}: {}", where_, op_at_, what));
  }

  const std::byte* next(std::uint64_t n) {
    if (n > bytes_.size() - at_) {
      throw IoError(fmt::format("{}, byte {}: the pickle ends {} bytes early (no STOP)", where_, op_at_, n - (bytes_.size() - at_)));
    }
    const std::byte* p = bytes_.data() + at_;
    at_ += n;
    return p;
  }
  std::uint64_t le(int n) {
    const std::byte* p = next(static_cast<std::uint64_t>(n));
    std::uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | std::to_integer<std::uint64_t>(p[k]);
    return v;
  }
  std::string line() {
    const std::size_t start = at_;
    while (true) {
      const char c = static_cast<char>(next(1)[0]);
      if (c == '\n') break;
      if (at_ - start > 256) fail("GLOBAL names longer than 256 bytes");
    }
    return std::string(reinterpret_cast<const char*>(bytes_.data() + start), at_ - start - 1);
  }

  PyValue* make(Kind k) {
    if (out_.arena.size() >= kMaxObjects) fail(fmt::format("more than {} objects; nabla reads pickles of at most that many", kMaxObjects));
    PyValue& v = out_.arena.emplace_back();
    v.kind = k;
    return &v;
  }
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(PyValue* v) { stack_.push_back(v); }
  PyValue* pop() {
    if (stack_.size() <= floor()) fail("an opcode pops more values than the stack holds");
    PyValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PyValue* top(const char* op) {
    if (stack_.size() <= floor()) fail(fmt::format("{} on an empty stack", op));
    return stack_.back();
  }
  std::vector<PyValue*> pop_mark() {
    if (marks_.empty()) fail("an opcode needs a MARK and there is none");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyValue*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  /// The container below the top of the stack that SETITEM/APPEND add to.
  PyValue* into(Kind k, const char* op) {
    PyValue* c = top(op);
    if (c->kind != k) fail(fmt::format("{} on a {}, not a {}", op, kind_name(c->kind), kind_name(k)));
    return c;
  }
  PyValue* memo(std::uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail(fmt::format("memo entry {} was never stored", index));
    return it->second;
  }

  void push_text(Kind k, std::uint64_t n) {
    const std::byte* p = next(n);
    PyValue* v = make(k);
    v->text.assign(reinterpret_cast<const char*>(p), n);
    push(v);
  }
  void push_int(std::int64_t i) {
    PyValue* v = make(Kind::integer);
    v->integer = i;
    push(v);
  }
  void push_long(std::uint64_t n) {  // little-endian two's complement of n bytes
    if (n > 8) fail(fmt::format("an integer of {} bytes; nabla reads integers of at most 64 bits", n));
    const std::byte* p = next(n);
    std::uint64_t v = 0;
    for (std::uint64_t k = n; k-- > 0;) v = (v << 8) | std::to_integer<std::uint64_t>(p[k]);
    if (n > 0 && n < 8 && (std::to_integer<unsigned>(p[n - 1]) & 0x80u)) v |= ~std::uint64_t(0) << (8 * n);  // sign-extend
    push_int(static_cast<std::int64_t>(v));
  }

  static const char* kind_name(Kind k) {
    switch (k) {
      case Kind::none: return "None";
      case Kind::boolean: return "bool";
      case Kind::integer: return "int";
      case Kind::floating: return "float";
      case Kind::string: return "str";
      case Kind::bytes: return "bytes";
      case Kind::tuple: return "tuple";
      case Kind::list: return "list";
      case Kind::dict: return "dict";
      case Kind::global: return "global";
      case Kind::storage: return "storage";
      case Kind::tensor: return "tensor";
    }
    return "?";
  }

  PyValue* global(const std::string& module, const std::string& name) {
    for (const Allowed& a : kAllowed) {
      if (a.module == module && a.name == name) {
        PyValue* v = make(Kind::global);
        v->text = module + "." + name;
        v->global_id = a.id;
        v->storage_type = a.storage;
        return v;
      }
    }
    std::string hint;
    if (module.starts_with("__main__") || module.starts_with("__torch__") || module.starts_with("torch.nn.modules")) {
      hint = " (a whole model or a TorchScript archive: save model.state_dict() instead)";
    }
    fail(fmt::format("the pickle names the global '{}.{}', which is not one a state dict holds{}; nabla calls nothing a "
                     "file names and reads only OrderedDicts, tensors (torch._utils._rebuild_tensor_v2, torch.*Storage), "
                     "torch.Size, torch.device and dtypes",
                     printable(module), printable(name), hint));
  }

  /// REDUCE of an allowlisted callable: what it would return, made as data.
  PyValue* reduce(const PyValue& callable, const PyValue& args) {
    if (callable.kind != Kind::global) fail(fmt::format("REDUCE of a {}; only allowlisted globals may be called", kind_name(callable.kind)));
    if (args.kind != Kind::tuple) fail(fmt::format("REDUCE of {} with a {} of arguments, not a tuple", callable.text, kind_name(args.kind)));
    const std::vector<PyValue*>& a = args.items;
    auto want = [&](bool ok, const char* expected) {
      if (!ok) fail(fmt::format("{} with arguments other than {}", callable.text, expected));
    };
    switch (callable.global_id) {
      case kOrderedDict:
        want(a.empty(), "()");
        return make(Kind::dict);
      case kRebuildTensorV2:
      case kRebuildTensor: {
        const bool v2 = callable.global_id == kRebuildTensorV2;
        want(v2 ? (a.size() == 6 || a.size() == 7) : a.size() == 4,
             v2 ? "(storage, offset, sizes, strides, requires_grad, hooks[, metadata])" : "(storage, offset, sizes, strides)");
        want(a[0]->kind == Kind::storage && a[1]->kind == Kind::integer && a[2]->kind == Kind::tuple && a[3]->kind == Kind::tuple,
             "a storage, an int offset and tuples of sizes and strides");
        if (v2) want(a[4]->kind == Kind::boolean && a[5]->kind == Kind::dict && a[5]->items.empty(), "requires_grad a bool and no hooks");
        PyValue* t = make(Kind::tensor);
        t->items = {a[0]};
        t->integer = a[1]->integer;
        for (const PyValue* d : a[2]->items) {
          want(d->kind == Kind::integer, "int sizes");
          t->sizes.push_back(d->integer);
        }
        for (const PyValue* s : a[3]->items) {
          want(s->kind == Kind::integer, "int strides");
          t->strides.push_back(s->integer);
        }
        want(t->sizes.size() == t->strides.size(), "as many strides as sizes");
        return t;
      }
      case kRebuildParameter:
      case kRebuildParameterWithState:
        want(a.size() == (callable.global_id == kRebuildParameter ? 3u : 4u) && a[0]->kind == Kind::tensor,
             "(tensor, requires_grad, hooks[, state])");
        return a[0];
      case kSize: {
        want(a.size() == 1 && a[0]->kind == Kind::tuple, "(a tuple of ints)");
        for (const PyValue* d : a[0]->items) want(d->kind == Kind::integer, "(a tuple of ints)");
        return a[0];
      }
      case kDevice: {
        want(!a.empty() && a.size() <= 2 && a[0]->kind == Kind::string && (a.size() == 1 || a[1]->kind == Kind::integer),
             "(type[, index])");
        PyValue* v = make(Kind::string);
        v->text = a.size() == 1 ? a[0]->text : fmt::format("{}:{}", a[0]->text, a[1]->integer);
        return v;
      }
      case kCodecsEncode: {  // the bytes whose latin-1 characters the (UTF-8) string holds
        want(a.size() == 2 && a[0]->kind == Kind::string && a[1]->kind == Kind::string &&
                 (a[1]->text == "latin1" || a[1]->text == "latin-1"),
             "(str, 'latin1')");
        PyValue* v = make(Kind::bytes);
        const std::string& u = a[0]->text;
        for (std::size_t i = 0; i < u.size(); ++i) {
          const auto c = static_cast<unsigned char>(u[i]);
          if (c < 0x80) {
            v->text += static_cast<char>(c);
          } else if ((c == 0xc2 || c == 0xc3) && i + 1 < u.size() && (static_cast<unsigned char>(u[i + 1]) & 0xc0) == 0x80) {
            v->text += static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(u[++i]) & 0x3f));
          } else {
            fail("_codecs.encode of a string that is not latin-1");
          }
        }
        return v;
      }
      default:
        fail(fmt::format("REDUCE of {}, which is not called when a state dict is read", callable.text));
    }
  }

  /// BUILD: only the attributes an OrderedDict state dict carries (its _metadata), which are dropped.
  void build(const PyValue& target, const PyValue& state) {
    if (target.kind == Kind::dict && (state.kind == Kind::dict || state.kind == Kind::none)) return;
    fail(fmt::format("BUILD of a {} with a {}; nabla sets the attributes of nothing but a state dict (an OrderedDict)",
                     kind_name(target.kind), kind_name(state.kind)));
  }

  /// BINPERSID: ('storage', storage type, key, location, numel), as torch.save writes it; the legacy
  /// format adds a sixth, None (a view of the storage, which PyTorch stopped writing in 0.4, is refused).
  PyValue* persistent(const PyValue& pid) {
    const std::vector<PyValue*>& p = pid.items;
    if (pid.kind != Kind::tuple || (p.size() != 5 && !(p.size() == 6 && p[5]->kind == Kind::none)) ||
        p[0]->kind != Kind::string || p[0]->text != "storage" || p[1]->kind != Kind::global ||
        p[1]->global_id != kStorageType || p[2]->kind != Kind::string || p[3]->kind != Kind::string ||
        p[4]->kind != Kind::integer) {
      fail("a persistent id other than ('storage', torch.<type>Storage, key, location, numel)");
    }
    if (p[4]->integer < 0) fail(fmt::format("storage '{}' has {} elements", printable(p[2]->text), p[4]->integer));
    PyValue* s = make(Kind::storage);
    s->storage_type = p[1]->storage_type;
    s->text = p[2]->text;
    s->integer = p[4]->integer;
    return s;
  }

  std::span<const std::byte> bytes_;
  const std::string& where_;
  std::size_t at_ = 0, op_at_ = 0;
  std::vector<PyValue*> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, PyValue*> memo_;
  Pickle out_;
};

}  // namespace

Pickle read_pickle(std::span<const std::byte> bytes, const std::string& where) { return Machine(bytes, where).run(); }

}  // namespace nabla::io::detail
