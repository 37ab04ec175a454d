// zoo._C.cuda: the CUDA kernels on DLPack device tensors, so that they can be
// driven from CuPy, PyTorch or JAX without TensorFlow (whose CPU wheel we
// depend on has no GPU kernels to plug into).
//
// Every tensor argument is anything with __dlpack__/__dlpack_device__, or a
// "dltensor" capsule. Inputs and outputs are checked (CUDA device, one device
// for all, dtype, shape, compact row-major layout) before anything runs; the
// kernels write into the caller's output tensors and are queued on `stream`
// (an integer cudaStream_t; None is the legacy default stream), so the calls
// return before the GPU is done, as CUDA libraries do.
//
// The capsules are borrowed, not consumed: they stay named "dltensor", so
// their destructors release the producer's bookkeeping when the call ends,
// while the memory stays with the producer's array.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cuda_runtime_api.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "../cuda/bias_act.h"
#include "../cuda/cublaslt.h"
#include "../cuda/cuda_check.h"
#include "../cuda/dense.h"
#include "../cuda/device_info.h"
#include "common.h"
#include "dlpack.h"

namespace py = pybind11;

namespace zoo::py_binding {
namespace {

using cuda::CudaError;

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  int device = 0;
  py::object owner;  // the capsule, alive for the call

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
  std::string shape_str() const {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (shape.size() == 1 ? ",)" : ")");
  }
};

const char* device_type_name(int t) {
  switch (t) {
    case kDLCPU: return "cpu";
    case kDLCUDA: return "cuda";
    case kDLCUDAHost: return "cuda_host (pinned host memory)";
    case kDLCUDAManaged: return "cuda_managed";
    case kDLROCM: return "rocm";
    default: return "a non-CUDA device";
  }
}

// The stream value the DLPack protocol wants: 1 names the legacy default
// stream (0 is ambiguous there), others are the cudaStream_t itself.
py::object protocol_stream(intptr_t s) { return py::int_(s == 0 ? 1 : s); }

Tensor from_dlpack(const py::handle& obj, const std::string& what, intptr_t stream) {
  py::object cap;
  if (PyCapsule_CheckExact(obj.ptr())) {
    cap = py::reinterpret_borrow<py::object>(obj);
  } else {
    if (!py::hasattr(obj, "__dlpack__"))
      throw Error(what + " is a " + std::string(py::str(py::type::of(obj).attr("__name__"))) +
                  ", not a DLPack tensor (a CuPy, PyTorch or JAX array on the GPU)");
    if (py::hasattr(obj, "__dlpack_device__")) {
      const py::tuple dev = obj.attr("__dlpack_device__")();
      const int type = dev[0].cast<int>();
      if (type != kDLCUDA)
        throw Error(what + " lives on " + device_type_name(type) +
                    "; the CUDA kernels need a CUDA device tensor (use zoo._C's numpy "
                    "functions for host arrays)");
    }
    // The producer orders its pending writes before our stream's work.
    cap = obj.attr("__dlpack__")(py::arg("stream") = protocol_stream(stream));
  }
  auto* mt = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap.ptr(), "dltensor"));
  if (!mt) {
    PyErr_Clear();
    throw Error(what + ": expected an unconsumed \"dltensor\" capsule");
  }
  const DLTensor& t = mt->dl_tensor;
  if (t.device.device_type != kDLCUDA)
    throw Error(what + " lives on " + device_type_name(t.device.device_type) +
                "; the CUDA kernels need a CUDA device tensor");
  Tensor out;
  out.owner = cap;
  out.device = t.device.device_id;
  const DLDataType dt = t.dtype;
  if (dt.lanes == 1 && dt.code == kDLFloat && dt.bits == 32) {
    out.dtype = DType::f32;
  } else if (dt.lanes == 1 && dt.code == kDLFloat && dt.bits == 16) {
    out.dtype = DType::f16;
  } else if (dt.lanes == 1 && dt.code == kDLBfloat && dt.bits == 16) {
    out.dtype = DType::bf16;
  } else {
    throw Error(what + " has DLPack dtype (code " + std::to_string(dt.code) + ", " +
                std::to_string(dt.bits) + " bits, " + std::to_string(dt.lanes) +
                " lanes); expected float32, float16 or bfloat16");
  }
  out.shape.assign(t.shape, t.shape + t.ndim);
  if (t.strides) {
    // Compact row-major; a size-1 axis may carry any stride.
    int64_t expect = 1;
    for (int i = t.ndim - 1; i >= 0; --i) {
      if (t.shape[i] != 1 && t.strides[i] != expect)
        throw Error(what + " is not contiguous (row-major); make a contiguous copy first");
      expect *= t.shape[i];
    }
  }
  out.data = static_cast<char*>(t.data) + t.byte_offset;
  return out;
}

