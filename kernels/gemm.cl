// General matrix multiply on row-major matrices, for GPUs: 64x64 output tiles through local memory, each work-item
// accumulating a 4x4 block in registers (the "2D register blocking" of Cedric Nugteren's OpenCL SGEMM tutorial).
//   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C[M,N]
//   op(A)[m,k] = trans_a ? A[k*lda + m] : A[m*lda + k]
//   op(B)[k,n] = trans_b ? B[n*ldb + k] : B[k*ldb + n]
// Offsets (in elements) let callers address one time step of a (T,B,X) array without sub-buffers.
// beta == 0 never reads C, so C may hold garbage (or NaN) on entry. Each element is accumulated over k in the same
// order whatever M and N are: a row's result does not depend on how many rows are computed together.
#ifndef TSM                    // tile sizes may be set per device at build time
#define TSM 64                 // rows of C per work-group
#define TSN 64                 // columns of C per work-group
#define WPTM 4                 // rows per work-item
#define WPTN 4                 // columns per work-item
#endif
#define TSK 16                 // reduction tile
#define RTSM (TSM / WPTM)      // work-group size along m (16)
#define RTSN (TSN / WPTN)      // work-group size along n (16)
#define LOADS_A (TSM * TSK / (RTSM * RTSN))  // elements of the A tile loaded per work-item
#define LOADS_B (TSN * TSK / (RTSM * RTSN))  // elements of the B tile loaded per work-item

__kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1)))
void gemm(const int M, const int N, const int K, const real alpha,
          __global const real* A, const int a_off, const int lda, const int trans_a,
          __global const real* B, const int b_off, const int ldb, const int trans_b,
          const real beta, __global real* C, const int c_off, const int ldc)
{
    const int tn = get_local_id(0), tm = get_local_id(1);
    const int tid = tm * RTSN + tn;
    const int m0 = get_group_id(1) * TSM, n0 = get_group_id(0) * TSN;
    __local real a_tile[TSK][TSM];     // a_tile[k][m]
    __local real b_tile[TSK][TSN];     // b_tile[k][n]
    real acc[WPTM][WPTN];
    for (int i = 0; i < WPTM; ++i)
        for (int j = 0; j < WPTN; ++j) acc[i][j] = 0;
    for (int k0 = 0; k0 < K; k0 += TSK) {
        // Each operand is read along its contiguous dimension, so a warp's loads coalesce.
        for (int l = 0; l < LOADS_A; ++l) {
            const int idx = tid + l * RTSM * RTSN;
            int mm, kk;
            if (trans_a) { kk = idx / TSM; mm = idx % TSM; } else { mm = idx / TSK; kk = idx % TSK; }
            const int m = m0 + mm, k = k0 + kk;
            a_tile[kk][mm] = (m < M && k < K) ? (trans_a ? A[a_off + k * lda + m] : A[a_off + m * lda + k])
                                              : (real)0;
        }
        for (int l = 0; l < LOADS_B; ++l) {
            const int idx = tid + l * RTSM * RTSN;
            int nn, kk;
            if (trans_b) { nn = idx / TSK; kk = idx % TSK; } else { kk = idx / TSN; nn = idx % TSN; }
            const int n = n0 + nn, kb = k0 + kk;
            b_tile[kk][nn] = (n < N && kb < K) ? (trans_b ? B[b_off + n * ldb + kb] : B[b_off + kb * ldb + n])
                                               : (real)0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < TSK; ++kk) {
            real a[WPTM], b[WPTN];
            for (int i = 0; i < WPTM; ++i) a[i] = a_tile[kk][tm + i * RTSM];
            for (int j = 0; j < WPTN; ++j) b[j] = b_tile[kk][tn + j * RTSN];
            for (int i = 0; i < WPTM; ++i)
                for (int j = 0; j < WPTN; ++j) acc[i][j] += a[i] * b[j];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int i = 0; i < WPTM; ++i) {
        const int m = m0 + tm + i * RTSM;
        if (m >= M) continue;
        for (int j = 0; j < WPTN; ++j) {
            const int n = n0 + tn + j * RTSN;
            if (n >= N) continue;
            const int idx = c_off + m * ldc + n;
            C[idx] = beta == (real)0 ? alpha * acc[i][j] : alpha * acc[i][j] + beta * C[idx];
        }
    }
}

// out[o] = beta * out[o] + sum_n X[n, o] for X (N,O) at x_off: bias gradients (column sums).
// One work-item per column, rows in a fixed order, so the result is deterministic.
__kernel void column_sum(const int N, const int O, __global const real* X, const int x_off,
                         const real beta, __global real* out)
{
    const int o = get_global_id(0);
    if (o >= O) return;
    real acc = 0;
    for (int n = 0; n < N; ++n) acc += X[x_off + n * O + o];
    out[o] = beta == (real)0 ? acc : beta * out[o] + acc;
}
