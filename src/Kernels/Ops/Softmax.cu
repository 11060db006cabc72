// y[r, j] = exp(s x[r,j] - max_k s x[r,k]) / sum_k exp(s x[r,k] - max)
#include "common.cuh"

extern "C" __global__ void softmax_rows(const float* __restrict__ x, float* __restrict__ out, int cols, float scale)
{
    __shared__ float scratch[32];
    const float* xr = x + (i64)blockIdx.x * cols;
    float* yr = out + (i64)blockIdx.x * cols;
    float m = OAG_NEG_BIG;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, xr[j] * scale);
    m = block_max(m, scratch);
    float s = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) s += expf(xr[j] * scale - m);
    const float inv = 1.0f / block_sum(s, scratch);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = expf(xr[j] * scale - m) * inv;
}
