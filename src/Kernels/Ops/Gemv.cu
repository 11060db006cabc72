// y[n] = sum_k W[n, k] * x[k]  (+ y[n] when accumulate)   W FP16 row-major [N, K], x and y FP32
#include "common.cuh"

#ifndef GEMV_WARPS
#define GEMV_WARPS 8
#endif

// One warp per output row, GEMV_WARPS rows per block. When K % 8 == 0 each lane streams 16-byte loads
// (8 halves) of W and two float4 of x; otherwise a scalar path handles odd K / unaligned rows.
extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_f16(const half_t* __restrict__ W, const float* __restrict__ x,
                                                                      float* __restrict__ y, int N, int K, int accumulate)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    if (row >= N) return;
    const half_t* w = W + (i64)row * K;
    float acc = 0.0f;
    if ((K & 7) == 0) {
        const uint4* w4 = reinterpret_cast<const uint4*>(w);
        const float4* x4 = reinterpret_cast<const float4*>(x);
        const int chunks = K >> 3;
        for (int c = lane; c < chunks; c += 32) {
            const uint4 wv = __ldg(w4 + c);
            const float4 xa = __ldg(x4 + 2 * c), xb = __ldg(x4 + 2 * c + 1);
            acc += h2f((u16)(wv.x & 0xffff)) * xa.x + h2f((u16)(wv.x >> 16)) * xa.y
                 + h2f((u16)(wv.y & 0xffff)) * xa.z + h2f((u16)(wv.y >> 16)) * xa.w
                 + h2f((u16)(wv.z & 0xffff)) * xb.x + h2f((u16)(wv.z >> 16)) * xb.y
                 + h2f((u16)(wv.w & 0xffff)) * xb.z + h2f((u16)(wv.w >> 16)) * xb.w;
        }
    } else {
        for (int k = lane; k < K; k += 32) acc += load_h(w + k) * x[k];
    }
    acc = warp_sum(acc);
    if (lane == 0) y[row] = accumulate ? y[row] + acc : acc;
}