std::optional<Tensor> maybe(const py::object& obj, const std::string& what, intptr_t stream) {
  if (obj.is_none()) return std::nullopt;
  return from_dlpack(obj, what, stream);
}

void expect_like(const Tensor& t, const Tensor& ref, const std::string& what,
                 const std::string& ref_name) {
  if (t.dtype != ref.dtype)
    throw Error(what + " is " + dtype_name(t.dtype) + " but " + ref_name + " is " +
                dtype_name(ref.dtype));
  if (t.shape != ref.shape)
    throw Error(what + " has shape " + t.shape_str() + " but " + ref_name + " has " +
                ref.shape_str());
}

void expect_shape(const Tensor& t, const std::vector<int64_t>& shape, DType dt,
                  const std::string& what) {
  if (t.dtype != dt)
    throw Error(what + " is " + dtype_name(t.dtype) + "; expected " + dtype_name(dt));
  if (t.shape != shape) {
    Tensor want;
    want.shape = shape;
    throw Error(what + " has shape " + t.shape_str() + "; expected " + want.shape_str());
  }
}

// All tensors on one device, which becomes current for the call.
class DeviceScope {
 public:
  explicit DeviceScope(const std::vector<const Tensor*>& ts) {
    int dev = -1;
    for (const Tensor* t : ts) {
      if (!t) continue;
      if (dev >= 0 && t->device != dev)
        throw Error("tensors are on different GPUs (cuda:" + std::to_string(dev) + " and cuda:" +
                    std::to_string(t->device) + ")");
      dev = t->device;
    }
    ZOO_CUDA_CHECK(cudaGetDevice(&prev_));
    if (dev >= 0 && dev != prev_) {
      ZOO_CUDA_CHECK(cudaSetDevice(dev));
      restore_ = true;
    }
  }
  ~DeviceScope() {
    if (restore_) (void)cudaSetDevice(prev_);
  }

 private:
  int prev_ = 0;
  bool restore_ = false;
};

const Tensor* ptr(const std::optional<Tensor>& t) { return t ? &*t : nullptr; }

cudaStream_t to_stream(std::optional<intptr_t> s) {
  return reinterpret_cast<cudaStream_t>(s ? *s : 0);
}

// Length of the last axis as the kernels see it: 1 for an empty or 0-d tensor.
int64_t channels_of(const Tensor& x) {
  if (x.shape.empty()) return 1;
  const int64_t c = x.shape.back();
  return c == 0 ? 1 : c;
}

void check_bias(const std::optional<Tensor>& b, const Tensor& x, const std::string& what) {
  if (!b) return;
  if (x.shape.empty()) throw Error("x must have at least one axis when a " + what + " is given");
  expect_shape(*b, {x.shape.back()}, x.dtype, what);
}

// ----------------------------------------------------------------------------

void bias_act(const py::object& x_obj, const py::object& bias_obj, const py::object& out_obj,
              const std::string& activation, std::optional<float> alpha, std::optional<float> max_value,
              float threshold, std::optional<intptr_t> stream_id) {
  const ActParams act = act_params(activation, alpha, max_value, threshold);
  const intptr_t sid = stream_id.value_or(0);
  const Tensor x = from_dlpack(x_obj, "x", sid);
  const auto bias = maybe(bias_obj, "bias", sid);
  const Tensor out = from_dlpack(out_obj, "out", sid);
  check_bias(bias, x, "bias");
  expect_like(out, x, "out", "x");
  DeviceScope scope({&x, ptr(bias), &out});
  BiasActForward a;
  a.x = x.data;
  a.bias = bias ? bias->data : nullptr;
  a.y = out.data;
  a.n = x.numel();
  a.channels = channels_of(x);
  a.dtype = x.dtype;
  a.act = act;
  py::gil_scoped_release nogil;
  cuda::bias_act_forward(a, to_stream(stream_id));
}

