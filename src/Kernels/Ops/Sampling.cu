// p = softmax(x / T); keep p_i >= max(t_topk, t_topp, minP * max p); token = first i with cumsum(kept p)_i > u * sum(kept p)
#include "common.cuh"

#define SAMPLE_THREADS 1024

// Greedy decoding: out[r] = argmax_j logits[r, j] (lowest index on ties). grid = rows.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) argmax_rows(const float* __restrict__ logits, int* __restrict__ out, int vocab)
{
    __shared__ float sv[32];
    __shared__ int si[32];
    const float* x = logits + (i64)blockIdx.x * vocab;
    float best = OAG_NEG_BIG;
    int bi = 0x7fffffff;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x)
        if (x[j] > best) { best = x[j]; bi = j; }
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(OAG_FULL_MASK, best, o);
        const int oi = __shfl_xor_sync(OAG_FULL_MASK, bi, o);
        if (ov > best || (ov == best && oi < bi)) { best = ov; bi = oi; }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) { sv[warp] = best; si[warp] = bi; }
    __syncthreads();
    if (warp == 0) {
        best = lane < nw ? sv[lane] : OAG_NEG_BIG;
        bi = lane < nw ? si[lane] : 0x7fffffff;
        for (int o = 16; o > 0; o >>= 1) {
            const float ov = __shfl_xor_sync(OAG_FULL_MASK, best, o);
            const int oi = __shfl_xor_sync(OAG_FULL_MASK, bi, o);
            if (ov > best || (ov == best && oi < bi)) { best = ov; bi = oi; }
        }
        if (lane == 0) out[blockIdx.x] = bi == 0x7fffffff ? 0 : bi;
    }
}

// CTRL-style repetition penalty on the (deduplicated) ids already generated: x > 0 ? x / p : x * p.
extern "C" __global__ void repetition_penalty(float* __restrict__ logits, const int* __restrict__ ids, int count, int vocab, float penalty)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= count) return;
    const int id = ids[i];
    if (id < 0 || id >= vocab) return;
    const float x = logits[id];
    logits[id] = x > 0.0f ? x / penalty : x * penalty;
}

OAG_DEV float count_at_least(const float* p, int vocab, float th, bool mass, float* scratch)
{
    float c = 0.0f;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x)
        if (p[j] >= th) c += mass ? p[j] : 1.0f;
    return block_sum(c, scratch);
}

// Largest threshold th (searched over the bit patterns of non-negative floats) with measure(p >= th) >= need.
OAG_DEV float bisect_threshold(const float* p, int vocab, float lowTh, float pmax, float need, bool mass, float* scratch)
{
    int lo = __float_as_int(lowTh), hi = __float_as_int(pmax) + 1;
    while (hi - lo > 1) {
        const int mid = lo + ((hi - lo) >> 1);
        if (count_at_least(p, vocab, __int_as_float(mid), mass, scratch) >= need) lo = mid; else hi = mid;
    }
    return __int_as_float(lo);
}

// One block samples one row. probs: vocab floats of scratch. uniform in [0, 1) from the host RNG.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) sample_filtered(
    const float* __restrict__ logits, float* __restrict__ probs, int* __restrict__ out, int vocab,
    float temperature, int topK, float topP, float minP, float uniform)
{
    __shared__ float scratch[32];
    __shared__ float chunkSum[SAMPLE_THREADS];
    const float invT = 1.0f / temperature;
    float mx = OAG_NEG_BIG;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) mx = fmaxf(mx, logits[j]);
    mx = block_max(mx, scratch);
    float z = 0.0f;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) { const float e = expf((logits[j] - mx) * invT); probs[j] = e; z += e; }
    z = block_sum(z, scratch);
    const float invZ = 1.0f / z;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) probs[j] *= invZ;
    __syncthreads();
    const float pmax = invZ; // the max logit maps to exp(0) / z

    float th = 0.0f;
    if (topK > 0 && topK < vocab) th = bisect_threshold(probs, vocab, 0.0f, pmax, (float)topK, false, scratch);
    if (topP > 0.0f && topP < 1.0f) {
        const float kept = count_at_least(probs, vocab, th, true, scratch);
        th = bisect_threshold(probs, vocab, th, pmax, topP * kept, true, scratch);
    }
    if (minP > 0.0f) th = fmaxf(th, minP * pmax);

    // Inverse-CDF over kept tokens in index order: per-thread contiguous chunks, a block scan of chunk sums.
    const int per = (vocab + blockDim.x - 1) / blockDim.x;
    const int b0 = threadIdx.x * per, b1 = imin(vocab, b0 + per);
    float mine = 0.0f;
    int lastKept = -1;
    for (int j = b0; j < b1; j++) if (probs[j] >= th) { mine += probs[j]; lastKept = j; }
    chunkSum[threadIdx.x] = mine;
    __syncthreads();
    if (threadIdx.x == 0) {
        float run = 0.0f;
        for (int i = 0; i < (int)blockDim.x; i++) { const float c = chunkSum[i]; chunkSum[i] = run; run += c; }
        scratch[0] = run;
    }
    __syncthreads();
    const float total = scratch[0];
    const float target = uniform * total;
    const float start = chunkSum[threadIdx.x];
    // The chunk holding target picks; the chunk owning the globally last kept token covers target >= total (rounding).
    const float upper = threadIdx.x + 1 < (int)blockDim.x ? chunkSum[threadIdx.x + 1] : total;
    if (lastKept >= 0 && target >= start && (target < upper || upper >= total)) {
        float run = start;
        int pick = lastKept;
        for (int j = b0; j < b1; j++) {
            if (probs[j] < th) continue;
            run += probs[j];
            if (run > target) { pick = j; break; }
        }
        if (target < upper || upper >= total) out[0] = pick;
    }
}
