// cuda_emu.h: runs CUDA kernel sources on the CPU. Each block's threads are cooperative fibers (ucontext)
// with real __syncthreads / warp-shuffle semantics; blocks run one after another; launches are serialized.
#pragma once
#define __CUDA_EMU__ 1

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>
#include <type_traits>
#include <vector>
#include <ucontext.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __shared__ static
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

struct uint3 { unsigned x, y, z; };
struct dim3 { unsigned x, y, z; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) int2 { int x, y; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

namespace emu {

#if defined(__x86_64__) && !defined(EMU_USE_UCONTEXT)
#define EMU_FAST_SWITCH 1
// Minimal context switch (callee-saved registers + stack pointer); avoids swapcontext's signal-mask syscall.
extern "C" void emu_switch_ctx(void** saveSp, void* loadSp);
asm(R"(
    .text
    .hidden emu_switch_ctx
    .globl emu_switch_ctx
    .type emu_switch_ctx, @function
emu_switch_ctx:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch_ctx, .-emu_switch_ctx
)");
#endif

struct Fiber {
    ucontext_t ctx;
    void* sp;
    uint3 tid;
    bool done;
};

struct State {
    std::vector<Fiber> fibers;
    std::vector<char*> stacks;
    ucontext_t sched;
    void* sched_sp = nullptr;
    int cur = 0;
    int alive = 0;
    int nthreads = 0;
    uint3 block_idx{0, 0, 0};
    dim3 block_dim{1, 1, 1};
    dim3 grid_dim{1, 1, 1};
    void (*thunk)(void**) = nullptr;
    void** args = nullptr;
    // block barrier
    int bar_count = 0;
    unsigned bar_gen = 0;
    // warp barriers (up to 32 warps)
    int warp_count[32] = {};
    int warp_alive[32] = {};
    unsigned warp_gen[32] = {};
    unsigned long long progress = 0;
    // per-lane exchange slots for shuffles and mma fragments
    uint64_t xchg[1024];
    uint32_t mma_a[1024][4];
    uint32_t mma_b[1024][2];
    std::vector<unsigned char> dyn_smem;
};

inline State g;
inline std::mutex launch_mutex;
constexpr size_t kStackBytes = 96 * 1024;

inline int lin() { return g.cur; }

inline void yield()
{
#ifdef EMU_FAST_SWITCH
    emu_switch_ctx(&g.fibers[g.cur].sp, g.sched_sp);
#else
    swapcontext(&g.fibers[g.cur].ctx, &g.sched);
#endif
}

inline void block_barrier()
{
    unsigned gen = g.bar_gen;
    g.progress++;
    if (++g.bar_count >= g.alive) { g.bar_count = 0; g.bar_gen++; return; }
    while (g.bar_gen == gen) yield();
}

inline void warp_barrier()
{
    int w = lin() >> 5;
    unsigned gen = g.warp_gen[w];
    g.progress++;
    if (++g.warp_count[w] >= g.warp_alive[w]) { g.warp_count[w] = 0; g.warp_gen[w]++; return; }
    while (g.warp_gen[w] == gen) yield();
}

inline int warp_size_of(int l) { int base = l & ~31; int n = g.nthreads - base; return n < 32 ? n : 32; }

template <class T> inline T exchange(T v, int srcLane)
{
    static_assert(sizeof(T) <= 8, "shuffle of a type wider than 64 bits");
    int l = lin(), base = l & ~31;
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    g.xchg[l] = bits;
    warp_barrier();
    uint64_t r = (srcLane >= 0 && srcLane < warp_size_of(l)) ? g.xchg[base + srcLane] : bits;
    warp_barrier();
    T out;
    std::memcpy(&out, &r, sizeof(T));
    return out;
}

template <class... A, size_t... I>
inline void call_with(void (*f)(A...), void** args, std::index_sequence<I...>)
{
    f(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(args[I])...);
}

template <class... A> inline void invoke(void (*f)(A...), void** args) { call_with(f, args, std::index_sequence_for<A...>{}); }

inline void fiber_entry()
{
    g.thunk(g.args);
    g.fibers[g.cur].done = true;
#ifdef EMU_FAST_SWITCH
    emu_switch_ctx(&g.fibers[g.cur].sp, g.sched_sp); // never resumed
    std::abort();
#endif
    // ucontext: returning switches to uc_link (the scheduler)
}

struct Entry { const char* name; void (*thunk)(void**); };

} // namespace emu

#define threadIdx (emu::g.fibers[emu::g.cur].tid)
#define blockIdx (emu::g.block_idx)
#define blockDim (emu::g.block_dim)
#define gridDim (emu::g.grid_dim)
#define warpSize 32

inline void __syncthreads() { emu::block_barrier(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::warp_barrier(); }
template <class T> inline T __shfl_xor_sync(unsigned, T v, int laneMask, int width = 32)
{
    int lane = emu::lin() & 31;
    int src = lane ^ laneMask;
    if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
    return emu::exchange(v, src);
}
template <class T> inline T __shfl_sync(unsigned, T v, int srcLane, int width = 32)
{
    int lane = emu::lin() & 31;
    return emu::exchange(v, (lane & ~(width - 1)) + (srcLane & (width - 1)));
}
template <class T> inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32)
{
    int lane = emu::lin() & 31;
    int src = ((lane & (width - 1)) + (int)delta < width) ? lane + (int)delta : lane;
    return emu::exchange(v, src);
}
template <class T> inline T __ldg(const T* p) { return *p; }

// Atomics: launches are serialized and fibers are cooperative, so plain read-modify-write is atomic.
inline float atomicAdd(float* p, float v) { float o = *p; *p = o + v; return o; }
inline int atomicAdd(int* p, int v) { int o = *p; *p = o + v; return o; }
inline unsigned atomicAdd(unsigned* p, unsigned v) { unsigned o = *p; *p = o + v; return o; }
inline int atomicMax(int* p, int v) { int o = *p; if (v > o) *p = v; return o; }
inline int atomicMin(int* p, int v) { int o = *p; if (v < o) *p = v; return o; }
inline int atomicExch(int* p, int v) { int o = *p; *p = v; return o; }
inline int atomicCAS(int* p, int cmp, int v) { int o = *p; if (o == cmp) *p = v; return o; }
inline unsigned atomicCAS(unsigned* p, unsigned cmp, unsigned v) { unsigned o = *p; if (o == cmp) *p = v; return o; }

// Math built-ins NVRTC provides implicitly.
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline int __float_as_int(float f) { int u; std::memcpy(&u, &f, 4); return u; }
inline float __int_as_float(int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }

// FP16 conversions (round-to-nearest-even, as cvt.rn.f16.f32).
inline float emu_h2f(uint16_t h) { _Float16 v; std::memcpy(&v, &h, 2); return (float)v; }
inline uint16_t emu_f2h(float f) { _Float16 v = (_Float16)f; uint16_t h; std::memcpy(&h, &v, 2); return h; }

// mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 with the PTX ISA fragment layouts: every lane publishes
// its A/B fragments, then computes its four C elements from the reassembled 16x16 and 16x8 tiles.
inline void emu_mma_m16n8k16(float* c, const uint32_t* a, const uint32_t* b)
{
    int l = emu::lin(), base = l & ~31, lane = l & 31;
    for (int r = 0; r < 4; r++) emu::g.mma_a[l][r] = a[r];
    for (int r = 0; r < 2; r++) emu::g.mma_b[l][r] = b[r];
    emu::warp_barrier();
    auto A = [&](int row, int k) {
        int owner = base + (row & 7) * 4 + ((k & 7) >> 1);
        int reg = ((row >> 3) & 1) | (((k >> 3) & 1) << 1);
        uint32_t w = emu::g.mma_a[owner][reg];
        return emu_h2f((uint16_t)((k & 1) ? (w >> 16) : (w & 0xffff)));
    };
    auto B = [&](int k, int col) {
        int owner = base + col * 4 + ((k & 7) >> 1);
        int reg = (k >> 3) & 1;
        uint32_t w = emu::g.mma_b[owner][reg];
        return emu_h2f((uint16_t)((k & 1) ? (w >> 16) : (w & 0xffff)));
    };
    int grp = lane >> 2, tig = lane & 3;
    float out[4];
    for (int i = 0; i < 4; i++) {
        int row = grp + ((i >> 1) << 3), col = tig * 2 + (i & 1);
        float acc = c[i];
        for (int k = 0; k < 16; k++) acc += A(row, k) * B(k, col);
        out[i] = acc;
    }
    emu::warp_barrier();
    for (int i = 0; i < 4; i++) c[i] = out[i];
}

namespace emu {

// Runs one kernel launch. Returns 0 on success, 1 for bad geometry, 2 on barrier deadlock.
inline int run(void (*thunk)(void**), unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
               unsigned shared, void** args)
{
    std::lock_guard<std::mutex> lock(launch_mutex);
    int n = (int)(bx * by * bz);
    if (n <= 0 || n > 1024 || gx == 0 || gy == 0 || gz == 0) return 1;
    g.thunk = thunk;
    g.args = args;
    g.nthreads = n;
    g.block_dim = {bx, by, bz};
    g.grid_dim = {gx, gy, gz};
    g.dyn_smem.assign(shared + 16, 0);
    if ((int)g.fibers.size() < n) g.fibers.resize(n);
    while ((int)g.stacks.size() < n) g.stacks.push_back(static_cast<char*>(std::malloc(kStackBytes)));
    for (unsigned z = 0; z < gz; z++)
    for (unsigned y = 0; y < gy; y++)
    for (unsigned x = 0; x < gx; x++) {
        g.block_idx = {x, y, z};
        g.bar_count = 0;
        g.alive = n;
        for (int w = 0; w < 32; w++) { g.warp_count[w] = 0; g.warp_alive[w] = 0; }
        for (int i = 0; i < n; i++) {
            Fiber& f = g.fibers[i];
            f.tid = {(unsigned)(i % bx), (unsigned)((i / bx) % by), (unsigned)(i / (bx * by))};
            f.done = false;
            g.warp_alive[i >> 5]++;
#ifdef EMU_FAST_SWITCH
            // Initial frame popped by emu_switch_ctx: r15 r14 r13 r12 rbx rbp, return address = fiber_entry,
            // then a fake return address so fiber_entry starts with the ABI's rsp % 16 == 8.
            uintptr_t top = (reinterpret_cast<uintptr_t>(g.stacks[i]) + kStackBytes) & ~uintptr_t(15);
            void** sp = reinterpret_cast<void**>(top - 64);
            for (int k = 0; k < 6; k++) sp[k] = nullptr;
            sp[6] = reinterpret_cast<void*>(&fiber_entry);
            sp[7] = nullptr;
            f.sp = sp;
#else
            getcontext(&f.ctx);
            f.ctx.uc_stack.ss_sp = g.stacks[i];
            f.ctx.uc_stack.ss_size = kStackBytes;
            f.ctx.uc_link = &g.sched;
            makecontext(&f.ctx, fiber_entry, 0);
#endif
        }
        while (g.alive > 0) {
            unsigned long long before = g.progress;
            for (int i = 0; i < n; i++) {
                if (g.fibers[i].done) continue;
                g.cur = i;
#ifdef EMU_FAST_SWITCH
                emu_switch_ctx(&g.sched_sp, g.fibers[i].sp);
#else
                swapcontext(&g.sched, &g.fibers[i].ctx);
#endif
                if (g.fibers[i].done) {
                    g.progress++;
                    g.alive--;
                    int w = i >> 5;
                    g.warp_alive[w]--;
                    // Exited threads no longer take part in barriers.
                    if (g.bar_count > 0 && g.bar_count >= g.alive) { g.bar_count = 0; g.bar_gen++; }
                    if (g.warp_count[w] > 0 && g.warp_count[w] >= g.warp_alive[w]) { g.warp_count[w] = 0; g.warp_gen[w]++; }
                }
            }
            if (g.alive > 0 && g.progress == before) {
                std::fprintf(stderr, "cuda-emu: barrier deadlock in block (%u,%u,%u)\n", x, y, z);
                return 2;
            }
        }
    }
    return 0;
}

} // namespace emu

#define EMU_DYNAMIC_SMEM() (static_cast<void*>(emu::g.dyn_smem.data()))
