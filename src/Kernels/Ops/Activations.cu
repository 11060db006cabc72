// swiglu: y = silu(g) * u = g / (1 + exp(-g)) * u;  gelu_erf: y = x/2 (1 + erf(x/sqrt 2));  gelu_tanh: y = x/2 (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))
#include "common.cuh"

// gate/up rows are inStride floats apart (fused [T, 2I] gate_up: up = gate + I, inStride = 2I).
extern "C" __global__ void swiglu(const float* __restrict__ gate, const float* __restrict__ up, float* __restrict__ out,
                                  int rows, int cols, int inStride, int outStride)
{
    const i64 n = (i64)rows * cols;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
        const i64 r = i / cols, c = i - r * cols;
        const float g = gate[r * inStride + c];
        out[r * outStride + c] = g / (1.0f + expf(-g)) * up[r * inStride + c];
    }
}

extern "C" __global__ void gelu_erf(const float* __restrict__ x, float* __restrict__ out, i64 n)
{
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
        const float v = x[i];
        out[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

extern "C" __global__ void gelu_tanh(const float* __restrict__ x, float* __restrict__ out, i64 n)
{
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
        const float v = x[i];
        out[i] = 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
    }
}
