// split s: (m_s, l_s, o_s) = online softmax of scale*q·K[j] over its keys; combine: o = sum_s e^(m_s-m) o_s / sum_s e^(m_s-m) l_s
#include "common.cuh"

#ifndef HEAD_DIM
#define HEAD_DIM 128
#endif
#ifndef GQA
#define GQA 1
#endif
#define AD_WARPS 4
#define AD_PER_LANE (HEAD_DIM / 32)

// Flash-decoding, one new token. grid = (kvHeads, splits); a block reads each K/V row of its key chunk once and
// applies it to all GQA query heads sharing that KV head. Warps take keys round-robin; lanes own HEAD_DIM/32 dims.
// Q: [kvHeads*GQA, HEAD_DIM] FP32; K, V: [kvHeads, capacity, HEAD_DIM] FP16.
// partO: [heads, splits, HEAD_DIM] (unnormalized), partML: [heads, splits, 2] = (max, sum).
// minBlocks 1: the grid is ~2 blocks per SM anyway; without it ptxas held GQA=8 variants to 72 registers and spilled.
extern "C" __global__ void __launch_bounds__(AD_WARPS * 32, 1) attention_decode_split(
    const float* __restrict__ Q, const half_t* __restrict__ Kc, const half_t* __restrict__ Vc,
    float* __restrict__ partO, float* __restrict__ partML, int kvLen, int capacity, int chunk, float scale,
    const int* __restrict__ lengthChunk)
{
    __shared__ float sm[AD_WARPS][GQA][2];
    __shared__ float so[AD_WARPS][GQA][HEAD_DIM];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int kvh = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
    // A captured decode graph fixes the grid and reads (kvLen, chunk) from the device, written by the host before each
    // replay for that split count (one division per step, not one per block); splits past the end keep l = 0, which the
    // combine skips.
    if (lengthChunk) { kvLen = __ldg(lengthChunk); chunk = __ldg(lengthChunk + 1); }
    const int j0 = split * chunk, j1 = imin(kvLen, j0 + chunk);
    const half_t* Kh = Kc + (i64)kvh * capacity * HEAD_DIM;
    const half_t* Vh = Vc + (i64)kvh * capacity * HEAD_DIM;

    float q[GQA][AD_PER_LANE], acc[GQA][AD_PER_LANE], m[GQA], l[GQA];
    for (int gq = 0; gq < GQA; gq++) {
        const float* qh = Q + (i64)(kvh * GQA + gq) * HEAD_DIM + lane * AD_PER_LANE;
        for (int i = 0; i < AD_PER_LANE; i++) { q[gq][i] = qh[i] * scale; acc[gq][i] = 0.0f; }
        m[gq] = OAG_NEG_BIG;
        l[gq] = 0.0f;
    }
    for (int j = j0 + warp; j < j1; j += AD_WARPS) {
        float k[AD_PER_LANE], v[AD_PER_LANE];
        const half_t* kr = Kh + (i64)j * HEAD_DIM + lane * AD_PER_LANE;
        const half_t* vr = Vh + (i64)j * HEAD_DIM + lane * AD_PER_LANE;
        for (int i = 0; i < AD_PER_LANE; i++) { k[i] = load_h(kr + i); v[i] = load_h(vr + i); }
        for (int gq = 0; gq < GQA; gq++) {
            float s = 0.0f;
            for (int i = 0; i < AD_PER_LANE; i++) s += q[gq][i] * k[i];
            s = warp_sum(s);
            const float mNew = fmaxf(m[gq], s);
            const float alpha = expf(m[gq] - mNew), p = expf(s - mNew);
            l[gq] = l[gq] * alpha + p;
            for (int i = 0; i < AD_PER_LANE; i++) acc[gq][i] = acc[gq][i] * alpha + p * v[i];
            m[gq] = mNew;
        }
    }
    for (int gq = 0; gq < GQA; gq++) {
        if (lane == 0) { sm[warp][gq][0] = m[gq]; sm[warp][gq][1] = l[gq]; }
        for (int i = 0; i < AD_PER_LANE; i++) so[warp][gq][lane * AD_PER_LANE + i] = acc[gq][i];
    }
    __syncthreads();
    for (int e = threadIdx.x; e < GQA * HEAD_DIM; e += AD_WARPS * 32) {
        const int gq = e / HEAD_DIM, d = e % HEAD_DIM;
        float M = OAG_NEG_BIG;
        for (int w = 0; w < AD_WARPS; w++) M = fmaxf(M, sm[w][gq][0]);
        float L = 0.0f, Ov = 0.0f;
        for (int w = 0; w < AD_WARPS; w++) {
            const float f = sm[w][gq][1] > 0.0f ? expf(sm[w][gq][0] - M) : 0.0f;
            L += f * sm[w][gq][1];
            Ov += f * so[w][gq][d];
        }
        const i64 slot = (i64)(kvh * GQA + gq) * splits + split;
        partO[slot * HEAD_DIM + d] = Ov;
        if (d == 0) { partML[slot * 2] = M; partML[slot * 2 + 1] = L; }
    }
}

// O[h, d] = sum_s e^(m_s - M) partO[h, s, d] / sum_s e^(m_s - M) l_s; grid = heads, block = HEAD_DIM threads.
extern "C" __global__ void attention_decode_combine(const float* __restrict__ partO, const float* __restrict__ partML,
                                                    float* __restrict__ O, int splits)
{
    const int h = blockIdx.x;
    const float* ml = partML + (i64)h * splits * 2;
    float M = OAG_NEG_BIG;
    for (int s = 0; s < splits; s++) if (ml[2 * s + 1] > 0.0f) M = fmaxf(M, ml[2 * s]);
    for (int d = threadIdx.x; d < HEAD_DIM; d += blockDim.x) {
        float L = 0.0f, acc = 0.0f;
        for (int s = 0; s < splits; s++) {
            if (ml[2 * s + 1] <= 0.0f) continue;
            const float f = expf(ml[2 * s] - M);
            L += f * ml[2 * s + 1];
            acc += f * partO[((i64)h * splits + s) * HEAD_DIM + d];
        }
        O[(i64)h * HEAD_DIM + d] = L > 0.0f ? acc / L : 0.0f;
    }
}
