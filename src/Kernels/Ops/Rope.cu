// pair (a, b) at angle p * theta^(-2i/rot): a' = a cos - b sin, b' = b cos + a sin; pairs (i, i+rot/2) or (2i, 2i+1)
#include "common.cuh"

// x: [tokens, heads, headDim] in place; only the first rotDim dims rotate (partial rotary).
extern "C" __global__ void rope(float* __restrict__ x, const int* __restrict__ positions, int heads, int headDim,
                                int rotDim, float theta, int interleaved)
{
    const int t = blockIdx.x, h = blockIdx.y;
    const int half = rotDim >> 1;
    float* v = x + ((i64)t * heads + h) * headDim;
    const float pos = (float)positions[t];
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        const float invFreq = powf(theta, -2.0f * (float)i / (float)rotDim);
        float s, c;
        sincosf(pos * invFreq, &s, &c);
        const int ia = interleaved ? 2 * i : i;
        const int ib = interleaved ? 2 * i + 1 : i + half;
        const float a = v[ia], b = v[ib];
        v[ia] = a * c - b * s;
        v[ib] = b * c + a * s;
    }
}
