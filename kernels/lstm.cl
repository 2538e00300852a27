// LSTM layer, one time step per launch, for B independent streams.
// Gate order (PyTorch's): i (input), f (forget), g (cell candidate), o (output); W_ih (4H,I), W_hh (4H,H), b (4H).
// The input projection pre = x W_ih^T of a whole chunk is one GEMM before the time loop (gemm.cl), and the weight
// gradients are GEMMs over the whole chunk after the backward loop; only the recurrent part is stepped here.
// Tiles, set per device at build time (-DLJ=.. -DLBW=.. -DRB=..): a work-group of (LJ, LBW) work-items covers LJ
// hidden units and SB = LBW*RB streams; each work-item keeps RB streams in registers, so every W_hh value read from
// local memory serves RB products. Each output is accumulated over k in the same order whatever B is.
#ifndef LJ
#define LJ 16   // hidden units per work-group (dimension 0); also the reduction tile
#endif
#ifndef LBW
#define LBW 4   // work-items along streams (dimension 1)
#endif
#ifndef RB
#define RB 1    // streams per work-item
#endif
#ifndef LK
#define LK LJ   // reduction tile: fewer, longer tiles hide more memory latency
#endif
#define SB (LBW * RB)   // streams per work-group
#define WG (LJ * LBW)   // work-items per work-group

// Activations, c_t and h_t of one cell from its four gate pre-activations (bias included) and c_{t-1}. Every forward
// kernel (the steps below and lstm_persistent.cl) calls this one function, so all of them round alike: encode and
// the live daemon must give the same bits whichever kernel ran.
inline void lstm_cell(const real a_i, const real a_f, const real a_g, const real a_o, const real c_prev,
                      real* i, real* f, real* g, real* o, real* c, real* h)
{
    *i = sigmoid_r(a_i);
    *f = sigmoid_r(a_f);
    *g = tanh(a_g);
    *o = sigmoid_r(a_o);
    *c = *f * c_prev + *i * *g;
    *h = *o * tanh(*c);
}

// The cell of unit j, stream b, step t from its four gate pre-activations (bias included): activations, c and h,
// and the activated gates kept for backward. Shared by the fused step (GPU) and the split one (CPU).
inline void lstm_cell_forward(const int B, const int H, const int t, const int b, const int j,
                              const real a_i, const real a_f, const real a_g, const real a_o,
                              __global real* hs, __global real* cs, __global real* gates, const int store_gates)
{
    const int s_prev = (t * B + b) * H + j;
    const int s_next = s_prev + B * H;
    real i, f, g, o, c, h;
    lstm_cell(a_i, a_f, a_g, a_o, cs[s_prev], &i, &f, &g, &o, &c, &h);
    cs[s_next] = c;
    hs[s_next] = h;
    if (store_gates) {
        const int a_row = (t * B + b) * 4 * H;
        gates[a_row + j] = i;
        gates[a_row + H + j] = f;
        gates[a_row + 2 * H + j] = g;
        gates[a_row + 3 * H + j] = o;
    }
}

// Gate gradients of unit j, stream b, step t from dh (the total gradient into h_t), and the cell gradient carried
// to step t-1. Shared by the fused step (GPU) and the split one (CPU).
inline void lstm_cell_backward(const int B, const int H, const int t, const int b, const int j, const real dh,
                               __global const real* gates, __global const real* cs, __global real* da,
                               __global real* dc)
{
    const int a_row = (t * B + b) * 4 * H;
    const int s_prev = (t * B + b) * H + j;
    const int s_now = s_prev + B * H;
    const real i = gates[a_row + j], f = gates[a_row + H + j];
    const real g = gates[a_row + 2 * H + j], o = gates[a_row + 3 * H + j];
    const real tc = tanh(cs[s_now]);
    const real dcell = dc[b * H + j] + dh * o * ((real)1 - tc * tc);
    da[a_row + j] = dcell * g * i * ((real)1 - i);
    da[a_row + H + j] = dcell * cs[s_prev] * f * ((real)1 - f);
    da[a_row + 2 * H + j] = dcell * i * ((real)1 - g * g);
    da[a_row + 3 * H + j] = dh * tc * o * ((real)1 - o);
    dc[b * H + j] = dcell * f;
}

