// Adam with bias correction, decoupled weight decay (AdamW) and global gradient-norm clipping, over one flat
// parameter buffer. bias1 = 1 - beta1^step and bias2 = 1 - beta2^step come from the host (it counts steps);
// norm_sq[0] is the squared global gradient norm computed on the device, so clipping needs no host round-trip.
//   g = grad * min(1, clip_norm / ||grad||)       (clip_norm = 0: no clipping)
//   p = p - lr * weight_decay * p
//   m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
//   p = p - lr * (m / bias1) / (sqrt(v / bias2) + eps)
__kernel void adam_update(const int count, __global real* param, __global const real* grad, __global real* m,
                          __global real* v, const real lr, const real beta1, const real beta2, const real eps,
                          const real weight_decay, const real bias1, const real bias2, const real clip_norm,
                          __global const real* norm_sq)
{
    const int i = get_global_id(0);
    if (i >= count) return;
    real scale = 1;
    if (clip_norm > (real)0) {
        const real norm = sqrt(norm_sq[0]);
        if (norm > clip_norm) scale = clip_norm / norm;
    }
    const real g = grad[i] * scale;
    real p = param[i];
    p -= lr * weight_decay * p;
    const real mi = beta1 * m[i] + ((real)1 - beta1) * g;
    const real vi = beta2 * v[i] + ((real)1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - lr * (mi / bias1) / (sqrt(vi / bias2) + eps);
}
