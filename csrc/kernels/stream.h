// Copies with non-temporal (streaming) stores, for outputs too large to stay
// in cache. An ordinary store first reads the destination line into the cache
// (read-for-ownership); a streaming store writes the line straight to memory,
// so a large elementwise op moves two streams instead of three. Only worth it
// when the output will not be read again while still cached, which is why the
// caller decides (by output size against the last-level cache).
//
// Compiled per ISA like the kernels that include it: AVX-512 and AVX2 TUs use
// 64- and 32-byte streaming stores, the scalar TU an ordinary copy.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#if (defined(__AVX512F__) || defined(__AVX2__)) && !defined(__CUDACC__)
#include <immintrin.h>
#endif

namespace zoo::stream {

inline void copy(void* dst, const void* src, int64_t bytes) {
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
#if defined(__AVX512F__) || defined(__AVX2__)
#if defined(__AVX512F__)
  constexpr int64_t kVec = 64;
#else
  constexpr int64_t kVec = 32;
#endif
  // Ordinary stores up to the first aligned destination address, streaming
  // stores for the aligned middle, ordinary stores for the tail.
  const int64_t head = std::min<int64_t>(
      bytes, static_cast<int64_t>((kVec - reinterpret_cast<uintptr_t>(d) % kVec) % kVec));
  std::memcpy(d, s, static_cast<size_t>(head));
  int64_t i = head;
  for (; i + kVec <= bytes; i += kVec) {
#if defined(__AVX512F__)
    _mm512_stream_si512(reinterpret_cast<__m512i*>(d + i),
                        _mm512_loadu_si512(reinterpret_cast<const void*>(s + i)));
#else
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)));
#endif
  }
  std::memcpy(d + i, s + i, static_cast<size_t>(bytes - i));
#else
  std::memcpy(d, s, static_cast<size_t>(bytes));
#endif
}

// Streaming stores are weakly ordered: fence before another thread may read
// what they wrote (the end of each parallel task).
inline void fence() {
#if defined(__AVX512F__) || defined(__AVX2__)
  _mm_sfence();
#endif
}

}  // namespace zoo::stream
