// Dense layer pieces around the GEMMs in gemm.cl: y = act(x W^T + b).

// y[n,o] = act(y[n,o] + bias[o]) in place, for y (N,O) holding x W^T.
__kernel void bias_activation(const int N, const int O, __global real* y, __global const real* bias, const int act)
{
    const int o = get_global_id(0), n = get_global_id(1);
    if (o >= O || n >= N) return;
    const int idx = n * O + o;
    y[idx] = activate(y[idx] + bias[o], act);
}

// dz = dy * act'(x) written through the output y = act(x); dz may be the same buffer as dy.
__kernel void activation_backward(const int count, __global const real* dy, __global const real* y,
                                  __global real* dz, const int act)
{
    const int idx = get_global_id(0);
    if (idx >= count) return;
    dz[idx] = dy[idx] * activation_grad(y[idx], act);
}
