// out[t, :] = float(table[ids[t], :])  (FP16 table [vocab, dim] -> FP32 rows; out-of-range ids give zeros)
#include "common.cuh"

extern "C" __global__ void embedding_gather(const half_t* __restrict__ table, const int* __restrict__ ids,
                                            float* __restrict__ out, int tokens, int vocab, int dim)
{
    const int t = blockIdx.x;
    if (t >= tokens) return;
    const int id = ids[t];
    const bool valid = id >= 0 && id < vocab;
    const half_t* row = table + (i64)(valid ? id : 0) * dim;
    float* o = out + (i64)t * dim;
    for (int d = threadIdx.x; d < dim; d += blockDim.x) o[d] = valid ? load_h(row + d) : 0.0f;
}
