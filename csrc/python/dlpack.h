// The DLPack tensor-exchange ABI, the part this module reads: the C structs a
// producer hands over in a PyCapsule named "dltensor" (DLPack 0.x; the
// capsule of 1.x versioned tensors is not requested). Written from the public
// specification; field order and types are the ABI and must not change.
#pragma once

#include <cstdint>

extern "C" {

typedef enum {
  kDLCPU = 1,
  kDLCUDA = 2,
  kDLCUDAHost = 3,
  kDLOpenCL = 4,
  kDLVulkan = 7,
  kDLMetal = 8,
  kDLVPI = 9,
  kDLROCM = 10,
  kDLROCMHost = 11,
  kDLExtDev = 12,
  kDLCUDAManaged = 13,
  kDLOneAPI = 14,
} DLDeviceType;

typedef struct {
  DLDeviceType device_type;
  int32_t device_id;
} DLDevice;

typedef enum {
  kDLInt = 0,
  kDLUInt = 1,
  kDLFloat = 2,
  kDLOpaqueHandle = 3,
  kDLBfloat = 4,
  kDLComplex = 5,
  kDLBool = 6,
} DLDataTypeCode;

typedef struct {
  uint8_t code;    // a DLDataTypeCode
  uint8_t bits;    // per lane
  uint16_t lanes;  // 1 for scalars
} DLDataType;

typedef struct {
  void* data;             // device pointer; the element at byte_offset starts the tensor
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;         // ndim entries
  int64_t* strides;       // ndim entries in elements, or NULL for compact row-major
  uint64_t byte_offset;
} DLTensor;

typedef struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(struct DLManagedTensor* self);
} DLManagedTensor;

}  // extern "C"
