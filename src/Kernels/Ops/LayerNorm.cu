// y = (x - mean(x)) * rsqrt(var(x) + eps) * w + b   (two-pass mean/variance; w, b FP16; b optional)
#include "common.cuh"

extern "C" __global__ void layer_norm(const float* __restrict__ x, const half_t* __restrict__ weight,
                                      const half_t* __restrict__ bias, float* __restrict__ out, int dim, float eps)
{
    __shared__ float scratch[32];
    const float* xr = x + (i64)blockIdx.x * dim;
    float* yr = out + (i64)blockIdx.x * dim;
    float s = 0.0f;
    for (int d = threadIdx.x; d < dim; d += blockDim.x) s += xr[d];
    const float mean = block_sum(s, scratch) / (float)dim;
    float v = 0.0f;
    for (int d = threadIdx.x; d < dim; d += blockDim.x) { float c = xr[d] - mean; v += c * c; }
    const float inv = rsqrtf(block_sum(v, scratch) / (float)dim + eps);
    for (int d = threadIdx.x; d < dim; d += blockDim.x) {
        float y = (xr[d] - mean) * inv * load_h(weight + d);
        if (bias) y += load_h(bias + d);
        yr[d] = y;
    }
}
