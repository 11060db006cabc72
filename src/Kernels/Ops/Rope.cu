// pair (a, b) at angle p * invFreq[i]: a' = a cos - b sin, b' = b cos + a sin; pairs (i, i+rot/2) or (2i, 2i+1).
// invFreq comes from the host (theta^(-2i/rot) with the checkpoint's rope_scaling applied), so every scaling rule is one table.
#include "common.cuh"

// x: [tokens, heads, headDim] in place; only the first rotDim dims rotate (partial rotary).
extern "C" __global__ void rope(float* __restrict__ x, const int* __restrict__ positions, const float* __restrict__ invFreq,
                                int heads, int headDim, int rotDim, int interleaved)
{
    const int t = blockIdx.x, h = blockIdx.y;
    const int half = rotDim >> 1;
    float* v = x + ((i64)t * heads + h) * headDim;
    const float pos = (float)positions[t];
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float s, c;
        sincosf(pos * invFreq[i], &s, &c);
        const int ia = interleaved ? 2 * i : i;
        const int ib = interleaved ? 2 * i + 1 : i + half;
        const float a = v[ia], b = v[ib];
        v[ia] = a * c - b * s;
        v[ib] = b * c + a * s;
    }
}