void bias_act_backward(const py::object& dy_obj, const py::object& x_obj,
                       const py::object& bias_obj, const py::object& dx_obj,
                       const py::object& dbias_obj, const std::string& activation, std::optional<float> alpha,
                       std::optional<float> max_value, float threshold,
                       std::optional<intptr_t> stream_id) {
  const ActParams act = act_params(activation, alpha, max_value, threshold);
  const intptr_t sid = stream_id.value_or(0);
  const Tensor dy = from_dlpack(dy_obj, "dy", sid);
  const Tensor x = from_dlpack(x_obj, "x", sid);
  const auto bias = maybe(bias_obj, "bias", sid);
  const Tensor dx = from_dlpack(dx_obj, "dx", sid);
  const auto dbias = maybe(dbias_obj, "dbias", sid);
  expect_like(dy, x, "dy", "x");
  expect_like(dx, x, "dx", "x");
  check_bias(bias, x, "bias");
  check_bias(dbias, x, "dbias");
  DeviceScope scope({&dy, &x, ptr(bias), &dx, ptr(dbias)});
  BiasActBackward a;
  a.dy = dy.data;
  a.x = x.data;
  a.bias = bias ? bias->data : nullptr;
  a.dx = dx.data;
  // An empty last axis leaves nothing to reduce into.
  a.dbias = dbias && dbias->numel() > 0 ? dbias->data : nullptr;
  a.n = x.numel();
  a.channels = channels_of(x);
  a.dtype = x.dtype;
  a.act = act;
  py::gil_scoped_release nogil;
  cuda::bias_act_backward(a, to_stream(stream_id));
}

// x [..., k] flattened to [m, k]; returns m.
int64_t rows_of(const Tensor& x, const std::string& what) {
  if (x.shape.empty()) throw Error(what + " must have at least one axis");
  int64_t m = 1;
  for (size_t i = 0; i + 1 < x.shape.size(); ++i) m *= x.shape[i];
  return m;
}

std::vector<int64_t> with_last(const Tensor& x, int64_t last) {
  std::vector<int64_t> s = x.shape;
  s.back() = last;
  return s;
}

void check_weights(const Tensor& w, const Tensor& x) {
  if (w.shape.size() != 2)
    throw Error("w must be 2-D [in_features, out_features], got shape " + w.shape_str());
  if (w.dtype != x.dtype)
    throw Error(std::string("w is ") + dtype_name(w.dtype) + " but x is " + dtype_name(x.dtype));
  if (w.shape[0] != x.shape.back())
    throw Error("w has " + std::to_string(w.shape[0]) + " input rows but x's last axis is " +
                std::to_string(x.shape.back()));
}

std::string dense(const py::object& x_obj, const py::object& w_obj, const py::object& b_obj,
                  const py::object& out_obj, const py::object& preact_obj,
                  const std::string& activation, std::optional<float> alpha, std::optional<float> max_value,
                  float threshold, std::optional<intptr_t> stream_id) {
  const ActParams act = act_params(activation, alpha, max_value, threshold);
  const intptr_t sid = stream_id.value_or(0);
  const Tensor x = from_dlpack(x_obj, "x", sid);
  const Tensor w = from_dlpack(w_obj, "w", sid);
  const auto b = maybe(b_obj, "bias", sid);
  const Tensor out = from_dlpack(out_obj, "out", sid);
  const auto preact = maybe(preact_obj, "preact", sid);
  const int64_t m = rows_of(x, "x");
  check_weights(w, x);
  const int64_t n = w.shape[1];
  if (b) expect_shape(*b, {n}, x.dtype, "bias");
  expect_shape(out, with_last(x, n), x.dtype, "out");
  if (preact) expect_shape(*preact, with_last(x, n), x.dtype, "preact");
  DeviceScope scope({&x, &w, ptr(b), &out, ptr(preact)});
  cuda::DenseForward a;
  a.x = x.data;
  a.w = w.data;
  a.bias = b ? b->data : nullptr;
  a.y = out.data;
  a.preact = preact ? preact->data : nullptr;
  a.m = m;
  a.k = w.shape[0];
  a.n = n;
  a.dtype = x.dtype;
  a.act = act;
  py::gil_scoped_release nogil;
  return cuda::dense_forward(a, to_stream(stream_id));
}

