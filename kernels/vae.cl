// Variational latent layer. Its input p (N,2Z), at element offset p_off, is [mean | log-variance] per row.
//   training: z = mean + exp(logvar / 2) * eps, eps ~ N(0,1) supplied by the host (reproducible runs)
//   inference, or a deterministic autoencoder: z = mean
// KL(q || N(0,1)) per row = -1/2 * sum_k (1 + logvar_k - mean_k^2 - exp(logvar_k)).

__kernel void vae_forward(const int N, const int Z, __global const real* p, const int p_off,
                          __global const real* eps,
                          __global real* z, const int sample)
{
    const int k = get_global_id(0), n = get_global_id(1);
    if (k >= Z || n >= N) return;
    const real mean = p[p_off + n * 2 * Z + k];
    z[n * Z + k] = sample ? mean + exp((real)0.5 * p[p_off + n * 2 * Z + Z + k]) * eps[n * Z + k] : mean;
}

// dp from dz and, when sampling, the KL term weighted by kl_scale (= beta / (N * O), see docs/MODEL.md):
//   dmean   = dz + kl_scale * mean
//   dlogvar = dz * eps * exp(logvar/2) / 2 + kl_scale * (exp(logvar) - 1) / 2
// Without sampling the log-variance half is unused: its gradient is 0.
__kernel void vae_backward(const int N, const int Z, __global const real* p, const int p_off,
                           __global const real* eps,
                           __global const real* dz, __global real* dp, const int sample, const real kl_scale)
{
    const int k = get_global_id(0), n = get_global_id(1);
    if (k >= Z || n >= N) return;
    const int im = n * 2 * Z + k, il = im + Z;
    const real g = dz[n * Z + k];
    if (sample) {
        const real mean = p[p_off + im], logvar = p[p_off + il];
        dp[im] = g + kl_scale * mean;
        dp[il] = g * eps[n * Z + k] * (real)0.5 * exp((real)0.5 * logvar) + kl_scale * (real)0.5 * (exp(logvar) - (real)1);
    } else {
        dp[im] = g;
        dp[il] = 0;
    }
}
