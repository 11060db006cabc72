// cache[kvh, startPos + t, :] = fp16(src[t, kvh, :])   (KV cache is FP16 [kvHeads, capacity, headDim])
#include "common.cuh"

// positions (optional): the first token's position read on the device, so a captured graph replays at every step.
extern "C" __global__ void kv_store(const float* __restrict__ src, half_t* __restrict__ cache, int kvHeads, int headDim,
                                    int capacity, int startPos, const int* __restrict__ positions)
{
    const int t = blockIdx.x, h = blockIdx.y;
    const int start = positions ? positions[0] : startPos;
    const float* s = src + ((i64)t * kvHeads + h) * headDim;
    half_t* d = cache + ((i64)h * capacity + start + t) * headDim;
    for (int i = threadIdx.x; i < headDim; i += blockDim.x) store_h(d + i, s[i]);
}
