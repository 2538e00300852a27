// General matrix multiply on row-major matrices, tiled through local memory.
//   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C[M,N]
//   op(A)[m,k] = trans_a ? A[k*lda + m] : A[m*lda + k]
//   op(B)[k,n] = trans_b ? B[n*ldb + k] : B[k*ldb + n]
// Offsets (in elements) let callers address one time step of a (T,B,X) array without sub-buffers.
// beta == 0 never reads C, so C may hold garbage (or NaN) on entry.
#define TS 16

__kernel __attribute__((reqd_work_group_size(TS, TS, 1)))
void gemm(const int M, const int N, const int K, const real alpha,
          __global const real* A, const int a_off, const int lda, const int trans_a,
          __global const real* B, const int b_off, const int ldb, const int trans_b,
          const real beta, __global real* C, const int c_off, const int ldc)
{
    const int tx = get_local_id(0);          // along n (and along k when loading A)
    const int ty = get_local_id(1);          // along m (and along k when loading B)
    const int n = get_group_id(0) * TS + tx;
    const int m = get_group_id(1) * TS + ty;
    __local real a_tile[TS][TS + 1];         // a_tile[m][k]; +1 avoids bank conflicts
    __local real b_tile[TS][TS + 1];         // b_tile[k][n]
    real acc = 0;
    for (int k0 = 0; k0 < K; k0 += TS) {
        // Transposed operands are loaded with the fast index along their contiguous dimension.
        if (trans_a) {
            const int ka = k0 + ty, ma = get_group_id(1) * TS + tx;
            a_tile[tx][ty] = (ma < M && ka < K) ? A[a_off + ka * lda + ma] : (real)0;
        } else {
            const int ka = k0 + tx;
            a_tile[ty][tx] = (m < M && ka < K) ? A[a_off + m * lda + ka] : (real)0;
        }
        if (trans_b) {
            const int kb = k0 + tx, nb = get_group_id(0) * TS + ty;
            b_tile[tx][ty] = (nb < N && kb < K) ? B[b_off + nb * ldb + kb] : (real)0;
        } else {
            const int kb = k0 + ty;
            b_tile[ty][tx] = (n < N && kb < K) ? B[b_off + kb * ldb + n] : (real)0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < TS; ++kk)
            acc += a_tile[ty][kk] * b_tile[kk][tx];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (m < M && n < N) {
        const int idx = c_off + m * ldc + n;
        C[idx] = beta == (real)0 ? alpha * acc : alpha * acc + beta * C[idx];
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
