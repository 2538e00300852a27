// Persistent LSTM forward for inference: ALL T steps of one layer in ONE launch, for B streams (lstm.cl comes
// first in this program, see sources.py: the cell maths is its lstm_cell).
//
// Why: one stream is a chain of T dependent steps; launched one step at a time (lstm.cl) it costs a kernel launch
// (~10 us) per step and layer, and encode is launch-bound. Here G work-groups stay resident for the whole chunk.
// Group q owns hidden units j0 = q*U .. j0+U-1 with all four gates of each, so the cell update is local; it keeps
// its 4U rows of W_hh in local memory for the whole chunk. After each step the groups meet at a grid-wide barrier.
//
// The numbers are those of lstm_step_forward, bit for bit (encode runs this kernel, the live daemon one step at a
// time with lstm_step_forward): each gate pre-activation is (pre + bias) + acc, with acc a single sum over k = 0..H-1
// in ascending order, written as the same `acc += w * h` statement (so the compiler contracts it alike), then the
// shared lstm_cell. The stepped kernel also adds w*h = 0*0 for k padded up to its tile; that cannot change acc:
// acc starts at +0, and a round-to-nearest sum is -0 only when both terms are -0, so acc is never -0 and adding +0
// leaves it as it is.
//
// Grid barrier (GRID_SYNC=1) after step t, the pattern of CUDA's cooperative grid.sync():
//   release: every work-item stores its h_t, c_t and fences at device scope; work-group barrier; work-item 0 fences
//     again and does atomic_inc(arrivals), so the stores are visible device-wide before the arrival is.
//   wait: work-item 0 polls arrivals (volatile: read from L2 each time) until it reaches base + G*(t+1); the
//     counter only grows during a launch (base = the arrivals of this chunk's earlier launches), so no reset races.
//   acquire: work-item 0 fences at device scope; work-group barrier; then h_t is read through a volatile pointer
//     (from L2), because h slots share cache lines and an L1 line filled from step t-1's slot could otherwise
//     serve stale values of step t's.
// The fence must be device-wide: OpenCL 1.2's mem_fence(CLK_GLOBAL_MEM_FENCE) only orders memory as seen by the
// work-group, and NVIDIA compiles it to membar.cta (seen in this kernel's PTX on an H200). So on NVIDIA the host
// builds with -DPTX_FENCE=1: inline PTX membar.gl (CUDA's __threadfence). No other vendor's device-scope fence has
// been checked, so the host runs several groups on NVIDIA GPUs only.
// Safety: a spin can only end if every group is resident at once. The host launches several groups only where it
// checked G <= compute units, the work-group size <= the kernel's limit and the local memory <= the device's
// (cl_ops.persistent_plan). And every wait is BOUNDED: after SPIN_CAP polls, or when another group has already
// given up, the group sets the failure flag and exits (uniformly, after a work-group barrier). The host reads the
// flag after the chunk, then redoes the chunk with the stepped kernels and stops using this one for that engine.
// With one group (G = 1) there is nobody to wait for: no grid barrier, no spin, safe on any device (PoCL in the
// tests). GRID_SYNC=0 compiles the grid barrier out: such a build is correct for G = 1 only.
#ifndef GRID_SYNC
#define GRID_SYNC 1
#endif
#ifndef SPIN_CAP
#define SPIN_CAP (1 << 20)   // polls before giving up (a poll is an L2 round trip, < 1 us: a second at most, an
#endif                       // estimate); a normal wait is a few us. SPIN_CAP=0 gives up at the first barrier
#define H_BATCH 4            // h loads in flight per work-item: volatile loads are issued in program order
#ifndef PTX_FENCE
#define PTX_FENCE 0
#endif
#if PTX_FENCE
#define DEVICE_FENCE() asm volatile("membar.gl;" ::: "memory")
#else
#define DEVICE_FENCE() mem_fence(CLK_GLOBAL_MEM_FENCE)   // may be work-group wide only: one group, or the tests
#endif

// Arrive at the grid barrier of step t and wait for every group. 1: all arrived; 0: this or another group gave up.
inline int grid_barrier(volatile __global int* sync, const int target, __local int* status)
{
    DEVICE_FENCE();   // this work-item's h_t and c_t stores, before anything below
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
    if (get_local_id(0) == 0) {
        DEVICE_FENCE();
        atomic_inc(&sync[0]);
        int arrived = 0;
        for (int polls = 0; polls < SPIN_CAP; ++polls) {
            if (sync[1]) break;    // another group gave up: its arrivals will never come
            if (sync[0] >= target) {
                arrived = 1;
                break;
            }
        }
        if (!arrived) atomic_xchg(&sync[1], 1);
        DEVICE_FENCE();
        *status = arrived;
    }
    barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);
    return *status;
}

