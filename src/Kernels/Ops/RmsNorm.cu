// h = x + r (stored back into x when r is given); y = h * rsqrt(mean(h^2) + eps) * w   (w FP16)
#include "common.cuh"

extern "C" __global__ void rms_norm_residual(float* __restrict__ x, const float* __restrict__ residual,
                                             const half_t* __restrict__ weight, float* __restrict__ out, int dim, float eps)
{
    __shared__ float scratch[32];
    float* xr = x + (i64)blockIdx.x * dim;
    const float* rr = residual ? residual + (i64)blockIdx.x * dim : 0;
    float* yr = out + (i64)blockIdx.x * dim;
    float ss = 0.0f;
    for (int d = threadIdx.x; d < dim; d += blockDim.x) {
        float h = xr[d];
        if (rr) { h += rr[d]; xr[d] = h; }
        ss += h * h;
    }
    const float inv = rsqrtf(block_sum(ss, scratch) / (float)dim + eps);
    for (int d = threadIdx.x; d < dim; d += blockDim.x) yr[d] = xr[d] * inv * load_h(weight + d);
}