// Forward step t:
//   a = pre[t] + b + h_{t-1} W_hh^T
//   i = sigmoid(a_i), f = sigmoid(a_f), g = tanh(a_g), o = sigmoid(a_o)
//   c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
// hs, cs (T+1,B,H): slot 0 holds the state carried in from the previous chunk; step t reads slot t, writes t+1.
__kernel __attribute__((reqd_work_group_size(LJ, LBW, 1)))
void lstm_step_forward(const int B, const int H, const int t,
                       __global const real* pre,      // (T,B,4H)
                       __global const real* w_hh,     // (4H,H)
                       __global const real* bias,     // (4H)
                       __global real* hs,             // (T+1,B,H)
                       __global real* cs,             // (T+1,B,H)
                       __global real* gates,          // (T,B,4H) activated gates, kept for backward
                       const int store_gates)
{
    const int lj = get_local_id(0), lb = get_local_id(1);
    const int lid = lb * LJ + lj;
    const int j0 = get_group_id(0) * LJ, b0 = get_group_id(1) * SB;
    const int j = j0 + lj;
    __local real h_tile[SB][LK + 1];        // h_{t-1}[b0 + s, k0 + kk]
    __local real w_tile[4 * LJ][LK + 1];    // W_hh[gate*H + j0 + jj, k0 + kk] at row gate*LJ + jj
    __global const real* h_prev = hs + t * B * H;
    real acc[4][RB];
    for (int g = 0; g < 4; ++g)
        for (int r = 0; r < RB; ++r) acc[g][r] = 0;
    for (int k0 = 0; k0 < H; k0 += LK) {
        for (int e = lid; e < SB * LK; e += WG) {
            const int s_ = e / LK, kk = e % LK;
            h_tile[s_][kk] = (b0 + s_ < B && k0 + kk < H) ? h_prev[(b0 + s_) * H + k0 + kk] : (real)0;
        }
        for (int e = lid; e < 4 * LJ * LK; e += WG) {
            const int row = e / LK, kk = e % LK, jj = row % LJ;
            w_tile[row][kk] = (j0 + jj < H && k0 + kk < H) ? w_hh[((row / LJ) * H + j0 + jj) * H + k0 + kk]
                                                            : (real)0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < LK; ++kk) {
            const real w0 = w_tile[lj][kk], w1 = w_tile[LJ + lj][kk];
            const real w2 = w_tile[2 * LJ + lj][kk], w3 = w_tile[3 * LJ + lj][kk];
            for (int r = 0; r < RB; ++r) {
                const real hv = h_tile[lb + r * LBW][kk];
                acc[0][r] += w0 * hv;
                acc[1][r] += w1 * hv;
                acc[2][r] += w2 * hv;
                acc[3][r] += w3 * hv;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (j >= H) return;
    for (int r = 0; r < RB; ++r) {
        const int b = b0 + lb + r * LBW;
        if (b >= B) break;
        const int a_row = (t * B + b) * 4 * H;
        lstm_cell_forward(B, H, t, b, j, pre[a_row + j] + bias[j] + acc[0][r],
                          pre[a_row + H + j] + bias[H + j] + acc[1][r],
                          pre[a_row + 2 * H + j] + bias[2 * H + j] + acc[2][r],
                          pre[a_row + 3 * H + j] + bias[3 * H + j] + acc[3][r], hs, cs, gates, store_gates);
    }
}

// Backward step t, called for t = T-1 down to 0 (true backpropagation through time):
//   dh_t  = dh_out[t] + da_{t+1} W_hh                 (no recurrent term at t = T-1: the chunk's end is detached)
//   dc_t  = dc_carried + dh_t * o * (1 - tanh(c_t)^2)
//   da_i = dc_t * g * i(1-i);  da_f = dc_t * c_{t-1} * f(1-f);  da_g = dc_t * i * (1-g^2)
//   da_o = dh_t * tanh(c_t) * o(1-o);  dc_carried (to t-1) = dc_t * f
// dc must be zero before the call for t = T-1.
__kernel __attribute__((reqd_work_group_size(LJ, LBW, 1)))
void lstm_step_backward(const int B, const int H, const int t, const int T,
                        __global const real* dh_out,   // (T,B,H) gradient from the layer above
                        __global const real* w_hh,     // (4H,H)
                        __global const real* gates,    // (T,B,4H)
                        __global const real* cs,       // (T+1,B,H)
                        __global real* da,             // (T,B,4H) pre-activation gradients: reads t+1, writes t
                        __global real* dc)             // (B,H) cell gradient carried backwards in time
{
    const int lj = get_local_id(0), lb = get_local_id(1);
    const int lid = lb * LJ + lj;
    const int j0 = get_group_id(0) * LJ, b0 = get_group_id(1) * SB;
    const int j = j0 + lj;
    const int G = 4 * H;
    // The product runs over the four gates side by side (four independent sums, k over H) rather than over 4H in
    // one chain: a quarter of the sequential tiles, as in the forward step.
    __local real da_tile[4][SB][LK + 1];    // da_{t+1}[b0 + s, gate*H + k0 + kk]
    __local real w_tile[4][LK][LJ + 1];     // W_hh[gate*H + k0 + kk, j0 + jj]
    real rec[4][RB];
    for (int g = 0; g < 4; ++g)
        for (int r = 0; r < RB; ++r) rec[g][r] = 0;
    if (t + 1 < T) {                        // uniform over the work-group, so the barriers below are safe
        __global const real* da_next = da + (t + 1) * B * G;
        for (int k0 = 0; k0 < H; k0 += LK) {
            for (int e = lid; e < 4 * SB * LK; e += WG) {
                const int g = e / (SB * LK), s_ = (e / LK) % SB, kk = e % LK;
                da_tile[g][s_][kk] = (b0 + s_ < B && k0 + kk < H) ? da_next[(b0 + s_) * G + g * H + k0 + kk]
                                                                   : (real)0;
            }
            for (int e = lid; e < 4 * LK * LJ; e += WG) {
                const int g = e / (LK * LJ), kk = (e / LJ) % LK, jj = e % LJ;
                w_tile[g][kk][jj] = (k0 + kk < H && j0 + jj < H) ? w_hh[(g * H + k0 + kk) * H + j0 + jj] : (real)0;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int kk = 0; kk < LK; ++kk) {
                const real w0 = w_tile[0][kk][lj], w1 = w_tile[1][kk][lj];
                const real w2 = w_tile[2][kk][lj], w3 = w_tile[3][kk][lj];
                for (int r = 0; r < RB; ++r) {
                    rec[0][r] += da_tile[0][lb + r * LBW][kk] * w0;
                    rec[1][r] += da_tile[1][lb + r * LBW][kk] * w1;
                    rec[2][r] += da_tile[2][lb + r * LBW][kk] * w2;
                    rec[3][r] += da_tile[3][lb + r * LBW][kk] * w3;
                }
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }
    if (j >= H) return;
    for (int r = 0; r < RB; ++r) {
        const int b = b0 + lb + r * LBW;
        if (b >= B) break;
        const int s_prev = (t * B + b) * H + j;   // dh_out's (t,b,j) index
        const real dh = dh_out[s_prev] + ((rec[0][r] + rec[1][r]) + (rec[2][r] + rec[3][r]));
        lstm_cell_backward(B, H, t, b, j, dh, gates, cs, da, dc);
    }
}

// --- The same step split in two, for CPU devices (PoCL) ------------------------------------------------------------
// There the recurrent products run as register-blocked GEMMs (gemm_cpu.cl) and these kernels do the rest, one
// work-item per (unit j, stream b). The maths is the two kernels above, term for term.

// After pre[t] += h_{t-1} W_hh^T: gates, cell and hidden state of step t.
__kernel void lstm_gates_forward(const int B, const int H, const int t,
                                 __global const real* pre,      // (T,B,4H) x W_ih^T + h_{t-1} W_hh^T
                                 __global const real* bias,     // (4H)
                                 __global real* hs,             // (T+1,B,H)
                                 __global real* cs,             // (T+1,B,H)
                                 __global real* gates,          // (T,B,4H)
                                 const int store_gates)
{
    const int j = get_global_id(0), b = get_global_id(1);
    if (j >= H || b >= B) return;
    const int a_row = (t * B + b) * 4 * H;
    lstm_cell_forward(B, H, t, b, j, pre[a_row + j] + bias[j], pre[a_row + H + j] + bias[H + j],
                      pre[a_row + 2 * H + j] + bias[2 * H + j], pre[a_row + 3 * H + j] + bias[3 * H + j],
                      hs, cs, gates, store_gates);
}

// After dh[t] += da_{t+1} W_hh (skipped at t = T-1): gate gradients of step t and the carried cell gradient.
__kernel void lstm_gates_backward(const int B, const int H, const int t,
                                  __global const real* dh,      // (T,B,H) total gradient into h_t
                                  __global const real* gates,   // (T,B,4H)
                                  __global const real* cs,      // (T+1,B,H)
                                  __global real* da,            // (T,B,4H)
                                  __global real* dc)            // (B,H)
{
    const int j = get_global_id(0), b = get_global_id(1);
    if (j >= H || b >= B) return;
    lstm_cell_backward(B, H, t, b, j, dh[(t * B + b) * H + j], gates, cs, da, dc);
}
