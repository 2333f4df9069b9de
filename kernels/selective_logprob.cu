// Fused selective log-prob of the sampled token (shared/docs/algorithms.md, "Fused log-prob of the sampled
// token"), forward and backward, for f32 and bf16 logits.
//
//   forward:  logp_y = z_y - lse(z),  lse(z) = log sum_j exp(z_j),  H = lse - sum_j p_j z_j  (p = softmax z)
//   backward: dz_j = g * (onehot(y)_j - p_j) + g_H * (-p_j (log p_j + H)),  log p_j = z_j - lse
//
// Why fused: at Qwen2.5's vocabulary (152,064) the composed log_softmax + gather writes and re-reads a full
// [rows, V] f32 tensor per op; here each row of logits is read once (forward) or once plus one write
// (backward), so both run at memory bandwidth and no [rows, V] intermediate exists.
//
// Layout: one block per row, each thread walks the row in 16-byte vectors (4 f32 or 8 bf16) and keeps an
// online log-sum-exp state (running max m, rescaled sum s = sum exp(z - m), and for entropy t = sum
// exp(z - m) z); states merge across the warp by shuffles and across warps in shared memory. All arithmetic
// is f32. exp is computed as exp2 of a pre-scaled argument (one FMA + ex2.approx per element), and the
// running max is raised once per 16-byte vector rather than per element, so the forward costs about one
// exponential per logit.
//
// Rows need not be 16-byte aligned (odd vocabularies, offset views): each row is split into a scalar head
// up to the next 16-byte boundary, a vectorised body and a scalar tail.
//
// A target id >= V gives a NaN log-prob (forward) and an all-NaN gradient row (backward): the kernel never
// reads out of bounds, and the NaN makes the bad id visible in the loss instead of being skipped.

#include <cuda_bf16.h>
#include <stdint.h>

namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
// Initial running max: finite, so that (z - m) stays well defined when z = -inf (masked logits) and the
// scaled value m * log2(e) cannot overflow; any real logit replaces it, and its weight exp(-1e30) is 0.
constexpr float kInitMax = -1e30f;
constexpr int kWarp = 32;
constexpr int kMaxWarps = 32;

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ void store(float* p, float x) { *p = x; }
__device__ __forceinline__ void store(__nv_bfloat16* p, float x) { *p = __float2bfloat16_rn(x); }

// Elements of T per 16-byte vector, and the unpacking of one vector into f32 lanes.
template <typename T> struct Vec16;
template <> struct Vec16<float> {
  static constexpr int kLanes = 4;
  __device__ __forceinline__ static void unpack(const uint4& w, float* out) {
    out[0] = __uint_as_float(w.x);
    out[1] = __uint_as_float(w.y);
    out[2] = __uint_as_float(w.z);
    out[3] = __uint_as_float(w.w);
  }
  __device__ __forceinline__ static uint4 pack(const float* in) {
    return make_uint4(__float_as_uint(in[0]), __float_as_uint(in[1]), __float_as_uint(in[2]),
                      __float_as_uint(in[3]));
  }
};
template <> struct Vec16<__nv_bfloat16> {
  static constexpr int kLanes = 8;
  // bf16 is the top half of an f32: widening is a shift, element 0 sits in the low half of each word.
  __device__ __forceinline__ static void unpack(const uint4& w, float* out) {
    const uint32_t words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = __uint_as_float(words[i] << 16);
      out[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
    }
  }
  __device__ __forceinline__ static uint32_t bits(float x) {
    return static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(x)));
  }
  __device__ __forceinline__ static uint4 pack(const float* in) {
    uint32_t words[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) words[i] = bits(in[2 * i]) | (bits(in[2 * i + 1]) << 16);
    return make_uint4(words[0], words[1], words[2], words[3]);
  }
};

// Number of leading elements of `row` before its first 16-byte boundary (0 when already aligned).
template <typename T>
__device__ __forceinline__ uint32_t head_len(const T* row, uint32_t v) {
  constexpr uint32_t lanes = Vec16<T>::kLanes;
  const uint32_t mis = static_cast<uint32_t>((reinterpret_cast<uintptr_t>(row) & 15u) / sizeof(T));
  const uint32_t head = mis == 0 ? 0 : lanes - mis;
  return head < v ? head : v;
}

