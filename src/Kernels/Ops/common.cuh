// common.cuh: shared device helpers (FP16 storage, warp/block reductions, mma.sync m16n8k16). No toolkit headers.
#pragma once

typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned long long u64;
typedef long long i64;

#define OAG_DEV __device__ __forceinline__
#define OAG_FULL_MASK 0xffffffffu
// Finite "minus infinity": exp(OAG_NEG_BIG - m) underflows to 0 without producing NaN for empty rows.
#define OAG_NEG_BIG (-1.0e30f)

// 16-bit IEEE half as stored in weights / KV cache (layout-compatible with __half).
struct half_t { u16 bits; };

OAG_DEV float h2f(u16 h)
{
#ifdef __CUDA_EMU__
    return emu_h2f(h);
#else
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
#endif
}

OAG_DEV u16 f2h(float f)
{
#ifdef __CUDA_EMU__
    return emu_f2h(f);
#else
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
#endif
}

OAG_DEV float load_h(const half_t* p) { return h2f(p->bits); }
OAG_DEV void store_h(half_t* p, float v) { p->bits = f2h(v); }

// Two halves in one 32-bit register, element 0 in the low 16 bits (mma fragment convention).
OAG_DEV u32 pack_h2(u16 lo, u16 hi) { return (u32)lo | ((u32)hi << 16); }
OAG_DEV u32 pack_f2h2(float lo, float hi) { return pack_h2(f2h(lo), f2h(hi)); }

OAG_DEV int imin(int a, int b) { return a < b ? a : b; }
OAG_DEV int imax(int a, int b) { return a > b ? a : b; }

OAG_DEV float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(OAG_FULL_MASK, v, o);
    return v;
}

OAG_DEV float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(OAG_FULL_MASK, v, o));
    return v;
}

// Block-wide reductions; scratch needs 32 floats of shared memory; every thread gets the result.
OAG_DEV float block_sum(float v, float* scratch)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float r = lane < nwarps ? scratch[lane] : 0.0f;
    return warp_sum(r);
}

OAG_DEV float block_max(float v, float* scratch)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float r = lane < nwarps ? scratch[lane] : OAG_NEG_BIG;
    return warp_max(r);
}

// D = A(16x16, row) * B(16x8, col) + C, FP16 inputs, FP32 accumulate. Fragment layout per the PTX ISA:
// g = lane>>2, t = lane&3; a[r] holds A[g + 8*(r&1)][2t + 8*(r>>1) + {0,1}];
// b[r] holds B[2t + 8*r + {0,1}][g]; c[i] holds C[g + 8*(i>>1)][2t + (i&1)].
OAG_DEV void mma_16816(float* c, const u32* a, const u32* b)
{
#ifdef __CUDA_EMU__
    emu_mma_m16n8k16(c, a, b);
#else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}
