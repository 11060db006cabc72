// O[t,h] = sum_j softmax_j(scale * Q[t,h]·K[kvh,j] | mask) V[kvh,j], kvh = h / (heads/kvHeads); causal: j <= startPos + t
#include "common.cuh"

#ifndef HEAD_DIM
#define HEAD_DIM 128
#endif
#define AP_WARPS 4
#define AP_BQ (AP_WARPS * 16)
#define AP_BKV 32
#define AP_PAD 8

// FlashAttention-2 style: a block owns 64 query rows of one head (16 per warp), streams the KV cache in tiles
// of 32 keys through shared memory, keeps S, P and O in mma fragments with an online softmax.
// Q, O: [T, heads, HEAD_DIM] FP32. K, V: [kvHeads, capacity, HEAD_DIM] FP16 (KV cache, or encoder K/V for
// cross-attention with causal = 0).
extern "C" __global__ void __launch_bounds__(AP_WARPS * 32) attention_prefill(
    const float* __restrict__ Q, const half_t* __restrict__ Kc, const half_t* __restrict__ Vc, float* __restrict__ O,
    int T, int heads, int kvHeads, int kvLen, int capacity, int startPos, float scale, int causal)
{
    __shared__ __align__(16) u16 Ks[AP_BKV][HEAD_DIM + AP_PAD];
    __shared__ __align__(16) u16 Vs[AP_BKV][HEAD_DIM + AP_PAD];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t4 = lane & 3;
    const int h = blockIdx.y, kvh = h / (heads / kvHeads);
    const int qBase = blockIdx.x * AP_BQ + warp * 16;
    const half_t* Kh = Kc + (i64)kvh * capacity * HEAD_DIM;
    const half_t* Vh = Vc + (i64)kvh * capacity * HEAD_DIM;

    // Q fragments (A operand, 16 x HEAD_DIM), pre-scaled, straight from global memory.
    u32 qf[HEAD_DIM / 16][4];
    for (int ks = 0; ks < HEAD_DIM / 16; ks++)
        for (int r = 0; r < 4; r++) {
            const int row = qBase + g + 8 * (r & 1), col = ks * 16 + 2 * t4 + 8 * (r >> 1);
            float a = 0.0f, b = 0.0f;
            if (row < T) {
                const float* q = Q + ((i64)row * heads + h) * HEAD_DIM + col;
                a = q[0] * scale;
                b = q[1] * scale;
            }
            qf[ks][r] = pack_f2h2(a, b);
        }

    float o[HEAD_DIM / 8][4];
    for (int d = 0; d < HEAD_DIM / 8; d++)
        for (int r = 0; r < 4; r++) o[d][r] = 0.0f;
    float mrow[2] = {OAG_NEG_BIG, OAG_NEG_BIG}, lrow[2] = {0.0f, 0.0f};

    const int lastQ = imin(T, blockIdx.x * AP_BQ + AP_BQ) - 1;
    const int kvEnd = causal ? imin(kvLen, startPos + lastQ + 1) : kvLen;
    for (int kv0 = 0; kv0 < kvEnd; kv0 += AP_BKV) {
        for (int e = tid; e < AP_BKV * HEAD_DIM; e += AP_WARPS * 32) {
            const int j = e / HEAD_DIM, d = e % HEAD_DIM;
            const bool ok = kv0 + j < kvLen;
            Ks[j][d] = ok ? Kh[(i64)(kv0 + j) * HEAD_DIM + d].bits : (u16)0;
            Vs[j][d] = ok ? Vh[(i64)(kv0 + j) * HEAD_DIM + d].bits : (u16)0;
        }
        __syncthreads();

        float s[AP_BKV / 8][4];
        for (int nt = 0; nt < AP_BKV / 8; nt++) {
            for (int r = 0; r < 4; r++) s[nt][r] = 0.0f;
            for (int ks = 0; ks < HEAD_DIM / 16; ks++) {
                u32 b[2];
                for (int r = 0; r < 2; r++) {
                    const int key = nt * 8 + g, col = ks * 16 + 2 * t4 + 8 * r;
                    b[r] = pack_h2(Ks[key][col], Ks[key][col + 1]);
                }
                mma_16816(s[nt], qf[ks], b);
            }
        }
        // mask + online softmax; rows g (r = 0, 1) and g + 8 (r = 2, 3); a row's 4 lanes differ only in t4.
        float tileMax[2] = {OAG_NEG_BIG, OAG_NEG_BIG};
        for (int nt = 0; nt < AP_BKV / 8; nt++)
            for (int r = 0; r < 4; r++) {
                const int qi = qBase + g + 8 * (r >> 1), kj = kv0 + nt * 8 + 2 * t4 + (r & 1);
                const bool ok = kj < kvLen && (!causal || kj <= startPos + qi);
                if (!ok) s[nt][r] = OAG_NEG_BIG;
                tileMax[r >> 1] = fmaxf(tileMax[r >> 1], s[nt][r]);
            }
        float alpha[2];
        for (int i = 0; i < 2; i++) {
            float m = tileMax[i];
            m = fmaxf(m, __shfl_xor_sync(OAG_FULL_MASK, m, 1));
            m = fmaxf(m, __shfl_xor_sync(OAG_FULL_MASK, m, 2));
            const float mNew = fmaxf(mrow[i], m);
            alpha[i] = expf(mrow[i] - mNew);
            mrow[i] = mNew;
            lrow[i] *= alpha[i];
        }
        for (int nt = 0; nt < AP_BKV / 8; nt++)
            for (int r = 0; r < 4; r++) {
                const float p = s[nt][r] <= 0.5f * OAG_NEG_BIG ? 0.0f : expf(s[nt][r] - mrow[r >> 1]);
                s[nt][r] = p;
                lrow[r >> 1] += p;
            }
        for (int d = 0; d < HEAD_DIM / 8; d++)
            for (int r = 0; r < 4; r++) o[d][r] *= alpha[r >> 1];
        // O += P V: P's C fragments of n-tiles (2kk, 2kk+1) form the A fragment of k-step kk.
        for (int kk = 0; kk < AP_BKV / 16; kk++) {
            u32 a[4];
            a[0] = pack_f2h2(s[2 * kk][0], s[2 * kk][1]);
            a[1] = pack_f2h2(s[2 * kk][2], s[2 * kk][3]);
            a[2] = pack_f2h2(s[2 * kk + 1][0], s[2 * kk + 1][1]);
            a[3] = pack_f2h2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
            for (int d = 0; d < HEAD_DIM / 8; d++) {
                u32 b[2];
                for (int r = 0; r < 2; r++) {
                    const int key = kk * 16 + 2 * t4 + 8 * r, col = d * 8 + g;
                    b[r] = pack_h2(Vs[key][col], Vs[key + 1][col]);
                }
                mma_16816(o[d], a, b);
            }
        }
        __syncthreads();
    }
    for (int i = 0; i < 2; i++) {
        float l = lrow[i];
        l += __shfl_xor_sync(OAG_FULL_MASK, l, 1);
        l += __shfl_xor_sync(OAG_FULL_MASK, l, 2);
        lrow[i] = l > 0.0f ? 1.0f / l : 0.0f;
    }
    for (int d = 0; d < HEAD_DIM / 8; d++)
        for (int r = 0; r < 4; r++) {
            const int row = qBase + g + 8 * (r >> 1);
            if (row < T) O[((i64)row * heads + h) * HEAD_DIM + d * 8 + 2 * t4 + (r & 1)] = o[d][r] * lrow[r >> 1];
        }
}
