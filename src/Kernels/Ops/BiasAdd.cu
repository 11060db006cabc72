// y[r, c] += b[c]   (FP32 rows of `cols` floats; biases of q/k/v and o projections)
#include "common.cuh"

extern "C" __global__ void bias_add(float* __restrict__ y, const float* __restrict__ bias, int cols, i64 n)
{
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x)
        y[i] += bias[i % cols];
}
