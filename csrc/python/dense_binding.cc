// zoo._C.dense / dense_backward: the fused dense kernels over numpy float32
// arrays. x may have any rank >= 1 (leading axes are the batch); shapes and
// dtypes are checked here, before the core (which checks sizes again) runs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "../kernels/dense.h"
#include "common.h"

namespace py = pybind11;

namespace zoo::py_binding {

namespace {

using F32 = py::array_t<float, py::array::c_style>;

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// The array as C-contiguous float32, or a clear error (no silent casts: a
// float64 input is a mistake the caller should see).
F32 f32(const py::array& a, const char* what) {
  const std::string name = py::str(a.dtype().attr("name"));
  if (name != "float32")
    throw Error(std::string(what) + " has dtype " + name +
                "; the native dense kernel takes float32 (cast, or use zoo.ops.dense)");
  return F32::ensure(contiguous(a));
}

struct Dims {
  int64_t m, k, n;
  std::vector<py::ssize_t> out_shape;  // x.shape[:-1] + (n,)
};

Dims check_shapes(const py::array& x, const py::array& w, const std::optional<py::array>& bias) {
  if (x.ndim() < 1) throw Error("x must have at least one axis, got a scalar");
  if (w.ndim() != 2) throw Error("kernel must be 2-D (in, units), got shape " + shape_str(w));
  Dims d;
  d.k = x.shape(x.ndim() - 1);
  d.n = w.shape(1);
  if (w.shape(0) != d.k)
    throw Error("x's last axis is " + std::to_string(d.k) + " but kernel expects " +
                std::to_string(w.shape(0)) + " inputs (kernel shape " + shape_str(w) + ")");
  if (bias) {
    if (bias->ndim() != 1) throw Error("bias must be 1-D, got shape " + shape_str(*bias));
    if (bias->shape(0) != d.n)
      throw Error("bias has " + std::to_string(bias->shape(0)) + " values but kernel has " +
                  std::to_string(d.n) + " units");
  }
  d.m = 1;
  for (py::ssize_t i = 0; i + 1 < x.ndim(); ++i) {
    d.m *= x.shape(i);
    d.out_shape.push_back(x.shape(i));
  }
  d.out_shape.push_back(d.n);
  return d;
}

py::object dense(const py::array& x_in, const py::array& w_in, std::optional<py::array> bias_in,
                 const std::string& activation, std::optional<float> alpha, std::optional<float> max_value,
                 float threshold, bool return_preact) {
  const Dims d = check_shapes(x_in, w_in, bias_in);
  const F32 x = f32(x_in, "x"), w = f32(w_in, "kernel");
  std::optional<F32> bias;
  if (bias_in) bias = f32(*bias_in, "bias");
  const ActParams act = act_params(activation, alpha, max_value, threshold);
  F32 y(d.out_shape);
  std::optional<F32> z;
  if (return_preact) z = F32(d.out_shape);
  DenseForward a;
  a.x = x.data();
  a.w = w.data();
  a.bias = bias ? bias->data() : nullptr;
  a.y = y.mutable_data();
  a.preact = z ? z->mutable_data() : nullptr;
  a.m = d.m;
  a.k = d.k;
  a.n = d.n;
  a.act = act;
  {
    py::gil_scoped_release nogil;
    dense_forward(a, pool());
  }
  if (return_preact) return py::make_tuple(y, *z);
  return std::move(y);
}

py::tuple dense_backward(const py::array& dy_in, const py::array& x_in, const py::array& w_in,
                         std::optional<py::array> bias_in, std::optional<py::array> preact_in,
                         const std::string& activation, std::optional<float> alpha,
                         std::optional<float> max_value, float threshold) {
  const Dims d = check_shapes(x_in, w_in, bias_in);
  auto same_as_out = [&](const py::array& a, const char* what) {
    if (static_cast<size_t>(a.ndim()) != d.out_shape.size() ||
        !std::equal(d.out_shape.begin(), d.out_shape.end(), a.shape()))
      throw Error(std::string(what) + " has shape " + shape_str(a) +
                  " but the layer output has shape " +
                  shape_str(py::array_t<float>(d.out_shape)));
  };
  same_as_out(dy_in, "dy");
  if (preact_in) same_as_out(*preact_in, "preact");
  const F32 dy = f32(dy_in, "dy"), x = f32(x_in, "x"), w = f32(w_in, "kernel");
  std::optional<F32> bias, z;
  if (bias_in) bias = f32(*bias_in, "bias");
  if (preact_in) z = f32(*preact_in, "preact");
  const ActParams act = act_params(activation, alpha, max_value, threshold);
  F32 dx(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  F32 dw(std::vector<py::ssize_t>{static_cast<py::ssize_t>(d.k), static_cast<py::ssize_t>(d.n)});
  std::optional<F32> db;
  if (bias) db = F32(std::vector<py::ssize_t>{static_cast<py::ssize_t>(d.n)});
  DenseBackward a;
  a.dy = dy.data();
  a.x = x.data();
  a.w = w.data();
  a.bias = bias ? bias->data() : nullptr;
  a.preact = z ? z->data() : nullptr;
  a.dx = dx.mutable_data();
  a.dw = dw.mutable_data();
  a.db = db ? db->mutable_data() : nullptr;
  a.m = d.m;
  a.k = d.k;
  a.n = d.n;
  a.act = act;
  {
    py::gil_scoped_release nogil;
    zoo::dense_backward(a, pool());
  }
  return py::make_tuple(dx, dw, db ? py::object(*db) : py::object(py::none()));
}

}  // namespace

void bind_dense(py::module_& m) {
  m.def("dense", &dense, py::arg("x"), py::arg("kernel"), py::arg("bias") = py::none(),
        py::arg("activation") = "linear", py::arg("alpha") = py::none(),
        py::arg("max_value") = py::none(), py::arg("threshold") = 0.0f,
        py::arg("return_preact") = false,
        "y = act(x @ kernel + bias), float32; with return_preact, (y, x @ kernel + bias).");
  m.def("dense_backward", &dense_backward, py::arg("dy"), py::arg("x"), py::arg("kernel"),
        py::arg("bias") = py::none(), py::arg("preact") = py::none(),
        py::arg("activation") = "linear", py::arg("alpha") = py::none(),
        py::arg("max_value") = py::none(), py::arg("threshold") = 0.0f,
        "(dx, dkernel, dbias) for y = act(x @ kernel + bias); preact None: recomputed.");
}

}  // namespace zoo::py_binding
