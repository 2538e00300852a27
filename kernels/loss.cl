// Loss terms and reductions. Every reduction runs in a fixed order for a fixed launch size, so results are
// deterministic run to run. Partial sums are reduced to one value by reduce_partials, on the device: a training step
// never waits for the host except when the caller reads the loss.
#define RED 256   // work-group size of the reduction kernels (a power of two)

inline void group_sum(__local real* scratch, const real value, __global real* partial)
{
    const int lid = get_local_id(0);
    scratch[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = RED / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) partial[get_group_id(0)] = scratch[0];
}

// Squared error and its gradient: dyhat = grad_scale * (yhat - y); partial[group] = sum of (yhat - y)^2.
__kernel __attribute__((reqd_work_group_size(RED, 1, 1)))
void squared_error(const int count, __global const real* yhat, __global const real* y, __global real* dyhat,
                   const real grad_scale, __global real* partial)
{
    __local real scratch[RED];
    real acc = 0;
    for (int i = get_global_id(0); i < count; i += get_global_size(0)) {
        const real d = yhat[i] - y[i];
        dyhat[i] = grad_scale * d;
        acc += d * d;
    }
    group_sum(scratch, acc, partial);
}

// partial[group] = sum over rows and k of the KL terms -1/2 (1 + logvar - mean^2 - exp(logvar)); p is (N,2Z).
__kernel __attribute__((reqd_work_group_size(RED, 1, 1)))
void kl_divergence(const int N, const int Z, __global const real* p, const int p_off, __global real* partial)
{
    __local real scratch[RED];
    real acc = 0;
    for (int i = get_global_id(0); i < N * Z; i += get_global_size(0)) {
        const int n = i / Z, k = i % Z;
        const real mean = p[p_off + n * 2 * Z + k], logvar = p[p_off + n * 2 * Z + Z + k];
        acc += (real)-0.5 * ((real)1 + logvar - mean * mean - exp(logvar));
    }
    group_sum(scratch, acc, partial);
}

// partial[group] = sum of x^2 (for the global gradient norm).
__kernel __attribute__((reqd_work_group_size(RED, 1, 1)))
void sum_squares(const int count, __global const real* x, __global real* partial)
{
    __local real scratch[RED];
    real acc = 0;
    for (int i = get_global_id(0); i < count; i += get_global_size(0)) acc += x[i] * x[i];
    group_sum(scratch, acc, partial);
}

// out[index] = sum of partial[0..count), by one work-group of RED items.
__kernel __attribute__((reqd_work_group_size(RED, 1, 1)))
void reduce_partials(const int count, __global const real* partial, __global real* out, const int index)
{
    __local real scratch[RED];
    real acc = 0;
    for (int i = get_local_id(0); i < count; i += RED) acc += partial[i];
    group_sum(scratch, acc, out + index);  // the single group writes out[index + 0]
}