// Online log-sum-exp state over a subset of a row: m = max, s = sum exp(z - m), t = sum exp(z - m) z.
struct Lse {
  float m, s, t;
};

template <bool kEntropy>
__device__ __forceinline__ void add_scalar(Lse& st, float z) {
  if (z > st.m) {
    const float scale = exp2f((st.m - z) * kLog2e);
    st.s *= scale;
    if (kEntropy) st.t *= scale;
    st.m = z;
  }
  const float e = exp2f((z - st.m) * kLog2e);
  st.s += e;
  // e > 0 guards 0 * (-inf) = NaN for masked logits, whose entropy term p z is 0.
  if (kEntropy && e > 0.f) st.t = fmaf(e, z, st.t);
}

template <bool kEntropy, int kLanes>
__device__ __forceinline__ void add_vector(Lse& st, const float* z) {
  float vmax = z[0];
#pragma unroll
  for (int i = 1; i < kLanes; ++i) vmax = fmaxf(vmax, z[i]);
  if (vmax > st.m) {
    const float scale = exp2f((st.m - vmax) * kLog2e);
    st.s *= scale;
    if (kEntropy) st.t *= scale;
    st.m = vmax;
  }
  const float neg_m = -st.m * kLog2e;
  // The vector's terms are summed among themselves first: fewer roundings of small terms into a running
  // sum near 1, which on peaked rows would otherwise bias lse by ~1e-5.
  float vs = 0.f, vt = 0.f;
#pragma unroll
  for (int i = 0; i < kLanes; ++i) {
    const float e = exp2f(fmaf(z[i], kLog2e, neg_m));
    vs += e;
    if (kEntropy && e > 0.f) vt = fmaf(e, z[i], vt);
  }
  st.s += vs;
  if (kEntropy) st.t += vt;
}

template <bool kEntropy>
__device__ __forceinline__ Lse merge(const Lse& a, const Lse& b) {
  const float m = fmaxf(a.m, b.m);
  const float sa = exp2f((a.m - m) * kLog2e);
  const float sb = exp2f((b.m - m) * kLog2e);
  Lse r;
  r.m = m;
  r.s = a.s * sa + b.s * sb;
  r.t = kEntropy ? a.t * sa + b.t * sb : 0.f;
  return r;
}

// Block-wide merge; the result is valid in every thread. Requires blockDim.x to be a multiple of 32.
template <bool kEntropy>
__device__ Lse block_merge(Lse st) {
  __shared__ Lse warp_states[kMaxWarps];
  __shared__ Lse result;
#pragma unroll
  for (int off = kWarp / 2; off > 0; off /= 2) {
    Lse o;
    o.m = __shfl_xor_sync(0xffffffffu, st.m, off);
    o.s = __shfl_xor_sync(0xffffffffu, st.s, off);
    o.t = kEntropy ? __shfl_xor_sync(0xffffffffu, st.t, off) : 0.f;
    st = merge<kEntropy>(st, o);
  }
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int n_warps = blockDim.x / kWarp;
  if (lane == 0) warp_states[warp] = st;
  __syncthreads();
  if (warp == 0) {
    Lse w = lane < n_warps ? warp_states[lane] : Lse{kInitMax, 0.f, 0.f};
#pragma unroll
    for (int off = kWarp / 2; off > 0; off /= 2) {
      Lse o;
      o.m = __shfl_xor_sync(0xffffffffu, w.m, off);
      o.s = __shfl_xor_sync(0xffffffffu, w.s, off);
      o.t = kEntropy ? __shfl_xor_sync(0xffffffffu, w.t, off) : 0.f;
      w = merge<kEntropy>(w, o);
    }
    if (lane == 0) result = w;
  }
  __syncthreads();
  return result;
}

// Block-wide sum of a pair; the result is valid in every thread.
__device__ float2 block_sum2(float2 x) {
  __shared__ float2 partial[kMaxWarps];
  __shared__ float2 result;
#pragma unroll
  for (int off = kWarp / 2; off > 0; off /= 2) {
    x.x += __shfl_xor_sync(0xffffffffu, x.x, off);
    x.y += __shfl_xor_sync(0xffffffffu, x.y, off);
  }
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (lane == 0) partial[warp] = x;
  __syncthreads();
  if (warp == 0) {
    float2 w = lane < static_cast<int>(blockDim.x / kWarp) ? partial[lane] : make_float2(0.f, 0.f);
#pragma unroll
    for (int off = kWarp / 2; off > 0; off /= 2) {
      w.x += __shfl_xor_sync(0xffffffffu, w.x, off);
      w.y += __shfl_xor_sync(0xffffffffu, w.y, off);
    }
    if (lane == 0) result = w;
  }
  __syncthreads();
  return result;
}

