// Matrix products for CPU devices (PoCL): register blocking with explicit 8-wide vectors, no local memory and no
// barriers, so each work-item is a straight loop that LLVM keeps in vector registers (AVX2: 12 accumulators).
//   C[M,N] = alpha * op(A)[M,K] * B[K,N] + beta * C      op(A)[m,k] = trans_a ? A[k*lda + m] : A[m*lda + k]
// B is never transposed here: callers keep transposed copies of weights (transpose below) instead.
// Every element is accumulated by one work-item over k = 0..K-1 in order, by the same code for any M, so a row's
// result does not depend on how many rows are computed together (the offline backfill and the live daemon agree
// bit for bit). beta == 0 never reads C.
#ifdef REAL_IS_DOUBLE
typedef double8 real8;
#else
typedef float8 real8;
#endif

// PoCL 3.0 compiles vload8/vstore8 and vector fma() to out-of-line calls, which spill every accumulator in the
// inner loop; eight scalar accesses are fused by LLVM into one unaligned vector load or store, and `c += a * b`
// stays inline (contracted to an FMA instruction where the compiler chooses to).
#define LOAD8(p) ((real8)((p)[0], (p)[1], (p)[2], (p)[3], (p)[4], (p)[5], (p)[6], (p)[7]))
#define STORE8(v, p) do { __global real* q_ = (p); q_[0] = (v).s0; q_[1] = (v).s1; q_[2] = (v).s2; q_[3] = (v).s3; \
                          q_[4] = (v).s4; q_[5] = (v).s5; q_[6] = (v).s6; q_[7] = (v).s7; } while (0)

#define MR 6    // rows of C per work-item
#define NR 16   // columns of C per work-item (two 8-wide vectors)

#define ROW_LOAD(r) const real a##r = trans_a ? A[k * lda + row##r] : A[row##r * lda + k];
#define ROW_FMA(r) c##r##0 += (real8)(a##r) * b0; c##r##1 += (real8)(a##r) * b1;
#define ROW_STORE(r)                                                                                   \
    if (m0 + r < M) {                                                                                  \
        __global real* out = C + c_off + (m0 + r) * ldc + n0;                                         \
        if (beta == (real)0) {                                                                         \
            STORE8(alpha * c##r##0, out); STORE8(alpha * c##r##1, out + 8);                           \
        } else {                                                                                       \
            STORE8(alpha * c##r##0 + beta * LOAD8(out), out);                                          \
            STORE8(alpha * c##r##1 + beta * LOAD8(out + 8), out + 8);                                  \
        }                                                                                              \
    }

#define HALF_STORE(r)                                                                                  \
    if (m0 + r < M) {                                                                                  \
        __global real* out = C + c_off + (m0 + r) * ldc + n0;                                         \
        if (beta == (real)0) { STORE8(alpha * c##r##0, out); }                                         \
        else { STORE8(alpha * c##r##0 + beta * LOAD8(out), out); }                                     \
    }

__kernel void gemm_blocked(const int M, const int N, const int K, const real alpha,
                           __global const real* A_base, const int a_off, const int lda, const int trans_a,
                           __global const real* B_base, const int b_off, const int ldb,
                           const real beta, __global real* C, const int c_off, const int ldc)
{
    // Row blocks vary fastest: consecutive work-items share one column panel of B, which stays in cache while
    // every row block uses it (A, the smaller operand in our products, is re-read from cache instead).
    const int m0 = get_global_id(0) * MR;
    const int n0 = get_global_id(1) * NR;
    if (n0 >= N || m0 >= M) return;
    __global const real* A = A_base + a_off;
    __global const real* B = B_base + b_off;
    // Rows past M re-read row M-1 (valid memory) and are never stored: the vector path serves any M, even 1.
    const int last = M - 1;
    const int row0 = m0, row1 = m0 + 1 < M ? m0 + 1 : last, row2 = m0 + 2 < M ? m0 + 2 : last;
    const int row3 = m0 + 3 < M ? m0 + 3 : last, row4 = m0 + 4 < M ? m0 + 4 : last, row5 = m0 + 5 < M ? m0 + 5 : last;
    if (n0 + NR <= N) {
        real8 c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0;
        real8 c30 = 0, c31 = 0, c40 = 0, c41 = 0, c50 = 0, c51 = 0;
        for (int k = 0; k < K; ++k) {
            const real8 b0 = LOAD8(B + k * ldb + n0), b1 = LOAD8(B + k * ldb + n0 + 8);
            ROW_LOAD(0) ROW_LOAD(1) ROW_LOAD(2) ROW_LOAD(3) ROW_LOAD(4) ROW_LOAD(5)
            ROW_FMA(0) ROW_FMA(1) ROW_FMA(2) ROW_FMA(3) ROW_FMA(4) ROW_FMA(5)
        }
        ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3) ROW_STORE(4) ROW_STORE(5)
        return;
    }
    int n_scalar = n0;
    if (n0 + 8 <= N) {  // a half block of 8 columns still runs on vectors (N = 120 is 7.5 blocks)
        real8 c00 = 0, c10 = 0, c20 = 0, c30 = 0, c40 = 0, c50 = 0;
        for (int k = 0; k < K; ++k) {
            const real8 b0 = LOAD8(B + k * ldb + n0);
            ROW_LOAD(0) ROW_LOAD(1) ROW_LOAD(2) ROW_LOAD(3) ROW_LOAD(4) ROW_LOAD(5)
            c00 += (real8)(a0) * b0; c10 += (real8)(a1) * b0; c20 += (real8)(a2) * b0;
            c30 += (real8)(a3) * b0; c40 += (real8)(a4) * b0; c50 += (real8)(a5) * b0;
        }
        HALF_STORE(0) HALF_STORE(1) HALF_STORE(2) HALF_STORE(3) HALF_STORE(4) HALF_STORE(5)
        n_scalar = n0 + 8;
    }
    // The remaining columns (fewer than 8): scalar, the same sequence of operations per element.
    for (int r = 0; r < MR && m0 + r < M; ++r) {
        const int m = m0 + r;
        for (int n = n_scalar; n < N; ++n) {
            real acc = 0;
            for (int k = 0; k < K; ++k)
                acc += (trans_a ? A[k * lda + m] : A[m * lda + k]) * B[k * ldb + n];
            const int idx = c_off + m * ldc + n;
            C[idx] = beta == (real)0 ? alpha * acc : alpha * acc + beta * C[idx];
        }
    }
}

// out (C,R) = in (R,C)^T with in's rows ld_in apart; out is dense. Gives the products above B in (K,N) layout.
#define TT 16
__kernel void transpose(const int R, const int Cn, __global const real* in, const int in_off, const int ld_in,
                        __global real* out)
{
    const int c0 = get_global_id(0) * TT, r0 = get_global_id(1) * TT;
    const int r1 = r0 + TT < R ? r0 + TT : R, c1 = c0 + TT < Cn ? c0 + TT : Cn;
    for (int r = r0; r < r1; ++r)
        for (int c = c0; c < c1; ++c)
            out[c * R + r] = in[in_off + r * ld_in + c];
}