std::string dense_backward(const py::object& dy_obj, const py::object& x_obj,
                           const py::object& w_obj, const py::object& preact_obj,
                           const py::object& dx_obj, const py::object& dw_obj,
                           const py::object& db_obj, const std::string& activation, std::optional<float> alpha,
                           std::optional<float> max_value, float threshold,
                           const py::object& x_preact_obj, const std::string& x_activation,
                           std::optional<float> x_alpha, std::optional<float> x_max_value, float x_threshold,
                           const py::object& x_db_obj, std::optional<intptr_t> stream_id) {
  const ActParams act = act_params(activation, alpha, max_value, threshold);
  const ActParams x_act = act_params(x_activation, x_alpha, x_max_value, x_threshold);
  const intptr_t sid = stream_id.value_or(0);
  const Tensor dy = from_dlpack(dy_obj, "dy", sid);
  const Tensor x = from_dlpack(x_obj, "x", sid);
  const Tensor w = from_dlpack(w_obj, "w", sid);
  const auto preact = maybe(preact_obj, "preact", sid);
  const auto dx = maybe(dx_obj, "dx", sid);
  const auto dw = maybe(dw_obj, "dw", sid);
  const auto db = maybe(db_obj, "db", sid);
  const auto x_preact = maybe(x_preact_obj, "x_preact", sid);
  const auto x_db = maybe(x_db_obj, "x_db", sid);
  const int64_t m = rows_of(x, "x");
  check_weights(w, x);
  const int64_t k = w.shape[0], n = w.shape[1];
  expect_shape(dy, with_last(x, n), x.dtype, "dy");
  if (preact) expect_like(*preact, dy, "preact", "dy");
  if (dx) expect_like(*dx, x, "dx", "x");
  if (dw) expect_like(*dw, w, "dw", "w");
  if (db) expect_shape(*db, {n}, x.dtype, "db");
  if (x_preact) expect_like(*x_preact, x, "x_preact", "x");
  if (x_db) expect_shape(*x_db, {k}, x.dtype, "x_db");
  DeviceScope scope({&dy, &x, &w, ptr(preact), ptr(dx), ptr(dw), ptr(db), ptr(x_preact),
                     ptr(x_db)});
  cuda::DenseBackward a;
  a.dy = dy.data;
  a.x = x.data;
  a.w = w.data;
  a.preact = preact ? preact->data : nullptr;
  a.dx = dx ? dx->data : nullptr;
  a.dw = dw ? dw->data : nullptr;
  a.db = db ? db->data : nullptr;
  a.x_preact = x_preact ? x_preact->data : nullptr;
  a.x_act = x_act;
  a.x_db = x_db ? x_db->data : nullptr;
  a.m = m;
  a.k = k;
  a.n = n;
  a.dtype = x.dtype;
  a.act = act;
  py::gil_scoped_release nogil;
  return cuda::dense_backward(a, to_stream(stream_id));
}

py::dict device_info() {
  py::dict d;
  std::string why;
  const int count = cuda::device_count(&why);
  d["device_count"] = count;
  d["error"] = why.empty() ? py::object(py::none()) : py::object(py::str(why));
  const std::string drv = cuda::driver_version();
  d["driver"] = drv.empty() ? py::object(py::none()) : py::object(py::str(drv));
  py::list devs;
  for (const auto& info : cuda::devices()) {
    py::dict e;
    e["index"] = info.ordinal;
    e["name"] = info.name;
    e["compute_capability"] = py::make_tuple(info.major, info.minor);
    e["memory_bytes"] = info.memory_bytes;
    e["multiprocessors"] = info.multiprocessors;
    e["supported"] = info.runnable;  // this build has code that runs on it
    devs.append(e);
  }
  d["devices"] = devs;
  return d;
}