// out layout: [k, n] f32 with row 0 = log-probs, row 1 = lse, row 2 = entropy (when kEntropy).
template <typename T, bool kEntropy>
__device__ void fwd_row(const T* __restrict__ logits, const uint32_t* __restrict__ targets,
                        float* __restrict__ out, uint32_t n, uint32_t v) {
  using V16 = Vec16<T>;
  constexpr int kLanes = V16::kLanes;
  const uint32_t r = blockIdx.x;
  const T* row = logits + static_cast<size_t>(r) * v;
  const uint32_t head = head_len(row, v);
  const uint32_t n_vec = (v - head) / kLanes;
  const uint32_t tail = head + n_vec * kLanes;

  Lse st{kInitMax, 0.f, 0.f};
  for (uint32_t j = threadIdx.x; j < head; j += blockDim.x) add_scalar<kEntropy>(st, to_f32(row[j]));
  const uint4* body = reinterpret_cast<const uint4*>(row + head);
  // Two independent 16-byte loads in flight per thread before their exponentials.
  uint32_t i = threadIdx.x;
  for (; i + blockDim.x < n_vec; i += 2 * blockDim.x) {
    const uint4 w0 = __ldcs(body + i);
    const uint4 w1 = __ldcs(body + i + blockDim.x);
    float z[kLanes];
    V16::unpack(w0, z);
    add_vector<kEntropy, kLanes>(st, z);
    V16::unpack(w1, z);
    add_vector<kEntropy, kLanes>(st, z);
  }
  for (; i < n_vec; i += blockDim.x) {
    float z[kLanes];
    V16::unpack(__ldcs(body + i), z);
    add_vector<kEntropy, kLanes>(st, z);
  }
  for (uint32_t j = tail + threadIdx.x; j < v; j += blockDim.x) add_scalar<kEntropy>(st, to_f32(row[j]));

  const Lse all = block_merge<kEntropy>(st);
  if (threadIdx.x == 0) {
    const float lse = all.m + log2f(all.s) * kLn2;
    const uint32_t y = targets[r];
    out[r] = y < v ? to_f32(row[y]) - lse : __int_as_float(0x7fc00000);
    out[n + r] = lse;
    if (kEntropy) out[2 * static_cast<size_t>(n) + r] = lse - all.t / all.s;
  }
}

