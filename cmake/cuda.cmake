# CUDA kernels (ZOO_WITH_CUDA=ON): static library zoo_cuda, linked into zoo._C.
#
# ZOO_CUDA_ARCHS picks the GPU architectures. The default, "80-real;90", gives
# machine code for Ampere (sm_80, also run by sm_86/sm_89 cards: A10, L4,
# RTX 30xx/40xx) and Hopper (sm_90: H100, H200), plus sm_90 PTX that the driver
# compiles for newer GPUs. Add 75-real for Turing (T4). Each entry adds compile
# time; the build check in tests/ passes a single one.
set(ZOO_CUDA_ARCHS "80-real;90" CACHE STRING "CUDA_ARCHITECTURES for the zoo kernels")
if(NOT CMAKE_CUDA_ARCHITECTURES)
  # enable_language needs some value; the target property below is what counts.
  set(CMAKE_CUDA_ARCHITECTURES "${ZOO_CUDA_ARCHS}")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

# cuBLASLt is opened at run time (csrc/cuda/cublaslt.h says why), so the build
# needs only its header: from the CUDA toolkit, or from the nvidia-cublas wheel
# of the Python environment doing the build.
find_package(Python 3.10 REQUIRED COMPONENTS Interpreter)
execute_process(
  COMMAND "${Python_EXECUTABLE}" -c
    "import importlib.util as u, os; s = u.find_spec('nvidia'); print(';'.join(os.path.join(p, 'cu${CUDAToolkit_VERSION_MAJOR}', 'include') for p in (s.submodule_search_locations or [])) if s else '')"
  OUTPUT_VARIABLE _zoo_wheel_cuda_includes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
find_path(ZOO_CUBLASLT_INCLUDE_DIR cublasLt.h
  HINTS ${CUDAToolkit_INCLUDE_DIRS} ${_zoo_wheel_cuda_includes}
  DOC "folder holding cublasLt.h")
if(NOT ZOO_CUBLASLT_INCLUDE_DIR)
  message(FATAL_ERROR
    "cublasLt.h not found (looked in ${CUDAToolkit_INCLUDE_DIRS} and the nvidia-cublas wheel). "
    "Install the CUDA toolkit's cuBLAS, or `pip install nvidia-cublas` into the building "
    "interpreter, or pass -DZOO_CUBLASLT_INCLUDE_DIR=<folder with cublasLt.h>.")
endif()

set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
add_library(zoo_cuda STATIC
  csrc/cuda/bias_act.cu
  csrc/cuda/device_info.cu
  csrc/cuda/dense.cc
  csrc/cuda/cublaslt.cc)
set_target_properties(zoo_cuda PROPERTIES
  CUDA_ARCHITECTURES "${ZOO_CUDA_ARCHS}"
  POSITION_INDEPENDENT_CODE ON)
# No --use_fast_math: the kernels share the CPU core's float32 formulas and
# should round like them. CUDA's runtime is linked statically so the module
# needs only the driver; with no driver, device_count() simply reports 0.
target_compile_options(zoo_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xptxas=-O3>)
target_compile_definitions(zoo_cuda PRIVATE ZOO_CUDA_ARCHS="${ZOO_CUDA_ARCHS}")
# csrc/cuda stays private: its headers share basenames with csrc/kernels.
target_include_directories(zoo_cuda PUBLIC ${ZOO_CUBLASLT_INCLUDE_DIR})
target_link_libraries(zoo_cuda PUBLIC zoo_core CUDA::cudart_static ${CMAKE_DL_LIBS})
