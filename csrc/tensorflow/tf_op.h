// What every zoo TensorFlow op file needs: TF's op-registration and kernel
// headers, the kernels' Parallel over TF's threads (tf_parallel.h), and the
// TF names the op files use, declared once in zoo::tf.
#pragma once

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tf_parallel.h"

namespace zoo::tf {

using tensorflow::DEVICE_CPU;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::errors::InvalidArgument;
namespace si = tensorflow::shape_inference;

}  // namespace zoo::tf
