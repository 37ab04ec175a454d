// zoo._C: the pybind11 face of the kernel core. numpy arrays in and out (C
// order; a non-contiguous view is copied once), the GIL released while the
// kernels run, zoo::Error surfacing as ValueError.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>
#include <thread>

#include "../kernels/bias_act.h"
#include "../kernels/cpu_features.h"
#include "common.h"
#include "thread_pool.h"

namespace py = pybind11;

namespace zoo::py_binding {

const Parallel& pool() {
  // Leaked on purpose: joining threads during interpreter teardown can deadlock.
  static Parallel* p = new ::zoo::threads::ThreadPool(
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return *p;
}

DType dtype_of(const py::array& a, const char* what) {
  const py::dtype dt = a.dtype();
  const std::string name = py::str(dt.attr("name"));
  if (name == "float32") return DType::f32;
  if (name == "float16") return DType::f16;
  if (name == "bfloat16") return DType::bf16;
  throw Error(std::string(what) + " has dtype " + name +
              "; expected float32, float16 or bfloat16");
}

py::array contiguous(const py::array& a) {
  if (a.flags() & py::array::c_style) return a;
  return py::module_::import("numpy").attr("ascontiguousarray")(a);
}

ActParams act_params(const std::string& activation, std::optional<float> alpha, std::optional<float> max_value,
                     float threshold) {
  ActParams p;
  p.kind = act_from_name(activation);
  // Keras' defaults when not given: elu's alpha is 1, relu's negative_slope 0.
  p.alpha = alpha ? *alpha : default_alpha(p.kind);
  p.max_value = max_value ? *max_value : INFINITY;
  p.threshold = threshold;
  check_act_params(p);
  return p;
}

int64_t channels_of(const py::array& x, const std::optional<py::array>& bias, DType dt) {
  if (!bias) return 1;
  if (bias->ndim() != 1)
    throw Error("bias must be 1-D, got " + std::to_string(bias->ndim()) + " dimensions");
  if (dtype_of(*bias, "bias") != dt) throw Error("bias dtype differs from x's dtype");
  if (x.ndim() < 1) throw Error("x must have at least one axis when a bias is given");
  const int64_t c = x.shape(x.ndim() - 1);
  if (bias->shape(0) != c)
    throw Error("bias has " + std::to_string(bias->shape(0)) + " values but x's last axis is " +
                std::to_string(c));
  if (c == 0) return 1;  // empty last axis: nothing to do, any positive count is valid
  return c;
}

py::array bias_act(py::array x, std::optional<py::array> bias, const std::string& activation,
                   std::optional<float> alpha, std::optional<float> max_value, float threshold) {
  const DType dt = dtype_of(x, "x");
  const ActParams act = act_params(activation, alpha, max_value, threshold);
  const int64_t channels = channels_of(x, bias, dt);
  x = contiguous(x);
  if (bias) bias = contiguous(*bias);
  py::array y(x.dtype(), std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  BiasActForward a;
  a.x = x.data();
  a.bias = bias ? bias->data() : nullptr;
  a.y = y.mutable_data();
  a.n = x.size();
  a.channels = channels;
  a.dtype = dt;
  a.act = act;
  {
    py::gil_scoped_release nogil;
    bias_act_forward(a, pool());
  }
  return y;
}

py::tuple bias_act_backward(py::array dy, py::array x, std::optional<py::array> bias,
                            const std::string& activation, std::optional<float> alpha,
                            std::optional<float> max_value, float threshold) {
  const DType dt = dtype_of(x, "x");
  if (dtype_of(dy, "dy") != dt) throw Error("dy dtype differs from x's dtype");
  if (dy.ndim() != x.ndim() || !std::equal(dy.shape(), dy.shape() + dy.ndim(), x.shape()))
    throw Error("dy's shape differs from x's shape");
  const ActParams act = act_params(activation, alpha, max_value, threshold);
  const int64_t channels = channels_of(x, bias, dt);
  x = contiguous(x);
  dy = contiguous(dy);
  if (bias) bias = contiguous(*bias);
  py::array dx(x.dtype(), std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  py::object dbias = py::none();
  BiasActBackward a;
  if (bias) {
    py::array db(bias->dtype(), std::vector<py::ssize_t>{bias->shape(0)});
    a.dbias = db.mutable_data();
    dbias = db;
  }
  a.dy = dy.data();
  a.x = x.data();
  a.bias = bias ? bias->data() : nullptr;
  a.dx = dx.mutable_data();
  a.n = x.size();
  a.channels = channels;
  a.dtype = dt;
  a.act = act;
  if (bias && bias->shape(0) == 0) a.dbias = nullptr;  // nothing to reduce into
  {
    py::gil_scoped_release nogil;
    zoo::bias_act_backward(a, pool());
  }
  return py::make_tuple(dx, dbias);
}

#if defined(ZOO_WITH_CUDA)
// zoo._C.cuda and the CUDA keys of build_info (cuda_binding.cc).
void bind_cuda(py::module_& m);
void add_cuda_build_info(py::dict& d);
#endif

py::dict build_info() {
  py::dict d;
  d["version"] = ZOO_VERSION;
#if defined(__clang__)
  d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  d["compiler"] = std::string("gcc ") + __VERSION__;
#else
  d["compiler"] = "unknown";
#endif
  d["isa_compiled"] = compiled_isas();
  d["isa_detected"] = isa_name(detected_isa());
  d["isa_active"] = isa_name(active_isa());
#if defined(ZOO_WITH_CUDA)
  d["cuda"] = true;
  add_cuda_build_info(d);  // cuda_archs, cuda_devices
#else
  d["cuda"] = false;
#endif
  d["threads"] = pool().num_threads();
  // Outputs above half of this are written with streaming stores (bias_act.cc).
  d["last_level_cache_bytes"] = last_level_cache_bytes();
  return d;
}

// Fused dense entry points (dense_binding.cc).
void bind_dense(py::module_& m);

}  // namespace zoo::py_binding

PYBIND11_MODULE(_C, m) {
  using namespace zoo::py_binding;
  m.doc() = "keras-zoo native kernels (framework-free core, numpy interface)";
  py::register_exception<zoo::Error>(m, "KernelError", PyExc_ValueError);

  m.def("bias_act", &bias_act, py::arg("x"), py::arg("bias") = py::none(),
        py::arg("activation") = "linear", py::arg("alpha") = py::none(),
        py::arg("max_value") = py::none(), py::arg("threshold") = 0.0f,
        "y = act(x + bias) with bias on the last axis.");
  m.def("bias_act_backward", &bias_act_backward, py::arg("dy"), py::arg("x"),
        py::arg("bias") = py::none(), py::arg("activation") = "linear", py::arg("alpha") = py::none(),
        py::arg("max_value") = py::none(), py::arg("threshold") = 0.0f,
        "(dx, dbias) for y = act(x + bias).");
  m.def("build_info", &build_info, "How this library was built and what it runs with.");
  m.def("get_isa", [] { return std::string(zoo::isa_name(zoo::active_isa())); });
  m.def("set_isa", [](const std::string& name) { zoo::set_isa(zoo::isa_from_name(name)); },
        py::arg("name"), "Cap the CPU kernels at an ISA: scalar, avx2 or avx512.");
  m.def("reset_isa", [] { zoo::reset_isa(); });
  m.def("activations", [] {
    py::list l;
    for (int i = 0; i < static_cast<int>(zoo::Act::count_); ++i)
      l.append(zoo::act_name(static_cast<zoo::Act>(i)));
    return l;
  });
  bind_dense(m);
#if defined(ZOO_WITH_CUDA)
  bind_cuda(m);
#endif
}