// packed: [k, n] f32 with row 0 = lse, row 1 = d loss / d logp_y, row 2 = d loss / d H (when kEntropy).
template <typename T, bool kEntropy>
__device__ void bwd_row(const T* __restrict__ logits, const uint32_t* __restrict__ targets,
                        const float* __restrict__ packed, T* __restrict__ grad, uint32_t n, uint32_t v) {
  using V16 = Vec16<T>;
  constexpr int kLanes = V16::kLanes;
  const uint32_t r = blockIdx.x;
  const size_t offset = static_cast<size_t>(r) * v;
  const T* row = logits + offset;
  T* grow = grad + offset;
  const uint32_t y = targets[r];
  const float lse = packed[r];
  const float g = packed[n + r];
  const float g_h = kEntropy ? packed[2 * static_cast<size_t>(n) + r] : 0.f;
  if (y >= v) {
    for (uint32_t j = threadIdx.x; j < v; j += blockDim.x) store(grow + j, __int_as_float(0x7fc00000));
    return;
  }

  const uint32_t head = head_len(row, v);
  // The vector path needs input and output rows equally misaligned (an offset input view may not be).
  const bool vectorise = head == head_len(grow, v);
  const uint32_t n_vec = vectorise ? (v - head) / kLanes : 0;
  const uint32_t tail = vectorise ? head + n_vec * kLanes : 0;
  const uint32_t scalar_head = vectorise ? head : 0;

  // With entropy, H is needed before any write: a first pass over the row computes Σ p z and Σ p (p from
  // the saved lse, so no running max). The forward's H is not an input of this op; re-reading costs one
  // more pass over the row, only when an entropy gradient is asked for.
  // log p_j + H = z_j − Σ p z, and dividing by the computed Σ p (1 up to the rounding of lse) cancels that
  // rounding, which |z| would otherwise amplify.
  const float neg_lse = -lse * kLog2e;
  float mean_z = 0.f;
  if (kEntropy) {
    float2 acc = make_float2(0.f, 0.f);
    for (uint32_t j = threadIdx.x; j < v; j += blockDim.x) {
      const float z = to_f32(row[j]);
      const float p = exp2f(fmaf(z, kLog2e, neg_lse));
      if (p > 0.f) {
        acc.x += p;
        acc.y = fmaf(p, z, acc.y);
      }
    }
    const float2 sums = block_sum2(acc);
    mean_z = sums.y / sums.x;
  }

  // dz_j = -p_j (g + g_H (z_j - mean_z)) + g [j == y]
  auto grad_of = [&](float z, uint32_t j) {
    const float p = exp2f(fmaf(z, kLog2e, neg_lse));
    float d = kEntropy ? -p * fmaf(g_h, z - mean_z, g) : -p * g;
    // p = 0 with z = -inf would make the entropy term 0 * inf; its true limit is 0.
    if (kEntropy && !(p > 0.f)) d = 0.f;
    return j == y ? d + g : d;
  };

  for (uint32_t j = threadIdx.x; j < scalar_head; j += blockDim.x) store(grow + j, grad_of(to_f32(row[j]), j));
  const uint4* body = reinterpret_cast<const uint4*>(row + scalar_head);
  uint4* gbody = reinterpret_cast<uint4*>(grow + scalar_head);
  for (uint32_t i = threadIdx.x; i < n_vec; i += blockDim.x) {
    float z[kLanes];
    V16::unpack(__ldcs(body + i), z);
    const uint32_t j0 = scalar_head + i * kLanes;
#pragma unroll
    for (int k = 0; k < kLanes; ++k) z[k] = grad_of(z[k], j0 + k);
    __stcs(gbody + i, V16::pack(z));
  }
  for (uint32_t j = tail + threadIdx.x; j < v; j += blockDim.x) store(grow + j, grad_of(to_f32(row[j]), j));
}

}  // namespace

// Entry points: grid = (n rows), block = (multiple of 32, at most 1024) threads, no dynamic shared memory.
#define SELECTIVE_LOGPROB_FWD(NAME, T)                                                                  \
  extern "C" __global__ void NAME(const T* __restrict__ logits, const uint32_t* __restrict__ targets,  \
                                  float* __restrict__ out, uint32_t n, uint32_t v, int with_entropy) { \
    if (with_entropy) {                                                                                 \
      fwd_row<T, true>(logits, targets, out, n, v);                                                     \
    } else {                                                                                            \
      fwd_row<T, false>(logits, targets, out, n, v);                                                    \
    }                                                                                                   \
  }
SELECTIVE_LOGPROB_FWD(selective_logprob_fwd_f32, float)
SELECTIVE_LOGPROB_FWD(selective_logprob_fwd_bf16, __nv_bfloat16)

#define SELECTIVE_LOGPROB_BWD(NAME, T)                                                                   \
  extern "C" __global__ void NAME(const T* __restrict__ logits, const uint32_t* __restrict__ targets,   \
                                  const float* __restrict__ packed, T* __restrict__ grad, uint32_t n,   \
                                  uint32_t v, int with_entropy) {                                       \
    if (with_entropy) {                                                                                  \
      bwd_row<T, true>(logits, targets, packed, grad, n, v);                                             \
    } else {                                                                                             \
      bwd_row<T, false>(logits, targets, packed, grad, n, v);                                            \
    }                                                                                                    \
  }
SELECTIVE_LOGPROB_BWD(selective_logprob_bwd_f32, float)
SELECTIVE_LOGPROB_BWD(selective_logprob_bwd_bf16, __nv_bfloat16)

// Test support: fill a buffer with all-ones bits (a NaN in f32 and in bf16) so that an element a kernel
// failed to write cannot pass for a result.
extern "C" __global__ void poison_u32(uint32_t* p, size_t len) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < len;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    p[i] = 0xffffffffu;
}
extern "C" __global__ void poison_u16(uint16_t* p, size_t len) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < len;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    p[i] = 0xffffu;
}
