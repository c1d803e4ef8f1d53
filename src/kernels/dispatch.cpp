// Builds one traits table per instruction set and picks the best one the CPU
// runs (once, at first use). Per-ISA kernels live in x86/*_avx2.cpp and
// x86/*_avx512.cpp; nothing here is compiled with ISA flags, so this file is
// safe to run anywhere.
#include <cpuid.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "kernels/gemm_panel.h"
#include "kernels/isa_kernels.h"
#include "kernels/ref/ref_kernels.h"
#include "kernels/ref/ref_kernels_ext.h"

namespace lineage {

namespace {

struct Tables {
  TypeTraits rows[3][kTypeSlots] = {};  // by Isa, then DType id
  bool present[kTypeSlots] = {};
  Isa best = Isa::Scalar;
};

void add(Tables& t, DType type, DType vdt, ToFloatFn to, FromFloatFn from, VecDotFn dot) {
  const auto id = static_cast<uint32_t>(type);
  t.rows[0][id] = TypeTraits{type, vdt, to, from, dot, nullptr};
  t.present[id] = true;
}

uint64_t read_xcr0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

Isa detect_isa() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::Scalar;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
  if (!osxsave || !avx) return Isa::Scalar;
  const uint64_t xcr0 = read_xcr0();
  if ((xcr0 & 6) != 6) return Isa::Scalar;  // OS does not save YMM state
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return Isa::Scalar;
  const bool avx2 = b & (1u << 5);
  if (!(avx2 && fma && f16c)) return Isa::Scalar;
  const bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
  const bool vnni = c & (1u << 11);
  const bool zmm_state = (xcr0 & 0xe0) == 0xe0;  // opmask + both ZMM halves
  if (f && dq && bw && vl && vnni && zmm_state) return Isa::Avx512;
  return Isa::Avx2;
}

Tables build_tables() {
  Tables t;
  using namespace ref;
  add(t, DType::F32, DType::F32, to_float_f32, from_float_f32, vec_dot_f32);
  add(t, DType::F16, DType::F32, to_float_f16, from_float_f16, vec_dot_f16);
  add(t, DType::BF16, DType::F32, to_float_bf16, from_float_bf16, vec_dot_bf16);
  add(t, DType::Q8_0, DType::Q8_0, to_float_q8_0, from_float_q8_0, vec_dot_q8_0);
  add(t, DType::Q4_0, DType::Q8_0, to_float_q4_0, from_float_q4_0, vec_dot_q4_0);
  add(t, DType::Q8_K, DType::Q8_K, to_float_q8_k, from_float_q8_k, nullptr);
  add(t, DType::Q4_K, DType::Q8_K, to_float_q4_k, nullptr, vec_dot_q4_k);
  add(t, DType::Q6_K, DType::Q8_K, to_float_q6_k, nullptr, vec_dot_q6_k);
  add(t, DType::Q8_1, DType::Q8_1, to_float_q8_1, from_float_q8_1, nullptr);
  add(t, DType::Q4_1, DType::Q8_1, to_float_q4_1, nullptr, vec_dot_q4_1);
  add(t, DType::Q5_0, DType::Q8_0, to_float_q5_0, nullptr, vec_dot_q5_0);
  add(t, DType::Q5_1, DType::Q8_1, to_float_q5_1, nullptr, vec_dot_q5_1);
  add(t, DType::Q2_K, DType::Q8_K, to_float_q2_k, nullptr, vec_dot_q2_k);
  add(t, DType::Q3_K, DType::Q8_K, to_float_q3_k, nullptr, vec_dot_q3_k);
  add(t, DType::Q5_K, DType::Q8_K, to_float_q5_k, nullptr, vec_dot_q5_k);
  t.rows[0][static_cast<int>(DType::Q4_0)].gemm_panel = ref::gemm_panel_q4_0;
  t.rows[0][static_cast<int>(DType::Q8_0)].gemm_panel = ref::gemm_panel_q8_0;
  t.rows[0][static_cast<int>(DType::F16)].gemm_panel_f32 = ref::gemm_panel_f16;
  std::memcpy(t.rows[1], t.rows[0], sizeof(t.rows[0]));
  std::memcpy(t.rows[2], t.rows[0], sizeof(t.rows[0]));
  // The install functions are compiled with their ISA's flags themselves, so
  // they may only run on a CPU that has it; otherwise the row stays scalar.
  t.best = detect_isa();
  if (t.best >= Isa::Avx2) install_avx2_kernels(t.rows[1]);
  if (t.best >= Isa::Avx512) install_avx512_kernels(t.rows[2]);
  if (t.best >= Isa::Avx2) install_avx2_ext_kernels(t.rows[1]);
  if (t.best >= Isa::Avx512) install_avx512_ext_kernels(t.rows[2]);
  return t;
}

const Tables& tables() {
  static const Tables t = build_tables();
  return t;
}

Isa initial_isa() {
  const Isa best = tables().best;
  const char* env = std::getenv("LINEAGE_ISA");
  if (!env || !*env) return best;
  Isa want;
  if (!std::strcmp(env, "scalar")) want = Isa::Scalar;
  else if (!std::strcmp(env, "avx2")) want = Isa::Avx2;
  else if (!std::strcmp(env, "avx512")) want = Isa::Avx512;
  else fail("LINEAGE_ISA=", env, " is not one of scalar, avx2, avx512");
  // Asking for more than the CPU has would crash on the first kernel.
  return static_cast<int>(want) <= static_cast<int>(best) ? want : best;
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_isa())};
  return slot;
}

const TypeTraits* lookup(int isa, DType t) {
  const auto id = static_cast<uint32_t>(t);
  if (id >= kTypeSlots || !tables().present[id]) return nullptr;
  return &tables().rows[isa][id];
}

}  // namespace

const TypeTraits* type_traits(DType t) { return lookup(active_slot().load(std::memory_order_relaxed), t); }

const TypeTraits* type_traits_ref(DType t) { return lookup(0, t); }

Isa cpu_isa() { return tables().best; }

Isa active_isa() { return static_cast<Isa>(active_slot().load(std::memory_order_relaxed)); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "unknown";
}

void force_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(tables().best))
    fail("cannot use ", isa_name(isa), ": this CPU supports at most ", isa_name(tables().best));
  active_slot().store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace lineage