// Steps 0..T-1 of one layer. pre (T,B,4H) = x W_ih^T; hs/cs (T+1,B,H): slot 0 holds the carried state, step t
// writes slot t+1 (as lstm_step_forward). Launch: G = ceil(H/U) groups of at least 4*U*B work-items.
// Work-item (r, b) = (lid % 4U, lid / 4U) sums gate row r (gate r / U, unit j0 + r % U) for stream b; work-item
// (u, b) = (lid % U, lid / U) updates that cell. KT: h is staged in local memory KT units at a time (KT = H when
// it fits); KS = KT | 1 and WS = H | 1 are odd strides so the rows read side by side fall in different banks.
__kernel void lstm_persistent_forward(const int T, const int B, const int H, const int U, const int KT,
                                      const int base,
                                      __global const real* pre,      // (T,B,4H)
                                      __global const real* w_hh,     // (4H,H)
                                      __global const real* bias,     // (4H)
                                      __global real* hs,             // (T+1,B,H)
                                      __global real* cs,             // (T+1,B,H)
                                      volatile __global int* sync,   // [arrivals, gave up]
                                      __local real* w_loc,           // (4U, WS) this group's rows of W_hh
                                      __local real* h_loc,           // (B, KS) a tile of h_{t-1}
                                      __local real* a_loc)           // (4U, B) gate pre-activations of step t
{
    const int lid = get_local_id(0), size = get_local_size(0), G = get_num_groups(0);
    const int R = 4 * U, WS = H | 1, KS = KT | 1;
    const int j0 = get_group_id(0) * U;
    const int r = lid % R, b = lid / R;                // this work-item's gate row and stream
    const int row = (r / U) * H + j0 + r % U;          // ... as a row of W_hh, pre and bias
    const int sums = b < B && j0 + r % U < H;
    const int cu = lid % U, cb = lid / U, j = j0 + cu;  // this work-item's cell
    const int updates = cb < B && j < H;
    const int own_h = G == 1 && KT >= H;   // one group, one tile: h_t goes straight into h_loc for step t+1
    __local int status;

    for (int e = lid; e < R * H; e += size) {
        const int rr = e / H, k = e % H, jj = j0 + rr % U;
        w_loc[rr * WS + k] = jj < H ? w_hh[((rr / U) * H + jj) * H + k] : (real)0;
    }
    real c = updates ? cs[cb * H + j] : (real)0;           // c_{t-1}, kept in a register across steps
    real pb = sums ? pre[b * 4 * H + row] + bias[row] : (real)0;  // (pre + bias) of the coming step
    for (int t = 0; t < T; ++t) {
        volatile __global const real* h_prev = hs + t * B * H;   // h_{t-1}: other groups wrote it in this launch
        real acc = 0;
        for (int k0 = 0; k0 < H; k0 += KT) {
            const int kt = min(KT, H - k0), n = B * kt;
            if (k0 > 0) barrier(CLK_LOCAL_MEM_FENCE);  // the previous tile's readers are done
            for (int e0 = lid; e0 < n && !(own_h && t > 0); e0 += H_BATCH * size) {
                real v[H_BATCH];
                for (int q = 0; q < H_BATCH; ++q) {
                    const int e = e0 + q * size;
                    v[q] = e < n ? h_prev[(e / kt) * H + k0 + e % kt] : (real)0;
                }
                for (int q = 0; q < H_BATCH; ++q) {
                    const int e = e0 + q * size;
                    if (e < n) h_loc[(e / kt) * KS + e % kt] = v[q];
                }
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            if (sums) {
                __local const real* wr = w_loc + r * WS + k0;
                __local const real* hr = h_loc + b * KS;
                for (int kk = 0; kk < kt; ++kk) acc += wr[kk] * hr[kk];
            }
        }
        if (sums) a_loc[r * B + b] = pb + acc;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (updates) {
            real i, f, g, o, h;
            lstm_cell(a_loc[cu * B + cb], a_loc[(U + cu) * B + cb], a_loc[(2 * U + cu) * B + cb],
                      a_loc[(3 * U + cu) * B + cb], c, &i, &f, &g, &o, &c, &h);
            const int s = ((t + 1) * B + cb) * H + j;
            cs[s] = c;
            hs[s] = h;
            if (own_h) h_loc[cb * KS + j] = h;   // every reader of h_loc passed the barrier above
        }
        if (t + 1 < T) {
            if (sums) pb = pre[((t + 1) * B + b) * 4 * H + row] + bias[row];  // in flight during the wait
            if (GRID_SYNC && G > 1) {
                if (!grid_barrier(sync, base + G * (t + 1), &status)) return;   // uniform: all work-items return
            } else {
                barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);   // one group: h_t is its own
            }
        }
    }
}
