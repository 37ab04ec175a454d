// Fused dense on cuBLASLt (see dense.h for the contract and the paths).
//
// cuBLASLt is column-major; our tensors are row-major. A row-major [r, c]
// buffer is the column-major [c, r] matrix, its transpose, so each product is
// computed transposed with no data movement:
//
//   forward  y^T  [n x m] = w^T [n x k]   * x^T  [k x m]    A = w,  B = x
//   dx       dx^T [k x m] = w   [k x n]   * dz^T [n x m]    A = w (transposed), B = dz
//   dw       dw^T [n x k] = dz^T [n x m]  * x    [m x k]    A = dz, B = x (transposed)
//
// So the bias (length n) runs along the rows of the forward output, as the
// BIAS epilogue wants, and in the dw product the bias gradient is a reduction
// of the A operand over k, which is what BGRADA computes.
#include "dense.h"

#include <cstring>
#include <string>

#include "bias_act.h"
#include "cublaslt.h"
#include "cuda_check.h"
#include "stream_buffer.h"

namespace zoo::cuda {
namespace {

cudaDataType_t cuda_type(DType dt) {
  switch (dt) {
    case DType::f32: return CUDA_R_32F;
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
  }
  throw Error("dtype must be float32, float16 or bfloat16");
}

const char* epilogue_name(cublasLtEpilogue_t e) {
  switch (e) {
    case CUBLASLT_EPILOGUE_DEFAULT: return "DEFAULT";
    case CUBLASLT_EPILOGUE_BIAS: return "BIAS";
    case CUBLASLT_EPILOGUE_RELU: return "RELU";
    case CUBLASLT_EPILOGUE_RELU_BIAS: return "RELU_BIAS";
    case CUBLASLT_EPILOGUE_GELU: return "GELU";
    case CUBLASLT_EPILOGUE_GELU_BIAS: return "GELU_BIAS";
    case CUBLASLT_EPILOGUE_GELU_AUX: return "GELU_AUX";
    case CUBLASLT_EPILOGUE_GELU_AUX_BIAS: return "GELU_AUX_BIAS";
    case CUBLASLT_EPILOGUE_DGELU: return "DGELU";
    case CUBLASLT_EPILOGUE_DGELU_BGRAD: return "DGELU_BGRAD";
    case CUBLASLT_EPILOGUE_BGRADA: return "BGRADA";
    default: return "other";
  }
}

// Largest power of two (up to 256) dividing the address: what the heuristic
// may assume about each operand, so odd offsets still get a valid algorithm.
uint32_t alignment(const void* p) {
  const auto u = reinterpret_cast<uintptr_t>(p);
  if (u == 0) return 256;
  const uintptr_t low = u & (~u + 1);
  return static_cast<uint32_t>(low > 256 ? 256 : low);
}

// Column-major D [m x n] = op(A) [m x k] * op(B) [k x n], with an epilogue.
struct Gemm {
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr;
  int64_t lda = 0;
  bool trans_a = false;
  const void* b = nullptr;
  int64_t ldb = 0;
  bool trans_b = false;
  void* d = nullptr;
  int64_t ldd = 0;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;  // bias (BIAS) or bias-gradient output (BGRAD*)
  void* aux = nullptr;         // GELU input, written (GELU_AUX) or read (DGELU)
  int64_t aux_ld = 0;
};

struct Workspace {
  void* ptr;
  size_t bytes;
};

// Descriptor lifetimes, released through the loaded library's destroy calls.
struct Descriptors {
  const CublasLt& lt;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  explicit Descriptors(const CublasLt& l) : lt(l) {}
  ~Descriptors() {
    if (pref) lt.cublasLtMatmulPreferenceDestroy(pref);
    if (d) lt.cublasLtMatrixLayoutDestroy(d);
    if (b) lt.cublasLtMatrixLayoutDestroy(b);
    if (a) lt.cublasLtMatrixLayoutDestroy(a);
    if (op) lt.cublasLtMatmulDescDestroy(op);
  }
};

template <typename V>
void set_desc(const CublasLt& lt, cublasLtMatmulDesc_t op, cublasLtMatmulDescAttributes_t attr,
              const V& value) {
  ZOO_CUBLAS_CHECK(lt.cublasLtMatmulDescSetAttribute(op, attr, &value, sizeof value));
}

template <typename V>
void set_pref(const CublasLt& lt, cublasLtMatmulPreference_t pref,
              cublasLtMatmulPreferenceAttributes_t attr, const V& value) {
  ZOO_CUBLAS_CHECK(lt.cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof value));
}

// Runs the product. Returns false, having launched nothing, when cuBLASLt has
// no algorithm for this epilogue with these shapes, types and alignments; the
// caller then takes the unfused path. Any other failure throws.
bool matmul(const Gemm& g, DType dt, const Workspace& ws, cudaStream_t stream) {
  const CublasLt& lt = cublaslt();
  cublasLtHandle_t handle = cublaslt_handle();
  const cudaDataType_t type = cuda_type(dt);
  Descriptors ds(lt);
  // float32 accumulation and scaling for all dtypes; COMPUTE_32F also rules
  // out TF32 for float32 inputs, matching the CPU core's arithmetic.
  ZOO_CUBLAS_CHECK(lt.cublasLtMatmulDescCreate(&ds.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  set_desc(lt, ds.op, CUBLASLT_MATMUL_DESC_TRANSA,
           static_cast<int32_t>(g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N));
  set_desc(lt, ds.op, CUBLASLT_MATMUL_DESC_TRANSB,
           static_cast<int32_t>(g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N));
  set_desc(lt, ds.op, CUBLASLT_MATMUL_DESC_EPILOGUE, static_cast<uint32_t>(g.epilogue));
  if (g.bias) set_desc(lt, ds.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, g.bias);
  if (g.aux) {
    set_desc(lt, ds.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, static_cast<const void*>(g.aux));
    set_desc(lt, ds.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, g.aux_ld);
  }
  // Layouts describe the stored matrices, before op().
  ZOO_CUBLAS_CHECK(lt.cublasLtMatrixLayoutCreate(&ds.a, type, g.trans_a ? g.k : g.m,
                                                 g.trans_a ? g.m : g.k, g.lda));
  ZOO_CUBLAS_CHECK(lt.cublasLtMatrixLayoutCreate(&ds.b, type, g.trans_b ? g.n : g.k,
                                                 g.trans_b ? g.k : g.n, g.ldb));
  ZOO_CUBLAS_CHECK(lt.cublasLtMatrixLayoutCreate(&ds.d, type, g.m, g.n, g.ldd));
  ZOO_CUBLAS_CHECK(lt.cublasLtMatmulPreferenceCreate(&ds.pref));
  set_pref(lt, ds.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, static_cast<uint64_t>(ws.bytes));
  set_pref(lt, ds.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignment(g.a));
  set_pref(lt, ds.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignment(g.b));
  set_pref(lt, ds.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignment(g.d));
  set_pref(lt, ds.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignment(g.d));

  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t st = lt.cublasLtMatmulAlgoGetHeuristic(
      handle, ds.op, ds.a, ds.b, /*Cdesc=*/ds.d, /*Ddesc=*/ds.d, ds.pref,
      /*requestedAlgoCount=*/1, &result, &found);
  if (st == CUBLAS_STATUS_NOT_SUPPORTED || (st == CUBLAS_STATUS_SUCCESS && found == 0))
    return false;
  ZOO_CUBLAS_CHECK(st);
  const float alpha = 1.0f, beta = 0.0f;  // D = op(A) op(B); C is D, ignored
  ZOO_CUBLAS_CHECK(lt.cublasLtMatmul(handle, ds.op, &alpha, g.a, ds.a, g.b, ds.b, &beta,
                                     /*C=*/g.d, ds.d, /*D=*/g.d, ds.d, &result.algo, ws.ptr,
                                     ws.bytes, stream));
  return true;
}

// The plain product must always be available.
void matmul_or_throw(const Gemm& g, DType dt, const Workspace& ws, cudaStream_t stream) {
  if (!matmul(g, dt, ws, stream))
    throw CudaError("cuBLASLt has no algorithm for a " + std::string(dtype_name(dt)) + " " +
                    std::to_string(g.m) + "x" + std::to_string(g.k) + " @ " +
                    std::to_string(g.k) + "x" + std::to_string(g.n) + " matmul");
}

bool plain_relu(const ActParams& p) {
  return p.kind == Act::relu && p.alpha == 0.0f && p.max_value == vm::kInf &&
         p.threshold == 0.0f;
}

void zero(void* p, int64_t count, DType dt, cudaStream_t stream) {
  if (p && count > 0) ZOO_CUDA_CHECK(cudaMemsetAsync(p, 0, count * dtype_size(dt), stream));
}

void check_sizes(int64_t m, int64_t k, int64_t n, DType dt) {
  ZOO_CHECK(dt == DType::f32 || dt == DType::f16 || dt == DType::bf16,
            "dtype must be float32, float16 or bfloat16");
  ZOO_CHECK(m >= 0 && k >= 0 && n >= 0, "dense sizes must be >= 0");
  // cuBLASLt takes 64-bit sizes, but its leading dimensions must fit its kernels.
  ZOO_CHECK(k < (int64_t{1} << 31) && n < (int64_t{1} << 31),
            "dense k and n must be below 2^31");
}

// y = act(z + bias) over an [rows, cols] buffer with our kernel.
void run_bias_act(const void* z, const void* bias, void* y, int64_t rows, int64_t cols, DType dt,
                  const ActParams& act, cudaStream_t stream) {
  BiasActForward f;
  f.x = z;
  f.bias = bias;
  f.y = y;
  f.n = rows * cols;
  f.channels = cols;
  f.dtype = dt;
  f.act = act;
  bias_act_forward(f, stream);
}

// g_out = g * act'(z) over [rows, cols] (g_out may be g), and dbias = its
// column sums when dbias is given.
void run_act_grad(const void* g, const void* z, void* g_out, void* dbias, int64_t rows,
                  int64_t cols, DType dt, const ActParams& act, cudaStream_t stream) {
  BiasActBackward b;
  b.dy = g;
  b.x = z;
  b.dx = g_out;
  b.dbias = dbias;
  b.n = rows * cols;
  b.channels = cols;
  b.dtype = dt;
  b.act = act;
  bias_act_backward(b, stream);
}

}  // namespace

std::string dense_forward(const DenseForward& a, cudaStream_t stream) {
  check_sizes(a.m, a.k, a.n, a.dtype);
  check_act_params(a.act);
  const bool out_empty = a.m == 0 || a.n == 0;
  ZOO_CHECK(out_empty || a.y != nullptr, "output pointer is null");
  ZOO_CHECK(out_empty || a.k == 0 || (a.x != nullptr && a.w != nullptr),
            "x or w pointer is null");
  if (out_empty) return "empty";
  const DType dt = a.dtype;
  // z goes where the caller wants it kept, else straight into y.
  void* z = a.preact ? a.preact : a.y;

  if (a.k == 0) {  // x @ w is all zeros; z is the bias
    zero(z, a.m * a.n, dt, stream);
    if (a.bias) run_bias_act(z, a.bias, z, a.m, a.n, dt, ActParams{}, stream);
    run_bias_act(z, nullptr, a.y, a.m, a.n, dt, a.act, stream);
    return "k=0+bias_act";
  }

  StreamBuffer own(a.workspace ? 0 : kDenseWorkspaceBytes, stream);
  const Workspace ws{a.workspace ? a.workspace : own.get(),
                     a.workspace ? a.workspace_bytes : kDenseWorkspaceBytes};
  Gemm g;
  g.m = a.n;
  g.n = a.m;
  g.k = a.k;
  g.a = a.w;
  g.lda = a.n;
  g.b = a.x;
  g.ldb = a.k;
  g.d = a.y;
  g.ldd = a.n;
  g.bias = a.bias;
  const bool b = a.bias != nullptr;

  // 1. The whole layer in one cuBLASLt call, where an epilogue matches.
  cublasLtEpilogue_t fused = CUBLASLT_EPILOGUE_DEFAULT;
  bool have_fused = false;
  if (a.act.kind == Act::linear) {
    fused = b ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    have_fused = true;
  } else if (plain_relu(a.act) && !a.preact) {
    // RELU_AUX_BIAS would save a bit mask, not z; the backward pass here
    // works from z for every activation, so with preact relu goes below.
    fused = b ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    have_fused = true;
  } else if (a.act.kind == Act::gelu_tanh && !a.preact) {
    fused = b ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    have_fused = true;
  } else if (a.act.kind == Act::gelu_tanh && a.n % 8 == 0) {  // aux ld: multiple of 8
    fused = b ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
    g.aux = a.preact;
    g.aux_ld = a.n;
    have_fused = true;
  }
  if (have_fused) {
    g.epilogue = fused;
    if (matmul(g, dt, ws, stream)) {
      if (a.act.kind == Act::linear && a.preact)  // z == y
        ZOO_CUDA_CHECK(cudaMemcpyAsync(a.preact, a.y, a.m * a.n * dtype_size(dt),
                                       cudaMemcpyDeviceToDevice, stream));
      return epilogue_name(fused);
    }
  }

  // 2. z = x @ w + bias (bias in the epilogue if cuBLASLt takes it), then our
  //    kernel for the activation.
  g.aux = nullptr;
  g.aux_ld = 0;
  g.d = z;
  g.epilogue = b ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  bool bias_done = matmul(g, dt, ws, stream);
  if (!bias_done) {
    g.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
    g.bias = nullptr;
    matmul_or_throw(g, dt, ws, stream);
  }
  std::string how = epilogue_name(g.epilogue);
  const void* kernel_bias = nullptr;
  if (b && !bias_done) {
    if (a.preact) {  // z must hold the bias too
      run_bias_act(z, a.bias, z, a.m, a.n, dt, ActParams{}, stream);
    } else {
      kernel_bias = a.bias;
    }
  }
  if (a.act.kind != Act::linear || kernel_bias || z != a.y) {
    run_bias_act(z, kernel_bias, a.y, a.m, a.n, dt, a.act, stream);
    how += "+bias_act";
  }
  return how;
}

std::string dense_backward(const DenseBackward& a, cudaStream_t stream) {
  check_sizes(a.m, a.k, a.n, a.dtype);
  check_act_params(a.act);
  check_act_params(a.x_act);
  const DType dt = a.dtype;
  const int64_t mn = a.m * a.n, mk = a.m * a.k, kn = a.k * a.n;
  const bool lin = a.act.kind == Act::linear;
  const bool x_lin = a.x_act.kind == Act::linear;
  ZOO_CHECK(mn == 0 || a.dy != nullptr, "dy pointer is null");
  ZOO_CHECK(lin || mn == 0 || a.preact != nullptr,
            std::string("preact (z from the forward pass) is needed for ") +
                act_name(a.act.kind) + "'s derivative");
  ZOO_CHECK(!a.dx || mk == 0 || kn == 0 || a.w != nullptr, "dx requested but w is null");
  ZOO_CHECK(!a.dw || kn == 0 || mn == 0 || a.x != nullptr, "dw requested but x is null");
  ZOO_CHECK(!a.x_db || a.dx, "x_db is reduced from dx; request dx too");
  ZOO_CHECK(x_lin || !a.dx || mk == 0 || a.x_preact != nullptr,
            std::string("x_preact is needed for ") + act_name(a.x_act.kind) + "'s derivative");

  StreamBuffer own(a.workspace ? 0 : kDenseWorkspaceBytes, stream);
  const Workspace ws{a.workspace ? a.workspace : own.get(),
                     a.workspace ? a.workspace_bytes : kDenseWorkspaceBytes};
  std::string how_dz = "dy", how_dx = "-", how_dw = "-";

  // dz = dy * act'(z), with db in the same pass when act is nonlinear.
  const void* dz = a.dy;
  bool db_done = false;
  StreamBuffer dz_buf(!lin && mn > 0 ? mn * dtype_size(dt) : 0, stream);
  if (!lin && mn > 0) {
    run_act_grad(a.dy, a.preact, dz_buf.get(), a.db, a.m, a.n, dt, a.act, stream);
    dz = dz_buf.get();
    db_done = a.db != nullptr;
    how_dz = "bias_act";
  }

  // dx = dz @ w^T, optionally times x_act'(x_preact), with x_db.
  if (a.dx && mk > 0) {
    if (a.n == 0) {  // empty sum: dx is zero, and so is anything scaled from it
      zero(a.dx, mk, dt, stream);
      zero(a.x_db, a.k, dt, stream);
      how_dx = "zero";
    } else {
      Gemm g;
      g.m = a.k;
      g.n = a.m;
      g.k = a.n;
      g.a = a.w;
      g.lda = a.n;
      g.trans_a = true;
      g.b = dz;
      g.ldb = a.n;
      g.d = a.dx;
      g.ldd = a.k;
      bool fused = false;
      if (a.x_act.kind == Act::gelu_tanh && a.k % 8 == 0) {
        g.epilogue = a.x_db ? CUBLASLT_EPILOGUE_DGELU_BGRAD : CUBLASLT_EPILOGUE_DGELU;
        g.aux = const_cast<void*>(a.x_preact);  // read, not written, by DGELU
        g.aux_ld = a.k;
        g.bias = a.x_db;
        fused = matmul(g, dt, ws, stream);
      }
      if (fused) {
        how_dx = epilogue_name(g.epilogue);
      } else {
        g.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
        g.aux = nullptr;
        g.aux_ld = 0;
        g.bias = nullptr;
        matmul_or_throw(g, dt, ws, stream);
        how_dx = "DEFAULT";
        if (!x_lin || a.x_db) {
          run_act_grad(a.dx, x_lin ? a.dx : a.x_preact, a.dx, a.x_db, a.m, a.k, dt, a.x_act,
                       stream);
          how_dx += "+bias_act";
        }
      }
    }
  }

  // dw = x^T @ dz; for linear, db from the same product's BGRADA epilogue.
  if (a.dw && kn > 0) {
    if (a.m == 0) {
      zero(a.dw, kn, dt, stream);
      how_dw = "zero";
    } else {
      Gemm g;
      g.m = a.n;
      g.n = a.k;
      g.k = a.m;
      g.a = dz;
      g.lda = a.n;
      g.b = a.x;
      g.ldb = a.k;
      g.trans_b = true;
      g.d = a.dw;
      g.ldd = a.n;
      bool fused = false;
      if (a.db && !db_done) {
        g.epilogue = CUBLASLT_EPILOGUE_BGRADA;
        g.bias = a.db;
        fused = matmul(g, dt, ws, stream);
        db_done = fused;
      }
      if (!fused) {
        g.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
        g.bias = nullptr;
        matmul_or_throw(g, dt, ws, stream);
      }
      how_dw = epilogue_name(g.epilogue);
    }
  }

  // db by our reduction when nothing above produced it (dz's values are
  // written to scratch and dropped: the kernel's reduction needs somewhere to
  // put them).
  if (a.db && !db_done && a.n > 0) {
    StreamBuffer scratch(mn * dtype_size(dt), stream);
    run_act_grad(dz, dz, scratch.get(), a.db, a.m, a.n, dt, ActParams{}, stream);
    how_dz += "+bias_act(db)";
  }
  return how_dz + "|" + how_dx + "|" + how_dw;
}

}  // namespace zoo::cuda