py::dict cuda_build_info() {
  py::dict d;
  d["archs"] = cuda::compiled_archs();
  d["runtime"] = cuda::runtime_version();
  std::string why;
  const std::string lt = cuda::cublaslt_probe(&why);
  d["cublaslt"] = lt.empty() ? py::object(py::none()) : py::object(py::str(lt));
  d["cublaslt_error"] = why.empty() ? py::object(py::none()) : py::object(py::str(why));
  return d;
}

}  // namespace

// The two CUDA keys of zoo._C.build_info(): cheap, no library loading.
void add_cuda_build_info(py::dict& d) {
  d["cuda_archs"] = cuda::compiled_archs();
  d["cuda_devices"] = cuda::device_count();
}

void bind_cuda(py::module_& parent) {
  py::module_ m = parent.def_submodule(
      "cuda", "CUDA kernels on DLPack device tensors (CuPy, PyTorch, JAX); outputs are "
              "caller-provided tensors, work is queued on `stream` (None: legacy default).");
  static py::exception<cuda::CudaError> cuda_error(m, "CudaError", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const cuda::CudaError& e) {
      py::set_error(cuda_error, e.what());
    }
  });

  m.def("bias_act", &bias_act, py::arg("x"), py::arg("bias"), py::arg("out"),
        py::arg("activation") = "linear", py::arg("alpha") = py::none(),
        py::arg("max_value") = py::none(), py::arg("threshold") = 0.0f,
        py::arg("stream") = py::none(),
        "out = act(x + bias), bias (or None) on the last axis; out may be x.");
  m.def("bias_act_backward", &bias_act_backward, py::arg("dy"), py::arg("x"), py::arg("bias"),
        py::arg("dx"), py::arg("dbias") = py::none(), py::arg("activation") = "linear",
        py::arg("alpha") = py::none(), py::arg("max_value") = py::none(),
        py::arg("threshold") = 0.0f, py::arg("stream") = py::none(),
        "dx = dy * act'(x + bias); dbias (if given) = sum of dx over all but the last axis, "
        "reduced in a fixed order. dx may be dy.");
  m.def("dense", &dense, py::arg("x"), py::arg("w"), py::arg("bias"), py::arg("out"),
        py::arg("preact") = py::none(), py::arg("activation") = "linear",
        py::arg("alpha") = py::none(), py::arg("max_value") = py::none(),
        py::arg("threshold") = 0.0f, py::arg("stream") = py::none(),
        "out = act(x @ w + bias) via cuBLASLt (x [..., k], w [k, n]); preact, if given, "
        "receives z = x @ w + bias for dense_backward. Returns the path taken, e.g. "
        "'GELU_AUX_BIAS' or 'BIAS+bias_act'.");
  m.def("dense_backward", &dense_backward, py::arg("dy"), py::arg("x"), py::arg("w"),
        py::arg("preact"), py::arg("dx") = py::none(), py::arg("dw") = py::none(),
        py::arg("db") = py::none(), py::arg("activation") = "linear", py::arg("alpha") = py::none(),
        py::arg("max_value") = py::none(), py::arg("threshold") = 0.0f,
        py::arg("x_preact") = py::none(), py::arg("x_activation") = "linear",
        py::arg("x_alpha") = py::none(), py::arg("x_max_value") = py::none(),
        py::arg("x_threshold") = 0.0f, py::arg("x_db") = py::none(),
        py::arg("stream") = py::none(),
        "Gradients of out = act(x @ w + bias) given dy and preact (z): dx, dw, db (each "
        "optional). With x_activation, dx is further multiplied by x_activation'(x_preact) "
        "and x_db receives its column sums (the previous layer's gradients). Returns the "
        "path taken: 'dz|dx matmul|dw matmul'.");
  m.def("device_info", &device_info,
        "Visible CUDA devices and the driver version; device_count 0 (with error) when "
        "there is no driver or GPU.");
  m.def("build_info", &cuda_build_info,
        "Compiled architectures, CUDA runtime version, and where cuBLASLt was loaded from.");
}

}  // namespace zoo::py_binding
