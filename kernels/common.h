// Shared by every program: the scalar type `real` (float, or double with -DREAL_IS_DOUBLE=1) and small helpers.
// Kernels are OpenCL C 1.2 (NVIDIA's driver compiles nothing newer).
// Shape comments use one alphabet: B streams, T time steps, I inputs, H hidden units, Z latent, O outputs,
// N rows (= T*B when a whole chunk is processed at once).
#ifdef REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
#else
typedef float real;
#endif

#define ACT_IDENTITY 0
#define ACT_TANH 1

inline real sigmoid_r(const real x) { return (real)1 / ((real)1 + exp(-x)); }

// Activation applied to a pre-activation value, and its derivative expressed through the output y = act(x).
inline real activate(const real x, const int act) { return act == ACT_TANH ? tanh(x) : x; }
inline real activation_grad(const real y, const int act) { return act == ACT_TANH ? (real)1 - y * y : (real)1; }
