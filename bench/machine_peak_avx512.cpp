// The machine's limits, to set the kernel numbers against: FP32 FMA and
// int8 VNNI throughput of one core (independent chains, no memory), and the
// read bandwidth of streaming a buffer far larger than the caches.
// Compiled with AVX-512 flags; kernels_bench.cpp runs these only when the
// CPU has AVX-512 VNNI.
// GCC 12 flags its own _mm512_undefined_* helpers inside the reduce
// intrinsics as uninitialized; the warning is spurious.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace lineage::bench {

// 2 * 16 * 16 * iters floating-point operations.
float fma_loop(int64_t iters) {
  __m512 a[16];
  for (int k = 0; k < 16; ++k) a[k] = _mm512_set1_ps(1.0f + k * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 16; ++k) a[k] = _mm512_fmadd_ps(a[k], m, c);
  __m512 s = a[0];
  for (int k = 1; k < 16; ++k) s = _mm512_add_ps(s, a[k]);
  return _mm512_reduce_add_ps(s);
}

// 2 * 64 * 16 * iters int8 operations (multiply and add per byte pair).
int32_t vnni_loop(int64_t iters) {
  __m512i a[16];
  for (int k = 0; k < 16; ++k) a[k] = _mm512_set1_epi32(k);
  const __m512i u = _mm512_set1_epi8(3), s = _mm512_set1_epi8(-2);
  for (int64_t i = 0; i < iters; ++i)
    for (int k = 0; k < 16; ++k) a[k] = _mm512_dpbusd_epi32(a[k], u, s);
  __m512i t = a[0];
  for (int k = 1; k < 16; ++k) t = _mm512_add_epi32(t, a[k]);
  return _mm512_reduce_add_epi32(t);
}

// Sums [p, p + bytes) with 64-byte loads, four streams of accumulation.
int64_t read_loop(const uint8_t* p, size_t bytes) {
  __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i + 256 <= bytes; i += 256) {
    s0 = _mm512_add_epi64(s0, _mm512_load_si512(p + i));
    s1 = _mm512_add_epi64(s1, _mm512_load_si512(p + i + 64));
    s2 = _mm512_add_epi64(s2, _mm512_load_si512(p + i + 128));
    s3 = _mm512_add_epi64(s3, _mm512_load_si512(p + i + 192));
  }
  return _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)));
}

}  // namespace lineage::bench
