// Y[m, n] = sum_k X[m, k] * W[n, k] (+ Y when accumulate); X FP32 rounded to FP16, W FP16 [N, K], FP32 accumulate (mma.sync)
#include "common.cuh"

#define GEMM_BM 64
#define GEMM_BN 64
#define GEMM_BK 32
#define GEMM_PAD 8
#define GEMM_THREADS 128

// 4 warps in a 2x2 arrangement, each computing a 32x32 sub-tile as 2 (m16) x 4 (n8) mma tiles.
extern "C" __global__ void __launch_bounds__(GEMM_THREADS) gemm_f16_mma(const float* __restrict__ X, const half_t* __restrict__ W,
                                                                       float* __restrict__ Y, int M, int N, int K, int accumulate)
{
    __shared__ __align__(16) u16 As[GEMM_BM][GEMM_BK + GEMM_PAD];
    __shared__ __align__(16) u16 Ws[GEMM_BN][GEMM_BK + GEMM_PAD];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
    const int m0 = blockIdx.y * GEMM_BM, n0 = blockIdx.x * GEMM_BN;
    float acc[2][4][4];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            for (int r = 0; r < 4; r++) acc[i][j][r] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += GEMM_BK) {
        for (int e = tid; e < GEMM_BM * GEMM_BK; e += GEMM_THREADS) {
            const int r = e / GEMM_BK, c = e % GEMM_BK;
            const int gm = m0 + r, gk = k0 + c;
            As[r][c] = (gm < M && gk < K) ? f2h(X[(i64)gm * K + gk]) : (u16)0;
            const int gn = n0 + r;
            Ws[r][c] = (gn < N && gk < K) ? W[(i64)gn * K + gk].bits : (u16)0;
        }
        __syncthreads();
        for (int kk = 0; kk < GEMM_BK; kk += 16) {
            u32 a[2][4], b[4][2];
            for (int i = 0; i < 2; i++)
                for (int r = 0; r < 4; r++) {
                    const int row = wm + i * 16 + g + 8 * (r & 1), col = kk + 2 * t + 8 * (r >> 1);
                    a[i][r] = pack_h2(As[row][col], As[row][col + 1]);
                }
            for (int j = 0; j < 4; j++)
                for (int r = 0; r < 2; r++) {
                    const int n = wn + j * 8 + g, k = kk + 2 * t + 8 * r;
                    b[j][r] = pack_h2(Ws[n][k], Ws[n][k + 1]);
                }
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 4; j++) mma_16816(acc[i][j], a[i], b[j]);
        }
        __syncthreads();
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            for (int r = 0; r < 4; r++) {
                const int row = m0 + wm + i * 16 + g + 8 * (r >> 1), col = n0 + wn + j * 8 + 2 * t + (r & 1);
                if (row < M && col < N) {
                    float* yp = Y + (i64)row * N + col;
                    *yp = accumulate ? *yp + acc[i][j][r] : acc[i][j][r];
                }
            }
}

// out = fp16(in): stages activations for the cuBLAS GemmEx path (FP16 A/B, FP32 compute).
extern "C" __global__ void convert_f32_to_f16(const float* __restrict__ in, half_t* __restrict__ out, i64 n)
{
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) store_h(out + i, in[i]);
}
